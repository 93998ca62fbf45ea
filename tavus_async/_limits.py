"""Client-side flow control: a request-rate limiter and the bulk engine's AIMD gate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ._checks import check_count, check_rate

__all__ = ["AIMDGate", "RateLimiter"]


class RateLimiter:
    """Spaces requests at `rate` per second, allowing bursts of `burst` (GCRA scheduling).

    Each `acquire()` reserves the next free slot and sleeps until it; no lock is needed on
    one event loop, and reservations are served in call order.
    """

    __slots__ = ("_interval", "_tat", "_tolerance")

    def __init__(self, rate: float, burst: int = 1) -> None:
        rate = check_rate("rate", rate)
        check_count("burst", burst)
        self._interval = 1.0 / rate
        self._tolerance = self._interval * (burst - 1)
        self._tat = 0.0  # theoretical arrival time of the next request

    @property
    def rate(self) -> float:
        """Requests per second."""
        return 1.0 / self._interval

    def reserve(self, now: float) -> float:
        """Reserve a slot; return how long to wait before using it. Pure given `now`."""
        tat = max(self._tat, now)
        start = max(now, tat - self._tolerance)
        self._tat = tat + self._interval
        return start - now

    def take(self, now: float) -> float:
        """Take a slot if one is free at `now` (return 0), else how long until one may be.

        Unlike `reserve`, nothing is booked while waiting, so a cancelled waiter costs no slot.
        """
        tat = max(self._tat, now)
        start = tat - self._tolerance
        if start > now:
            return start - now
        self._tat = tat + self._interval
        return 0.0

    async def acquire(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Wait until a request may go out (`sleep` waits; the transport's ends on close)."""
        while True:
            wait = self.take(time.monotonic())
            if wait <= 0:
                return
            await sleep(wait)


class AIMDGate:
    """Adaptive concurrency for one bulk call: halve on 429, grow by one per window of successes.

    Worker `k` (0-based) runs only while `k < limit`; the others park. Decreases are
    spaced by at least a round of completions so one burst of 429s halves the limit once.
    """

    __slots__ = ("_changed", "_limit", "_max", "_since_cut", "limit", "throttles")

    def __init__(self, maximum: int) -> None:
        self._max = maximum
        self._limit = float(maximum)
        #: How many workers may run now (kept as a plain int: workers read it per request).
        self.limit = max(1, maximum)
        self._since_cut = maximum  # completions since the last decrease
        self._changed: asyncio.Event | None = None
        self.throttles = 0

    def _set(self, value: float) -> None:
        self._limit = value
        self.limit = max(1, int(value))

    def on_throttled(self) -> None:
        """A 429 was seen (the transport calls this, passed in per request): cut the limit
        in half, once per round of completions."""
        self.throttles += 1
        if self._since_cut >= self.limit:
            self._set(max(1.0, self._limit / 2))
            self._since_cut = 0

    def on_done(self) -> None:
        """A request completed: additive increase of 1 per `limit` completions."""
        self._since_cut += 1
        if self._limit < self._max:
            before = self.limit
            self._set(min(float(self._max), self._limit + 1.0 / self._limit))
            if self.limit > before and self._changed is not None:
                self._changed.set()
                self._changed = None

    def open_all(self) -> None:
        """Admit every worker (the input is exhausted: parked workers must see that and exit)."""
        self._set(float(self._max))
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait_turn(self, index: int) -> None:
        """Park worker `index` until the limit admits it."""
        while index >= self.limit:
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

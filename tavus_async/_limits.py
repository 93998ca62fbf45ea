"""Client-side flow control: a request-rate limiter, and the bulk engine's flow gate.

- `RateLimiter`: a fixed rate (`AsyncTavus(rate_limit=R)`). Waiters queue in order and
  one timer serves them, each at its slot.
- `Pacer`: the pure rate controller of a bulk call. It learns the rate a server allows
  from its 429s and probes upward (see docs/bulk.md).
- `BulkFlow`: what a bulk call's requests pass through on every attempt: a concurrency
  slot, then the pacer's spacing once a 429 was seen. It also counts the job's progress,
  which the retry loop reads to tell a server pacing the job from one that is down.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
from collections import deque
from collections.abc import Callable
from typing import Final

from ._checks import check_count, check_rate
from .errors import TavusError

__all__ = ["BulkFlow", "Pacer", "RateLimiter", "Ticket"]

#: How far behind its slot a late timer may still serve waiters (a timer's usual
#: lateness is caught up; a stalled loop's backlog is not sent as one burst).
_CATCH_UP: Final = 0.02


class RateLimiter:
    """Spaces requests at `rate` per second, allowing bursts of `burst` (GCRA scheduling).

    Waiters queue in call order and one timer serves them: each wake-up lets out the
    waiters whose slots have come, at their ideal slot times, so a late timer is caught
    up and no waiter wakes for a slot that is not its own. A waiter cancelled while
    queued books nothing.
    """

    __slots__ = ("_interval", "_tat", "_timer", "_tolerance", "_waiters")

    def __init__(self, rate: float, burst: int = 1) -> None:
        rate = check_rate("rate", rate)
        check_count("burst", burst)
        self._interval = 1.0 / rate
        self._tolerance = self._interval * (burst - 1)
        self._tat = 0.0  # theoretical arrival time of the next request
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def rate(self) -> float:
        """Requests per second."""
        return 1.0 / self._interval

    @rate.setter
    def rate(self, value: float) -> None:
        self._interval = 1.0 / value

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

    async def acquire(self) -> None:
        """Wait until a request may go out."""
        loop = asyncio.get_running_loop()
        if not self._waiters and self.take(loop.time()) == 0.0:
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        if self._timer is None:
            self._serve()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._pass_on()  # granted as it was cancelled: the next waiter gets the slot
            raise

    def _serve(self) -> None:
        """Let out the waiters whose slots have come; arm the timer for the next one."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._tat = max(self._tat, now - _CATCH_UP)
        waiters = self._waiters
        while waiters:
            if waiters[0].done():  # cancelled while queued: books nothing
                waiters.popleft()
                continue
            start = self._tat - self._tolerance
            if start > now:
                self._timer = loop.call_at(start, self._serve)
                return
            self._tat += self._interval
            waiters.popleft().set_result(None)

    def _pass_on(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._tat -= self._interval  # nobody to hand it to: unbook it


class Pacer:
    """Learns the request rate a server allows from its 429s. Pure: times are passed in.

    Unpaced (`rate` None) until the first 429. Then:

    - a 429 for a request sent after the last cut means the rate is too high: the new
      rate is what the server accepted over the last `window` (requests sent minus
      requests refused, by send time), or `backoff` times the old rate if that is higher,
      so one cut never undershoots far. 429s for requests sent before the cut were
      already accounted for.
    - in between, the rate grows: doubling every `fast` seconds while below what the
      server was last seen to accept (or before anything was measured), then by a share
      per second (`probe` at first) to find out whether the limit was raised. Each cut
      that finds the same limit again (or a lower one) halves that share, down to
      `min_probe`: a server whose limit holds is asked less and less often; a limit found
      higher (by over `same_limit`) resets it.
    - it never spaces requests further apart than the server's `Retry-After`.
    """

    __slots__ = (
        "_ceiling",
        "_cut_at",
        "_first_cut",
        "_grown_at",
        "_max_interval",
        "_probe",
        "_refused",
        "_sent",
        "rate",
        "throttles",
    )

    window: Final = 1.0
    backoff: Final = 0.8
    margin: Final = 0.97
    fast: Final = 0.1
    probe: Final = 0.05
    min_probe: Final = 0.0125
    #: A measured limit within this share above the last one (or below it) is the same limit.
    same_limit: Final = 0.1
    min_rate: Final = 1.0
    min_span: Final = 0.2

    def __init__(self) -> None:
        #: Requests per second the bulk call may send (None: not throttled yet).
        self.rate: float | None = None
        self.throttles = 0
        self._ceiling: float | None = None
        self._cut_at = float("-inf")
        self._first_cut = 0.0
        self._grown_at = 0.0
        self._max_interval = float("inf")
        self._probe = self.probe
        self._sent: deque[float] = deque()  # send times, oldest first
        self._refused: list[float] = []  # send times of refused requests, sorted

    def interval(self, now: float) -> float:
        """Seconds between sends at `now` (0: unpaced); grows the rate as time passes."""
        rate = self.rate
        if rate is None:
            return 0.0
        elapsed, self._grown_at = now - self._grown_at, now
        target = None if self._ceiling is None else self._ceiling * self.margin
        if target is None or rate < target:
            rate *= 2.0 ** (elapsed / self.fast)
            if target is not None:
                rate = min(rate, target)
        else:
            rate *= 1.0 + self._probe * elapsed
        self.rate = rate
        return min(1.0 / rate, self._max_interval)

    def on_sent(self, now: float) -> None:
        """A request went out at `now`."""
        sent = self._sent
        sent.append(now)
        horizon = now - 2 * self.window
        while sent[0] < horizon:
            sent.popleft()

    def on_throttled(self, now: float, sent_at: float, retry_after: float | None) -> bool:
        """A 429 for the request sent at `sent_at`; True when it cut the rate."""
        self.throttles += 1
        bisect.insort(self._refused, sent_at)
        del self._refused[: bisect.bisect_left(self._refused, now - 2 * self.window)]
        if retry_after is not None:
            self._max_interval = retry_after
        if sent_at < self._cut_at:
            return False
        if self.rate is None:
            self._first_cut = now
            accepted = self._accepted(now - self.window, now + 1.0)
            self.rate = max(self.min_rate, accepted / self.window)
        else:
            end = now - self.min_span / 4  # answers to the latest sends may still come
            start = max(self._first_cut, end - self.window)
            measured = 0.0
            if end - start >= self.min_span:
                measured = self._accepted(start, end) / (end - start)
            self.rate = max(self.min_rate, measured * self.margin, self.rate * self.backoff)
            self._probe = _next_probe(self._probe, self._ceiling, measured)
            self._ceiling = max(measured, self.rate)
        self._cut_at = self._grown_at = now
        return True

    def _accepted(self, start: float, end: float) -> int:
        sent = bisect.bisect_left(self._sent, end) - bisect.bisect_left(self._sent, start)
        refused = bisect.bisect_left(self._refused, end) - bisect.bisect_left(self._refused, start)
        return max(0, sent - refused)


def _next_probe(probe: float, ceiling: float | None, measured: float) -> float:
    """The probing share after a cut that measured `measured` against the last `ceiling`."""
    if ceiling is not None and 0 < measured <= ceiling * (1 + Pacer.same_limit):
        return max(probe / 2, Pacer.min_probe)
    return Pacer.probe


class Ticket:
    """One attempt through a `BulkFlow`: when it was sent."""

    __slots__ = ("sent_at",)

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at


class BulkFlow:
    """The gate every attempt of one bulk call passes: a slot, then the pacer's spacing.

    A slot is held for one attempt, never for the wait between attempts: a request
    backing off leaves its slot to another id (`backing_off` counts them, and
    `on_backoff()` lets the engine start a worker for the free slot). `progress` counts
    final answers (a success, or an error that is not retried): the job is moving. Once
    `stop(error)` was called no attempt gets through: each raises a copy of that error.
    """

    __slots__ = (
        "_loop",
        "_slots",
        "_spacing",
        "backing_off",
        "drained",
        "on_backoff",
        "pacer",
        "progress",
        "stopped",
        "stopping",
    )

    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._spacing: RateLimiter | None = None
        self._loop = asyncio.get_running_loop()
        self.pacer = Pacer()
        self.progress = 0
        self.backing_off = 0
        self.on_backoff: Callable[[], object] | None = None
        #: The error that stopped the call (a 401: the key every request shares was refused).
        self.stopped: TavusError | None = None
        #: Resolved by `stop()`: ends the waits between attempts of the call.
        self.stopping: asyncio.Future[None] = self._loop.create_future()
        #: Resolved by `drain()`: no id is left to start, so a backoff that only made room
        #: for other ids (a failure while the job progressed) has no reason left to wait.
        self.drained: asyncio.Future[None] = self._loop.create_future()

    @property
    def rate(self) -> float | None:
        """Requests per second the pacer allows now (None: unpaced)."""
        return self.pacer.rate

    async def enter(self) -> Ticket:
        """Wait for a slot and, once paced, for the next send time. Raises a copy of the
        stopping error, before or after the wait, once the call was stopped."""
        self._check_stopped()
        await self._slots.acquire()
        try:
            if self._spacing is not None:
                now = self._loop.time()
                interval = self.pacer.interval(now)
                self._spacing.rate = 1.0 / interval if interval > 0 else float("inf")
                await self._spacing.acquire()
            self._check_stopped()
        except BaseException:
            self._slots.release()
            raise
        now = self._loop.time()
        self.pacer.on_sent(now)
        return Ticket(now)

    def exit(
        self, ticket: Ticket, status: int | None, retry_after: float | None, moved: bool
    ) -> None:
        """The attempt is over: `status` answered (None: no answer); `moved` when that
        answer is final (a success, or an error not retried). Frees the slot."""
        self._slots.release()
        if status == 429:
            cut = self.pacer.on_throttled(self._loop.time(), ticket.sent_at, retry_after)
            if cut and self._spacing is None:
                self._spacing = RateLimiter(1.0)  # its rate is the pacer's, set per send
        elif moved:
            self.progress += 1

    def stop(self, error: TavusError) -> None:
        """Let no further attempt of the call out; the first error given is kept."""
        if self.stopped is None:
            self.stopped = error
            self.stopping.set_result(None)

    def drain(self) -> None:
        """Every id of the call has been started: see `drained`."""
        if not self.drained.done():
            self.drained.set_result(None)

    def _check_stopped(self) -> None:
        if self.stopped is not None:
            raise copy.copy(self.stopped)

    def back_off(self) -> None:
        """A request failed and may wait out a backoff, holding no slot."""
        self.backing_off += 1
        if self.on_backoff is not None:
            self.on_backoff()

    def resume(self) -> None:
        """The request that backed off is retried, or has given up."""
        self.backing_off -= 1

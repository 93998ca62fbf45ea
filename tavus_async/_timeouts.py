"""Per-attempt timeouts that share loop timers instead of scheduling one per request.

aiohttp's `ClientTimeout(total=...)` arms and cancels a loop timer for every request; on
the benchmark that cost about 9 µs of CPU per request, as much as decoding the persona
(docs/benchmarks.md). Here attempts whose deadlines fall in the same tick share one timer:
arming is a set insertion, and a timeout fires at most one tick late, never early.

Expiry cancels the attempt's task, and the attempt turns that cancellation into a timeout
only if nothing else cancelled the task too (the same rule as `asyncio.timeout`).
"""

from __future__ import annotations

import asyncio
import math
from typing import Final

__all__ = ["MAX_TICK", "Expiry", "TimeoutWheel", "tick_for"]

#: The coarsest tick: a timeout fires at most this much late.
MAX_TICK: Final = 0.05


def tick_for(total: float) -> float:
    """The tick for attempts of `total` seconds: 50 ms, or 1/16 of a shorter timeout."""
    return min(MAX_TICK, total / 16)


class Expiry:
    """One armed attempt: its task, the bucket it sits in, and whether it expired."""

    __slots__ = ("_bucket", "_cancelling", "expired", "task")

    def __init__(self, task: asyncio.Task[object], bucket: set[Expiry]) -> None:
        self.task = task
        self._bucket = bucket
        self._cancelling = task.cancelling()
        self.expired = False

    def disarm(self) -> None:
        """The attempt ended: its bucket's timer must not touch the task any more."""
        self._bucket.discard(self)

    def is_timeout(self) -> bool:
        """Whether a `CancelledError` the attempt saw is this expiry's doing alone.

        Call once, from the attempt's `except CancelledError`. Withdraws this expiry's
        cancel request; if the task was also cancelled by someone else, the answer is
        False and the cancellation must propagate.
        """
        return self.expired and self.task.uncancel() <= self._cancelling


class TimeoutWheel:
    """Buckets of attempts by deadline, one loop timer per bucket."""

    __slots__ = ("_buckets", "_per_second", "_tick")

    def __init__(self, tick: float) -> None:
        if not 0 < tick < math.inf:
            raise ValueError(f"tick must be a positive number of seconds, got {tick!r}")
        self._tick = tick
        self._per_second = 1.0 / tick
        self._buckets: dict[int, set[Expiry]] = {}

    def arm(self, total: float) -> Expiry:
        """Cancel the current task once `total` seconds (rounded up to the tick) have passed."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a timeout needs a running task")
        loop = task.get_loop()
        # int() + 1 rounds up (a deadline on a tick boundary moves one tick later: never early).
        slot = int((loop.time() + total) * self._per_second) + 1
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = set()
            loop.call_at(slot * self._tick, self._expire, slot)
        expiry = Expiry(task, bucket)
        bucket.add(expiry)
        return expiry

    def _expire(self, slot: int) -> None:
        for expiry in self._buckets.pop(slot, ()):
            expiry.expired = True
            expiry.task.cancel()

    @property
    def pending(self) -> int:
        """Attempts armed and not yet disarmed or expired (for tests)."""
        return sum(len(b) for b in self._buckets.values())

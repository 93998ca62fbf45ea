"""Request coalescing: concurrent lookups of one key share one in-flight request.

The request runs in a task of its own and every caller, the first included, waits on it
through `asyncio.shield`: cancelling any caller never cancels the request for the others,
and the request is cancelled only once no caller waits for it any more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Generic, TypeVar

V = TypeVar("V")

__all__ = ["Coalescer"]


class _Flight(Generic[V]):
    """One in-flight request and how many callers wait for it."""

    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Future[V]) -> None:
        self.task = task
        self.waiters = 0


class Coalescer(Generic[V]):
    """Runs `fetch(key)` once per key at a time, however many callers ask concurrently."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[V]] = {}

    async def run(self, key: str, fetch: Callable[[str], Awaitable[V]]) -> V:
        """Return `await fetch(key)`, sharing the request with concurrent callers of `key`."""
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(fetch(key)))
            self._flights[key] = flight
            flight.task.add_done_callback(partial(self._task_done, key, flight))
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                # Nobody waits any more. Forget the flight first, so a caller arriving
                # before the task has wound down starts a fresh request.
                self._forget(key, flight)
                flight.task.cancel()

    def _forget(self, key: str, flight: _Flight[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    def _task_done(self, key: str, flight: _Flight[V], task: asyncio.Future[V]) -> None:
        self._forget(key, flight)
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have left already

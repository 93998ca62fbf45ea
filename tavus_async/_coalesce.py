"""Request coalescing: concurrent lookups of one key share one in-flight request.

The one de-duplication of the client: `get`, `get_many` and `iter_many` all go through it,
so `gather(get(x), get_many([x]))` sends one request.

The request runs in a task of its own and each caller waits on a future of its own, which
the task resolves directly when the request ends (no `shield`, no done-callbacks: one loop
turn from response to caller). Cancelling a caller cancels only its future, so it never
cancels the request for the others; the request is cancelled once no caller waits.
The first caller served gets the value, every other one a deep copy (for a persona: rebuilt
from its JSON), so no caller sees another's change to it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")
A = TypeVar("A")

__all__ = ["Coalescer"]


class _Flight(Generic[V]):
    """One in-flight request and the futures of the callers waiting for it."""

    __slots__ = ("task", "waiters")

    def __init__(self, first: asyncio.Future[V]) -> None:
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[asyncio.Future[V]] = [first]


class Coalescer(Generic[V]):
    """Runs one `fetch()` per key at a time, however many callers ask concurrently."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[V]] = {}

    async def run(self, key: str, fetch: Callable[[str, A], Awaitable[V]], arg: A) -> V:
        """Return `await fetch(key, arg)`, sharing the request with concurrent callers of
        `key` (a joining caller's `arg` is not used)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[V] = loop.create_future()
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight(waiter)
            flight.task = loop.create_task(self._request(key, flight, fetch, arg))
        else:
            flight.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if not waiter.cancelled():
                waiter.exception()  # the outcome had arrived: mark it retrieved
                raise  # this caller was cancelled anyway
            flight.waiters.remove(waiter)
            if not flight.waiters and flight.task is not None and not flight.task.done():
                # Nobody waits any more. Forget the flight first, so a caller arriving
                # before the task has wound down starts a fresh request.
                self._forget(key, flight)
                flight.task.cancel()
            raise

    async def _request(
        self, key: str, flight: _Flight[V], fetch: Callable[[str, A], Awaitable[V]], arg: A
    ) -> None:
        try:
            value = await fetch(key, arg)
        except asyncio.CancelledError:
            self._forget(key, flight)
            for waiter in flight.waiters:
                waiter.cancel()
            raise
        except BaseException as exc:
            self._forget(key, flight)
            for waiter in flight.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._forget(key, flight)
        shared = False
        for waiter in flight.waiters:
            if not waiter.done():
                waiter.set_result(copy.deepcopy(value) if shared else value)
                shared = True

    def forget(self, key: str) -> None:
        """Let the next caller of `key` start a new request (a write made the one in flight
        stale); callers already waiting still get its outcome."""
        self._flights.pop(key, None)

    def _forget(self, key: str, flight: _Flight[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

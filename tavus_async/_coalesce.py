"""Request coalescing: concurrent lookups of one key share one in-flight request.

The first caller runs the request inline (no task, no extra loop iterations: the common,
uncontended web-backend case stays as cheap as a direct await). Later callers wait on a
shared future. If the first caller is cancelled while others still wait, the request is
re-issued in a task of its own on their behalf; that task is cancelled once nobody waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Generic, TypeVar

V = TypeVar("V")

__all__ = ["Coalescer"]


class _Flight(Generic[V]):
    """One in-flight request: its joiners, and the task that took over if the owner left."""

    __slots__ = ("future", "task", "waiters")

    def __init__(self) -> None:
        self.future: asyncio.Future[V] | None = None  # created when the first joiner arrives
        self.task: asyncio.Task[V] | None = None
        self.waiters = 0  # joiners, not counting the caller that started the request


class Coalescer(Generic[V]):
    """Runs `fetch(key)` once per key at a time, however many callers ask concurrently."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[V]] = {}

    async def run(self, key: str, fetch: Callable[[str], Awaitable[V]]) -> V:
        """Return `await fetch(key)`, sharing the request with concurrent callers of `key`."""
        flight = self._flights.get(key)
        if flight is not None:
            return await self._join(key, flight)
        flight = _Flight()
        self._flights[key] = flight
        try:
            value = await fetch(key)
        except asyncio.CancelledError:
            if flight.waiters and flight.task is None:
                task: asyncio.Task[V] = asyncio.ensure_future(fetch(key))
                flight.task = task
                task.add_done_callback(partial(self._task_done, key, flight))
            else:
                self._abandon(key, flight)
            raise
        except Exception as exc:
            self._settle(key, flight, None, exc)
            raise
        except BaseException:
            self._abandon(key, flight)
            raise
        self._settle(key, flight, value, None)
        return value

    async def _join(self, key: str, flight: _Flight[V]) -> V:
        if flight.future is None:
            flight.future = asyncio.get_running_loop().create_future()
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.future)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and flight.task is not None and not flight.task.done():
                # The owner left earlier and now nobody waits. Forget the flight first, so
                # a caller arriving before the task winds down starts afresh.
                self._forget(key, flight)
                flight.task.cancel()

    def _forget(self, key: str, flight: _Flight[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    def _abandon(self, key: str, flight: _Flight[V]) -> None:
        self._forget(key, flight)
        if flight.future is not None and not flight.future.done():
            flight.future.cancel()

    def _settle(
        self, key: str, flight: _Flight[V], value: V | None, exc: BaseException | None
    ) -> None:
        self._forget(key, flight)
        future = flight.future
        if future is None or future.done():
            return
        if exc is None:
            future.set_result(value)  # type: ignore[arg-type]
        elif flight.waiters:
            future.set_exception(exc)
        else:
            future.cancel()  # nobody to deliver it to: don't leave an unretrieved exception

    def _task_done(self, key: str, flight: _Flight[V], task: asyncio.Task[V]) -> None:
        if task.cancelled():
            self._abandon(key, flight)
            return
        exc = task.exception()
        self._settle(key, flight, None if exc is not None else task.result(), exc)

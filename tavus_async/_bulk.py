"""The bulk engine behind `get_many` and `iter_many`: a fixed pool of worker tasks.

`concurrency` workers pull ids lazily from one shared source, so at most `concurrency`
requests are in flight and a huge (or endless) input is never materialised. Each fetch is
given the bulk call's `AIMDGate.on_throttled`, which the transport calls on a 429; the gate
parks workers above the current limit. Requests for one id in flight at once are shared
by the resource's coalescer (the same one behind `get`), not here.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from typing import Any, Final, TypeVar

from ._limits import AIMDGate
from .errors import InvalidPersonaIdError, TavusError

T = TypeVar("T")
#: `fetch(id, on_throttle)`: one lookup; `on_throttle()` is to be called on every 429.
Fetch = Callable[[str, Callable[[], None]], Awaitable[T]]
Progress = Callable[[int, int | None], object]

__all__ = ["get_many", "iter_many"]

_END: Final = object()


def _check_concurrency(concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")


async def _run_workers(workers: list[Coroutine[Any, Any, None]]) -> None:
    """Run the workers; the first exception cancels the rest and is raised as itself."""
    tasks = [asyncio.ensure_future(w) for w in workers]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        # Wait for the cancelled workers so no task or connection outlives the call.
        await asyncio.gather(*tasks, return_exceptions=True)


async def get_many(
    fetch: Fetch[T],
    ids: list[str],
    *,
    concurrency: int,
    return_exceptions: bool,
    on_progress: Progress | None,
) -> list[T | TavusError]:
    """Fetch every distinct id once; results aligned with `ids`."""
    _check_concurrency(concurrency)
    if not ids:
        return []
    distinct = list(dict.fromkeys(ids))
    results: dict[str, T | TavusError] = {}
    pending = iter(distinct)
    total = len(distinct)
    gate = AIMDGate(min(concurrency, total) or 1)
    done = 0

    async def worker(index: int) -> None:
        nonlocal done
        while True:
            if index >= gate.limit:
                await gate.wait_turn(index)
            persona_id = next(pending, None)
            if persona_id is None:
                gate.open_all()
                return
            try:
                results[persona_id] = await fetch(persona_id, gate.on_throttled)
            except TavusError as exc:
                if not return_exceptions:
                    raise
                results[persona_id] = exc
            if gate.throttles:  # the limit only moves once a 429 was seen
                gate.on_done()
            done += 1
            if on_progress is not None:
                on_progress(done, total)

    await _run_workers([worker(i) for i in range(min(concurrency, total))])
    return [results[persona_id] for persona_id in ids]


async def iter_many(
    fetch: Fetch[T],
    ids: Iterable[str] | AsyncIterable[str],
    *,
    concurrency: int,
    on_progress: Progress | None,
    validate: Callable[[str], object],
) -> AsyncGenerator[tuple[str, T | TavusError], None]:
    """Yield `(id, result)` in completion order, one per input id; errors are values.

    Ids are pulled lazily. Closing the iterator cancels what is in flight; after a bare
    `break` that happens when Python finalises the generator (use `contextlib.aclosing`).
    """
    _check_concurrency(concurrency)
    total = len(ids) if hasattr(ids, "__len__") else None  # type: ignore[arg-type]
    if total is not None:  # no more workers than ids (but one, to report the end)
        concurrency = max(1, min(concurrency, total))
    gate = AIMDGate(concurrency)
    lock = asyncio.Lock()
    sync_source: Iterator[str] | None = None
    async_source: AsyncIterator[str] | None = None
    if isinstance(ids, AsyncIterable):
        async_source = aiter(ids)
    else:
        sync_source = iter(ids)
    # Results flow through a plain deque: workers append, the consumer drains. Backpressure:
    # once `concurrency` results wait for the consumer, workers pause before pulling more.
    # Per-item work is kept to plain attribute and builtin calls: this loop runs per request.
    ready: deque[tuple[Any, Any]] = deque()
    loop = asyncio.get_running_loop()
    consumer_waiting: asyncio.Future[None] | None = None
    room = asyncio.Event()  # set by the consumer when workers paused on a full `ready`
    paused = False  # a worker waits on `room` (a plain flag: the consumer reads it per item)
    alive = concurrency

    def publish(item: tuple[Any, Any]) -> None:
        nonlocal consumer_waiting
        ready.append(item)
        waiter = consumer_waiting
        if waiter is not None:
            consumer_waiting = None
            if not waiter.done():
                waiter.set_result(None)

    async def pull() -> object:
        assert async_source is not None
        async with lock:  # an async generator cannot be advanced by two tasks at once
            try:
                return await anext(async_source)
            except StopAsyncIteration:
                return _END

    async def worker(index: int) -> None:
        nonlocal alive, paused
        try:
            while True:
                if index >= gate.limit:
                    await gate.wait_turn(index)
                while len(ready) >= concurrency:
                    paused = True
                    room.clear()
                    await room.wait()
                item = next(sync_source, _END) if sync_source is not None else await pull()
                if item is _END:
                    gate.open_all()
                    break
                publish((item, await lookup(item)))
        except Exception as exc:  # a bug or a failing input iterable: surface it to the consumer
            publish((_END, exc))
        finally:
            alive -= 1
            if alive == 0:  # every result is published ahead of this marker
                publish((_END, None))

    async def lookup(item: Any) -> T | TavusError:
        try:
            validate(item)
        except TavusError as exc:
            return exc
        except TypeError as exc:  # not a str: a bad item, reported like a bad id
            return InvalidPersonaIdError(str(exc))
        result: T | TavusError
        try:
            result = await fetch(item, gate.on_throttled)
        except TavusError as exc:
            result = exc
        if gate.throttles:  # the limit only moves once a 429 was seen
            gate.on_done()
        return result

    tasks = [asyncio.ensure_future(worker(i)) for i in range(concurrency)]
    done = 0
    try:
        while True:
            if not ready:
                consumer_waiting = loop.create_future()
                await consumer_waiting
                continue
            persona_id, result = ready.popleft()
            if paused:
                paused = False
                room.set()
            if persona_id is _END:
                if result is not None:
                    raise result
                return
            done += 1
            if on_progress is not None:
                on_progress(done, total)
            yield persona_id, result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

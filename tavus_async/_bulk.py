"""The bulk engine behind `get_many` and `iter_many`: a fixed pool of worker tasks.

Workers pull ids lazily from one shared source, so a huge (or endless) input is never
materialised. Every attempt of every fetch passes the call's `BulkFlow`: it holds one of
`concurrency` slots for the attempt only (never while a retry waits out its backoff) and,
once the server answered 429, spaces requests at the rate its pacer learnt. A request
that fails and backs off starts one more worker, so its slot goes to another id meanwhile;
the surplus retires once the backoffs are over. Once every id has been started the flow is
drained, which ends the waits that only made room for other ids (see `BulkFlow.drained`).
Requests for one id in flight at once are shared by the resource's coalescer (the same one
behind `get`), not here.

A 401 stops the call: every request shares the key it refused, so each id not yet sent
(cache hits included) and each retry not yet sent fails with a copy of that
`AuthenticationError` without a request. Requests already sent finish as they will.
"""

from __future__ import annotations

import asyncio
import copy
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

from ._limits import BulkFlow
from .errors import AuthenticationError, InvalidPersonaIdError, TavusError

T = TypeVar("T")
#: `fetch(id, flow)`: one lookup, every attempt of it through `flow`.
Fetch = Callable[[str, BulkFlow], Awaitable[T]]
Progress = Callable[[int, int | None], object]

__all__ = ["get_many", "iter_many"]

_END: Final = object()


def _check_concurrency(concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")


def _invalid_id(validate: Callable[[str], object], item: Any) -> TavusError | None:
    """The error `validate` finds in `item`, as a value (a non-str is an invalid id too)."""
    try:
        validate(item)
    except TavusError as exc:
        return exc
    except TypeError as exc:
        return InvalidPersonaIdError(str(exc))
    return None


def _own_copy(value: T) -> T:
    """A copy for one more slot, so that no two slots share an object (a persona is
    rebuilt from its JSON, as the coalescer does for its extra callers)."""
    return copy.copy(value) if isinstance(value, TavusError) else copy.deepcopy(value)


async def _fetch_or_error(fetch: Fetch[T], persona_id: str, flow: BulkFlow) -> T | TavusError:
    """`fetch(persona_id, flow)`, its `TavusError` as a value. A 401 stops the flow; once
    stopped, a copy of that 401 without a request."""
    if flow.stopped is not None:
        return copy.copy(flow.stopped)
    try:
        return await fetch(persona_id, flow)
    except AuthenticationError as exc:
        flow.stop(exc)
        return exc
    except TavusError as exc:
        return exc


class _Workers:
    """The worker tasks of one bulk call: `concurrency` of them, plus one for each request
    waiting out a backoff (which holds no slot), so that every slot stays busy.

    `work()` is a worker's body; it should return once `surplus()` is true. `on_error(exc)`
    gets an exception a worker raised; `on_empty()` runs when the last worker ended.
    """

    __slots__ = (
        "_closed",
        "_concurrency",
        "_flow",
        "_work",
        "active",
        "on_empty",
        "on_error",
        "tasks",
    )

    def __init__(
        self,
        concurrency: int,
        flow: BulkFlow,
        work: Callable[[], Coroutine[Any, Any, None]],
        on_empty: Callable[[], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        self._concurrency = concurrency
        self._flow = flow
        self._work = work
        self.on_empty = on_empty
        self.on_error = on_error
        self.active = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        flow.on_backoff = self.spawn

    def start(self, count: int) -> None:
        for _ in range(count):
            self._start()

    def spawn(self) -> None:
        """One more worker, if a slot is without one: a request backing off holds none, and
        an input of unknown length grows the workers as its ids come."""
        if not self._closed and self.active < self._concurrency + self._flow.backing_off:
            self._start()

    def surplus(self) -> bool:
        """More workers than slots and backoffs: the caller should retire."""
        return self.active > self._concurrency + self._flow.backing_off

    def _start(self) -> None:
        self.active += 1
        task = asyncio.get_running_loop().create_task(self._run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self) -> None:
        try:
            await self._work()
        except Exception as exc:
            self.on_error(exc)
        finally:
            self.active -= 1
            if self.active == 0:
                self.on_empty()

    async def cancel(self) -> None:
        """Cancel every worker and wait for them: no task or connection outlives the call."""
        self._closed = True
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def get_many(
    fetch: Fetch[T],
    ids: list[str],
    *,
    concurrency: int,
    return_exceptions: bool,
    on_progress: Progress | None,
    validate: Callable[[str], object],
) -> list[T | TavusError]:
    """Fetch every distinct valid id once; results aligned with `ids`, each slot its own
    object. An invalid id raises before any I/O, or with `return_exceptions` is its slot's
    error; so is any other failure (else the first one is raised, the rest cancelled)."""
    _check_concurrency(concurrency)
    if not isinstance(return_exceptions, bool):  # "yes" or 1 would pass a truth test
        raise TypeError(f"return_exceptions must be a bool, not {type(return_exceptions).__name__}")
    invalid: dict[int, TavusError] = {}
    if return_exceptions:
        for index, item in enumerate(ids):
            if (error := _invalid_id(validate, item)) is not None:
                invalid[index] = error
    else:
        for item in ids:
            validate(item)
    valid = [item for index, item in enumerate(ids) if index not in invalid]
    results = await _fetch_distinct(
        fetch, valid, concurrency, return_exceptions=return_exceptions, on_progress=on_progress
    )
    slots: list[T | TavusError] = []
    placed: set[str] = set()
    for index, persona_id in enumerate(ids):
        if index in invalid:
            slots.append(invalid[index])
        elif persona_id in placed:  # a duplicate: fetched once, its own copy
            slots.append(_own_copy(results[persona_id]))
        else:
            placed.add(persona_id)
            slots.append(results[persona_id])
    return slots


async def _fetch_distinct(
    fetch: Fetch[T],
    ids: list[str],
    concurrency: int,
    *,
    return_exceptions: bool,
    on_progress: Progress | None,
) -> dict[str, T | TavusError]:
    """The result of every distinct id of `ids` (valid ones), by id."""
    results: dict[str, T | TavusError] = {}
    if not ids:
        return results
    distinct = list(dict.fromkeys(ids))
    pending = iter(distinct)
    total = len(distinct)
    flow = BulkFlow(concurrency)
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done = 0

    async def worker() -> None:
        nonlocal done
        for persona_id in pending:
            result = await _fetch_or_error(fetch, persona_id, flow)
            if not return_exceptions and isinstance(result, TavusError):
                raise result
            results[persona_id] = result
            done += 1
            if on_progress is not None:
                on_progress(done, total)
            if workers.surplus():
                return
        flow.drain()

    def end(error: Exception | None = None) -> None:
        if not finished.done():
            if error is None:
                finished.set_result(None)
            else:  # the first failure cancels the rest and is raised as itself
                finished.set_exception(error)

    workers = _Workers(concurrency, flow, worker, end, end)
    workers.start(min(concurrency, total))
    try:
        await finished
    finally:
        await workers.cancel()
    return results


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
    flow = BulkFlow(concurrency)
    # No more workers than ids (but one, to report the end). An input of unknown length
    # starts one, and each id pulled starts another up to `concurrency`: a huge
    # `concurrency` over a few (or slowly arriving) ids starts no idle tasks.
    first = 1 if total is None else max(1, min(concurrency, total))
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

    async def worker() -> None:
        nonlocal paused
        while True:
            while len(ready) >= concurrency:
                paused = True
                room.clear()
                await room.wait()
            item = next(sync_source, _END) if sync_source is not None else await pull()
            if item is _END:
                flow.drain()
                return
            if total is None:
                workers.spawn()
            publish((item, await lookup(item)))
            if workers.surplus():
                return

    async def lookup(item: Any) -> T | TavusError:
        error = _invalid_id(validate, item)
        if error is not None:
            return error
        return await _fetch_or_error(fetch, item, flow)

    workers = _Workers(
        concurrency,
        flow,
        worker,
        # Every result is published ahead of this marker.
        on_empty=lambda: publish((_END, None)),
        # A bug or a failing input iterable: surfaced to the consumer.
        on_error=lambda exc: publish((_END, exc)),
    )
    workers.start(first)
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
        await workers.cancel()

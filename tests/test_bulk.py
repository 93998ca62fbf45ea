"""The bulk engine: `personas.get_many` and `personas.iter_many` against the fake server.

Concurrency is observed at the server: the fake answers a normal request without ever
awaiting, so tests that need requests to overlap enqueue delay faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import typing
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from support import acquired_connections, eventually, sdk_tasks

from tavus_async import (
    AsyncTavus,
    InvalidPersonaIdError,
    NotFoundError,
    Persona,
    Personas,
    RateLimitError,
    RetryPolicy,
    TavusError,
)
from tavus_async.testing import FakeTavus, Fault

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "sk-bulk-test-key"
MISSING = "pmissing0000"
# Retries at once (Retry-After 0, no backoff) so 429 tests stay fast and deterministic.
FAST_RETRY = RetryPolicy(
    max_retries=3, initial_backoff=0.0, max_backoff=0.0, jitter=False, budget=None
)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=300) as fake:
        yield fake


def client_for(server: FakeTavus, **options: Any) -> AsyncTavus:
    return AsyncTavus(api_key=KEY, base_url=server.base_url, **options)


async def assert_clean(server: FakeTavus, client: AsyncTavus) -> None:
    """No SDK task left pending, no connection checked out, no request still served."""
    assert await eventually(lambda: not sdk_tasks()), sdk_tasks()
    assert acquired_connections(client) == 0
    assert await eventually(lambda: server.in_flight == 0), server.in_flight


def persona_ids(results: Sequence[Persona | TavusError]) -> list[str]:
    out = []
    for result in results:
        assert isinstance(result, Persona), result
        out.append(result.persona_id)
    return out


# ------------------------------------------------------------------ get_many


async def test_get_many_aligned_with_ids_and_duplicates_fetched_once(server: FakeTavus) -> None:
    a, b, c = server.persona_ids[:3]
    ids = [a, b, a, c, b, a]
    async with client_for(server) as client:
        results = await client.personas.get_many(ids, concurrency=4)
    assert persona_ids(results) == ids
    for pid, result in zip(ids, results, strict=True):
        assert isinstance(result, Persona)
        assert result.persona_name == server.persona_json(pid)["persona_name"]
    assert server.request_count == 3
    assert sorted(r.persona_id or "" for r in server.requests) == sorted([a, b, c])
    # Fetched once, but each slot of a duplicated id holds its own equal object.
    assert results[0] == results[2] == results[5]
    assert len({id(result) for result in results}) == len(ids)


async def test_get_many_accepts_any_iterable(server: FakeTavus) -> None:
    ids = server.persona_ids[:5]
    async with client_for(server) as client:
        from_gen = await client.personas.get_many(pid for pid in ids)
        from_tuple = await client.personas.get_many(tuple(reversed(ids)))
    assert persona_ids(from_gen) == ids
    assert persona_ids(from_tuple) == list(reversed(ids))


async def test_get_many_empty_input_returns_empty_list(server: FakeTavus) -> None:
    async with client_for(server) as client:
        assert await client.personas.get_many([]) == []
        assert await client.personas.get_many(iter(()), return_exceptions=True) == []
    assert server.request_count == 0


@pytest.mark.parametrize("bad", ["", "a/b", "../p1", "p 1", "p?x=1", "p#f", "p%2F", "x" * 257])
async def test_get_many_invalid_id_raises_before_any_io(server: FakeTavus, bad: str) -> None:
    ids = [*server.persona_ids[:3], bad, server.persona_ids[3]]
    async with client_for(server) as client:
        with pytest.raises(InvalidPersonaIdError) as info:
            await client.personas.get_many(ids)
        assert isinstance(info.value, ValueError)
        with pytest.raises(TypeError, match="must be a str"):
            await client.personas.get_many([*ids[:3], 5])  # type: ignore[list-item]
    assert server.request_count == 0


@pytest.mark.parametrize("bad", ["", "a/b", "..", "x" * 257, None, 5])
async def test_get_many_return_exceptions_invalid_id_is_its_slots_error(
    server: FakeTavus, bad: Any
) -> None:
    """With return_exceptions=True an invalid id (a non-str too) is an error in its slot,
    sent nowhere; every other id is fetched."""
    good = server.persona_ids[:3]
    ids = [good[0], bad, good[1], bad, good[2]]
    async with client_for(server) as client:
        results = await client.personas.get_many(ids, return_exceptions=True)
        pal_results = await client.pals.get_many(ids, return_exceptions=True)
    for got in (results, pal_results):
        assert [r.persona_id for r in got if isinstance(r, Persona)] == good
        assert isinstance(got[1], InvalidPersonaIdError)
        assert isinstance(got[3], InvalidPersonaIdError)
        assert got[1] is not got[3]
    assert "pal_id" in str(pal_results[1])
    assert sorted(r.persona_id or "" for r in server.requests) == sorted(good * 2)


async def test_get_many_return_exceptions_puts_error_in_slot(server: FakeTavus) -> None:
    a, b = server.persona_ids[:2]
    async with client_for(server) as client:
        results = await client.personas.get_many([a, MISSING, b, MISSING], return_exceptions=True)
    assert isinstance(results[0], Persona) and results[0].persona_id == a
    assert isinstance(results[2], Persona) and results[2].persona_id == b
    error = results[1]
    assert isinstance(error, NotFoundError)
    assert error.status_code == 400
    # A duplicated failing id: one request, each slot its own copy of the error.
    duplicate = results[3]
    assert isinstance(duplicate, NotFoundError) and duplicate is not error
    assert (repr(duplicate), duplicate.attempts) == (repr(error), error.attempts)
    assert server.request_count == 3


async def test_get_many_raises_first_failure_and_cancels_the_rest(server: FakeTavus) -> None:
    slow = server.persona_ids[:6]
    for pid in slow:
        server.enqueue(Fault.stall(), persona_id=pid)
    async with client_for(server) as client:
        before = asyncio.all_tasks()
        started = time.monotonic()
        with pytest.raises(NotFoundError) as info:
            await client.personas.get_many([*slow, MISSING], concurrency=8)
        assert time.monotonic() - started < 2.0  # did not wait for the stalled requests
        assert info.value.status_code == 400
        # The workers were awaited before get_many returned: nothing of ours is left.
        assert not sdk_tasks()
        assert acquired_connections(client) == 0
        leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
        assert not [t for t in leftover if t in sdk_tasks()]
        # The stalled requests were really abandoned: the server saw their clients leave.
        assert await eventually(lambda: server.in_flight == 0), server.in_flight
    # The 404 may come back before every stalled request was even sent.
    assert [r.persona_id for r in server.requests].count(MISSING) == 1
    assert server.request_count <= 7


async def test_get_many_on_progress_counts_distinct_ids(server: FakeTavus) -> None:
    a, b, c, d = server.persona_ids[:4]
    calls: list[tuple[int, int | None]] = []
    async with client_for(server) as client:
        await client.personas.get_many(
            [a, b, a, c, d, d],
            concurrency=2,
            on_progress=lambda done, total: calls.append((done, total)),
        )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


async def test_get_many_on_progress_includes_failures(server: FakeTavus) -> None:
    calls: list[tuple[int, int | None]] = []
    async with client_for(server) as client:
        await client.personas.get_many(
            [server.persona_ids[0], MISSING],
            return_exceptions=True,
            on_progress=lambda done, total: calls.append((done, total)),
        )
    assert calls[-1] == (2, 2)
    assert [done for done, _ in calls] == [1, 2]


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5])
async def test_bulk_rejects_bad_concurrency(server: FakeTavus, concurrency: Any) -> None:
    async with client_for(server) as client:
        with pytest.raises(ValueError, match="concurrency"):
            await client.personas.get_many(server.persona_ids[:2], concurrency=concurrency)
        with pytest.raises(ValueError, match="concurrency"):
            async for _ in client.personas.iter_many(
                server.persona_ids[:2], concurrency=concurrency
            ):
                pass  # pragma: no cover
    assert server.request_count == 0


# ------------------------------------------------------------- concurrency


@pytest.mark.parametrize("concurrency", [1, 5, 16])
async def test_get_many_in_flight_reaches_but_never_exceeds_concurrency(
    server: FakeTavus, concurrency: int
) -> None:
    ids = server.persona_ids[: 3 * concurrency + 2]
    server.enqueue(*[Fault.delay_then(0.04)] * len(ids))
    async with client_for(server) as client:
        results = await client.personas.get_many(ids, concurrency=concurrency)
    assert persona_ids(results) == ids
    assert server.max_in_flight == concurrency


@pytest.mark.parametrize("concurrency", [1, 5, 16])
async def test_iter_many_in_flight_reaches_but_never_exceeds_concurrency(
    server: FakeTavus, concurrency: int
) -> None:
    ids = server.persona_ids[: 3 * concurrency + 2]
    server.enqueue(*[Fault.delay_then(0.04)] * len(ids))
    async with client_for(server) as client:
        seen = [pid async for pid, _ in client.personas.iter_many(ids, concurrency=concurrency)]
    assert sorted(seen) == sorted(ids)
    assert server.max_in_flight == concurrency


async def test_concurrency_is_also_capped_by_max_connections(server: FakeTavus) -> None:
    ids = server.persona_ids[:24]
    server.enqueue(*[Fault.delay_then(0.04)] * (2 * len(ids)))
    async with client_for(server, max_connections=4) as client:
        results = await client.personas.get_many(ids, concurrency=16)
        assert persona_ids(results) == ids
        assert server.max_in_flight == 4
        assert server.connections_seen <= 4
        server.reset_stats()
        seen = [pid async for pid, _ in client.personas.iter_many(ids, concurrency=16)]
        assert sorted(seen) == sorted(ids)
        assert server.max_in_flight == 4


# ------------------------------------------------------------------ iter_many


async def test_iter_many_yields_in_completion_order(server: FakeTavus) -> None:
    a, b, c = server.persona_ids[:3]
    server.enqueue(Fault.delay_then(0.08), persona_id=a)
    server.enqueue(Fault.delay_then(0.04), persona_id=b)
    # c has no fault: answered at once, so it finishes first although it is last.
    async with client_for(server) as client:
        order = [pid async for pid, _ in client.personas.iter_many([a, b, c], concurrency=3)]
    assert order == [c, b, a]


async def test_iter_many_every_input_once_errors_as_values(server: FakeTavus) -> None:
    good = server.persona_ids[:5]
    ids = [good[0], MISSING, good[1], "a/b", good[2], "", good[3], "..", good[4]]
    results: dict[str, list[Persona | TavusError]] = {}
    async with client_for(server) as client:
        async for pid, result in client.personas.iter_many(ids, concurrency=4):
            results.setdefault(pid, []).append(result)
    assert sorted(results) == sorted(ids)
    assert all(len(v) == 1 for v in results.values())
    for pid in good:
        (persona,) = results[pid]
        assert isinstance(persona, Persona) and persona.persona_id == pid
    (missing,) = results[MISSING]
    assert isinstance(missing, NotFoundError) and missing.status_code == 400
    for bad in ("a/b", "", ".."):
        (error,) = results[bad]
        assert isinstance(error, InvalidPersonaIdError)
    # Invalid ids never reach the network.
    assert server.request_count == len(good) + 1


async def _agen(ids: list[str]) -> AsyncIterator[str]:
    for pid in ids:
        await asyncio.sleep(0)
        yield pid


@pytest.mark.parametrize("kind", ["list", "tuple", "generator", "async generator"])
async def test_iter_many_accepts_sync_and_async_iterables(server: FakeTavus, kind: str) -> None:
    ids = server.persona_ids[:30]
    source: Any
    if kind == "list":
        source = list(ids)
    elif kind == "tuple":
        source = tuple(ids)
    elif kind == "generator":
        source = (pid for pid in ids)
    else:
        source = _agen(ids)
    async with client_for(server) as client:
        got = {
            pid: result async for pid, result in client.personas.iter_many(source, concurrency=7)
        }
    assert sorted(got) == sorted(ids)
    assert all(isinstance(r, Persona) and r.persona_id == pid for pid, r in got.items())
    assert server.request_count == len(ids)


@pytest.mark.parametrize("kind", ["generator", "async generator held open"])
async def test_iter_many_of_unknown_length_grows_to_its_ids_not_to_concurrency(
    server: FakeTavus, kind: str
) -> None:
    ids = server.persona_ids[:20]
    server.enqueue(*[Fault.delay_then(0.04)] * len(ids))
    more = asyncio.Event()  # the async source waits on it after its ids, as stdin would

    async def held_open() -> AsyncIterator[str]:
        for pid in ids:
            yield pid
        await more.wait()

    source: Any = (pid for pid in ids) if kind == "generator" else held_open()
    before = len(asyncio.all_tasks())
    most, seen = 0, 0
    async with client_for(server) as client:
        async for _pid, result in client.personas.iter_many(source, concurrency=10_000):
            assert isinstance(result, Persona)
            most = max(most, len(asyncio.all_tasks()) - before)
            seen += 1
            if seen == len(ids):
                more.set()
    assert server.max_in_flight == len(ids)  # every id in flight at once: the workers grew
    # Per id a worker, its request and the fake server's handler (same loop): not 10,000.
    assert most <= 5 * len(ids)


async def test_iter_many_on_progress(server: FakeTavus) -> None:
    ids = server.persona_ids[:6]
    calls: list[tuple[int, int | None]] = []
    async with client_for(server) as client:
        async for _ in client.personas.iter_many(
            ids, concurrency=3, on_progress=lambda d, t: calls.append((d, t))
        ):
            pass
        assert calls == [(i, 6) for i in range(1, 7)]
        calls.clear()
        async for _ in client.personas.iter_many(
            (pid for pid in ids), on_progress=lambda d, t: calls.append((d, t))
        ):
            pass
        assert calls == [(i, None) for i in range(1, 7)]


async def test_iter_many_failing_source_raises_and_leaks_nothing(server: FakeTavus) -> None:
    """A bug in the caller's iterable is not an API error: it is raised, after cleanup."""

    def source() -> Iterator[str]:
        yield from server.persona_ids[:3]
        raise RuntimeError("source broke")

    async with client_for(server) as client:
        got: list[str] = []

        async def drain() -> None:
            async for pid, _ in client.personas.iter_many(source(), concurrency=2):
                got.append(pid)

        with pytest.raises(RuntimeError, match="source broke"):
            await drain()
        assert set(got) <= set(server.persona_ids[:3])
        await assert_clean(server, client)


async def test_iter_many_duplicates_in_flight_share_one_request(server: FakeTavus) -> None:
    """An id pulled while the same id is in flight waits for that request (no new one)."""
    a, b = server.persona_ids[:2]
    server.enqueue(Fault.delay_then(0.03), persona_id=a)
    ids = [a, b, a, a, b]
    async with client_for(server) as client:
        got = [(pid, r) async for pid, r in client.personas.iter_many(ids, concurrency=4)]
    assert sorted(pid for pid, _ in got) == sorted(ids)  # every input exactly once
    for pid, result in got:
        assert isinstance(result, Persona) and result.persona_id == pid
    by_id = [r.persona_id for r in server.requests]
    assert by_id.count(a) == 1
    # b answered at once; whether its duplicate found it still in flight is timing.
    assert 1 <= by_id.count(b) <= 2


async def test_iter_many_duplicate_after_completion_is_fetched_again(server: FakeTavus) -> None:
    """iter_many keeps no memory of finished ids (flat memory): a later duplicate is re-sent.

    (get_many, which materialises its input, fetches each distinct id once.)
    """
    a, b, c = server.persona_ids[:3]
    ids = [a, b, c, a]  # the second `a` is pulled after the first one completed
    async with client_for(server) as client:
        got = [pid async for pid, _ in client.personas.iter_many(ids, concurrency=1)]
    assert sorted(got) == sorted(ids)
    assert server.request_count == 4


async def test_iter_many_returns_a_closable_async_generator(server: FakeTavus) -> None:
    """The docstring recommends `contextlib.aclosing(iter_many(...))`; the annotation must
    allow it, or `mypy --strict` rejects the documented usage (AsyncIterator has no aclose).
    """
    async with client_for(server) as client:
        results = client.personas.iter_many(server.persona_ids[:1])
        assert isinstance(results, AsyncGenerator)
        await results.aclose()
    returns = typing.get_type_hints(Personas.iter_many)["return"]
    assert typing.get_origin(returns) is AsyncGenerator, returns


async def test_iter_many_pulls_ids_lazily(server: FakeTavus) -> None:
    concurrency = 8
    pulled = 0
    pool = server.persona_ids

    def huge() -> Iterator[str]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield pool[i % len(pool)]

    consumed = 0
    started = time.monotonic()
    async with client_for(server) as client:
        async with contextlib.aclosing(
            client.personas.iter_many(huge(), concurrency=concurrency)
        ) as results:
            async for _pid, result in results:
                assert isinstance(result, Persona)
                consumed += 1
                if consumed == 100:
                    break
        elapsed = time.monotonic() - started
        assert consumed == 100
        assert pulled <= 100 + 3 * concurrency + 1, pulled  # results waiting + workers
        assert elapsed < 5.0
        await assert_clean(server, client)
    assert server.request_count <= 100 + 3 * concurrency + 1


async def test_iter_many_async_source_pulled_lazily(server: FakeTavus) -> None:
    concurrency = 4
    pulled = 0
    pool = server.persona_ids

    async def huge() -> AsyncGenerator[str, None]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield pool[i % len(pool)]

    source = huge()
    async with client_for(server) as client:
        async with contextlib.aclosing(
            client.personas.iter_many(source, concurrency=concurrency)
        ) as results:
            count = 0
            async for _ in results:
                count += 1
                if count == 50:
                    break
        assert pulled <= 50 + 2 * concurrency + 1, pulled
        await assert_clean(server, client)
    await source.aclose()


# ------------------------------------------------------------- cancellation


async def test_cancelling_get_many_cancels_requests_and_leaks_nothing(server: FakeTavus) -> None:
    ids = server.persona_ids[:20]
    server.enqueue(*[Fault.stall()] * len(ids))
    async with client_for(server) as client:
        task = asyncio.create_task(client.personas.get_many(ids, concurrency=6))
        assert await eventually(lambda: server.in_flight == 6)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(3):
            await asyncio.sleep(0)
        assert not sdk_tasks()
        assert acquired_connections(client) == 0
        assert await eventually(lambda: server.in_flight == 0), server.in_flight
        assert server.request_count == 6  # nothing new was started after the cancel
        # The client is still usable.
        server.clear_faults()
        results = await client.personas.get_many(ids[:3])
        assert persona_ids(results) == ids[:3]


async def test_breaking_out_of_iter_many_cancels_in_flight(server: FakeTavus) -> None:
    fast, *slow = server.persona_ids[:9]
    for pid in slow:
        server.enqueue(Fault.stall(), persona_id=pid)
    async with client_for(server) as client:
        async for pid, _ in client.personas.iter_many([fast, *slow], concurrency=9):
            assert pid == fast
            assert await eventually(lambda: server.in_flight == len(slow))
            break
        # A plain `break` leaves the generator to the loop's async-generator finaliser.
        await assert_clean(server, client)
        assert server.request_count == 9


async def test_aclosing_iter_many_cleans_up_deterministically(server: FakeTavus) -> None:
    fast, *slow = server.persona_ids[:5]
    for pid in slow:
        server.enqueue(Fault.stall(), persona_id=pid)
    async with client_for(server) as client:
        async with contextlib.aclosing(
            client.personas.iter_many([fast, *slow], concurrency=5)
        ) as results:
            async for _ in results:
                assert await eventually(lambda: server.in_flight == len(slow))
                break
        # aclose() awaited the cancelled workers: clean without any settling.
        assert not sdk_tasks()
        assert acquired_connections(client) == 0
        assert await eventually(lambda: server.in_flight == 0)


async def test_cancelling_iter_many_consumer_leaks_nothing(server: FakeTavus) -> None:
    ids = server.persona_ids[:10]
    server.enqueue(*[Fault.stall()] * len(ids))
    async with client_for(server) as client:

        async def consume() -> None:
            async with contextlib.aclosing(client.personas.iter_many(ids, concurrency=4)) as it:
                async for _ in it:
                    pass  # pragma: no cover - every request stalls

        task = asyncio.create_task(consume())
        assert await eventually(lambda: server.in_flight == 4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await assert_clean(server, client)


# ------------------------------------------------------- 429 pacing, slots


async def test_get_many_paces_after_429s_and_keeps_every_id(server: FakeTavus) -> None:
    """A burst of 429s is the server pacing the job, not failing it: every id succeeds,
    and later requests pass the pacer (the engine does not drop its concurrency)."""
    concurrency = 16
    ids = server.persona_ids[:48]
    throttle = Fault(429, headers={"Retry-After": "0.01"})
    server.enqueue(*[throttle] * 40)  # more 429s than any one id's max_retries
    async with client_for(server, retry=FAST_RETRY) as client:
        results = await client.personas.get_many(ids, concurrency=concurrency)
    assert persona_ids(results) == ids
    assert server.request_count == len(ids) + 40


async def test_iter_many_paces_after_429s_and_keeps_every_id(server: FakeTavus) -> None:
    ids = server.persona_ids[:48]
    server.enqueue(*[Fault(429, headers={"Retry-After": "0.01"})] * 40)
    async with client_for(server, retry=FAST_RETRY) as client:
        got = [r async for _pid, r in client.personas.iter_many(ids, concurrency=16)]
    assert all(isinstance(r, Persona) for r in got)
    assert len(got) == len(ids)


async def test_get_many_without_429s_keeps_full_concurrency(server: FakeTavus) -> None:
    concurrency = 16
    ids = server.persona_ids[:48]
    server.enqueue(*[Fault.delay_then(0.04)] * 200)

    def progress(done: int, _total: int | None) -> None:
        if done == concurrency:
            server.reset_stats()

    async with client_for(server) as client:
        await client.personas.get_many(ids, concurrency=concurrency, on_progress=progress)
    assert server.max_in_flight == concurrency


async def test_429s_without_progress_end_the_call(server: FakeTavus) -> None:
    """A server that only answers 429: each id's 429s count (nothing else progresses), so
    the job ends after max_retries, with each slot holding its RateLimitError."""
    ids = server.persona_ids[:6]
    server.enqueue(*[Fault.retry_after(429, 0)] * 1000)
    async with client_for(server, retry=FAST_RETRY) as client:
        results = await client.personas.get_many(ids, concurrency=4, return_exceptions=True)
    assert all(isinstance(r, RateLimitError) for r in results)
    assert {r.attempts for r in results if isinstance(r, RateLimitError)} == {
        FAST_RETRY.max_retries + 1
    }
    assert server.request_count == len(ids) * (FAST_RETRY.max_retries + 1)


async def test_a_backoff_frees_the_slot_for_another_id(server: FakeTavus) -> None:
    """concurrency=1: while `a` waits out a long backoff after a 503, `b` is fetched."""
    a, b = server.persona_ids[:2]
    server.enqueue(Fault(503), persona_id=a)
    waiting = asyncio.Event()
    release = asyncio.Event()

    async def sleep(_seconds: float) -> None:
        waiting.set()
        await release.wait()

    policy = dataclasses.replace(FAST_RETRY, sleep=sleep)
    async with client_for(server, retry=policy) as client:
        task = asyncio.create_task(client.personas.get_many([a, b], concurrency=1))
        await waiting.wait()  # `a` failed and is backing off
        assert await eventually(lambda: [r.persona_id for r in server.requests] == [a, b])
        assert not task.done()
        release.set()
        results = await task
    assert persona_ids(results) == [a, b]
    assert server.max_in_flight == 1


async def test_429_that_exhausts_retries_is_a_value_in_the_slot(server: FakeTavus) -> None:
    a = server.persona_ids[0]
    server.enqueue(*[Fault.retry_after(429, 0)] * 4, persona_id=a)
    async with client_for(server, retry=FAST_RETRY) as client:
        results = await client.personas.get_many([a], return_exceptions=True)
    assert isinstance(results[0], RateLimitError)
    assert results[0].attempts == 4


async def test_iter_many_reports_non_string_items_as_values(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    items: list[Any] = [pid, None, 5, server.persona_ids[1]]
    async with client_for(server) as client:
        results = [r async for r in client.personas.iter_many(items, concurrency=2)]
    assert len(results) == 4
    by_kind = {type(result).__name__ for _, result in results}
    assert by_kind == {"Persona", "InvalidPersonaIdError"}
    bad = sorted(repr(item) for item, result in results if isinstance(result, TavusError))
    assert bad == ["5", "None"]


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (408, None),
        (409, None),
        (401, {"x-should-retry": "true"}),
        (404, {"x-should-retry": "true"}),
    ],
)
async def test_a_retried_4xx_is_no_progress_max_retries_holds(
    server: FakeTavus, status: int, headers: dict[str, str] | None
) -> None:
    """An answer that is itself retried is no progress of the job: it cannot excuse its own
    failure, so `max_retries` bounds it (it was sent until the retry budget ran out)."""
    a = server.persona_ids[0]
    server.enqueue(*[Fault(status, {"message": "no"}, headers)] * 200, persona_id=a)
    policy = dataclasses.replace(FAST_RETRY, max_retries=2)
    async with client_for(server, retry=policy) as client:
        results = await client.personas.get_many([a], concurrency=1, return_exceptions=True)
        assert isinstance(results[0], TavusError)
        assert results[0].attempts == 3
        assert server.request_count == 3


@pytest.mark.parametrize("flag", ["yes", 1, None])
async def test_get_many_refuses_a_return_exceptions_that_is_not_a_bool(
    server: FakeTavus, flag: Any
) -> None:
    async with client_for(server) as client:
        with pytest.raises(TypeError, match="return_exceptions must be a bool"):
            await client.personas.get_many(server.persona_ids[:2], 4, flag)
    assert server.request_count == 0

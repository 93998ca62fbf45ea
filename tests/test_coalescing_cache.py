"""Request coalescing in `personas.get` and the optional TTL cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import acquired_connections, eventually, sdk_tasks

from tavus_async import AsyncTavus, NotFoundError, Persona, TTLCache
from tavus_async._cache import ExpiringLRU
from tavus_async.testing import FakeTavus, Fault

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "sk-coalesce-test-key"
MISSING = "pmissing0000"


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=50) as fake:
        yield fake


def client_for(server: FakeTavus, **options: Any) -> AsyncTavus:
    return AsyncTavus(api_key=KEY, base_url=server.base_url, **options)


def _flights(client: AsyncTavus) -> dict[str, Any]:
    """The coalescer's in-flight requests, by id."""
    coalescer = client.personas._coalescer
    assert coalescer is not None
    return dict(coalescer._flights)


# ----------------------------------------------------------------- coalescing


async def test_concurrent_gets_for_one_id_share_one_request(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.delay_then(0.02), persona_id=pid)
    async with client_for(server) as client:
        results = await asyncio.gather(*[client.personas.get(pid) for _ in range(50)])
    assert server.request_count == 1
    assert all(isinstance(p, Persona) and p.persona_id == pid for p in results)
    assert all(p == results[0] for p in results)
    assert len({id(p) for p in results}) == 50  # each caller got a persona of its own


async def test_coalescing_without_delay_still_one_request(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server) as client:
        await asyncio.gather(*[client.personas.get(pid) for _ in range(50)])
    assert server.request_count == 1


async def test_coalesce_false_sends_one_request_per_call(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server, coalesce=False) as client:
        results = await asyncio.gather(*[client.personas.get(pid) for _ in range(5)])
        assert client.personas._coalescer is None
    assert server.request_count == 5
    assert all(p.persona_id == pid for p in results)
    assert len({id(p) for p in results}) == 5  # each call decoded its own response


async def test_coalesce_false_still_answers_from_the_cache(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server, coalesce=False, cache_ttl=60) as client:
        first = await client.personas.get(pid)
        assert await client.personas.get(pid) == first
    assert server.request_count == 1


async def test_different_ids_are_not_coalesced(server: FakeTavus) -> None:
    ids = server.persona_ids[:5]
    async with client_for(server) as client:
        results = await asyncio.gather(*[client.personas.get(pid) for pid in ids * 3])
    assert [p.persona_id for p in results] == ids * 3
    assert server.request_count == 5


async def test_sequential_gets_are_neither_coalesced_nor_cached_by_default(
    server: FakeTavus,
) -> None:
    pid = server.persona_ids[0]
    async with client_for(server) as client:
        await client.personas.get(pid)
        await client.personas.get(pid)
    assert server.request_count == 2


async def test_cancelling_a_joined_waiter_does_not_cancel_the_request(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.delay_then(0.1), persona_id=pid)
    async with client_for(server) as client:
        waiters = [asyncio.create_task(client.personas.get(pid)) for _ in range(3)]
        assert await eventually(lambda: server.in_flight == 1)
        waiters[1].cancel()  # not the caller that started the request
        with pytest.raises(asyncio.CancelledError):
            await waiters[1]
        rest = await asyncio.gather(waiters[0], waiters[2])
        assert all(p.persona_id == pid for p in rest)
    assert server.request_count == 1


async def test_cancelling_the_starting_caller_still_serves_the_others(server: FakeTavus) -> None:
    """Cancelling the caller that started the request neither cancels nor repeats it."""
    pid = server.persona_ids[0]
    server.enqueue(Fault.delay_then(0.1), persona_id=pid)
    async with client_for(server) as client:
        waiters = [asyncio.create_task(client.personas.get(pid)) for _ in range(3)]
        assert await eventually(lambda: server.in_flight == 1)
        waiters[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiters[0]
        rest = await asyncio.gather(*waiters[1:])
        assert all(p.persona_id == pid for p in rest)
        assert await eventually(lambda: not sdk_tasks()), sdk_tasks()
        assert not _flights(client)
    assert server.request_count == 1


async def test_cancelling_first_waiter_before_io_does_not_cancel_the_others(
    server: FakeTavus,
) -> None:
    pid = server.persona_ids[0]
    async with client_for(server) as client:
        first = asyncio.create_task(client.personas.get(pid))
        second = asyncio.create_task(client.personas.get(pid))
        await asyncio.sleep(0)  # both joined the shared request
        first.cancel()
        persona = await second
        assert persona.persona_id == pid
        assert first.cancelled()
    assert server.request_count == 1


async def test_cancelling_all_waiters_cancels_the_shared_request(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.stall(), persona_id=pid)
    async with client_for(server) as client:
        waiters = [asyncio.create_task(client.personas.get(pid)) for _ in range(3)]
        assert await eventually(lambda: server.in_flight == 1)
        for waiter in waiters:
            waiter.cancel()
        outcomes = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
        # The server sees its client leave: the stalled handler is cancelled.
        assert await eventually(lambda: server.in_flight == 0), server.in_flight
        assert await eventually(lambda: not sdk_tasks()), sdk_tasks()
        assert acquired_connections(client) == 0
        assert not _flights(client)
    assert server.request_count == 1


async def test_get_right_after_all_waiters_left_is_not_cancelled(server: FakeTavus) -> None:
    """A new caller must not inherit a shared request that is being cancelled.

    The first caller is cancelled while another waits: the request keeps running for the
    other (no second request). When that last waiter is cancelled too, the request is
    cancelled; a `get()` right after must start afresh, not join the dying request.
    """
    pid = server.persona_ids[0]
    server.enqueue(Fault.stall(), persona_id=pid)
    async with client_for(server) as client:
        owner = asyncio.create_task(client.personas.get(pid))
        joiner = asyncio.create_task(client.personas.get(pid))
        assert await eventually(lambda: server.in_flight == 1)
        owner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await owner
        for _ in range(5):
            await asyncio.sleep(0)
        # The request was not cancelled, nor sent again, for the joiner.
        assert server.request_count == 1
        assert server.in_flight == 1
        assert not joiner.done()
        joiner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await joiner
        outcome: Persona | BaseException
        try:
            outcome = await client.personas.get(pid)
        except asyncio.CancelledError as exc:  # this task was never cancelled
            outcome = exc
        assert isinstance(outcome, Persona), f"fresh get() raised {outcome!r}"
        assert outcome.persona_id == pid
        assert server.request_count == 2


async def test_get_right_after_the_only_caller_left_is_not_cancelled(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.stall(), persona_id=pid)
    async with client_for(server) as client:
        waiter = asyncio.create_task(client.personas.get(pid))
        assert await eventually(lambda: server.in_flight == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (await client.personas.get(pid)).persona_id == pid


async def test_errors_are_delivered_to_every_waiter(server: FakeTavus) -> None:
    server.enqueue(Fault.delay_then(0.02), persona_id=MISSING)
    async with client_for(server) as client:
        outcomes = await asyncio.gather(
            *[client.personas.get(MISSING) for _ in range(5)], return_exceptions=True
        )
    assert all(isinstance(o, NotFoundError) and o.status_code == 400 for o in outcomes)
    assert server.request_count == 1


async def test_shared_request_is_forgotten_after_an_error(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.http(404), persona_id=pid)
    async with client_for(server) as client:
        with pytest.raises(NotFoundError):
            await client.personas.get(pid)
        assert (await client.personas.get(pid)).persona_id == pid
        assert not _flights(client)
    assert server.request_count == 2


# --------------------------------------------------------------------- cache


async def test_cache_serves_repeat_gets(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server, cache_ttl=60) as client:
        first = await client.personas.get(pid)
        second = await client.personas.get(pid)
    assert server.request_count == 1
    assert second == first
    assert second is not first


async def test_a_cache_hit_is_a_persona_of_its_own(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server, cache_ttl=60) as client:
        a = await client.personas.get(pid)
        b = await client.personas.get(pid)
        [c] = await client.personas.get_many([pid])
        assert isinstance(c, Persona)
        assert a.document_tags is not None
        tags = list(a.document_tags)
        a.document_tags.append("X")
        assert b.document_tags == tags
        assert c.document_tags == tags
        assert (await client.personas.get(pid)).document_tags == tags
    assert server.request_count == 1


async def test_coalesced_callers_each_get_a_persona_of_their_own(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.delay_then(0.02), persona_id=pid)
    async with client_for(server) as client:
        first, second, (third,) = await asyncio.gather(
            client.personas.get(pid), client.personas.get(pid), client.personas.get_many([pid])
        )
    assert server.request_count == 1
    assert isinstance(third, Persona)
    assert first == second == third
    assert len({id(first), id(second), id(third)}) == 3
    assert first.layers is not None and second.layers is not None
    assert first.layers is not second.layers
    assert first.to_dict() == second.to_dict() == third.to_dict()


async def test_cache_entries_expire(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server, cache_ttl=0.05) as client:
        await client.personas.get(pid)
        await client.personas.get(pid)
        assert server.request_count == 1
        await asyncio.sleep(0.06)
        await client.personas.get(pid)
        assert server.request_count == 2


async def test_cache_expiry_with_a_fake_clock(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    clock = FakeClock()
    async with client_for(server, cache=TTLCache(30, clock=clock)) as client:
        await client.personas.get(pid)
        clock.now += 29.9
        await client.personas.get(pid)
        assert server.request_count == 1
        clock.now += 0.1
        await client.personas.get(pid)
        assert server.request_count == 2
        clock.now += 29.9
        await client.personas.get(pid)
        assert server.request_count == 2


async def test_cache_size_evicts_least_recently_used(server: FakeTavus) -> None:
    a, b, c = server.persona_ids[:3]
    async with client_for(server, cache_ttl=60, cache_size=2) as client:
        await client.personas.get(a)
        await client.personas.get(b)
        await client.personas.get(a)  # hit: a becomes the most recently used
        assert server.request_count == 2
        await client.personas.get(c)  # evicts b
        assert server.request_count == 3
        await client.personas.get(a)  # still cached
        assert server.request_count == 3
        await client.personas.get(b)  # was evicted
        assert server.request_count == 4
    assert [r.persona_id for r in server.requests] == [a, b, c, b]


async def test_errors_are_not_cached(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.http(404), persona_id=pid)
    async with client_for(server, cache_ttl=60) as client:
        with pytest.raises(NotFoundError):
            await client.personas.get(MISSING)
        with pytest.raises(NotFoundError):
            await client.personas.get(MISSING)
        with pytest.raises(NotFoundError):
            await client.personas.get(pid)
        assert (await client.personas.get(pid)).persona_id == pid
    assert server.request_count == 4


async def test_bulk_calls_use_the_cache(server: FakeTavus) -> None:
    a, b, c, d = server.persona_ids[:4]
    async with client_for(server, cache_ttl=60) as client:
        await client.personas.get(a)
        assert server.request_count == 1
        results = await client.personas.get_many([a, b, a])
        assert [r.persona_id for r in results if isinstance(r, Persona)] == [a, b, a]
        assert server.request_count == 2
        seen = sorted([pid async for pid, _ in client.personas.iter_many([a, b, c])])
        assert seen == sorted([a, b, c])
        assert server.request_count == 3
        await client.personas.get_many([a, b, c])
        async for _ in client.personas.iter_many([a, b, c]):
            pass
        assert (await client.personas.get(c)).persona_id == c
        assert server.request_count == 3
        await client.personas.get(d)
        assert server.request_count == 4
    assert sorted(r.persona_id or "" for r in server.requests) == sorted([a, b, c, d])


@pytest.mark.parametrize(("ttl", "size"), [(0, 10), (-1, 10), (1, 0)])
def test_cache_options_are_validated(ttl: float, size: int) -> None:
    with pytest.raises(ValueError, match="cache_"):
        AsyncTavus(api_key=KEY, cache_ttl=ttl, cache_size=size)


# ------------------------------------------------------------ ExpiringLRU (the map under TTLCache)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ttl_cache_expiry_with_fake_clock() -> None:
    clock = FakeClock()
    cache: ExpiringLRU[str] = ExpiringLRU(10.0, 8, clock=clock)
    cache.put("k", "v")
    clock.now += 9.999
    assert cache.get("k") == "v"
    clock.now += 0.001  # exactly ttl after the put: expired
    assert cache.get("k") is None
    assert len(cache) == 0  # an expired entry is dropped on read
    cache.put("k", "v2")
    clock.now += 5
    cache.put("k", "v3")  # re-putting restarts the ttl
    clock.now += 9
    assert cache.get("k") == "v3"


def test_ttl_cache_reads_do_not_extend_life() -> None:
    clock = FakeClock()
    cache: ExpiringLRU[int] = ExpiringLRU(1.0, 8, clock=clock)
    cache.put("k", 1)
    for _ in range(9):
        clock.now += 0.1
        assert cache.get("k") == 1
    clock.now += 0.1
    assert cache.get("k") is None


def test_ttl_cache_lru_bound() -> None:
    clock = FakeClock()
    cache: ExpiringLRU[int] = ExpiringLRU(60.0, 2, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now most recent
    cache.put("c", 3)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3
    cache.put("a", 10)  # overwrite refreshes recency, does not grow
    cache.put("d", 4)  # evicts c
    assert cache.get("c") is None
    assert (cache.get("a"), cache.get("d")) == (10, 4)
    cache.clear()
    assert len(cache) == 0
    assert cache.get("a") is None


def test_ttl_cache_validates_arguments() -> None:
    with pytest.raises(ValueError, match="ttl"):
        ExpiringLRU[int](0, 1)
    with pytest.raises(ValueError, match="max_entries"):
        ExpiringLRU[int](1, 0)

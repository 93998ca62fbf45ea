"""A 401 stops a bulk call: the ids not sent yet fail with a copy of it, without a request.

Every request of a call shares the key, so once the server refused it, asking again can
only be refused again (`tavus-async personas get - --api-key wrong < 3000-ids.txt` sent
3,000 requests that all answered 401).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from support import acquired_connections, eventually, sdk_tasks

from tavus_async import (
    AsyncTavus,
    AuthenticationError,
    InvalidPersonaIdError,
    PermissionDeniedError,
    Persona,
    RetryEvent,
    RetryPolicy,
    TavusError,
)
from tavus_async.testing import FakeTavus, Fault

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "sk-bulk-auth-key"
WRONG = "sk-wrong-key-000"
CONCURRENCY = 32
MANY = [f"p{i:011d}" for i in range(3000)]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_BACKOFF = RetryPolicy(max_retries=3, initial_backoff=0.0, max_backoff=0.0, jitter=False)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=50) as fake:
        yield fake


def client_for(server: FakeTavus, api_key: str = KEY, **options: Any) -> AsyncTavus:
    return AsyncTavus(api_key=api_key, base_url=server.base_url, **options)


async def assert_nothing_after(server: FakeTavus, client: AsyncTavus, sent: int) -> None:
    """No SDK task, connection or request outlives the call, and none was sent since."""
    assert not sdk_tasks()
    assert acquired_connections(client) == 0
    assert await eventually(lambda: server.in_flight == 0), server.in_flight
    assert server.request_count == sent


def assert_own_copies(results: list[Any], status: int = 401) -> None:
    """Every result an AuthenticationError of its own, all alike."""
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert len({id(r) for r in results}) == len(results)
    assert {(r.status_code, r.message) for r in results} == {(status, "Invalid access token")}


async def test_get_many_wrong_key_sends_at_most_concurrency_requests(server: FakeTavus) -> None:
    async with client_for(server, WRONG) as client:
        results = await client.personas.get_many(
            MANY, concurrency=CONCURRENCY, return_exceptions=True
        )
        sent = server.request_count
        assert 1 <= sent <= CONCURRENCY
        assert len(results) == len(MANY)
        assert_own_copies(results)
        await assert_nothing_after(server, client, sent)


async def test_get_many_wrong_key_raises_the_401(server: FakeTavus) -> None:
    async with client_for(server, WRONG) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.pals.get_many(MANY, concurrency=CONCURRENCY)
        assert info.value.status_code == 401
        sent = server.request_count
        assert 1 <= sent <= CONCURRENCY
        await assert_nothing_after(server, client, sent)


def _sync_ids() -> Iterator[str]:
    yield from MANY


async def _async_ids() -> AsyncIterator[str]:
    for persona_id in MANY:
        yield persona_id


@pytest.mark.parametrize("source", [_sync_ids, _async_ids])
async def test_iter_many_wrong_key_yields_the_401_for_every_id(
    server: FakeTavus, source: Any
) -> None:
    """The input is still read to its end, one result per id, and only the first
    `concurrency` ids can have been sent."""
    seen: list[str] = []
    results: list[Persona | TavusError] = []
    async with client_for(server, WRONG) as client:
        async for persona_id, result in client.personas.iter_many(
            source(), concurrency=CONCURRENCY
        ):
            seen.append(persona_id)
            results.append(result)
        sent = server.request_count
        assert 1 <= sent <= CONCURRENCY
        assert sorted(seen) == MANY
        assert_own_copies(results)
        await assert_nothing_after(server, client, sent)


async def test_requests_in_flight_at_the_401_finish_as_they_will(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """`a` is refused only once b and c are at the server, which answer only once the
    client has taken the 401: b and c are kept; d.. fail with the 401, unsent."""
    a, b, c, *rest = [f"p{i:011d}" for i in range(8)]
    arrived: list[str] = []
    all_in = asyncio.Event()
    refused = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        persona_id = request.path.rsplit("/", 1)[-1]
        arrived.append(persona_id)
        if len(arrived) == 3:
            all_in.set()
        if persona_id == a:
            await all_in.wait()
            return web.json_response({"message": "Invalid access token"}, status=401)
        await refused.wait()
        return web.json_response({"persona_id": persona_id, "persona_name": persona_id})

    def progress(done: int, _total: int | None) -> None:
        refused.set()  # the first id done is a, refused

    base_url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=base_url) as client:
        results = await client.personas.get_many(
            [a, b, c, *rest], concurrency=3, return_exceptions=True, on_progress=progress
        )
        assert not sdk_tasks()
        assert acquired_connections(client) == 0
    assert sorted(arrived) == [a, b, c]
    assert [r.persona_id for r in results[1:3] if isinstance(r, Persona)] == [b, c]
    assert_own_copies([results[0], *results[3:]])


async def test_a_retry_waiting_out_its_backoff_is_not_sent_after_the_401(
    server: FakeTavus,
) -> None:
    """concurrency=1: `a` gets a 503 and backs off; meanwhile `b` gets the 401. `a`'s retry
    then fails with the 401 at the gate, unsent, and so does every id after `b`."""
    a, b, *rest = server.persona_ids[:6]
    server.enqueue(Fault(503), persona_id=a)
    server.enqueue(Fault(401, {"message": "Invalid access token"}), persona_id=b)
    refused = asyncio.Event()

    async def sleep(_seconds: float) -> None:
        await refused.wait()

    def progress(done: int, _total: int | None) -> None:
        refused.set()  # the first id done is b, refused

    policy = dataclasses.replace(NO_BACKOFF, sleep=sleep)
    async with client_for(server, retry=policy) as client:
        results = await client.personas.get_many(
            [a, b, *rest], concurrency=1, return_exceptions=True, on_progress=progress
        )
        await assert_nothing_after(server, client, 2)
    assert [r.persona_id for r in server.requests] == [a, b]
    assert_own_copies(results)


async def test_cache_hits_after_the_401_fail_too(server: FakeTavus) -> None:
    """Decision: the key was refused, so nothing more is answered in this call, not even
    from the cache. The stop is per call: the next call is served as usual."""
    cached = server.persona_ids[:5]
    refused = server.persona_ids[5]
    async with client_for(server, cache_ttl=60) as client:
        await client.personas.get_many(cached)
        server.reset_stats()
        server.enqueue(Fault(401, {"message": "Invalid access token"}), persona_id=refused)
        results = await client.personas.get_many(
            [refused, *cached], concurrency=1, return_exceptions=True
        )
        assert server.request_count == 1
        # The failed attempt frees its slot at once, so the next id may be looked up while
        # the 401 is on its way up (a lookup already started finishes as it will).
        assert isinstance(results[1], Persona | AuthenticationError)
        assert_own_copies([results[0], *results[2:]])
        again = await client.personas.get_many(cached)
        assert [p.persona_id for p in again] == cached
        assert server.request_count == 1  # cache hits


async def test_iter_many_invalid_ids_after_the_401_stay_invalid(server: FakeTavus) -> None:
    refused, *good = server.persona_ids[:4]
    server.enqueue(Fault(401, {"message": "Invalid access token"}), persona_id=refused)
    async with client_for(server) as client:
        got = dict([pair async for pair in client.personas.iter_many([refused, "a/b", *good], 1)])
    assert isinstance(got.pop("a/b"), InvalidPersonaIdError)
    assert_own_copies(list(got.values()))
    assert server.request_count == 1


async def test_a_403_does_not_stop_the_call(server: FakeTavus) -> None:
    """Only a 401 says the key itself is refused; a 403 is about one resource."""
    denied, *good = server.persona_ids[:5]
    server.enqueue(Fault(403), persona_id=denied)
    async with client_for(server) as client:
        results = await client.personas.get_many(
            [denied, *good], concurrency=1, return_exceptions=True
        )
    assert isinstance(results[0], PermissionDeniedError)
    assert [r.persona_id for r in results[1:] if isinstance(r, Persona)] == good
    assert server.request_count == 5


async def test_a_copy_of_the_401_is_never_retried_even_with_x_should_retry(
    server: FakeTavus,
) -> None:
    """concurrency=1: `a` gets a 503 and backs off; `b`'s 401 says `x-should-retry: true`,
    so `b` is retried (as the policy says) until it gives up, which stops the call. `a`'s
    retry then fails with a copy of that 401, which carries the header too: it is raised
    at once, with no wait and no retry budget spent."""
    a, b = server.persona_ids[:2]
    refusal = Fault(401, {"message": "Invalid access token"}, {"x-should-retry": "true"})
    server.enqueue(Fault(503), persona_id=a)
    server.enqueue(*[refusal] * 3, persona_id=b)
    refused = asyncio.Event()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:  # a's backoff lasts until b has given up
            await refused.wait()

    def progress(done: int, _total: int | None) -> None:
        refused.set()  # the first id done is b, refused

    retried: list[tuple[str, str]] = []

    def on_retry(event: RetryEvent) -> None:
        retried.append((event.url.rsplit("/", 1)[-1], type(event.error).__name__))

    policy = dataclasses.replace(NO_BACKOFF, max_retries=2, sleep=sleep)
    hooks = {"retry": [on_retry]}
    async with client_for(server, retry=policy, event_hooks=hooks) as client:
        results = await client.personas.get_many(
            [a, b], concurrency=1, return_exceptions=True, on_progress=progress
        )
        await assert_nothing_after(server, client, 4)
    assert len(waits) == 3  # a's backoff, b's two retries
    assert retried == [
        (a, "InternalServerError"),
        (b, "AuthenticationError"),
        (b, "AuthenticationError"),
    ]
    assert [r.persona_id for r in server.requests] == [a, b, b, b]
    assert_own_copies(results)


async def test_the_401_ends_a_retrys_wait_at_once(server: FakeTavus) -> None:
    """concurrency=1: `a` waits out an hour-long Retry-After; `b`'s 401 stops the call, and
    `a`'s wait ends with it (a copy of the 401, unsent) instead of an hour later."""
    a, b, *rest = server.persona_ids[:5]
    server.enqueue(Fault.retry_after(503, 3600), persona_id=a)
    server.enqueue(Fault(401, {"message": "Invalid access token"}), persona_id=b)
    policy = RetryPolicy(max_retries=2, max_retry_after=float("inf"))
    async with client_for(server, retry=policy) as client:
        async with asyncio.timeout(30):  # a bound: the wait is an hour without the stop
            results = await client.personas.get_many(
                [a, b, *rest], concurrency=1, return_exceptions=True
            )
        await assert_nothing_after(server, client, 2)
    assert_own_copies(results)


async def test_the_401_ends_a_policys_own_sleep(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """concurrency=2: `a` gets a 503 and backs off in the policy's `sleep`, which would
    never return; `c` takes its slot; then `b`'s 401 stops the call. The stop cancels
    `a`'s sleep (a copy of the 401, unsent), `c` is answered, the rest fail unsent."""
    a, b, c, *rest = [f"p{i:011d}" for i in range(24)]
    arrived: list[str] = []
    all_in = asyncio.Event()
    sleeping = asyncio.Event()
    refused = asyncio.Event()
    never = asyncio.Event()
    waits: list[float] = []
    sleepers: list[asyncio.Task[Any] | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        persona_id = request.path.rsplit("/", 1)[-1]
        arrived.append(persona_id)
        if len(arrived) == 3:
            all_in.set()
        if persona_id == a:
            return web.json_response({"message": "busy"}, status=503)
        if persona_id == b:
            await all_in.wait()
            await sleeping.wait()
            return web.json_response({"message": "Invalid access token"}, status=401)
        await refused.wait()
        return web.json_response({"persona_id": persona_id, "persona_name": persona_id})

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        sleepers.append(asyncio.current_task())
        sleeping.set()
        await never.wait()

    def progress(done: int, _total: int | None) -> None:
        refused.set()  # the first id done is b, refused

    policy = RetryPolicy(initial_backoff=1.0, max_backoff=1.0, jitter=False, sleep=sleep)
    base_url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=base_url, retry=policy) as client:
        async with asyncio.timeout(5):  # a bound: without the stop the sleep never ends
            results = await client.personas.get_many(
                [a, b, c, *rest], concurrency=2, return_exceptions=True, on_progress=progress
            )
        assert not sdk_tasks()
        assert all(task is not None and task.done() for task in sleepers)
        assert acquired_connections(client) == 0
    assert waits == [1.0]  # called once, with the policy's backoff
    assert sorted(arrived) == [a, b, c]
    assert isinstance(results[2], Persona)
    assert_own_copies([*results[:2], *results[3:]])

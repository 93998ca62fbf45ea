"""Client-side flow control: the GCRA `RateLimiter`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tavus_async import AsyncTavus, Persona
from tavus_async._limits import RateLimiter
from tavus_async.testing import FakeTavus

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "sk-rate-test-key"


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=250) as fake:
        yield fake


# --------------------------------------------------------- RateLimiter (pure)


def schedule(limiter: RateLimiter, times: list[float]) -> list[float]:
    """The absolute start time granted to a reservation made at each of `times`."""
    return [now + limiter.reserve(now) for now in times]


def test_rate_limiter_spaces_requests_without_burst() -> None:
    limiter = RateLimiter(50)
    assert limiter.rate == pytest.approx(50)
    starts = schedule(limiter, [100.0] * 5)
    assert starts == pytest.approx([100.0, 100.02, 100.04, 100.06, 100.08])


def test_rate_limiter_burst_then_spacing() -> None:
    limiter = RateLimiter(10, burst=3)
    starts = schedule(limiter, [0.0] * 6)
    assert starts == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


def test_rate_limiter_no_wait_when_requests_are_already_slow() -> None:
    limiter = RateLimiter(10)
    for i in range(5):
        assert limiter.reserve(1.0 + i * 0.15) == 0.0


def test_rate_limiter_idle_time_refills_the_burst_but_no_more() -> None:
    limiter = RateLimiter(10, burst=3)
    schedule(limiter, [0.0] * 6)  # drained: next slot at 0.6
    # Long idle: the burst is available again, but not a bigger one.
    starts = schedule(limiter, [10.0] * 5)
    assert starts == pytest.approx([10.0, 10.0, 10.0, 10.1, 10.2])


def test_rate_limiter_reservations_queue_in_call_order() -> None:
    limiter = RateLimiter(4)
    waits = [limiter.reserve(5.0) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75])
    # Half-way through the queue: a new reservation goes after the queued ones.
    assert limiter.reserve(5.5) == pytest.approx(0.5)


def test_rate_limiter_reserve_is_deterministic_given_now() -> None:
    a, b = RateLimiter(7, burst=2), RateLimiter(7, burst=2)
    times = [0.0, 0.01, 0.02, 0.5, 0.5, 0.5, 3.0, 3.0]
    assert schedule(a, times) == schedule(b, times)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("nan"), 1), (1, 0)])
def test_rate_limiter_validates_arguments(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        RateLimiter(rate, burst)


async def test_rate_limiter_acquire_sleeps_until_the_slot() -> None:
    limiter = RateLimiter(100)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(6):
        await limiter.acquire()
    elapsed = loop.time() - started
    assert 0.045 <= elapsed < 0.5


# ------------------------------------------------------------ against a server


async def test_client_rate_limit_over_bulk_fetch(server: FakeTavus) -> None:
    rate = 50
    ids = server.persona_ids[:200]
    async with AsyncTavus(api_key=KEY, base_url=server.base_url, rate_limit=rate) as client:
        results = await client.personas.get_many(ids, concurrency=32)
    assert all(isinstance(r, Persona) for r in results)
    times = sorted(r.time for r in server.requests)
    assert len(times) == 200
    observed = (len(times) - 1) / (times[-1] - times[0])
    assert rate * 0.8 <= observed <= rate * 1.2, observed
    # Spacing, not bunching: no 10 requests land within half of 10 intervals.
    window = min(times[i + 10] - times[i] for i in range(len(times) - 10))
    assert window >= 10 / rate * 0.5, window


async def test_client_without_rate_limit_is_not_throttled(server: FakeTavus) -> None:
    async with AsyncTavus(api_key=KEY, base_url=server.base_url) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.personas.get_many(server.persona_ids[:100], concurrency=16)
        assert loop.time() - started < 1.0  # 100 at 50/s would take ~2s


def test_client_validates_rate_limit() -> None:
    with pytest.raises(ValueError, match="rate"):
        AsyncTavus(api_key=KEY, rate_limit=0)


# --------------------------------------------------- RateLimiter (async)


async def test_cancelled_waiters_cost_no_slot() -> None:
    limiter = RateLimiter(5)  # one request per 0.2 s
    await limiter.acquire()  # the first slot is free
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(20)]
    await asyncio.sleep(0)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    # Twenty cancelled waiters booked nothing: the next slot is at most one interval away.
    assert limiter.take(asyncio.get_running_loop().time()) <= 0.2 + 1e-6

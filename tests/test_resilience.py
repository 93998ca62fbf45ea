"""Fault injection on loopback: the client's retries, timeouts and cancellation end to end.

Every test runs `AsyncTavus` against a `FakeTavus` on 127.0.0.1 with scripted `Fault`s. Backoff
is never slept for real: policies use millisecond backoffs or a recording fake sleep. The one
exception is the `Retry-After: 1` test, which checks that the client really waits ~1 s.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import aiohttp
import pytest
from support import acquired_connections, eventually

from tavus_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncTavus,
    AuthenticationError,
    BadRequestError,
    BudgetConfig,
    DecodeError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    Persona,
    RateLimitError,
    RetryPolicy,
    TavusError,
    UnprocessableEntityError,
)
from tavus_async.testing import FakeTavus, Fault

KEY = "sk-resilience-DISTINCTIVE-9q7Zx4Lw"


class FakeSleep:
    """A `RetryPolicy.sleep` that records the requested waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def tiny(**overrides: Any) -> RetryPolicy:
    """A policy whose backoffs are a few milliseconds at most."""
    settings: dict[str, Any] = {"initial_backoff": 0.001, "max_backoff": 0.01}
    settings.update(overrides)
    return RetryPolicy(**settings)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=50) as fake:
        yield fake


def client_for(server: FakeTavus, policy: RetryPolicy, **kwargs: Any) -> AsyncTavus:
    return AsyncTavus(api_key=KEY, base_url=server.base_url, retry=policy, **kwargs)


async def _refused_url() -> str:
    """A loopback URL on which nothing listens (the port was just released)."""
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- status codes


async def test_503_503_200_succeeds_in_three_attempts(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.http(503), Fault.http(503))
    async with client_for(server, tiny()) as client:
        persona = await client.personas.get(pid)
    assert isinstance(persona, Persona)
    assert persona.persona_id == pid
    assert server.request_count == 3


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_exhausted_retries_raise_the_last_error(server: FakeTavus, max_retries: int) -> None:
    # Earlier failures are 503s; the last is a 429, so "the last error" is distinguishable.
    server.enqueue(*[Fault.http(503)] * max_retries, Fault.http(429), Fault.http(503))
    async with client_for(server, tiny(max_retries=max_retries)) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.personas.get(server.persona_ids[0])
    assert caught.value.status_code == 429
    assert caught.value.attempts == max_retries + 1
    assert server.request_count == max_retries + 1


async def test_max_retries_argument_overrides_the_policy(server: FakeTavus) -> None:
    server.enqueue(*[Fault.http(500)] * 10)
    async with client_for(server, tiny(max_retries=5), max_retries=1) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.personas.get(server.persona_ids[0])
    assert caught.value.attempts == 2
    assert server.request_count == 2


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
    ],
)
async def test_client_errors_fail_at_once(
    server: FakeTavus, status: int, cls: type[APIStatusError]
) -> None:
    server.enqueue(Fault.http(status))
    async with client_for(server, tiny(max_retries=3)) as client:
        with pytest.raises(cls) as caught:
            await client.personas.get(server.persona_ids[0])
    assert caught.value.status_code == status
    assert caught.value.attempts == 1
    assert server.request_count == 1


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried(server: FakeTavus, status: int) -> None:
    pid = server.persona_ids[1]
    server.enqueue(Fault.http(status))
    async with client_for(server, tiny(max_retries=3)) as client:
        persona = await client.personas.get(pid)
    assert persona.persona_id == pid
    assert server.request_count == 2


async def test_x_should_retry_true_makes_a_400_retried(server: FakeTavus) -> None:
    pid = server.persona_ids[2]
    server.enqueue(Fault.http(400, headers={"X-Should-Retry": "true"}))
    async with client_for(server, tiny()) as client:
        persona = await client.personas.get(pid)
    assert persona.persona_id == pid
    assert server.request_count == 2


async def test_x_should_retry_false_stops_a_503(server: FakeTavus) -> None:
    server.enqueue(Fault.http(503, headers={"x-should-retry": "false"}), Fault.http(503))
    async with client_for(server, tiny(max_retries=3)) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.personas.get(server.persona_ids[0])
        assert client._transport.budget is not None
        budget_tokens = client._transport.budget.tokens
    assert caught.value.attempts == 1
    assert server.request_count == 1
    assert budget_tokens == 100.0


async def test_a_non_retryable_error_after_retries_reports_all_attempts(server: FakeTavus) -> None:
    server.enqueue(Fault.http(503), Fault.http(502), Fault.http(404))
    async with client_for(server, tiny(max_retries=5)) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.personas.get(server.persona_ids[0])
    assert caught.value.attempts == 3
    assert server.request_count == 3


# --------------------------------------------------------------------------- Retry-After


async def test_retry_after_one_second_is_really_waited(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server, tiny()) as client:
        await client.personas.get(pid)  # warm the pool: time only the wait
        server.enqueue(Fault.retry_after(429, "1"))
        started = time.monotonic()
        persona = await client.personas.get(pid)
        elapsed = time.monotonic() - started
    assert persona.persona_id == pid
    assert server.request_count == 3
    assert 0.95 <= elapsed < 3.0


async def test_retry_after_ms_is_honoured(server: FakeTavus) -> None:
    sleep = FakeSleep()
    server.enqueue(Fault.http(429, headers={"retry-after-ms": "250"}))
    async with client_for(server, tiny(sleep=sleep)) as client:
        await client.personas.get(server.persona_ids[0])
    assert sleep.waits == [0.25]
    assert server.request_count == 2


async def test_retry_after_http_date_is_honoured(server: FakeTavus) -> None:
    sleep = FakeSleep()
    server.enqueue(Fault.retry_after(503, formatdate(time.time() + 5, usegmt=True)))
    async with client_for(server, tiny(sleep=sleep)) as client:
        await client.personas.get(server.persona_ids[0])
    (wait,) = sleep.waits
    # The date has whole-second resolution: the wait is in (4, 5] seconds.
    assert 3.5 <= wait <= 5.0
    assert server.request_count == 2


async def test_oversized_retry_after_is_raised_not_slept(server: FakeTavus) -> None:
    sleep = FakeSleep()
    server.enqueue(Fault.retry_after(429, "3600"))
    policy = tiny(sleep=sleep, max_retry_after=60.0, max_retries=3)
    async with client_for(server, policy) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await client.personas.get(server.persona_ids[0])
        elapsed = time.monotonic() - started
        budget = client._transport.budget
        assert budget is not None
        assert budget.tokens == 100.0  # nothing spent on a retry that never happened
    assert caught.value.retry_after == 3600
    assert caught.value.attempts == 1
    assert sleep.waits == []
    assert server.request_count == 1
    assert elapsed < 1.0


async def test_garbage_retry_after_falls_back_to_backoff(server: FakeTavus) -> None:
    sleep = FakeSleep()
    server.enqueue(Fault.retry_after(429, "soon"))
    policy = RetryPolicy(initial_backoff=0.125, max_backoff=1.0, jitter=False, sleep=sleep)
    async with client_for(server, policy) as client:
        await client.personas.get(server.persona_ids[0])
    assert sleep.waits == [0.125]
    assert server.request_count == 2


@pytest.mark.parametrize("retry_after", ["30", "3600"])
async def test_retry_after_ignored_when_not_respected(server: FakeTavus, retry_after: str) -> None:
    sleep = FakeSleep()
    server.enqueue(Fault.retry_after(429, retry_after))
    policy = RetryPolicy(
        initial_backoff=0.125,
        max_backoff=1.0,
        jitter=False,
        respect_retry_after=False,
        max_retry_after=60.0,
        sleep=sleep,
    )
    async with client_for(server, policy) as client:
        await client.personas.get(server.persona_ids[0])
    assert sleep.waits == [0.125]
    assert server.request_count == 2


# --------------------------------------------------------------------------- timeouts


async def test_stall_times_out_then_retry_succeeds(
    server: FakeTavus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tavus_async")
    pid = server.persona_ids[3]
    server.enqueue(Fault.stall())
    async with client_for(server, tiny(), timeout=0.2) as client:
        started = time.monotonic()
        persona = await client.personas.get(pid)
        elapsed = time.monotonic() - started
    assert persona.persona_id == pid
    assert server.request_count == 2
    assert elapsed < 0.2 + 0.8
    # aiohttp's `total` timeout (a bare TimeoutError) was seen by the retry loop as ours.
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(retries) == 1
    assert "APITimeoutError" in retries[0]


async def test_total_timeout_is_mapped_to_api_timeout_error(server: FakeTavus) -> None:
    server.enqueue(Fault.stall())
    async with client_for(server, tiny(max_retries=0), timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            await client.personas.get(server.persona_ids[0])
        elapsed = time.monotonic() - started
    error = caught.value
    assert isinstance(error, APITimeoutError)
    assert isinstance(error, APIConnectionError)
    raised: type[BaseException] = type(error)
    assert raised is not TimeoutError  # aiohttp's bare TimeoutError never leaks out
    assert error.attempts == 1
    assert elapsed < 1.0


async def _times_out(
    client: AsyncTavus, server: FakeTavus, *, attempts: int = 1, within: float = 1.5
) -> None:
    """One `get` fails with `APITimeoutError` after `attempts` requests, within `within` s."""
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as caught:
        await client.personas.get(server.persona_ids[0])
    elapsed = time.monotonic() - started
    assert caught.value.attempts == attempts
    assert server.request_count == attempts
    assert elapsed < within


async def test_slow_drip_body_hits_the_total_timeout(server: FakeTavus) -> None:
    # One byte every 0.2 s: every read succeeds within any sock_read, so only `total` stops it.
    server.enqueue(Fault.drip(0.2))
    async with client_for(server, tiny(max_retries=0), timeout=0.5) as client:
        await _times_out(client, server)


async def test_client_timeout_object_passes_through_and_times_out(server: FakeTavus) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=0.2)
    server.enqueue(Fault.stall())
    async with client_for(server, tiny(max_retries=0), timeout=timeout) as client:
        assert client.timeout is timeout
        await _times_out(client, server)


async def test_sock_read_timeout_is_retried(server: FakeTavus) -> None:
    pid = server.persona_ids[4]
    timeout = aiohttp.ClientTimeout(total=None, sock_read=0.2)
    server.enqueue(Fault.stall())
    async with client_for(server, tiny(), timeout=timeout) as client:
        persona = await client.personas.get(pid)
    assert persona.persona_id == pid
    assert server.request_count == 2


# --------------------------------------------------------------------------- broken connections


async def test_connection_dropped_mid_body_is_retried(server: FakeTavus) -> None:
    pid = server.persona_ids[5]
    server.enqueue(Fault.drop_mid_body())
    async with client_for(server, tiny()) as client:
        persona = await client.personas.get(pid)
    assert persona.persona_id == pid
    assert server.request_count == 2


async def test_dropped_mid_body_without_retries_is_a_connection_error(server: FakeTavus) -> None:
    server.enqueue(Fault.drop_mid_body())
    async with client_for(server, tiny(max_retries=0)) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.get(server.persona_ids[0])
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.attempts == 1


async def test_connection_refused_fails_quickly() -> None:
    url = await _refused_url()
    async with AsyncTavus(api_key=KEY, base_url=url, retry=tiny(max_retries=0)) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.get("p0123456789a")
        elapsed = time.monotonic() - started
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.attempts == 1
    assert elapsed < 1.0


@pytest.mark.parametrize("max_retries", [1, 3])
async def test_connection_refused_is_retried(max_retries: int) -> None:
    url = await _refused_url()
    sleep = FakeSleep()
    policy = tiny(max_retries=max_retries, sleep=sleep)
    async with AsyncTavus(api_key=KEY, base_url=url, retry=policy) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.get("p0123456789a")
        elapsed = time.monotonic() - started
    assert caught.value.attempts == max_retries + 1
    assert len(sleep.waits) == max_retries
    assert elapsed < 2.0


async def test_invalid_json_is_a_decode_error_without_retry(server: FakeTavus) -> None:
    server.enqueue(Fault.invalid_json())
    async with client_for(server, tiny(max_retries=3)) as client:
        with pytest.raises(DecodeError) as caught:
            await client.personas.get(server.persona_ids[0])
    assert caught.value.attempts == 1
    assert caught.value.status_code == 200
    assert server.request_count == 1


async def test_stale_keep_alive_connection_is_retried_transparently(server: FakeTavus) -> None:
    pid = server.persona_ids[6]
    async with client_for(server, tiny()) as client:
        await client.personas.get(pid)  # warm: one pooled keep-alive connection
        assert server.request_count == 1
        # Each close is one attempt the SDK retries (aiohttp's own silent resend is off).
        server.enqueue(Fault.close_connection(), Fault.close_connection())
        persona = await client.personas.get(pid)
        assert client._transport.budget is not None
        # Two retries spent, one success refunded.
        assert client._transport.budget.tokens == pytest.approx(BudgetConfig().capacity - 1.9)
    assert persona.persona_id == pid
    assert server.pending_faults == 0
    assert server.request_count == 4


async def test_a_dropped_keep_alive_connection_is_one_counted_attempt(server: FakeTavus) -> None:
    """aiohttp would resend the GET once, unseen by the retry count and the budget."""
    pid = server.persona_ids[6]
    async with client_for(server, tiny(max_retries=0)) as client:
        await client.personas.get(pid)  # warm: one pooled keep-alive connection
        server.enqueue(Fault.close_connection())
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.get(pid)
    assert caught.value.attempts == 1
    assert server.request_count == 2  # the warm-up and the one attempt: nothing resent


# --------------------------------------------------------------------------- retry budget


async def _attempts_of_failing_calls(client: AsyncTavus, pid: str, calls: int) -> list[int]:
    attempts = []
    for _ in range(calls):
        with pytest.raises(InternalServerError) as caught:
            await client.personas.get(pid)
        attempts.append(caught.value.attempts)
    return attempts


async def test_budget_exhaustion_throttles_then_recovers(server: FakeTavus) -> None:
    pid = server.persona_ids[7]
    config = BudgetConfig(capacity=3, retry_cost=1, success_refund=0.5)
    server.enqueue(*[Fault.http(503)] * 100)
    async with client_for(server, tiny(max_retries=2, budget=config)) as client:
        budget = client._transport.budget
        assert budget is not None
        attempts = await _attempts_of_failing_calls(client, pid, 6)
        # 3 tokens: the first call retries twice, the second once, then no more retries.
        assert attempts[0] == 3
        assert attempts[-4:] == [1, 1, 1, 1]
        assert sum(attempts) - len(attempts) == 3
        assert budget.tokens < config.retry_cost

        server.clear_faults()  # the server heals
        for _ in range(2):
            await client.personas.get(pid)
        assert budget.tokens == 1.0  # two successes refunded 0.5 each

        before = server.request_count
        server.enqueue(Fault.http(503))
        persona = await client.personas.get(pid)
        assert persona.persona_id == pid
        assert server.request_count - before == 2  # retried again


async def test_no_budget_never_throttles(server: FakeTavus) -> None:
    pid = server.persona_ids[7]
    server.enqueue(*[Fault.http(503)] * 100)
    async with client_for(server, tiny(max_retries=2, budget=None)) as client:
        assert client._transport.budget is None
        attempts = await _attempts_of_failing_calls(client, pid, 8)
    assert attempts == [3] * 8
    assert server.request_count == 24


# --------------------------------------------------------------------------- deadline


async def test_deadline_bounds_the_whole_call(server: FakeTavus) -> None:
    server.enqueue(*[Fault.stall()] * 5)
    async with client_for(server, tiny(deadline=0.3), timeout=10) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await client.personas.get(server.persona_ids[0])
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.1)
    assert server.request_count == 1  # no attempt started after the deadline
    assert elapsed < 0.3 + 0.3


async def test_deadline_shortens_the_retry_after_a_failed_attempt(server: FakeTavus) -> None:
    # Attempt 1 times out at 0.2 s; only 0.1 s of the 0.3 s deadline is left for attempt 2.
    server.enqueue(*[Fault.stall()] * 5)
    async with client_for(server, tiny(deadline=0.3, max_retries=5), timeout=0.2) as client:
        await _times_out(client, server, attempts=2, within=0.3 + 0.3)


async def test_deadline_too_short_for_the_backoff_stops_retrying(server: FakeTavus) -> None:
    sleep = FakeSleep()
    server.enqueue(*[Fault.http(503)] * 5)
    policy = RetryPolicy(
        initial_backoff=1.0, max_backoff=1.0, jitter=False, deadline=0.5, sleep=sleep
    )
    async with client_for(server, policy) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.personas.get(server.persona_ids[0])
    assert caught.value.attempts == 1
    assert sleep.waits == []
    assert server.request_count == 1


async def test_infinite_deadline_is_rejected_or_means_no_deadline(server: FakeTavus) -> None:
    """`deadline=inf` must either be refused by `RetryPolicy` or behave as "no deadline".

    Today it is accepted, and with a `ClientTimeout(total=None, ...)` the transport builds
    `ClientTimeout(total=inf)`: aiohttp's timer then does `ceil(loop.time() + inf)` and every
    call dies with a bare `OverflowError` (not even a `TavusError`).
    """
    try:
        policy = tiny(deadline=math.inf)
    except ValueError:
        return
    timeout = aiohttp.ClientTimeout(total=None, sock_read=5.0)
    pid = server.persona_ids[9]
    async with client_for(server, policy, timeout=timeout) as client:
        persona = await client.personas.get(pid)
    assert persona.persona_id == pid


# --------------------------------------------------------------------------- cancellation


async def test_caller_timeout_during_backoff_sleep(server: FakeTavus) -> None:
    server.enqueue(Fault.http(503))
    policy = RetryPolicy(initial_backoff=5.0, max_backoff=5.0, jitter=False)
    async with client_for(server, policy) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await client.personas.get(server.persona_ids[0])
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.1)  # let the abandoned request task unwind
        assert acquired_connections(client) == 0
        assert server.request_count == 1
    assert elapsed < 1.0


async def test_cancel_during_an_attempt_propagates_without_retry(server: FakeTavus) -> None:
    server.enqueue(Fault.stall())
    async with client_for(server, tiny(max_retries=3), timeout=10) as client:
        task = asyncio.create_task(client.personas.get(server.persona_ids[0]))
        assert await eventually(lambda: server.request_count == 1, limit=5.0)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.1)
        assert server.request_count == 1
        assert acquired_connections(client) == 0
    assert elapsed < 0.5


async def test_cancel_during_a_retry_attempt_propagates(server: FakeTavus) -> None:
    server.enqueue(Fault.http(503), Fault.stall())
    async with client_for(server, tiny(max_retries=3), timeout=10) as client:
        task = asyncio.create_task(client.personas.get(server.persona_ids[0]))
        assert await eventually(lambda: server.request_count == 2, limit=5.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)
        assert server.request_count == 2
        assert acquired_connections(client) == 0


@pytest.mark.parametrize(
    ("faults", "caller_timeout", "requests"),
    [
        ([Fault.stall()], 0.1, 1),  # during the first attempt: not retried
        ([Fault.http(503), Fault.stall()], 0.2, 2),  # during a retry attempt
    ],
    ids=["first-attempt", "retry-attempt"],
)
async def test_caller_timeout_during_an_attempt_is_not_retried(
    server: FakeTavus, faults: list[Fault], caller_timeout: float, requests: int
) -> None:
    server.enqueue(*faults)
    async with client_for(server, tiny(max_retries=3), timeout=10) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError) as caught:
            async with asyncio.timeout(caller_timeout):
                await client.personas.get(server.persona_ids[0])
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.1)
        assert server.request_count == requests
        assert acquired_connections(client) == 0
    # The caller's own timeout, not an SDK timeout that was retried and then re-raised.
    assert not isinstance(caught.value, TavusError)
    assert elapsed < 1.0


# --------------------------------------------------------------------------- concurrency


async def test_concurrent_calls_retry_independently(server: FakeTavus) -> None:
    ids = server.persona_ids[:20]
    for pid in ids:
        server.enqueue(Fault.http(503), persona_id=pid)
    async with client_for(server, tiny()) as client:
        personas = await asyncio.gather(*(client.personas.get(pid) for pid in ids))
    assert [p.persona_id for p in personas] == ids
    assert server.request_count == 40
    for pid in ids:
        assert sum(1 for r in server.requests if r.persona_id == pid) == 2


async def test_concurrent_failures_count_their_own_attempts(server: FakeTavus) -> None:
    ids = server.persona_ids[:20]
    for i, pid in enumerate(ids):
        server.enqueue(*[Fault.http(503)] * (i % 4), Fault.http(404), persona_id=pid)
    async with client_for(server, tiny(max_retries=5)) as client:
        results = await asyncio.gather(
            *(client.personas.get(pid) for pid in ids), return_exceptions=True
        )
    for i, result in enumerate(results):
        assert isinstance(result, NotFoundError), result
        assert result.attempts == i % 4 + 1
    assert server.request_count == sum(i % 4 + 1 for i in range(20))


# --------------------------------------------------------------------------- logging and secrets


async def test_retries_are_logged_without_the_key(
    server: FakeTavus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, aiohttp's loggers included
    pid = server.persona_ids[8]
    policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, jitter=False)
    server.enqueue(Fault.http(503), Fault.http(503))
    async with client_for(server, policy) as client:
        await client.personas.get(pid)
        ours = [r for r in caplog.records if r.name == "tavus_async" and r.levelno > logging.DEBUG]
        assert [r.levelno for r in ours] == [logging.INFO, logging.INFO]
        first, second = (r.getMessage() for r in ours)
        assert "status 503" in first
        assert "attempt 1" in first
        assert "waiting 0.001s" in first
        assert "status 503" in second
        assert "attempt 2" in second
        assert "waiting 0.002s" in second

        # A failing call whose body echoes the key: the error and logs stay clean.
        echo = {"message": f"key {KEY} is rate limited", "key": KEY}
        server.enqueue(*[Fault.http(503, body=echo, headers={"x-echo": KEY})] * 3)
        with pytest.raises(InternalServerError) as caught:
            await client.personas.get(pid)
    error = caught.value
    assert error.attempts == 3
    texts = [str(error), repr(error), error.message, repr(error.body), repr(error.headers)]
    texts += [str(r.msg) for r in caplog.records]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    texts.append(caplog.text)
    leaks = [text for text in texts if KEY in text]
    assert leaks == []


async def test_timeout_errors_do_not_carry_the_key(
    server: FakeTavus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.enqueue(Fault.stall(), Fault.stall())
    async with client_for(server, tiny(max_retries=1), timeout=0.1) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.personas.get(server.persona_ids[0])
    texts = [str(caught.value), repr(caught.value), caplog.text]
    assert all(KEY not in text for text in texts)


async def test_every_error_is_a_tavus_error(server: FakeTavus) -> None:
    server.enqueue(Fault.html(502), Fault.html(502))
    async with client_for(server, tiny(max_retries=1)) as client:
        with pytest.raises(TavusError) as caught:
            await client.personas.get(server.persona_ids[0])
    assert isinstance(caught.value, InternalServerError)
    assert caught.value.attempts == 2

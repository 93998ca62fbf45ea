"""The shared-timer timeout wheel: bucketing, never early, disarm, and cancellation rules."""

from __future__ import annotations

import asyncio

import pytest

from tavus_async import AsyncTavus
from tavus_async._timeouts import MAX_TICK, TimeoutWheel, tick_for
from tavus_async.testing import FakeTavus


def test_tick_is_coarse_for_long_timeouts_and_fine_for_short_ones() -> None:
    assert tick_for(30.0) == MAX_TICK
    assert tick_for(0.16) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="tick"):
        TimeoutWheel(0.0)


async def test_attempts_with_deadlines_in_one_tick_share_one_timer() -> None:
    loop = asyncio.get_running_loop()
    wheel = TimeoutWheel(1.0)  # a wide tick: both deadlines land in the same one
    scheduled_before = len(loop._scheduled)  # type: ignore[attr-defined]
    armed: list[object] = []

    async def attempt() -> None:
        armed.append(wheel.arm(5.0))
        await asyncio.sleep(0)

    await asyncio.gather(attempt(), attempt(), attempt())
    assert wheel.pending == 3
    assert len(loop._scheduled) - scheduled_before == 1  # type: ignore[attr-defined]
    for expiry in armed:
        expiry.disarm()  # type: ignore[attr-defined]
    assert wheel.pending == 0


async def test_expiry_is_never_early_and_at_most_about_a_tick_late() -> None:
    loop = asyncio.get_running_loop()
    total, tick = 0.05, 0.01
    wheel = TimeoutWheel(tick)
    started = loop.time()
    expiry = wheel.arm(total)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.get_running_loop().create_future()  # until cancelled
    elapsed = loop.time() - started
    assert expiry.expired and expiry.is_timeout()
    assert elapsed >= total
    assert elapsed < total + tick + 0.5  # the upper bound only guards against "never fired"
    assert wheel.pending == 0


async def test_disarmed_attempt_is_left_alone() -> None:
    wheel = TimeoutWheel(0.005)
    expiry = wheel.arm(0.01)
    expiry.disarm()
    await asyncio.sleep(0.05)  # past the deadline: nothing was cancelled
    assert not expiry.expired
    assert wheel.pending == 0


async def test_expiry_racing_another_cancel_is_not_a_timeout() -> None:
    wheel = TimeoutWheel(1.0)
    outcome: list[bool] = []

    async def attempt() -> None:
        expiry = wheel.arm(60.0)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        except asyncio.CancelledError:
            outcome.append(expiry.is_timeout())
            raise
        finally:
            expiry.disarm()

    task = asyncio.ensure_future(attempt())
    await asyncio.sleep(0)  # armed and waiting
    for slot in list(wheel._buckets):
        wheel._expire(slot)  # the wheel's timer fires...
    task.cancel()  # ...and in the same loop turn the caller cancels too
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcome == [False]  # the caller's cancellation wins: it propagates


async def test_arm_outside_a_task_is_refused() -> None:
    wheel = TimeoutWheel(0.01)

    def from_a_callback() -> None:
        with pytest.raises(RuntimeError, match="task"):
            wheel.arm(1.0)
        done.set_result(None)

    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(from_a_callback)
    await done


async def test_client_leaves_no_armed_attempt_behind() -> None:
    async with (
        FakeTavus(api_key="sk-wheel-key", num_personas=50) as fake,
        AsyncTavus(api_key="sk-wheel-key", base_url=fake.base_url) as client,
    ):
        await client.personas.get_many(fake.persona_ids, concurrency=8)
        wheel = client._transport._wheel
        assert wheel is not None and wheel.pending == 0

"""The collector scope of `get_many` (tavus_async/_gc.py): raised while it runs, then put back."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator

import pytest
from support import eventually

from tavus_async import AsyncTavus, NotFoundError
from tavus_async._gc import YOUNG_THRESHOLD, YoungThreshold, fewer_young_collections
from tavus_async.testing import FakeTavus, Fault

KEY = "sk-gc-scope-test-key"
DEFAULT = (700, 10, 10)


@pytest.fixture(autouse=True)
def default_threshold() -> Iterator[None]:
    """Each test starts from CPython's default thresholds and leaves the process as it was."""
    before = gc.get_threshold()
    gc.set_threshold(*DEFAULT)
    yield
    gc.set_threshold(*before)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=20) as fake:
        yield fake


def young() -> int:
    return gc.get_threshold()[0]


# ------------------------------------------------------------------ the scope itself


def test_raised_inside_and_restored_after() -> None:
    scope = YoungThreshold(5000)
    with scope:
        assert gc.get_threshold() == (5000, 10, 10)  # only the young generation changes
    assert gc.get_threshold() == DEFAULT


def test_restored_when_the_body_raises() -> None:
    scope = YoungThreshold(5000)
    with pytest.raises(RuntimeError), scope:
        raise RuntimeError("boom")
    assert gc.get_threshold() == DEFAULT


def test_overlapping_holders_restore_once_the_last_leaves() -> None:
    scope = YoungThreshold(5000)
    scope.__enter__()
    scope.__enter__()
    scope.__exit__(None, None, None)
    assert young() == 5000  # one holder is still inside
    scope.__exit__(None, None, None)
    assert gc.get_threshold() == DEFAULT


def test_a_change_made_inside_the_scope_is_kept() -> None:
    scope = YoungThreshold(5000)
    with scope:
        gc.set_threshold(1234, 5, 5)
    assert gc.get_threshold() == (1234, 5, 5)


def test_older_generations_changed_inside_the_scope_keep_their_change() -> None:
    with YoungThreshold(5000):
        young_now, _, _ = gc.get_threshold()
        gc.set_threshold(young_now, 50, 50)  # rewrites threshold 0 with the raised value
    assert gc.get_threshold() == (700, 50, 50)


@pytest.mark.parametrize("threshold", [(20000, 10, 10), (0, 10, 10)])
def test_a_higher_or_disabled_threshold_is_left_alone(threshold: tuple[int, int, int]) -> None:
    gc.set_threshold(*threshold)
    with YoungThreshold(5000):
        assert gc.get_threshold() == threshold
    assert gc.get_threshold() == threshold


# ------------------------------------------------------------------ get_many holds it


async def test_get_many_raises_the_threshold_while_it_runs(server: FakeTavus) -> None:
    seen: list[int] = []
    async with AsyncTavus(api_key=KEY, base_url=server.base_url) as client:
        results = await client.personas.get_many(
            server.persona_ids[:5], on_progress=lambda done, total: seen.append(young())
        )
        assert len(results) == 5
        assert seen == [YOUNG_THRESHOLD] * 5
        assert gc.get_threshold() == DEFAULT
        # iter_many keeps nothing, so it leaves the collector alone.
        async for _ in client.personas.iter_many(
            server.persona_ids[:3], on_progress=lambda done, total: seen.append(young())
        ):
            pass
    assert seen[5:] == [DEFAULT[0]] * 3


async def test_get_many_restores_after_a_failure(server: FakeTavus) -> None:
    async with AsyncTavus(api_key=KEY, base_url=server.base_url) as client:
        with pytest.raises(NotFoundError):
            await client.personas.get_many([server.persona_ids[0], "pmissing0000"])
    assert gc.get_threshold() == DEFAULT


async def test_get_many_restores_when_cancelled_and_overlapping_calls_share_it(
    server: FakeTavus,
) -> None:
    stalled = server.persona_ids[0]
    server.enqueue(Fault.stall(), persona_id=stalled)
    async with AsyncTavus(api_key=KEY, base_url=server.base_url) as client:
        blocked = asyncio.ensure_future(client.personas.get_many([stalled]))
        assert await eventually(lambda: server.in_flight == 1)  # the stall reached the server
        assert young() == YOUNG_THRESHOLD
        # A second call overlaps the first and ends first: the first still holds the scope.
        assert len(await client.personas.get_many(server.persona_ids[1:4])) == 3
        assert young() == YOUNG_THRESHOLD
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
    assert gc.get_threshold() == DEFAULT
    assert fewer_young_collections._depth == 0

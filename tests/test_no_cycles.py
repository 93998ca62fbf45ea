"""A call leaves no reference cycle behind: what it allocated is freed when it returns, not
by the cyclic collector later (which would keep the persona and the call state alive and make
collections more frequent and costlier in a busy backend)."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterator

import msgspec
import pytest

from tavus_async import AsyncTavus, Persona
from tavus_async.models import decode_persona
from tavus_async.testing import FakeTavus, generate_persona

KEY = "test-key-no-cycles"


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    """Cyclic garbage made while the test runs, kept in `gc.garbage` instead of freed."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


async def _garbage_after(saved: list[object], call: Callable[[], Awaitable[object]]) -> int:
    """How many per-request objects `call` left in cycles: the retry loop's (tenacity),
    the transport's, the personas.

    Other cyclic garbage (the event loop's, the test harness's, earlier tests' winding
    down, a bulk call's own bookkeeping, freed once per call) is not counted.
    """
    gc.collect()
    saved.clear()
    await call()
    gc.collect()
    per_request = ("tenacity", "tavus_async._transport", "tavus_async.models")
    return sum(type(o).__module__.startswith(per_request) for o in saved)


async def test_requests_leave_no_reference_cycle(saved_garbage: list[object]) -> None:
    async with FakeTavus(api_key=KEY, num_personas=40) as server:
        ids = server.persona_ids
        async with AsyncTavus(api_key=KEY, base_url=server.base_url) as client:
            await client.personas.get(ids[0])  # the pool and the session exist

            async def gets(n: int) -> None:
                for persona_id in ids[:n]:
                    await client.personas.get(persona_id)

            async def bulk(n: int) -> None:
                async for _ in client.personas.iter_many(ids[:n], concurrency=4):
                    pass

            assert await _garbage_after(saved_garbage, lambda: gets(40)) == 0
            assert await _garbage_after(saved_garbage, lambda: bulk(40)) == 0


def test_the_models_inside_a_persona_are_not_walked_by_the_cyclic_collector() -> None:
    persona = decode_persona(msgspec.json.encode(generate_persona(1)))
    assert persona.layers is not None and persona.layers.llm is not None
    assert not gc.is_tracked(persona.layers)
    assert not gc.is_tracked(persona.layers.llm)
    # Still equal to, and rebuilt from, its JSON like any other persona.
    assert Persona.from_dict(persona.to_dict()) == persona

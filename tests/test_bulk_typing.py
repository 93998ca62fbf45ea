"""The static types of `get_many`, checked by `mypy --strict` (CI runs it over tests/) and
run here as well: `return_exceptions=False` gives `list[Persona]`, `True` gives
`list[Persona | TavusError]`, and a plain `bool` the latter too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import assert_type

import pytest

from tavus_async import AsyncTavus, Pal, Persona, TavusError
from tavus_async.testing import FakeTavus

KEY = "sk-typing-test-key"


@pytest.fixture
async def client() -> AsyncIterator[AsyncTavus]:
    async with (
        FakeTavus(api_key=KEY, num_personas=5) as fake,
        AsyncTavus(api_key=KEY, base_url=fake.base_url) as client,
    ):
        yield client


async def test_get_many_without_return_exceptions_is_a_list_of_personas(
    client: AsyncTavus,
) -> None:
    ids = [persona.persona_id async for persona in client.personas.list()]
    names = [r.persona_name for r in await client.personas.get_many(ids)]
    assert len(names) == 5 and all(isinstance(name, str) for name in names)

    assert_type(await client.personas.get_many(ids), list[Persona])
    assert_type(await client.personas.get_many(ids, 4), list[Persona])
    assert_type(await client.personas.get_many(ids, return_exceptions=False), list[Persona])
    assert_type(await client.personas.get_many(ids, 4, False), list[Persona])
    assert_type(await client.pals.get_many(ids), list[Pal])
    pal_names = [r.pal_name for r in await client.pals.get_many(ids, concurrency=2)]
    assert pal_names == names


async def test_get_many_with_return_exceptions_is_a_list_of_results(client: AsyncTavus) -> None:
    ids = [persona.persona_id async for persona in client.personas.list()]
    results = await client.personas.get_many(ids, return_exceptions=True)
    assert_type(results, list[Persona | TavusError])
    assert_type(await client.personas.get_many(ids, 4, True), list[Persona | TavusError])
    assert_type(
        await client.pals.get_many(ids, concurrency=2, return_exceptions=True),
        list[Pal | TavusError],
    )
    assert [r.persona_id for r in results if not isinstance(r, TavusError)] == ids
    # Without a check a slot may be an error: mypy refuses the attribute (and, with
    # --strict's warn_unused_ignores, would flag this ignore if it did not).
    names = [r.persona_name for r in results]  # type: ignore[union-attr]
    assert len(names) == len(ids)


@pytest.mark.parametrize("flag", [False, True])
async def test_get_many_with_a_bool_flag_is_a_list_of_results(
    client: AsyncTavus, flag: bool
) -> None:
    ids = [persona.persona_id async for persona in client.personas.list()]
    results = await client.personas.get_many(ids, return_exceptions=flag)
    assert_type(results, list[Persona | TavusError])
    assert [r.persona_id for r in results if isinstance(r, Persona)] == ids

"""Hedged reads (`AsyncTavus(hedge_after=...)`) against a real loopback server whose first
answer for each id never comes on its own."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from support import acquired_connections, eventually, sdk_tasks

from tavus_async import AsyncTavus, BudgetConfig, Persona, RetryPolicy

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "sk-hedge-test-key"


class SlowFirst:
    """Answers every request for an id but the first at once; the first hangs until
    released (or its connection is dropped)."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.methods: list[str] = []
        self.release = asyncio.Event()
        self.dropped = 0
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        pid = request.match_info["pid"]
        self.seen[pid] += 1
        self.methods.append(request.method)
        if self.seen[pid] == 1:
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.dropped += 1
                raise
        return web.json_response({"persona_id": pid, "persona_name": pid})


@pytest.fixture
async def slow_first() -> AsyncIterator[SlowFirst]:
    server = SlowFirst()
    app = web.Application(handler_args={"handler_cancellation": True})
    app.router.add_route("*", "/v2/personas/{pid}", server.handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


def client_for(server: SlowFirst, **options: Any) -> AsyncTavus:
    return AsyncTavus(api_key=KEY, base_url=server.base_url, **options)


async def test_a_hedge_wins_and_the_loser_is_cancelled_without_leaks(
    slow_first: SlowFirst,
) -> None:
    async with client_for(slow_first, hedge_after=0.01) as client:
        persona = await client.personas.get("p1")
        assert isinstance(persona, Persona)
        assert slow_first.seen["p1"] == 2
        # The loser was cancelled: its connection closed (the server saw the drop), none
        # is checked out, and no task of the SDK is left.
        assert await eventually(lambda: slow_first.dropped == 1)
        assert acquired_connections(client) == 0
        assert await eventually(lambda: not sdk_tasks()), sdk_tasks()


async def test_hedges_spend_the_retry_budget(slow_first: SlowFirst) -> None:
    policy = RetryPolicy(budget=BudgetConfig(success_refund=0))
    async with client_for(slow_first, hedge_after=0.01, retry=policy) as client:
        budget = client._transport.budget  # no public view of the tokens
        assert budget is not None
        before = budget.tokens
        await client.personas.get("p1")
        assert budget.tokens == before - 1


async def test_no_hedge_without_budget(slow_first: SlowFirst) -> None:
    policy = RetryPolicy(budget=BudgetConfig(capacity=0.5))  # less than one retry
    async with client_for(slow_first, hedge_after=0.01, retry=policy) as client:
        task = asyncio.create_task(client.personas.get("p1"))
        # Waits for the request to arrive: a short timeout could fire before it does on a
        # loaded machine (the test asserted one request after a 0.2 s timeout).
        assert await eventually(lambda: slow_first.seen["p1"] == 1)
        await asyncio.sleep(0.05)  # well past the hedge delay: no hedge, the budget is short
        assert slow_first.seen["p1"] == 1
        slow_first.release.set()
        assert isinstance(await task, Persona)
    assert slow_first.seen["p1"] == 1


async def test_hedging_is_off_by_default(slow_first: SlowFirst) -> None:
    async with client_for(slow_first) as client:
        task = asyncio.create_task(client.personas.get("p1"))
        assert await eventually(lambda: slow_first.seen["p1"] == 1)
        await asyncio.sleep(0.05)  # well past any hedge delay: still one request
        assert slow_first.seen["p1"] == 1
        slow_first.release.set()
        assert isinstance(await task, Persona)


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_writes_are_never_hedged(slow_first: SlowFirst, method: str) -> None:
    async with client_for(slow_first, hedge_after=0.01) as client:
        transport = client._transport  # no public write yet on this resource
        options = client.personas._options
        task = asyncio.create_task(
            transport.request(method, "/v2/personas/p1", parse=lambda r: r, options=options)
        )
        assert await eventually(lambda: slow_first.seen["p1"] == 1)
        await asyncio.sleep(0.05)
        assert slow_first.seen["p1"] == 1
        slow_first.release.set()
        await task
    assert slow_first.methods == [method]


def test_hedge_after_is_validated() -> None:
    with pytest.raises(ValueError, match="hedge_after"):
        AsyncTavus(api_key=KEY, hedge_after=0)
    with pytest.raises(TypeError, match="hedge_after"):
        AsyncTavus(api_key=KEY, hedge_after="1")  # type: ignore[arg-type]

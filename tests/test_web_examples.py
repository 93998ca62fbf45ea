"""The web-framework example apps in examples/, run for real against a FakeTavus.

These files are included verbatim in docs/web.md, so these tests check the documented code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from tavus_async.testing import FakeTavus, Fault

if TYPE_CHECKING:
    from examples import aiohttp_app, fastapi_app
else:
    # examples/ is not an installed package: import it from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    aiohttp_app = importlib.import_module("examples.aiohttp_app")
    fastapi_app = importlib.import_module("examples.fastapi_app")

API_KEY = "web-example-key"
PERSONA = {"persona_id": "pcb7a34da5fe", "persona_name": "Life Coach"}


@pytest_asyncio.fixture
async def tavus(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTavus]:
    """A fake Tavus API; the apps find it through TAVUS_API_KEY / TAVUS_BASE_URL."""
    async with FakeTavus(api_key=API_KEY, num_personas=0) as server:
        server.add_persona(PERSONA)
        monkeypatch.setenv("TAVUS_API_KEY", API_KEY)
        monkeypatch.setenv("TAVUS_BASE_URL", server.base_url)
        yield server


async def test_aiohttp_app_serves_personas_and_closes_its_client(tavus: FakeTavus) -> None:
    app = aiohttp_app.create_app()
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        client = app[aiohttp_app.TAVUS]
        assert not client.is_closed
        assert client.base_url == tavus.base_url

        resp = await http.get("/personas/pcb7a34da5fe")
        assert resp.status == 200
        assert await resp.json() == {
            "persona_id": "pcb7a34da5fe",
            "persona_name": "Life Coach",
            "default_replica_id": None,
        }
        assert [r.persona_id for r in tavus.requests] == ["pcb7a34da5fe"]
        assert tavus.requests[0].headers["x-api-key"] == API_KEY

        resp = await http.get("/personas/p00000000000")
        assert resp.status == 404

        tavus.enqueue(Fault.http(401, {"message": "Invalid access token"}))
        resp = await http.get("/personas/pcb7a34da5fe")
        assert resp.status == 502
        assert await resp.text() == "AuthenticationError"

        resp = await http.get("/personas/bad..id")
        assert resp.status == 400

        # One client served every request: a single pooled connection to the API.
        assert tavus.connections_seen == 1
    assert client.is_closed  # app cleanup closed it


async def test_fastapi_app_serves_personas_and_closes_its_client(tavus: FakeTavus) -> None:
    app = fastapi_app.create_app()
    # httpx's ASGITransport does not run the lifespan: drive it ourselves.
    async with app.router.lifespan_context(app):
        client = app.state.tavus
        assert not client.is_closed
        assert client.base_url == tavus.base_url
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            resp = await http.get("/personas/pcb7a34da5fe")
            assert resp.status_code == 200
            assert resp.json() == {
                "persona_id": "pcb7a34da5fe",
                "persona_name": "Life Coach",
                "default_replica_id": None,
            }
            assert [r.persona_id for r in tavus.requests] == ["pcb7a34da5fe"]

            resp = await http.get("/personas/p00000000000")
            assert resp.status_code == 404

            tavus.enqueue(Fault.http(401, {"message": "Invalid access token"}))
            resp = await http.get("/personas/pcb7a34da5fe")
            assert resp.status_code == 502
            assert resp.json() == {"detail": "AuthenticationError"}

            resp = await http.get("/personas/bad..id")
            assert resp.status_code == 400
    assert client.is_closed  # the lifespan closed it


def test_module_level_fastapi_app_creates_no_client_at_import() -> None:
    """`uvicorn examples.fastapi_app:app` imports the module: no client exists until startup."""
    assert not hasattr(fastapi_app.app.state, "tavus")

"""An aiohttp.web app that shares one AsyncTavus client for its whole lifetime.

Run it with `python -m examples.aiohttp_app` (TAVUS_API_KEY set), then
`curl http://127.0.0.1:8080/personas/pcb7a34da5fe`.
"""

from collections.abc import AsyncIterator

from aiohttp import web

from tavus_async import AsyncTavus, InvalidPersonaIdError, NotFoundError, TavusError

# A typed key for app state (plain string keys make aiohttp warn).
TAVUS = web.AppKey("tavus", AsyncTavus)


async def tavus_client(app: web.Application) -> AsyncIterator[None]:
    """Create the client at startup and close it at cleanup (a `cleanup_ctx` generator)."""
    async with AsyncTavus() as client:  # reads TAVUS_API_KEY / TAVUS_BASE_URL
        app[TAVUS] = client
        yield


async def get_persona(request: web.Request) -> web.Response:
    client = request.app[TAVUS]
    try:
        persona = await client.personas.get(request.match_info["persona_id"])
    except InvalidPersonaIdError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except NotFoundError:
        raise web.HTTPNotFound(text="no such persona") from None
    except TavusError as exc:  # auth, rate limit, network, ... after retries
        raise web.HTTPBadGateway(text=type(exc).__name__) from None
    # Pick the fields to expose: a persona may hold secrets (layers.llm.api_key, ...).
    return web.json_response(
        {
            "persona_id": persona.persona_id,
            "persona_name": persona.persona_name,
            "default_replica_id": persona.default_replica_id,
        }
    )


def create_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(tavus_client)
    app.router.add_get("/personas/{persona_id}", get_persona)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=8080)

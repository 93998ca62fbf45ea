"""A FastAPI app that shares one AsyncTavus client for its whole lifetime.

Run it with `uvicorn examples.fastapi_app:app` (TAVUS_API_KEY set), then
`curl http://127.0.0.1:8000/personas/pcb7a34da5fe`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel

from tavus_async import AsyncTavus, InvalidPersonaIdError, NotFoundError, TavusError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the client at startup and close it at shutdown."""
    async with AsyncTavus() as client:  # reads TAVUS_API_KEY / TAVUS_BASE_URL
        app.state.tavus = client
        yield


def get_tavus(request: Request) -> AsyncTavus:
    client: AsyncTavus = request.app.state.tavus
    return client


class PersonaOut(BaseModel):
    # Only the fields to expose: a persona may hold secrets (layers.llm.api_key, ...).
    persona_id: str
    persona_name: str | None
    default_replica_id: str | None


router = APIRouter()


@router.get("/personas/{persona_id}")
async def get_persona(
    persona_id: str, tavus: Annotated[AsyncTavus, Depends(get_tavus)]
) -> PersonaOut:
    try:
        persona = await tavus.personas.get(persona_id)
    except InvalidPersonaIdError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    except NotFoundError:
        raise HTTPException(status_code=404, detail="no such persona") from None
    except TavusError as exc:  # auth, rate limit, network, ... after retries
        raise HTTPException(status_code=502, detail=type(exc).__name__) from None
    return PersonaOut(
        persona_id=persona.persona_id,
        persona_name=persona.persona_name,
        default_replica_id=persona.default_replica_id,
    )


def create_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    return app


app = create_app()

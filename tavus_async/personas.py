"""The personas resource: `client.personas.get / get_many / iter_many`."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from typing import Final
from urllib.parse import quote

from . import _bulk
from ._cache import TTLCache
from ._coalesce import Coalescer
from ._limits import BulkFlow
from ._transport import CallOptions, Response, Transport
from .errors import ClientClosedError, InvalidPersonaIdError, ResponseMismatchError, TavusError
from .models import Persona, decode_persona

__all__ = ["Personas", "validate_persona_id"]

PATH: Final = "/v2/personas"
MAX_PERSONA_ID_LENGTH: Final = 256
DEFAULT_CONCURRENCY: Final = 32
# Path separators, query/fragment/escape characters, whitespace, C0/C1 controls, "..", and an
# id of only dots ("." is a dot-segment: the URL would normalise to the list endpoint).
# Lone surrogates too: they cannot be encoded into a URL.
_FORBIDDEN: Final = re.compile(r"[/?#%\s\x00-\x1f\x7f-\x9f\ud800-\udfff]|\.\.|^\.+$")
# RFC 3986 `pchar` minus "%" (refused above): what a path segment may carry unquoted.
_SEGMENT_SAFE: Final = "!$&'()*+,;=:@"

#: `on_progress(done, total)`: called after each completed id; `total` is None when unknown.
ProgressCallback = Callable[[int, int | None], object]


def validate_persona_id(persona_id: str) -> str:
    """Return `persona_id` if it is safe to put in the URL path, else raise.

    Raises `InvalidPersonaIdError` (a `ValueError` and a `TavusError`), checked before any
    I/O so a bad id can never reach another endpoint; `TypeError` for a non-string.
    """
    if not isinstance(persona_id, str):
        raise TypeError(f"persona_id must be a str, not {type(persona_id).__name__}")
    if not persona_id:
        raise InvalidPersonaIdError("persona_id must not be empty")
    if len(persona_id) > MAX_PERSONA_ID_LENGTH:
        raise InvalidPersonaIdError(f"persona_id is longer than {MAX_PERSONA_ID_LENGTH} characters")
    bad = _FORBIDDEN.search(persona_id)
    if bad is not None:
        raise InvalidPersonaIdError(
            f"persona_id {persona_id[:64]!r} contains {bad.group()!r}: "
            "'/', '?', '#', '%', whitespace, control characters, surrogates and '.'/'..' "
            "are not allowed"
        )
    return persona_id


def _decode(response: Response, persona_id: str) -> Persona:
    """The persona `persona_id` from a 2xx answer; one naming another persona is an answer
    meant for another request (retried on a fresh connection), never a `NotFoundError`."""
    persona = decode_persona(response.body, persona_id=persona_id)
    if persona.persona_id != persona_id:
        raise ResponseMismatchError(
            f"The answer to a lookup of persona {persona_id!r} named another persona "
            "(a response meant for another request)"
        )
    return persona


class Personas:
    """Persona lookups. Reach it as `AsyncTavus(...).personas`."""

    __slots__ = ("_cache", "_coalescer", "_options", "_transport")

    def __init__(
        self,
        transport: Transport,
        options: CallOptions,
        cache: TTLCache[Persona] | None = None,
        coalescer: Coalescer[Persona] | None = None,
    ) -> None:
        self._transport = transport
        self._options = options
        self._cache = cache
        self._coalescer = coalescer

    def __repr__(self) -> str:
        return f"Personas({self._transport!r})"

    async def get(self, persona_id: str) -> Persona:
        """Fetch one persona by id (`GET /v2/personas/{persona_id}`).

        Concurrent lookups of the same id (by `get`, `get_many` or `iter_many`) share one
        request (unless the client was made with `coalesce=False`); cancelling one caller
        does not cancel it for the others, and it is cancelled once no caller waits.
        Raises `InvalidPersonaIdError` for an unsafe id (before any I/O), an
        `APIStatusError` subclass for an error status, `APIConnectionError` /
        `APITimeoutError` when the network fails after retries, and `DecodeError` for a
        2xx body that is not a persona.
        """
        validate_persona_id(persona_id)
        return await self._lookup(persona_id)

    async def _lookup(self, persona_id: str, flow: BulkFlow | None = None) -> Persona:
        """A validated id through the cache, then the shared request."""
        if self._cache is not None:
            if self._transport.closed:  # a closed client answers nothing, not even from cache
                raise ClientClosedError("This AsyncTavus client is closed; create a new one.")
            hit = self._cache.get(persona_id)
            if hit is not None:
                return hit
        if self._coalescer is None:
            return await self._fetch(persona_id, flow)
        return await self._coalescer.run(persona_id, lambda: self._fetch(persona_id, flow))

    async def _fetch(self, persona_id: str, flow: BulkFlow | None) -> Persona:
        persona = await self._transport.request(
            "GET",
            f"{PATH}/{quote(persona_id, safe=_SEGMENT_SAFE)}",
            parse=lambda response: _decode(response, persona_id),
            options=self._options,
            flow=flow,
        )
        if self._cache is not None:
            self._cache.put(persona_id, persona)
        return persona

    async def get_many(
        self,
        ids: Iterable[str],
        concurrency: int = DEFAULT_CONCURRENCY,
        return_exceptions: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> list[Persona | TavusError]:
        """Fetch many personas concurrently; the results are aligned with `ids`.

        Each distinct id is looked up once; at most `concurrency` requests are in flight.
        With `return_exceptions=False` the first failure is raised and the rest cancelled;
        with `True` a failed slot holds its `TavusError`. Every id is validated before any
        I/O. On 429s the engine paces its requests at the rate the server accepts.
        """
        id_list = list(ids)
        for persona_id in id_list:
            validate_persona_id(persona_id)
        return await _bulk.get_many(
            self._lookup,
            id_list,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            on_progress=on_progress,
        )

    def iter_many(
        self,
        ids: Iterable[str] | AsyncIterable[str],
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[tuple[str, Persona | TavusError], None]:
        """Yield `(persona_id, persona_or_error)` in completion order, one per input id.

        `ids` may be any iterable or async iterable and is consumed lazily, so memory stays
        flat for huge inputs. Errors (including an invalid id) are yielded as values, never
        raised. Breaking out cancels what is in flight; for deterministic cleanup wrap it
        in `contextlib.aclosing(...)`.
        """
        return _bulk.iter_many(
            self._lookup,
            ids,
            concurrency=concurrency,
            on_progress=on_progress,
            validate=validate_persona_id,
        )

"""The personas resource: `client.personas.get / get_many / iter_many`."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from typing import Final

from yarl import URL

from . import _bulk
from ._cache import TTLCache
from ._coalesce import Coalescer
from ._transport import Transport
from .errors import ClientClosedError, InvalidPersonaIdError, TavusError
from .models import Persona, parse_response

__all__ = ["Personas", "validate_persona_id"]

MAX_PERSONA_ID_LENGTH: Final = 256
DEFAULT_CONCURRENCY: Final = 32
# Path separators, query/fragment/escape characters, whitespace, C0/C1 controls, "..", and an
# id of only dots ("." is a dot-segment: the URL would normalise to the list endpoint).
# Lone surrogates too: yarl drops them silently, which would change the path.
_FORBIDDEN: Final = re.compile(r"[/?#%\s\x00-\x1f\x7f-\x9f\ud800-\udfff]|\.\.|^\.+$")
# RFC 3986 unreserved characters but ".", within the length limit: such an id is valid (one
# regex call for the common case) and goes into the path as it is, so its URL is built
# without yarl's parse-and-quote pass (a few µs per request).
_PLAIN_ID: Final = re.compile(rf"[A-Za-z0-9_~-]{{1,{MAX_PERSONA_ID_LENGTH}}}").fullmatch

#: `on_progress(done, total)`: called after each completed id; `total` is None when unknown.
ProgressCallback = Callable[[int, int | None], object]


def _quote_segment(persona_id: str) -> str:
    """The id percent-encoded as one path segment, exactly as yarl quotes a path."""
    return URL("/").with_path("/" + persona_id).raw_path[1:]


def validate_persona_id(persona_id: str) -> str:
    """Return `persona_id` if it is safe to put in the URL path, else raise.

    Raises `InvalidPersonaIdError` (a `ValueError` and a `TavusError`), checked before any
    I/O so a bad id can never reach another endpoint; `TypeError` for a non-string.
    """
    if type(persona_id) is str and _PLAIN_ID(persona_id) is not None:
        return persona_id
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


class Personas:
    """Persona lookups. Reach it as `AsyncTavus(...).personas`."""

    __slots__ = ("_base", "_cache", "_coalescer", "_parse", "_path_prefix", "_transport")

    def __init__(
        self,
        transport: Transport,
        base_url: str,
        secret: str,
        cache: TTLCache[Persona] | None = None,
        *,
        coalesce: bool = True,
    ) -> None:
        self._transport = transport
        self._base = URL(base_url)
        self._path_prefix = f"{self._base.raw_path.rstrip('/')}/v2/personas/"

        # Built once. A closure rather than `functools.partial`, whose repr would show the key
        # wherever frame locals are printed or captured (tracebacks, error trackers).
        def parse(body: bytes, status: int, persona_id: str) -> Persona:
            return parse_response(body, status, persona_id, secret)

        self._parse = parse
        self._cache = cache
        self._coalescer: Coalescer[Persona] | None = Coalescer() if coalesce else None

    async def get(self, persona_id: str) -> Persona:
        """Fetch one persona by id (`GET /v2/personas/{persona_id}`).

        Concurrent calls for the same id share one request (unless the client was made
        with `coalesce=False`); cancelling one caller does not cancel it for the others,
        and it is cancelled once no caller waits. Raises
        `InvalidPersonaIdError` for an unsafe id (before any I/O), an `APIStatusError`
        subclass for an error status, `APIConnectionError` / `APITimeoutError` when the
        network fails after retries, and `DecodeError` for a 2xx body that is not a persona.
        """
        validate_persona_id(persona_id)
        if self._cache is not None:
            hit = self._fresh_from_cache(persona_id)
            if hit is not None:
                return hit
        if self._coalescer is None:
            return await self._fetch(persona_id)
        return await self._coalescer.run(persona_id, self._fetch)

    def _fresh_from_cache(self, persona_id: str) -> Persona | None:
        if self._transport.closed:  # a closed client answers nothing, not even from cache
            raise ClientClosedError("This AsyncTavus client is closed; create a new one.")
        return self._cache.get(persona_id) if self._cache is not None else None

    def _fetch(self, persona_id: str) -> Awaitable[Persona]:
        """One lookup of a validated id. Without a cache this is the transport's coroutine
        itself: no coroutine layer of our own per request."""
        if self._cache is None:
            return self._request(persona_id)
        return self._fetch_cached(persona_id, self._cache)

    def _request(self, persona_id: str) -> Awaitable[Persona]:
        """The GET (with retries) for one validated id, as the transport's coroutine."""
        # The prefix is already encoded (`raw_path`), so only the id may need quoting.
        segment = persona_id if _PLAIN_ID(persona_id) else _quote_segment(persona_id)
        url = self._base.with_path(self._path_prefix + segment, encoded=True)
        return self._transport.get(url, self._parse, persona_id)

    async def _fetch_cached(self, persona_id: str, cache: TTLCache[Persona]) -> Persona:
        """One lookup of a validated id through the cache."""
        hit = self._fresh_from_cache(persona_id)
        if hit is not None:
            return hit
        persona = await self._request(persona_id)
        cache.put(persona_id, persona)
        return persona

    async def get_many(
        self,
        ids: Iterable[str],
        concurrency: int = DEFAULT_CONCURRENCY,
        return_exceptions: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> list[Persona | TavusError]:
        """Fetch many personas concurrently; the results are aligned with `ids`.

        Each distinct id is fetched once; at most `concurrency` requests are in flight.
        With `return_exceptions=False` the first failure is raised and the rest cancelled;
        with `True` a failed slot holds its `TavusError`. Every id is validated before any
        I/O. On 429s the engine lowers its concurrency (AIMD) and raises it again as
        requests succeed.
        """
        id_list = list(ids)
        for persona_id in id_list:
            validate_persona_id(persona_id)
        return await _bulk.get_many(
            self._fetch,
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
            self._fetch,
            ids,
            concurrency=concurrency,
            on_progress=on_progress,
            validate=validate_persona_id,
        )

"""The verbs every persona-like resource shares, over the transport, for one path.

`Resource` holds what `client.personas` and `client.pals` have in common: the lookups
(`get`, `get_many`, `iter_many`, through the cache and the coalescer), one page of a list,
create, patch and delete, and the invalidation that follows every write. The subclasses
name the path and the arguments.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Mapping
from typing import Any, Final, Literal, TypeVar, overload
from urllib.parse import quote

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from .. import _bulk
from .._coalesce import Coalescer
from .._limits import BulkFlow
from .._paging import Page, iterate_pages
from .._patch import PatchOperation, validate_patch
from .._raw import Parser, RawResponse, plain, raw
from .._stores import CacheProtocol
from .._transport import CallOptions, Response, Transport
from ..errors import (
    ClientClosedError,
    ConflictError,
    DecodeError,
    InvalidPersonaIdError,
    NotFoundError,
    ResponseMismatchError,
    TavusError,
)
from ..models import Layers, Persona, decode_persona

__all__ = [
    "DEFAULT_CONCURRENCY",
    "PersonaType",
    "ProgressCallback",
    "Resource",
    "create_body",
    "validate_persona_id",
]

MAX_PERSONA_ID_LENGTH: Final = 256
DEFAULT_CONCURRENCY: Final = 32
DEFAULT_PAGE_SIZE: Final = 100
#: The documented list filters: your own personas, or Tavus's stock ones.
PersonaType = Literal["user", "system"]
_PERSONA_TYPES: Final = ("user", "system")
# Path separators, query/fragment/escape characters, whitespace, C0/C1 controls, "..", and an
# id of only dots ("." is a dot-segment: the URL would normalise to the list endpoint).
# Lone surrogates too: they cannot be encoded into a URL.
_FORBIDDEN: Final = re.compile(r"[/?#%\s\x00-\x1f\x7f-\x9f\ud800-\udfff]|\.\.|^\.+$")
# RFC 3986 `pchar` minus "%" (refused above): what a path segment may carry unquoted.
_SEGMENT_SAFE: Final = "!$&'()*+,;=:@"

#: `on_progress(done, total)`: called after each completed id; `total` is None when unknown.
ProgressCallback = Callable[[int, int | None], object]
#: An RFC 6902 operation: a mapping `{"op", "path", "value"?, "from"?}` or a typed one.
Operation = Mapping[str, Any] | PatchOperation

T = TypeVar("T")
R = TypeVar("R")
#: What a request returns, made from its parser: `plain` (the result) or `raw` (a
#: `RawResponse` around it).
Shape = Callable[[Parser[T]], Parser[R]]


class _PageBody(msgspec.Struct):
    """A list answer: the items, kept raw until each is decoded as a persona."""

    data: builtins.list[msgspec.Raw]
    total_count: int | None = None


_PAGE: Final = msgspec.json.Decoder(_PageBody, strict=False)


def validate_persona_id(persona_id: str, name: str = "persona_id") -> str:
    """Return `persona_id` if it is safe to put in the URL path, else raise.

    Raises `InvalidPersonaIdError` (a `ValueError` and a `TavusError`), checked before any
    I/O so a bad id can never reach another endpoint; `TypeError` for a non-string.
    """
    if not isinstance(persona_id, str):
        raise TypeError(f"{name} must be a str, not {type(persona_id).__name__}")
    if not persona_id:
        raise InvalidPersonaIdError(f"{name} must not be empty")
    if len(persona_id) > MAX_PERSONA_ID_LENGTH:
        raise InvalidPersonaIdError(f"{name} is longer than {MAX_PERSONA_ID_LENGTH} characters")
    bad = _FORBIDDEN.search(persona_id)
    if bad is not None:
        raise InvalidPersonaIdError(
            f"{name} {persona_id[:64]!r} contains {bad.group()!r}: "
            "'/', '?', '#', '%', whitespace, control characters, surrogates and '.'/'..' "
            "are not allowed"
        )
    return persona_id


def check_persona_type(name: str, value: object) -> str | None:
    """`value` if it is None or a documented type (`"user"`, `"system"`), else raise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if value not in _PERSONA_TYPES:
        raise ValueError(f"{name} must be 'user' or 'system', got {value[:40]!r}")
    return value


def check_page_number(name: str, value: object) -> int:
    """A page number or size: an int >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def create_body(
    fields: Mapping[str, object], extra_body: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The JSON object a create sends: the fields not None (`layers` as a `Layers` model or
    a mapping), then `extra_body` merged over them. Pure; raises TypeError for a bad type."""
    body: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name == "layers":
            if isinstance(value, Layers):
                value = value.to_dict()
            elif isinstance(value, Mapping):
                value = dict(value)
            else:
                raise TypeError(f"layers must be a Layers or a dict, not {type(value).__name__}")
        elif name in ("document_ids", "document_tags"):
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise TypeError(f"{name} must be a list of str, not {type(value).__name__}")
            value = builtins.list(value)
        body[name] = value
    if extra_body is not None:
        if not isinstance(extra_body, Mapping):
            raise TypeError(f"extra_body must be a dict, not {type(extra_body).__name__}")
        body.update(extra_body)
    return body


def _decode_one(response: Response, persona_id: str) -> Persona:
    """The persona `persona_id` from a 2xx answer; one naming another persona is an answer
    meant for another request (retried on a fresh connection), never a `NotFoundError`."""
    persona = decode_persona(response.body, persona_id=persona_id, status_code=response.status_code)
    if persona.persona_id != persona_id:
        raise ResponseMismatchError(
            f"The answer to a lookup of persona {persona_id!r} named another persona "
            "(a response meant for another request)"
        )
    return persona


def _decode_page(response: Response, page: int, limit: int) -> Page[Persona]:
    """A list answer `{"data": [...], "total_count": N}` as a `Page` of personas."""
    status, size = response.status_code, len(response.body)
    try:
        body = _PAGE.decode(response.body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        reason = str(error) if isinstance(error, msgspec.ValidationError) else "not JSON"
        raise DecodeError(
            f"not a page of personas: {reason}", status_code=status, body_length=size
        ) from None
    personas = []
    for index, item in enumerate(body.data):
        try:
            personas.append(decode_persona(item, status_code=status))
        except TavusError as error:
            message = getattr(error, "message", str(error))
            raise DecodeError(
                f"item {index} of the page: {message}", status_code=status, body_length=size
            ) from None
    return Page(data=personas, total_count=body.total_count, page=page, limit=limit)


class Resource:
    """The shared engine of `client.personas` and `client.pals`: one path, one id name.

    The cache and the coalescer are the client's, shared by both paths (a persona and a
    PAL with one id are one resource), so a write through either invalidates for both.
    """

    _PATH: str = ""
    _ID: str = "persona_id"
    _TYPE: str = "persona_type"
    _FORCE_HINT: str = ""

    __slots__ = ("_cache", "_coalescer", "_options", "_transport")

    def __init__(
        self,
        transport: Transport,
        options: CallOptions,
        cache: CacheProtocol | None = None,
        coalescer: Coalescer[Persona] | None = None,
    ) -> None:
        self._transport = transport
        self._options = options
        self._cache = cache
        self._coalescer = coalescer

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport!r})"

    # ------------------------------------------------------------------ lookups

    async def get(self, persona_id: str) -> Persona:
        """Fetch one by id (`GET {path}/{id}`).

        Concurrent lookups of the same id (by `get`, `get_many` or `iter_many`, on either
        path) share one request (unless the client was made with `coalesce=False`);
        cancelling one caller does not cancel it for the others. Never returns what was
        fetched or cached before a `patch` or `delete` of the id returned.
        Raises `InvalidPersonaIdError` for an unsafe id (before any I/O), `NotFoundError`
        for an unknown one (Tavus answers 400 "Invalid persona_id": an `InvalidIdError`),
        another `APIStatusError` subclass for an error status, `APIConnectionError` /
        `APITimeoutError` when the network fails after retries, and `DecodeError` for a
        2xx body that is not a persona.
        """
        return await self._lookup(self._valid(persona_id))

    @overload
    async def get_many(
        self,
        ids: Iterable[str],
        concurrency: int = ...,
        return_exceptions: Literal[False] = False,
        on_progress: ProgressCallback | None = None,
    ) -> builtins.list[Persona]: ...

    @overload
    async def get_many(
        self,
        ids: Iterable[str],
        concurrency: int,
        return_exceptions: Literal[True],
        on_progress: ProgressCallback | None = None,
    ) -> builtins.list[Persona | TavusError]: ...

    @overload
    async def get_many(
        self,
        ids: Iterable[str],
        concurrency: int = ...,
        *,
        return_exceptions: Literal[True],
        on_progress: ProgressCallback | None = None,
    ) -> builtins.list[Persona | TavusError]: ...

    @overload
    async def get_many(
        self,
        ids: Iterable[str],
        concurrency: int = ...,
        return_exceptions: bool = ...,
        on_progress: ProgressCallback | None = None,
    ) -> builtins.list[Persona | TavusError]: ...

    async def get_many(
        self,
        ids: Iterable[str],
        concurrency: int = DEFAULT_CONCURRENCY,
        return_exceptions: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> builtins.list[Persona] | builtins.list[Persona | TavusError]:
        """Fetch many concurrently; the results are aligned with `ids`, each slot its own
        object (a duplicate id is fetched once and copied).

        At most `concurrency` requests are in flight. With `return_exceptions=False` an
        invalid id raises before any I/O, and the first failure is raised and the rest
        cancelled: the result is a `list[Persona]`. With `True` a failed or invalid id's
        slot holds its `TavusError`. After a 401 (`AuthenticationError`) no further request
        is sent: every id not sent yet fails with a copy of it. On 429s the engine paces its
        requests at the rate the server accepts.
        """
        return await _bulk.get_many(
            self._lookup,
            builtins.list(ids),
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            on_progress=on_progress,
            validate=self._valid,
        )

    def iter_many(
        self,
        ids: Iterable[str] | AsyncIterable[str],
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[tuple[str, Persona | TavusError], None]:
        """Yield `(id, persona_or_error)` in completion order, one per input id.

        `ids` may be any iterable or async iterable and is consumed lazily, so memory stays
        flat for huge inputs. Errors (including an invalid id) are yielded as values, never
        raised. After a 401 (`AuthenticationError`) no further request is sent: every id
        still to come is yielded with a copy of it. Breaking out cancels what is in flight;
        for deterministic cleanup wrap it in `contextlib.aclosing(...)`.
        """
        return _bulk.iter_many(
            self._lookup,
            ids,
            concurrency=concurrency,
            on_progress=on_progress,
            validate=self._valid,
        )

    # -------------------------------------------------------------------- writes

    async def delete(self, persona_id: str) -> None:
        """Delete one by id (`DELETE {path}/{id}`, 204).

        A not-found answer to a retried attempt counts as success: the attempt whose answer
        was lost may have deleted it. Afterwards (whatever the outcome) `get` of the id
        fetches it anew.
        """
        await self._delete(self._valid(persona_id), plain)

    # ------------------------------------------------------------- for subclasses

    def _valid(self, persona_id: str) -> str:
        return validate_persona_id(persona_id, self._ID)

    def _item(self, persona_id: str) -> str:
        return f"{self._PATH}/{quote(persona_id, safe=_SEGMENT_SAFE)}"

    async def _list_page(
        self, page: int, limit: int, persona_type: str | None, shape: Shape[Page[Persona], R]
    ) -> R:
        params = {"page": str(page), "limit": str(limit)}
        if persona_type is not None:
            params[self._TYPE] = persona_type
        return await self._transport.request(
            "GET",
            self._PATH,
            params=params,
            parse=shape(lambda response: _decode_page(response, page, limit)),
            options=self._options,
        )

    def _list(self, page_size: int, persona_type: str | None) -> AsyncGenerator[Persona, None]:
        return iterate_pages(
            lambda page, limit: self._list_page(page, limit, persona_type, plain),
            page_size=page_size,
            id_of=_persona_id,
        )

    async def _create(self, body: dict[str, Any], shape: Shape[Persona, R]) -> R:
        request = self._transport.request(
            "POST",
            self._PATH,
            json=body,
            parse=shape(_created),
            options=self._options,
        )
        del body  # may hold credentials: out of a traceback's locals
        return await request

    async def _patch(
        self,
        persona_id: str,
        operations: Iterable[Operation],
        shape: Shape[bool, R],
        *,
        force: bool = False,
    ) -> R:
        self._valid(persona_id)
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, not {type(force).__name__}")
        self._transport.check_loop()  # nothing sent: nothing to invalidate
        request = self._transport.request(
            "PATCH",
            self._item(persona_id),
            json=validate_patch(operations),
            params={"force": "true"} if force else None,
            parse=shape(_applied),
            options=self._options,
            accept=(304,),
        )
        del operations  # values may be credentials: out of a traceback's locals
        try:
            return await request
        except ConflictError as error:
            raise _with_hint(error, self._FORCE_HINT) from None
        finally:
            await self._invalidate(persona_id)

    async def _lookup(self, persona_id: str, flow: BulkFlow | None = None) -> Persona:
        """A validated id through the cache, then the shared request."""
        # Before the cache and the coalescer: joining another loop's request would hang.
        self._transport.check_loop()
        if self._cache is not None:
            if self._transport.closed:  # a closed client answers nothing, not even from cache
                raise ClientClosedError("This AsyncTavus client is closed; create a new one.")
            hit = await self._cache.get(persona_id)
            if hit is not None:
                return hit
        if self._coalescer is None:
            return await self._fetch(persona_id, flow)
        return await self._coalescer.run(persona_id, self._fetch, flow)

    async def _fetch(self, persona_id: str, flow: BulkFlow | None) -> Persona:
        # The version is read before the request, so a write landing meanwhile makes the
        # put a no-op instead of caching what was read before it.
        version = await self._cache.version(persona_id) if self._cache is not None else 0
        persona = await self._get(persona_id, plain, flow)
        if self._cache is not None:
            await self._cache.put(persona_id, persona, version)
        return persona

    async def _get(
        self, persona_id: str, shape: Shape[Persona, R], flow: BulkFlow | None = None
    ) -> R:
        """The request of a lookup, past the cache and the coalescer."""
        return await self._transport.request(
            "GET",
            self._item(persona_id),
            parse=shape(lambda response: _decode_one(response, persona_id)),
            options=self._options,
            flow=flow,
        )

    async def _raw_delete(self, persona_id: str) -> RawResponse[None]:
        """`delete` as a `RawResponse`: a retried attempt's not-found answer, which counts as
        success, is the answer shown."""
        started = time.monotonic()
        answer = await self._delete(self._valid(persona_id), raw)
        if not isinstance(answer, NotFoundError):
            return answer
        headers = CIMultiDictProxy(CIMultiDict(answer.headers))
        elapsed = time.monotonic() - started
        return RawResponse(answer.status_code, headers, answer.attempts, elapsed, None)

    async def _delete(self, persona_id: str, shape: Shape[None, R]) -> R | NotFoundError:
        """The delete, or the `NotFoundError` of a retried attempt: the attempt whose answer
        was lost may have deleted it, so that counts as success."""
        self._transport.check_loop()  # nothing sent: nothing to invalidate
        try:
            return await self._transport.request(
                "DELETE", self._item(persona_id), parse=shape(_nothing), options=self._options
            )
        except NotFoundError as error:
            if error.attempts <= 1:
                raise
            return error
        finally:
            await self._invalidate(persona_id)

    async def _invalidate(self, persona_id: str) -> None:
        """After a write: no later `get` may join a request sent before it, or hit the cache."""
        if self._coalescer is not None:
            self._coalescer.forget(persona_id)
        if self._cache is not None:
            await self._cache.invalidate(persona_id)


def _persona_id(persona: Persona) -> str:
    return persona.persona_id


def _nothing(response: Response) -> None:
    return None


def _created(response: Response) -> Persona:
    return decode_persona(response.body, status_code=response.status_code)


def _applied(response: Response) -> bool:
    """True when the server applied a patch (200), False when nothing changed (304)."""
    return response.status_code != 304


def _with_hint(error: ConflictError, hint: str) -> ConflictError:
    """The 409 with a message that says how to overwrite the unsaved changes."""
    hinted = ConflictError(
        f"{error.message.rstrip('.')}. {hint}",
        status_code=error.status_code,
        body=error.body,
        headers=error.headers,
        attempts=error.attempts,
    )
    hinted.retry_after = error.retry_after
    return hinted

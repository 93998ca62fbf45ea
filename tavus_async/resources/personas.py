"""`client.personas`: the persona resource at `/v2/personas`."""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

from .._paging import Page
from .._raw import RawResponse, plain, raw
from ..models import Layers, Persona
from ._base import (
    DEFAULT_PAGE_SIZE,
    Operation,
    PersonaType,
    Resource,
    check_page_number,
    check_persona_type,
    create_body,
)

__all__ = ["Personas", "PersonasWithRawResponse"]


class Personas(Resource):
    """Personas at `/v2/personas`. Reach it as `AsyncTavus(...).personas`.

    Tavus now calls personas PALs; `client.pals` is the same resource under the new names.
    """

    _PATH = "/v2/personas"
    _ID = "persona_id"
    _TYPE = "persona_type"
    _FORCE_HINT = (
        "To overwrite the unsaved changes, patch it as a PAL with force: "
        "client.pals.patch(pal_id, operations, force=True)"
    )

    __slots__ = ()

    @property
    def with_raw_response(self) -> PersonasWithRawResponse:
        """The single-request methods (`get`, `list_page`, `create`, `patch`, `delete`)
        returning the HTTP answer as a `RawResponse`; its `parse()` gives the usual result."""
        return PersonasWithRawResponse(self)

    def list(
        self, *, persona_type: PersonaType | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncGenerator[Persona, None]:
        """Every persona of every page (`GET /v2/personas?page=&limit=`), in server order.

        `persona_type` filters (`"user"` or `"system"`). Listing ends when `total_count`
        personas were yielded, on an empty page, on a short page (when the server gives no
        `total_count`), or on a page with nothing new (a server that ignores `page`); an id
        is never yielded twice. Arguments are checked before any I/O.
        """
        check_persona_type("persona_type", persona_type)
        return self._list(check_page_number("page_size", page_size), persona_type)

    async def list_page(
        self, *, page: int = 1, limit: int = 10, persona_type: PersonaType | None = None
    ) -> Page[Persona]:
        """One page of the list (1-based `page`, `limit` personas), with `total_count`."""
        check_page_number("page", page)
        check_page_number("limit", limit)
        check_persona_type("persona_type", persona_type)
        return await self._list_page(page, limit, persona_type, plain)

    async def create(
        self,
        *,
        persona_name: str | None = None,
        system_prompt: str | None = None,
        pipeline_mode: str | None = None,
        context: str | None = None,
        default_replica_id: str | None = None,
        document_ids: builtins.list[str] | None = None,
        document_tags: builtins.list[str] | None = None,
        objectives_id: str | None = None,
        guardrails_id: str | None = None,
        layers: Layers | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Persona:
        """Create a persona (`POST /v2/personas`) and return it as the API answered
        (`persona_id`, `persona_name`, `created_at`).

        Fields left None are not sent; `extra_body` is merged over the JSON for fields the
        SDK does not know yet. A create is not retried once it may have reached the server
        (unless `RetryPolicy(retry_writes=True)`).
        """
        request = self._create(
            create_body(
                {
                    "persona_name": persona_name,
                    "system_prompt": system_prompt,
                    "pipeline_mode": pipeline_mode,
                    "context": context,
                    "default_replica_id": default_replica_id,
                    "document_ids": document_ids,
                    "document_tags": document_tags,
                    "objectives_id": objectives_id,
                    "guardrails_id": guardrails_id,
                    "layers": layers,
                },
                extra_body,
            ),
            plain,
        )
        del layers, extra_body  # may hold credentials: out of a traceback's locals
        return await request

    async def patch(self, persona_id: str, operations: Iterable[Operation]) -> bool:
        """Apply a JSON Patch (RFC 6902) to a persona (`PATCH /v2/personas/{id}`).

        `operations` are mappings `{"op", "path", "value"?, "from"?}` or typed operations
        from `tavus_async.patch`, checked before any I/O (`InvalidPatchError`). Returns True
        when the server applied it (200), False when nothing changed (304). Raises
        `UnprocessableEntityError` (422) for a patch the server refused, `ConflictError`
        (409) when the PAL has unsaved maker changes. Afterwards (whatever the outcome)
        `get` of the id fetches it anew.
        """
        request = self._patch(persona_id, operations, plain)
        del operations  # values may be credentials: out of a traceback's locals
        return await request


class PersonasWithRawResponse:
    """`client.personas.with_raw_response`: `Personas`' single-request methods, each
    returning a `RawResponse` (status, headers, request id, attempts, elapsed) whose
    `parse()` gives what the plain method returns. Arguments and errors are the plain
    method's; only a body that does not decode raises from `parse()` instead.

    `list`, `get_many` and `iter_many` send many requests: see the event hooks for those.
    """

    __slots__ = ("_personas",)

    def __init__(self, personas: Personas) -> None:
        self._personas = personas

    def __repr__(self) -> str:
        return f"PersonasWithRawResponse({self._personas!r})"

    async def get(self, persona_id: str) -> RawResponse[Persona]:
        """`Personas.get`, always sent: a raw lookup neither reads nor fills the cache and
        shares no request with other lookups, so the answer shown is the server's."""
        return await self._personas._get(self._personas._valid(persona_id), raw)

    async def list_page(
        self, *, page: int = 1, limit: int = 10, persona_type: PersonaType | None = None
    ) -> RawResponse[Page[Persona]]:
        """`Personas.list_page`."""
        check_page_number("page", page)
        check_page_number("limit", limit)
        check_persona_type("persona_type", persona_type)
        return await self._personas._list_page(page, limit, persona_type, raw)

    async def create(
        self,
        *,
        persona_name: str | None = None,
        system_prompt: str | None = None,
        pipeline_mode: str | None = None,
        context: str | None = None,
        default_replica_id: str | None = None,
        document_ids: builtins.list[str] | None = None,
        document_tags: builtins.list[str] | None = None,
        objectives_id: str | None = None,
        guardrails_id: str | None = None,
        layers: Layers | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RawResponse[Persona]:
        """`Personas.create`."""
        request = self._personas._create(
            create_body(
                {
                    "persona_name": persona_name,
                    "system_prompt": system_prompt,
                    "pipeline_mode": pipeline_mode,
                    "context": context,
                    "default_replica_id": default_replica_id,
                    "document_ids": document_ids,
                    "document_tags": document_tags,
                    "objectives_id": objectives_id,
                    "guardrails_id": guardrails_id,
                    "layers": layers,
                },
                extra_body,
            ),
            raw,
        )
        del layers, extra_body  # may hold credentials: out of a traceback's locals
        return await request

    async def patch(self, persona_id: str, operations: Iterable[Operation]) -> RawResponse[bool]:
        """`Personas.patch`: `parse()` is True when applied (200), False for 304."""
        request = self._personas._patch(persona_id, operations, raw)
        del operations  # values may be credentials: out of a traceback's locals
        return await request

    async def delete(self, persona_id: str) -> RawResponse[None]:
        """`Personas.delete`: a retried attempt's not-found answer counts as success and is
        the answer shown."""
        return await self._personas._raw_delete(persona_id)

"""`client.pals`: the same resource as personas, at `/v2/pals`, under the PAL names."""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

from .._paging import Page
from .._raw import RawResponse, plain, raw
from ..models import Layers, Pal
from ._base import (
    DEFAULT_PAGE_SIZE,
    Operation,
    PersonaType,
    Resource,
    check_page_number,
    check_persona_type,
    create_body,
)

__all__ = ["Pals", "PalsWithRawResponse"]


class Pals(Resource):
    """PALs at `/v2/pals`. Reach it as `AsyncTavus(...).pals`.

    A PAL is a persona under Tavus's new names: `pal_id` (= `persona_id`), `pal_name`,
    `default_face_id` (= `default_replica_id`), `pal_type`. Both paths serve the same
    records, and both return `Pal` (= `Persona`) objects.
    """

    _PATH = "/v2/pals"
    _ID = "pal_id"
    _TYPE = "pal_type"
    _FORCE_HINT = "To overwrite them, send the patch with force=True"

    __slots__ = ()

    @property
    def with_raw_response(self) -> PalsWithRawResponse:
        """The single-request methods (`get`, `list_page`, `create`, `patch`, `delete`)
        returning the HTTP answer as a `RawResponse`; its `parse()` gives the usual result."""
        return PalsWithRawResponse(self)

    def list(
        self, *, pal_type: PersonaType | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncGenerator[Pal, None]:
        """Every PAL of every page (`GET /v2/pals?page=&limit=`), in server order; the
        stop rules of `Personas.list`. `pal_type` filters (`"user"` or `"system"`)."""
        check_persona_type("pal_type", pal_type)
        return self._list(check_page_number("page_size", page_size), pal_type)

    async def list_page(
        self, *, page: int = 1, limit: int = 10, pal_type: PersonaType | None = None
    ) -> Page[Pal]:
        """One page of the list (1-based `page`, `limit` PALs), with `total_count`."""
        check_page_number("page", page)
        check_page_number("limit", limit)
        check_persona_type("pal_type", pal_type)
        return await self._list_page(page, limit, pal_type, plain)

    async def create(
        self,
        *,
        default_face_id: str,
        pal_name: str | None = None,
        system_prompt: str | None = None,
        pipeline_mode: str | None = None,
        context: str | None = None,
        document_ids: builtins.list[str] | None = None,
        document_tags: builtins.list[str] | None = None,
        objectives_id: str | None = None,
        guardrails_id: str | None = None,
        layers: Layers | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Pal:
        """Create a PAL (`POST /v2/pals`) and return it as the API answered (`pal_id`,
        `pal_name`, `created_at`).

        `default_face_id` (the replica) is required, checked before any I/O. Fields left
        None are not sent; `extra_body` is merged over the JSON.
        """
        _check_face(default_face_id)
        request = self._create(
            create_body(
                {
                    "pal_name": pal_name,
                    "default_face_id": default_face_id,
                    "system_prompt": system_prompt,
                    "pipeline_mode": pipeline_mode,
                    "context": context,
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

    async def patch(
        self, pal_id: str, operations: Iterable[Operation], force: bool = False
    ) -> bool:
        """Apply a JSON Patch (RFC 6902) to a PAL (`PATCH /v2/pals/{id}`), with PAL names in
        the paths (`/pal_name`).

        Returns True when applied (200), False when nothing changed (304). When the PAL has
        unsaved changes in Tavus's maker the API answers 409 (`ConflictError`, whose
        message says how to force); `force=True` overwrites them. 422 raises
        `UnprocessableEntityError`. Afterwards (whatever the outcome) `get` of the id
        fetches it anew.
        """
        request = self._patch(pal_id, operations, plain, force=force)
        del operations  # values may be credentials: out of a traceback's locals
        return await request


class PalsWithRawResponse:
    """`client.pals.with_raw_response`: `Pals`' single-request methods, each returning a
    `RawResponse` (see `PersonasWithRawResponse`)."""

    __slots__ = ("_pals",)

    def __init__(self, pals: Pals) -> None:
        self._pals = pals

    def __repr__(self) -> str:
        return f"PalsWithRawResponse({self._pals!r})"

    async def get(self, persona_id: str) -> RawResponse[Pal]:
        """`Pals.get`, always sent: a raw lookup neither reads nor fills the cache and
        shares no request with other lookups, so the answer shown is the server's."""
        return await self._pals._get(self._pals._valid(persona_id), raw)

    async def list_page(
        self, *, page: int = 1, limit: int = 10, pal_type: PersonaType | None = None
    ) -> RawResponse[Page[Pal]]:
        """`Pals.list_page`."""
        check_page_number("page", page)
        check_page_number("limit", limit)
        check_persona_type("pal_type", pal_type)
        return await self._pals._list_page(page, limit, pal_type, raw)

    async def create(
        self,
        *,
        default_face_id: str,
        pal_name: str | None = None,
        system_prompt: str | None = None,
        pipeline_mode: str | None = None,
        context: str | None = None,
        document_ids: builtins.list[str] | None = None,
        document_tags: builtins.list[str] | None = None,
        objectives_id: str | None = None,
        guardrails_id: str | None = None,
        layers: Layers | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RawResponse[Pal]:
        """`Pals.create`."""
        _check_face(default_face_id)
        request = self._pals._create(
            create_body(
                {
                    "pal_name": pal_name,
                    "default_face_id": default_face_id,
                    "system_prompt": system_prompt,
                    "pipeline_mode": pipeline_mode,
                    "context": context,
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

    async def patch(
        self, pal_id: str, operations: Iterable[Operation], force: bool = False
    ) -> RawResponse[bool]:
        """`Pals.patch`: `parse()` is True when applied (200), False for 304."""
        request = self._pals._patch(pal_id, operations, raw, force=force)
        del operations  # values may be credentials: out of a traceback's locals
        return await request

    async def delete(self, persona_id: str) -> RawResponse[None]:
        """`Pals.delete`: a retried attempt's not-found answer counts as success and is the
        answer shown."""
        return await self._pals._raw_delete(persona_id)


def _check_face(default_face_id: object) -> None:
    if not isinstance(default_face_id, str) or not default_face_id:
        raise ValueError("pals.create needs default_face_id, a non-empty str")

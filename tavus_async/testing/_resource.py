"""The persona/PAL resource `FakeTavus` serves: one store of documents and each verb's answer.

No I/O here: every verb takes the request's parts and returns a `Reply`. Documents are kept
with persona names; `/v2/pals` shows them with PAL names (`pal_id`, `pal_name`,
`default_face_id`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from ._jsonpatch import PatchError, apply_patch, json_equal
from ._personas_gen import generate_persona, persona_id_for

__all__ = ["PALS", "PERSONAS", "Kind", "PersonaType", "Reply", "Resource", "json_reply"]

PersonaType = Literal["user", "system"]
PERSONA_TYPES: tuple[PersonaType, ...] = ("user", "system")
DEFAULT_LIMIT = 10
# Created personas get ids from an index range no generated population reaches.
_CREATED_BASE = 1 << 42

JSON = "application/json"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class Reply:
    """A fully materialised response (status, body bytes, headers)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else {}


def json_reply(status: int, payload: object) -> Reply:
    return Reply(status, _encode(payload), {"Content-Type": JSON})


@dataclass(frozen=True)
class Kind:
    """How one path names things: `/v2/personas` or `/v2/pals`."""

    path: str
    id: str
    type_param: str
    renames: Mapping[str, str]  # persona name -> this path's name

    @property
    def invalid_id(self) -> Reply:
        return json_reply(400, {"error": f"Invalid {self.id}"})

    def show(self, document: dict[str, Any]) -> dict[str, Any]:
        """`document` (persona names) with this path's names, key order kept."""
        if not self.renames:
            return document
        return {self.renames.get(key, key): value for key, value in document.items()}

    def store(self, document: dict[str, Any]) -> dict[str, Any]:
        """The inverse of `show`; PatchError if a key is there under both names."""
        if not self.renames:
            return document
        back = {new: old for old, new in self.renames.items()}
        if any(old in document for old in back.values()):
            raise PatchError(f"{self.path} uses {', '.join(back)}")
        return {back.get(key, key): value for key, value in document.items()}


PERSONAS = Kind("personas", "persona_id", "persona_type", {})
PALS = Kind(
    "pals",
    "pal_id",
    "pal_type",
    {"persona_id": "pal_id", "persona_name": "pal_name", "default_replica_id": "default_face_id"},
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _positive_int(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        return None
    return int(text)


class Resource:
    """Every persona the fake holds, in listing order, and the answer to each verb.

    Generated personas are built on first use; a document written by `put`, create or
    patch replaces the generated one. Encoded GET bodies are cached until the next write.
    """

    def __init__(self, num_personas: int, *, envelope: bool) -> None:
        self.generated_ids = [persona_id_for(i) for i in range(num_personas)]
        self.envelope = envelope
        self._order: dict[str, None] = dict.fromkeys(self.generated_ids)
        self._generated: dict[str, int] = {pid: i for i, pid in enumerate(self.generated_ids)}
        self._documents: dict[str, dict[str, Any]] = {}
        self._types: dict[str, PersonaType] = {}  # only the non-"user" ones
        self._drafts: set[str] = set()
        self._bodies: dict[tuple[str, str], bytes] = {}
        self._created = itertools.count(_CREATED_BASE)

    # ------------------------------------------------------------------ direct access

    def __contains__(self, persona_id: str) -> bool:
        return persona_id in self._order

    def document(self, persona_id: str) -> dict[str, Any]:
        """The stored document (persona names; not a copy); KeyError if unknown."""
        document = self._documents.get(persona_id)
        if document is not None:
            return document
        return generate_persona(self._generated[persona_id])

    def put(self, document: dict[str, Any], persona_type: PersonaType = "user") -> None:
        if persona_type not in PERSONA_TYPES:
            raise ValueError(f"persona_type must be one of {PERSONA_TYPES}")
        pid = document["persona_id"]
        self._order.setdefault(pid, None)
        self._documents[pid] = document
        self._set_type(pid, persona_type)
        self._forget(pid)

    def set_draft(self, persona_id: str, pending: bool) -> None:
        if persona_id not in self._order:
            raise KeyError(persona_id)
        if pending:
            self._drafts.add(persona_id)
        else:
            self._drafts.discard(persona_id)

    def body(self, kind: Kind, persona_id: str) -> bytes | None:
        """The encoded GET answer for `persona_id` (cached), or None if unknown."""
        key = (kind.path, persona_id)
        body = self._bodies.get(key)
        if body is None:
            if persona_id not in self._order:
                return None
            raw = _encode(kind.show(self.document(persona_id)))
            body = b'{"data":[' + raw + b"]}" if self.envelope else raw
            self._bodies[key] = body
        return body

    def _set_type(self, persona_id: str, persona_type: PersonaType) -> None:
        if persona_type == "user":
            self._types.pop(persona_id, None)
        else:
            self._types[persona_id] = persona_type

    def _forget(self, persona_id: str) -> None:
        self._bodies.pop((PERSONAS.path, persona_id), None)
        self._bodies.pop((PALS.path, persona_id), None)

    # ------------------------------------------------------------------------- verbs

    def get(self, kind: Kind, persona_id: str) -> Reply:
        body = self.body(kind, persona_id)
        if body is None:
            return kind.invalid_id
        return Reply(200, body, {"Content-Type": JSON})

    def list(self, kind: Kind, query: Mapping[str, str]) -> Reply:
        limit = _positive_int(query.get("limit"), DEFAULT_LIMIT)
        page = _positive_int(query.get("page"), 1)
        wanted = query.get(kind.type_param)
        if limit is None:
            return json_reply(400, {"error": "Invalid limit"})
        if page is None:
            return json_reply(400, {"error": "Invalid page"})
        ids: Iterable[str] = self._order
        total = len(self._order)
        if wanted is not None:
            if wanted not in PERSONA_TYPES:
                return json_reply(400, {"error": f"Invalid {kind.type_param}"})
            ids = [pid for pid in self._order if self._types.get(pid, "user") == wanted]
            total = len(ids)
        start = (page - 1) * limit
        chosen = itertools.islice(ids, start, start + limit)
        data = [kind.show(self.document(pid)) for pid in chosen]
        return json_reply(200, {"data": data, "total_count": total})

    def create(self, kind: Kind, body: bytes) -> Reply:
        try:
            fields = _decode(body) if body else None
        except msgspec.DecodeError:
            fields = None
        if not isinstance(fields, dict):
            return json_reply(400, {"error": "The request body must be a JSON object"})
        if kind is PALS and not fields.get("default_face_id"):
            return json_reply(400, {"error": "default_face_id is required"})
        for server_set in (kind.id, PERSONAS.id, "created_at", "updated_at"):
            fields.pop(server_set, None)
        try:
            fields = kind.store(fields)
        except PatchError:
            return json_reply(400, {"error": f"Use the names of {kind.path}"})
        pid = self._new_id()
        now = _now()
        self.put({"persona_id": pid, **fields, "created_at": now, "updated_at": now})
        answer = {"persona_id": pid, "persona_name": fields.get("persona_name"), "created_at": now}
        return json_reply(200, kind.show(answer))

    def patch(self, kind: Kind, persona_id: str, query: Mapping[str, str], body: bytes) -> Reply:
        if persona_id not in self._order:
            return kind.invalid_id
        force = query.get("force", "").lower() == "true"
        if kind is PALS and persona_id in self._drafts and not force:
            return json_reply(
                409,
                {
                    "message": "This PAL has unsaved changes in the maker; "
                    "send the patch with force=true to overwrite them",
                    "conflict": "maker_changes",
                },
            )
        before = self.document(persona_id)
        try:
            patched = apply_patch(kind.show(before), _decode(body))
            if not isinstance(patched, dict) or patched.get(kind.id) != persona_id:
                raise PatchError("the id cannot change")
            after = kind.store(patched)
        except (PatchError, msgspec.DecodeError):
            return json_reply(422, {"message": "Invalid JSON patch format"})
        if force:
            self._drafts.discard(persona_id)
        if json_equal(after, before):
            return Reply(304)
        after["updated_at"] = _now()
        self.put(after, self._types.get(persona_id, "user"))
        return Reply(200, b"OK", {"Content-Type": "text/plain; charset=utf-8"})

    def delete(self, kind: Kind, persona_id: str) -> Reply:
        if persona_id not in self._order:
            return kind.invalid_id
        del self._order[persona_id]
        self._documents.pop(persona_id, None)
        self._generated.pop(persona_id, None)
        self._types.pop(persona_id, None)
        self._drafts.discard(persona_id)
        self._forget(persona_id)
        return Reply(204)

    def _new_id(self) -> str:
        while True:
            pid = persona_id_for(next(self._created))
            if pid not in self._order:
                return pid

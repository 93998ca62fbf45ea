"""JSON Patch (RFC 6902) operations and their validation before any request is sent.

Pure: `validate_patch` turns mappings or typed operations into the JSON-ready list the API
takes, or raises `InvalidPatchError` naming the bad operation's index. Error messages
never quote a value: values may be credentials (`layers.llm.api_key`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from .errors import TavusError

__all__ = [
    "Add",
    "Copy",
    "InvalidPatchError",
    "Move",
    "PatchOperation",
    "Remove",
    "Replace",
    "Test",
    "validate_patch",
]

# The members each op takes, in the order they are sent.
_MEMBERS: dict[str, tuple[str, ...]] = {
    "add": ("path", "value"),
    "remove": ("path",),
    "replace": ("path", "value"),
    "move": ("from", "path"),
    "copy": ("from", "path"),
    "test": ("path", "value"),
}
_POINTER = re.compile(r"(/([^~/]|~[01])*)*")
_NAME_LIMIT = 40


class InvalidPatchError(TavusError, ValueError):
    """A JSON Patch that cannot be valid; raised before any I/O."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        #: The position of the bad operation, or None when the whole patch is wrong.
        self.index = index


class PatchOperation(msgspec.Struct, frozen=True, tag_field="op"):
    """Base of the typed operations; each encodes as the RFC 6902 object."""


class Add(PatchOperation, frozen=True, tag="add"):
    """Add `value` at `path` (into an object, or before an array index; `-` appends)."""

    path: str
    value: Any


class Remove(PatchOperation, frozen=True, tag="remove"):
    """Remove the value at `path`, which must exist."""

    path: str


class Replace(PatchOperation, frozen=True, tag="replace"):
    """Replace the value at `path`, which must exist, by `value`."""

    path: str
    value: Any


class Move(PatchOperation, frozen=True, kw_only=True, tag="move"):
    """Move the value at `from_` to `path`."""

    from_: str = msgspec.field(name="from")
    path: str


class Copy(PatchOperation, frozen=True, kw_only=True, tag="copy"):
    """Copy the value at `from_` to `path`."""

    from_: str = msgspec.field(name="from")
    path: str


class Test(PatchOperation, frozen=True, tag="test"):
    """Fail the whole patch unless the value at `path` equals `value`."""

    __test__ = False  # not a pytest test class

    path: str
    value: Any


def is_json_pointer(text: object) -> bool:
    """True for an RFC 6901 pointer: `""`, or `/`-separated tokens escaping `~` as `~0`/`~1`."""
    return isinstance(text, str) and _POINTER.fullmatch(text) is not None


def validate_patch(
    operations: Iterable[Mapping[str, Any] | PatchOperation],
) -> list[dict[str, Any]]:
    """Check a JSON Patch and return it as a list of plain dicts, ready to send.

    Each operation is a mapping `{"op", "path", "value"?, "from"?}` or a typed operation
    (`Add`, `Remove`, ...). It must name a known op and have exactly the members that op
    takes, with JSON Pointers for `path` and `from`. The patch must not be empty.
    """
    if isinstance(operations, str | bytes | bytearray | Mapping | PatchOperation) or not (
        isinstance(operations, Iterable)
    ):
        raise InvalidPatchError(
            "a patch is a sequence of operations (wrap a single operation in a list), "
            f"not a {type(operations).__name__}"
        )
    checked = [_checked(index, operation) for index, operation in enumerate(operations)]
    if not checked:
        raise InvalidPatchError("a patch needs at least one operation")
    return checked


def _checked(index: int, operation: object) -> dict[str, Any]:
    if isinstance(operation, PatchOperation):
        operation = _as_mapping(operation)
    if not isinstance(operation, Mapping):
        raise InvalidPatchError(
            f"patch operation {index} is a {type(operation).__name__}, "
            "not a mapping or a typed operation",
            index=index,
        )
    op = operation.get("op")
    members = _MEMBERS.get(op) if isinstance(op, str) else None
    if op is None or members is None:
        expected = ", ".join(_MEMBERS)
        raise InvalidPatchError(
            f"patch operation {index} has {'no' if op is None else 'an unknown'} 'op' "
            f"(expected one of {expected})",
            index=index,
        )
    where = f"patch operation {index} ({op})"
    missing = [name for name in members if name not in operation]
    if missing:
        raise InvalidPatchError(f"{where} needs {_names(missing)}", index=index)
    extra = [name for name in operation if name != "op" and name not in members]
    if extra:
        raise InvalidPatchError(
            f"{where} takes only {_names(members)}; unexpected {_names(extra)}", index=index
        )
    for name in ("path", "from"):
        if name in members and not is_json_pointer(operation[name]):
            raise InvalidPatchError(
                f"{where}: {name!r} is not a JSON Pointer (a str, '' or starting with '/', "
                "with '~' only as '~0' or '~1')",
                index=index,
            )
    if op == "move" and operation["path"].startswith(operation["from"] + "/"):
        raise InvalidPatchError(f"{where}: cannot move a value inside itself", index=index)
    return {"op": op, **{name: operation[name] for name in members}}


def _as_mapping(operation: PatchOperation) -> dict[str, Any]:
    fields = msgspec.structs.fields(operation)
    mapping = {field.encode_name: getattr(operation, field.name) for field in fields}
    mapping["op"] = type(operation).__struct_config__.tag
    return mapping


def _names(names: Iterable[object]) -> str:
    """Member names for a message: quoted, a long or odd one cut short."""
    return ", ".join(repr(str(name)[:_NAME_LIMIT]) for name in names)

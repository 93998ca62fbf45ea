"""RFC 6902 JSON Patch over plain JSON values (dict, list, str, int, float, bool, None).

Pure: `apply_patch` returns a patched copy and never changes its input.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = ["PatchError", "apply_patch", "json_equal", "parse_pointer"]

_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")


class PatchError(ValueError):
    """The patch is malformed, or one of its operations cannot be applied."""


def parse_pointer(pointer: object) -> list[str]:
    """The reference tokens of an RFC 6901 JSON Pointer (`""` is the whole document)."""
    if not isinstance(pointer, str):
        raise PatchError("a JSON Pointer must be a string")
    if pointer == "":
        return []
    if not pointer.startswith("/") or _BAD_ESCAPE.search(pointer):
        raise PatchError("not a JSON Pointer")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def json_equal(a: object, b: object) -> bool:
    """JSON equality: like `==`, except that `true` is not `1` and `1.0` is `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def apply_patch(document: Any, operations: object) -> Any:
    """Apply `operations` (a decoded JSON Patch array) to a copy of `document`."""
    if not isinstance(operations, list):
        raise PatchError("a JSON Patch is an array of operations")
    result = copy.deepcopy(document)
    for operation in operations:
        result = _apply(result, operation)
    return result


def _apply(doc: Any, operation: object) -> Any:
    if not isinstance(operation, dict):
        raise PatchError("an operation must be an object")
    op = operation.get("op")
    path = parse_pointer(operation.get("path"))
    if op in ("add", "replace", "test") and "value" not in operation:
        raise PatchError(f"{op} needs a value")
    if op == "add":
        return _add(doc, path, operation["value"])
    if op == "remove":
        return _remove(doc, path)[0]
    if op == "replace":
        return _replace(doc, path, operation["value"])
    if op == "test":
        if not json_equal(_get(doc, path), operation["value"]):
            raise PatchError("test failed")
        return doc
    if op in ("move", "copy"):
        source = parse_pointer(operation.get("from"))
        if op == "copy":
            return _add(doc, path, copy.deepcopy(_get(doc, source)))
        if path[: len(source)] == source and len(path) > len(source):
            raise PatchError("cannot move a value into itself")
        doc, value = _remove(doc, source)
        return _add(doc, path, value)
    raise PatchError("unknown op")


def _index(token: str, size: int, *, append: bool = False) -> int:
    """The list index `token` names; with `append`, `-` and `size` (one past the end) too."""
    if append and token == "-":
        return size
    if not _INDEX.fullmatch(token) or int(token) > (size if append else size - 1):
        raise PatchError("no such array index")
    return int(token)


def _get(doc: Any, path: list[str]) -> Any:
    node = doc
    for token in path:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node))]
        else:
            raise PatchError("path not found")
    return node


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, token = _get(doc, path[:-1]), path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(token, len(parent), append=True), value)
    else:
        raise PatchError("path not found")
    return doc


def _remove(doc: Any, path: list[str]) -> tuple[Any, Any]:
    """`doc` without the value at `path`, and that value."""
    if not path:
        raise PatchError("cannot remove the whole document")
    parent, token = _get(doc, path[:-1]), path[-1]
    if isinstance(parent, dict) and token in parent:
        return doc, parent.pop(token)
    if isinstance(parent, list):
        return doc, parent.pop(_index(token, len(parent)))
    raise PatchError("path not found")


def _replace(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, token = _get(doc, path[:-1]), path[-1]
    if isinstance(parent, dict) and token in parent:
        parent[token] = value
    elif isinstance(parent, list):
        parent[_index(token, len(parent))] = value
    else:
        raise PatchError("path not found")
    return doc

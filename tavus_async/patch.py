"""JSON Patch (RFC 6902) operations for `personas.patch` / `pals.patch`.

Use them as `from tavus_async import patch` then `patch.Replace("/persona_name", "Coach")`;
a plain mapping `{"op": "replace", "path": ..., "value": ...}` works as well.
"""

from ._patch import (
    Add,
    Copy,
    InvalidPatchError,
    Move,
    PatchOperation,
    Remove,
    Replace,
    Test,
    validate_patch,
)

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

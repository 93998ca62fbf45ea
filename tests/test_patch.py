"""validate_patch: JSON Patch operations checked before any I/O (pure, table-tested)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import pytest

from tavus_async._patch import (
    Add,
    Copy,
    InvalidPatchError,
    Move,
    PatchOperation,
    Remove,
    Replace,
    Test,
    is_json_pointer,
    validate_patch,
)
from tavus_async.errors import TavusError

SECRET = "sk-live-0123456789abcdef"

Operations = Iterable[Mapping[str, Any] | PatchOperation]


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        (
            [{"op": "add", "path": "/context", "value": "c"}],
            [{"op": "add", "path": "/context", "value": "c"}],
        ),
        ([{"path": "/context", "op": "remove"}], [{"op": "remove", "path": "/context"}]),
        (
            [{"op": "replace", "path": "/layers/llm/api_key", "value": None}],
            [{"op": "replace", "path": "/layers/llm/api_key", "value": None}],
        ),
        (
            [{"op": "move", "from": "/a", "path": "/b"}],
            [{"op": "move", "from": "/a", "path": "/b"}],
        ),
        (
            [{"op": "copy", "path": "/b", "from": "/a"}],
            [{"op": "copy", "from": "/a", "path": "/b"}],
        ),
        (
            [{"op": "test", "path": "", "value": {}}],
            [{"op": "test", "path": "", "value": {}}],
        ),
        (
            ({"op": "add", "path": "/document_tags/-", "value": "t"},),  # a tuple is fine
            [{"op": "add", "path": "/document_tags/-", "value": "t"}],
        ),
        (
            [{"op": "remove", "path": "/a~1b/m~0n/0/"}],  # escapes; an empty last token
            [{"op": "remove", "path": "/a~1b/m~0n/0/"}],
        ),
        (
            [{"op": "move", "from": "/a", "path": "/ab"}],  # a sibling, not inside /a
            [{"op": "move", "from": "/a", "path": "/ab"}],
        ),
        (
            [
                Add("/x", [1, 2]),
                Remove("/y"),
                Replace("/z", True),
                Move(from_="/a", path="/b"),
                Copy(from_="/c", path="/d"),
                Test("/x", [1, 2]),
            ],
            [
                {"op": "add", "path": "/x", "value": [1, 2]},
                {"op": "remove", "path": "/y"},
                {"op": "replace", "path": "/z", "value": True},
                {"op": "move", "from": "/a", "path": "/b"},
                {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "test", "path": "/x", "value": [1, 2]},
            ],
        ),
        (
            [Remove("/a"), {"op": "remove", "path": "/b"}],  # mixed
            [{"op": "remove", "path": "/a"}, {"op": "remove", "path": "/b"}],
        ),
    ],
)
def test_valid_patches(operations: Operations, expected: list[dict[str, Any]]) -> None:
    assert validate_patch(operations) == expected


def test_generators_are_accepted() -> None:
    ops = validate_patch(Remove(f"/{name}") for name in ("a", "b"))
    assert ops == [{"op": "remove", "path": "/a"}, {"op": "remove", "path": "/b"}]


def test_typed_operations_encode_as_rfc6902() -> None:
    encoded = msgspec.json.encode([Move(from_="/a", path="/b"), Add("/c", 1)])
    assert encoded == b'[{"op":"move","from":"/a","path":"/b"},{"op":"add","path":"/c","value":1}]'


def test_result_is_a_new_list_of_new_dicts() -> None:
    original = {"op": "remove", "path": "/a"}
    (checked,) = validate_patch([original])
    assert checked == original
    assert checked is not original


@pytest.mark.parametrize(
    ("operations", "index", "message"),
    [
        ([], None, "at least one operation"),
        ("remove /a", None, "sequence of operations"),
        (b"[]", None, "sequence of operations"),
        ({"op": "remove", "path": "/a"}, None, "wrap a single operation in a list"),
        (Remove("/a"), None, "wrap a single operation in a list"),
        (42, None, "not a int"),
        ([{"op": "remove", "path": "/a"}, "remove /b"], 1, "operation 1 is a str"),
        ([{"path": "/a"}], 0, "no 'op'"),
        ([{"op": "delete", "path": "/a"}], 0, "unknown 'op'"),
        ([{"op": "Add", "path": "/a", "value": 1}], 0, "unknown 'op'"),
        ([{"op": 1, "path": "/a"}], 0, "unknown 'op'"),
        ([{"op": "remove"}], 0, "(remove) needs 'path'"),
        ([{"op": "add", "path": "/a"}], 0, "(add) needs 'value'"),
        ([{"op": "replace", "path": "/a"}], 0, "(replace) needs 'value'"),
        ([{"op": "test", "path": "/a"}], 0, "(test) needs 'value'"),
        ([{"op": "move", "path": "/a"}], 0, "(move) needs 'from'"),
        ([{"op": "copy", "from": "/a"}], 0, "(copy) needs 'path'"),
        ([{"op": "remove", "path": "/a", "value": 1}], 0, "unexpected 'value'"),
        ([{"op": "add", "path": "/a", "value": 1, "from": "/b"}], 0, "unexpected 'from'"),
        ([{"op": "add", "path": "/a", "valeu": 1, "value": 1}], 0, "unexpected 'valeu'"),
        ([{"op": "remove", "path": "a"}], 0, "'path' is not a JSON Pointer"),
        ([{"op": "remove", "path": "/a~2"}], 0, "'path' is not a JSON Pointer"),
        ([{"op": "remove", "path": "/a~"}], 0, "'path' is not a JSON Pointer"),
        ([{"op": "remove", "path": ["a"]}], 0, "'path' is not a JSON Pointer"),
        ([{"op": "remove", "path": None}], 0, "'path' is not a JSON Pointer"),
        ([{"op": "move", "from": "a", "path": "/b"}], 0, "'from' is not a JSON Pointer"),
        ([Copy(from_="/a", path="b")], 0, "'path' is not a JSON Pointer"),
        ([{"op": "move", "from": "/a", "path": "/a/b"}], 0, "inside itself"),
        ([Remove("/a"), Remove("/b"), Add("x", 1)], 2, "operation 2 (add)"),
    ],
)
def test_invalid_patches(operations: Any, index: int | None, message: str) -> None:
    with pytest.raises(InvalidPatchError) as caught:
        validate_patch(operations)
    assert message in str(caught.value)
    assert caught.value.index == index
    assert isinstance(caught.value, TavusError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "add", "path": "/layers/llm/api_key", "value": SECRET, SECRET[:8]: SECRET}],
        [{"op": SECRET, "path": "/a", "value": SECRET}],
        [{"op": "replace", "path": SECRET, "value": SECRET}],
        [{"op": "remove", "path": "/a", "value": SECRET}],
        [Add("/layers/llm/api_key", SECRET), SECRET],
        [{"op": "move", "from": SECRET, "path": "/a", "value": SECRET}],
    ],
)
def test_errors_never_quote_a_value(operations: list[Any]) -> None:
    with pytest.raises(InvalidPatchError) as caught:
        validate_patch(operations)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("", True),
        ("/", True),
        ("/a", True),
        ("/a/0/-", True),
        ("/a~0b~1c", True),
        ("//", True),
        ("/ä ö", True),
        ("a", False),
        ("/~", False),
        ("/~2", False),
        ("/a~/b", False),
        ("#/a", False),
        (None, False),
        (1, False),
    ],
)
def test_is_json_pointer(text: object, valid: bool) -> None:
    assert is_json_pointer(text) is valid

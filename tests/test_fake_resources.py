"""The fake's whole persona/PAL resource (list, create, patch, delete), through plain aiohttp."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from support import eventually

from tavus_async.testing import FakeTavus, Fault, serve

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "test-key"
AUTH = {"x-api-key": KEY}
NUM = 25
PAL_NAMES = {"pal_id", "pal_name", "default_face_id"}
PERSONA_NAMES = {"persona_id", "persona_name", "default_replica_id"}
INVALID_PATCH = {"message": "Invalid JSON patch format"}


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=NUM) as srv:
        yield srv


@pytest_asyncio.fixture
async def session(server: FakeTavus) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.base_url) as sess:
        yield sess


async def call(
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    *,
    body: object = None,
    raw: bytes | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send one request; the answer's status and its body (JSON decoded when it is JSON)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {**AUTH, "Content-Type": "application/json"} if headers is None else headers
    async with session.request(method, path, data=data, params=params, headers=sent) as resp:
        content = await resp.read()
        if resp.content_type == "application/json":
            return resp.status, json.loads(content)
        return resp.status, content


async def page_of(
    session: aiohttp.ClientSession, path: str = "/v2/personas", **params: str
) -> dict[str, Any]:
    status, payload = await call(session, "GET", path, params=params)
    assert status == 200, payload
    assert set(payload) == {"data", "total_count"}
    return dict(payload)


def small_persona(pid: str = "pabc00000001") -> dict[str, Any]:
    return {
        "persona_id": pid,
        "persona_name": "Old",
        "document_tags": ["a", "b"],
        "layers": {"llm": {"model": "m", "api_key": "sk-secret"}},
        "a/b": 1,
        "m~n": 2,
        "flag": True,
    }


def without_updated_at(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "updated_at"}


# ------------------------------------------------------------------------------ list


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, slice(0, 10)),  # the API's defaults: limit 10, page 1
        ({"limit": "10", "page": "1"}, slice(0, 10)),
        ({"limit": "7", "page": "2"}, slice(7, 14)),
        ({"limit": "10", "page": "3"}, slice(20, 25)),  # the short last page
        ({"limit": "10", "page": "4"}, slice(0, 0)),  # past the end: empty, same total
        ({"limit": "25"}, slice(0, 25)),
        ({"limit": "1000", "page": "1"}, slice(0, 25)),
    ],
)
async def test_list_pages_are_one_based_with_total_count(
    server: FakeTavus, session: aiohttp.ClientSession, params: dict[str, str], expected: slice
) -> None:
    payload = await page_of(session, **params)
    assert payload["total_count"] == NUM
    assert [p["persona_id"] for p in payload["data"]] == server.persona_ids[expected]
    assert payload["data"] == [server.persona_json(pid) for pid in server.persona_ids[expected]]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": "0"}, "Invalid limit"),
        ({"limit": "ten"}, "Invalid limit"),
        ({"limit": "-1"}, "Invalid limit"),
        ({"page": "0"}, "Invalid page"),
        ({"page": "1.5"}, "Invalid page"),
        ({"persona_type": "stock"}, "Invalid persona_type"),
        ({"persona_type": ""}, "Invalid persona_type"),
    ],
)
async def test_list_rejects_bad_parameters(
    session: aiohttp.ClientSession, params: dict[str, str], error: str
) -> None:
    assert await call(session, "GET", "/v2/personas", params=params) == (400, {"error": error})


async def test_list_filters_by_type_on_both_paths(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    stock = [f"p00000000a0{i}" for i in range(3)]
    for pid in stock:
        server.add_persona({"persona_id": pid, "persona_name": "Stock"}, persona_type="system")
    system = await page_of(session, persona_type="system")
    assert (system["total_count"], [p["persona_id"] for p in system["data"]]) == (3, stock)
    user = await page_of(session, persona_type="user", limit="100")
    assert user["total_count"] == NUM
    assert [p["persona_id"] for p in user["data"]] == server.persona_ids
    assert (await page_of(session, limit="100"))["total_count"] == NUM + 3
    # Two system personas a page: a full page, then a short one.
    first = await page_of(session, "/v2/pals", pal_type="system", limit="2")
    second = await page_of(session, "/v2/pals", pal_type="system", limit="2", page="2")
    assert [p["pal_id"] for p in first["data"] + second["data"]] == stock
    assert first["total_count"] == second["total_count"] == 3
    assert (await page_of(session, "/v2/pals", pal_type="system", page="2"))["data"] == []
    # Each path names its own filter.
    status, payload = await call(session, "GET", "/v2/pals", params={"pal_type": "stock"})
    assert (status, payload) == (400, {"error": "Invalid pal_type"})


async def test_pals_path_uses_pal_names(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    pid = server.persona_ids[0]
    persona = server.persona_json(pid)
    listed = (await page_of(session, "/v2/pals", limit="1"))["data"][0]
    status, fetched = await call(session, "GET", f"/v2/pals/{pid}")
    assert status == 200
    assert fetched == {"data": [listed]}
    assert set(listed) >= PAL_NAMES
    assert not PERSONA_NAMES & set(listed)
    assert listed["pal_id"] == pid
    assert listed["pal_name"] == persona["persona_name"]
    assert listed["default_face_id"] == persona["default_replica_id"]
    assert list(listed)[:2] == ["pal_id", "pal_name"]  # key order kept
    assert listed["layers"] == persona["layers"]


async def test_envelope_false_applies_to_get_one_only() -> None:
    async with (
        FakeTavus(api_key=KEY, num_personas=3, envelope=False) as srv,
        aiohttp.ClientSession(srv.base_url) as sess,
    ):
        pid = srv.persona_ids[1]
        status, bare = await call(sess, "GET", f"/v2/pals/{pid}")
        listed = await page_of(sess, "/v2/pals")
    assert status == 200
    assert bare["pal_id"] == pid
    assert bare == listed["data"][1]
    assert listed["total_count"] == 3


# ---------------------------------------------------------------------------- create


async def test_create_persona(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    fields = {
        "persona_name": "Created",
        "system_prompt": "Be brief.",
        "default_replica_id": "r0123456789a",
        "layers": {"llm": {"model": "tavus-llama-4"}},
        "persona_id": "pignored0000",  # the server picks the id
    }
    status, answer = await call(session, "POST", "/v2/personas", body=fields)
    assert status == 200
    assert set(answer) == {"persona_id", "persona_name", "created_at"}
    pid = answer["persona_id"]
    assert pid != "pignored0000"
    assert answer["persona_name"] == "Created"
    stored = server.persona_json(pid)
    assert stored == {
        "persona_id": pid,
        "persona_name": "Created",
        "system_prompt": "Be brief.",
        "default_replica_id": "r0123456789a",
        "layers": {"llm": {"model": "tavus-llama-4"}},
        "created_at": answer["created_at"],
        "updated_at": answer["created_at"],
    }
    assert await call(session, "GET", f"/v2/personas/{pid}") == (200, {"data": [stored]})
    last = await page_of(session, page=str(NUM // 10 + 1))
    assert last["total_count"] == NUM + 1
    assert last["data"][-1] == stored
    assert (await page_of(session, persona_type="user"))["total_count"] == NUM + 1
    # A second create gets another id.
    _, again = await call(session, "POST", "/v2/personas", body={"persona_name": "Again"})
    assert again["persona_id"] not in (pid, *server.persona_ids)


async def test_create_pal_requires_default_face_id(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    missing = await call(session, "POST", "/v2/pals", body={"pal_name": "No face"})
    assert missing == (400, {"error": "default_face_id is required"})
    persona_names = {"pal_name": "X", "default_face_id": "r1", "persona_name": "Y"}
    assert (await call(session, "POST", "/v2/pals", body=persona_names))[0] == 400
    assert (await page_of(session))["total_count"] == NUM  # nothing created

    body = {"pal_name": "Pal", "default_face_id": "r0123456789a", "system_prompt": "Hi."}
    status, answer = await call(session, "POST", "/v2/pals", body=body)
    assert status == 200
    assert set(answer) == {"pal_id", "pal_name", "created_at"}
    assert answer["pal_name"] == "Pal"
    stored = server.persona_json(answer["pal_id"])  # one store, persona names
    assert stored["persona_name"] == "Pal"
    assert stored["default_replica_id"] == "r0123456789a"
    _, fetched = await call(session, "GET", f"/v2/pals/{answer['pal_id']}")
    assert fetched["data"][0]["default_face_id"] == "r0123456789a"


@pytest.mark.parametrize("raw", [b"", b"[1, 2]", b"not json", b'"text"'])
async def test_create_needs_a_json_object(
    server: FakeTavus, session: aiohttp.ClientSession, raw: bytes
) -> None:
    status, payload = await call(session, "POST", "/v2/personas", raw=raw)
    assert (status, payload) == (400, {"error": "The request body must be a JSON object"})
    assert (await page_of(session))["total_count"] == NUM


# ----------------------------------------------------------------------------- patch


PATCH_CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("add a key", [{"op": "add", "path": "/context", "value": "c"}], {"context": "c"}),
    (
        "add replaces a key",
        [{"op": "add", "path": "/persona_name", "value": "New"}],
        {"persona_name": "New"},
    ),
    (
        "add inserts at an index",
        [{"op": "add", "path": "/document_tags/1", "value": "x"}],
        {"document_tags": ["a", "x", "b"]},
    ),
    (
        "add appends with -",
        [{"op": "add", "path": "/document_tags/-", "value": "z"}],
        {"document_tags": ["a", "b", "z"]},
    ),
    (
        "add at the end index",
        [{"op": "add", "path": "/document_tags/2", "value": "z"}],
        {"document_tags": ["a", "b", "z"]},
    ),
    (
        "add a nested object",
        [{"op": "add", "path": "/layers/tts", "value": {"tts_engine": "cartesia"}}],
        {
            "layers": {
                "llm": {"model": "m", "api_key": "sk-secret"},
                "tts": {"tts_engine": "cartesia"},
            }
        },
    ),
    ("remove a key", [{"op": "remove", "path": "/flag"}], {"flag": None}),
    (
        "remove an element",
        [{"op": "remove", "path": "/document_tags/0"}],
        {"document_tags": ["b"]},
    ),
    (
        "replace a nested value",
        [{"op": "replace", "path": "/layers/llm/model", "value": "n"}],
        {"layers": {"llm": {"model": "n", "api_key": "sk-secret"}}},
    ),
    (
        "replace an element",
        [{"op": "replace", "path": "/document_tags/1", "value": "B"}],
        {"document_tags": ["a", "B"]},
    ),
    ("replace true by 1", [{"op": "replace", "path": "/flag", "value": 1}], {"flag": 1}),
    (
        "move a key",
        [{"op": "move", "from": "/persona_name", "path": "/context"}],
        {"persona_name": None, "context": "Old"},
    ),
    (
        "move within an array",
        [{"op": "move", "from": "/document_tags/0", "path": "/document_tags/-"}],
        {"document_tags": ["b", "a"]},
    ),
    (
        "copy",
        [{"op": "copy", "from": "/layers/llm", "path": "/layers/backup"}],
        {
            "layers": {
                "llm": {"model": "m", "api_key": "sk-secret"},
                "backup": {"model": "m", "api_key": "sk-secret"},
            }
        },
    ),
    (
        "test then replace",
        [
            {"op": "test", "path": "/persona_name", "value": "Old"},
            {"op": "replace", "path": "/persona_name", "value": "New"},
        ],
        {"persona_name": "New"},
    ),
    ("escaped slash ~1", [{"op": "replace", "path": "/a~1b", "value": 9}], {"a/b": 9}),
    ("escaped tilde ~0", [{"op": "remove", "path": "/m~0n"}], {"m~n": None}),
    (
        "ops see earlier ops",
        [
            {"op": "add", "path": "/document_tags/-", "value": "c"},
            {"op": "remove", "path": "/document_tags/0"},
            {"op": "test", "path": "/document_tags", "value": ["b", "c"]},
        ],
        {"document_tags": ["b", "c"]},
    ),
    (
        "unknown members are ignored (RFC 6902)",
        [{"op": "remove", "path": "/flag", "value": "ignored", "note": "x"}],
        {"flag": None},
    ),
]


@pytest.mark.parametrize(
    ("operations", "changes"),
    [pytest.param(ops, changes, id=name) for name, ops, changes in PATCH_CASES],
)
async def test_patch_applies_rfc6902(
    server: FakeTavus,
    session: aiohttp.ClientSession,
    operations: list[dict[str, Any]],
    changes: dict[str, Any],
) -> None:
    pid = server.add_persona(small_persona())
    expected = small_persona()
    for key, value in changes.items():
        if value is None:
            del expected[key]
        else:
            expected[key] = value
    status, body = await call(session, "PATCH", f"/v2/personas/{pid}", body=operations)
    assert (status, body) == (200, b"OK")
    patched = server.persona_json(pid)
    assert without_updated_at(patched) == expected
    assert "updated_at" in patched
    _, fetched = await call(session, "GET", f"/v2/personas/{pid}")
    assert fetched == {"data": [patched]}  # the cached GET body was refreshed


@pytest.mark.parametrize(
    "operations",
    [
        pytest.param([], id="empty patch"),
        pytest.param([{"op": "replace", "path": "/persona_name", "value": "Old"}], id="same value"),
        pytest.param([{"op": "test", "path": "/flag", "value": True}], id="test only"),
        pytest.param(
            [
                {"op": "add", "path": "/context", "value": "c"},
                {"op": "remove", "path": "/context"},
            ],
            id="undone",
        ),
    ],
)
async def test_patch_that_changes_nothing_is_304(
    server: FakeTavus, session: aiohttp.ClientSession, operations: list[dict[str, Any]]
) -> None:
    pid = server.add_persona(small_persona())
    assert await call(session, "PATCH", f"/v2/personas/{pid}", body=operations) == (304, b"")
    assert server.persona_json(pid) == small_persona()  # updated_at not even set


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"not json", id="not JSON"),
        pytest.param(b"", id="no body"),
        pytest.param(b'{"op": "remove", "path": "/flag"}', id="object, not array"),
        pytest.param(b'["remove /flag"]', id="op not an object"),
        pytest.param(b'[{"op": "delete", "path": "/flag"}]', id="unknown op"),
        pytest.param(b'[{"path": "/flag"}]', id="no op"),
        pytest.param(b'[{"op": "remove"}]', id="no path"),
        pytest.param(b'[{"op": "remove", "path": "flag"}]', id="path without slash"),
        pytest.param(b'[{"op": "remove", "path": 3}]', id="path not a string"),
        pytest.param(b'[{"op": "remove", "path": "/m~2n"}]', id="bad escape"),
        pytest.param(b'[{"op": "add", "path": "/x"}]', id="add without value"),
        pytest.param(b'[{"op": "test", "path": "/flag"}]', id="test without value"),
        pytest.param(b'[{"op": "copy", "path": "/x"}]', id="copy without from"),
        pytest.param(b'[{"op": "move", "from": "x", "path": "/y"}]', id="from not a pointer"),
        pytest.param(b'[{"op": "remove", "path": "/missing"}]', id="remove a missing key"),
        pytest.param(b'[{"op": "replace", "path": "/missing", "value": 1}]', id="replace missing"),
        pytest.param(b'[{"op": "add", "path": "/no/such", "value": 1}]', id="add, no parent"),
        pytest.param(b'[{"op": "add", "path": "/document_tags/3", "value": 1}]', id="index > size"),
        pytest.param(b'[{"op": "add", "path": "/document_tags/01", "value": 1}]', id="leading 0"),
        pytest.param(b'[{"op": "remove", "path": "/document_tags/-"}]', id="remove -"),
        pytest.param(b'[{"op": "replace", "path": "/document_tags/2", "value": 1}]', id="replace"),
        pytest.param(b'[{"op": "add", "path": "/flag/x", "value": 1}]', id="add into a scalar"),
        pytest.param(b'[{"op": "test", "path": "/flag", "value": 1}]', id="true is not 1"),
        pytest.param(b'[{"op": "test", "path": "/persona_name", "value": "x"}]', id="test fails"),
        pytest.param(b'[{"op": "move", "from": "/layers", "path": "/layers/x"}]', id="into self"),
        pytest.param(b'[{"op": "copy", "from": "/missing", "path": "/x"}]', id="copy missing"),
        pytest.param(b'[{"op": "remove", "path": ""}]', id="remove the document"),
        pytest.param(b'[{"op": "replace", "path": "", "value": []}]', id="document not object"),
        pytest.param(
            b'[{"op": "replace", "path": "/persona_id", "value": "pother000000"}]', id="change id"
        ),
        pytest.param(b'[{"op": "remove", "path": "/persona_id"}]', id="remove id"),
        pytest.param(
            b'[{"op": "add", "path": "/x", "value": 1}, {"op": "remove", "path": "/missing"}]',
            id="all or nothing",
        ),
    ],
)
async def test_bad_patch_is_422_and_changes_nothing(
    server: FakeTavus, session: aiohttp.ClientSession, raw: bytes
) -> None:
    pid = server.add_persona(small_persona())
    assert await call(session, "PATCH", f"/v2/personas/{pid}", raw=raw) == (422, INVALID_PATCH)
    assert server.persona_json(pid) == small_persona()


async def test_patch_replacing_the_id_with_itself_is_allowed(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.add_persona(small_persona())
    ops = [{"op": "replace", "path": "/persona_id", "value": pid}]
    assert (await call(session, "PATCH", f"/v2/personas/{pid}", body=ops))[0] == 304


async def test_patch_on_pals_uses_pal_names(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[4]
    path = f"/v2/pals/{pid}"
    ops = [
        {"op": "replace", "path": "/pal_name", "value": "Renamed"},
        {"op": "replace", "path": "/default_face_id", "value": "rface0000001"},
    ]
    assert await call(session, "PATCH", path, body=ops) == (200, b"OK")
    stored = server.persona_json(pid)
    assert (stored["persona_name"], stored["default_replica_id"]) == ("Renamed", "rface0000001")
    persona_names = [
        [{"op": "replace", "path": "/persona_name", "value": "x"}],  # not there on this path
        [{"op": "add", "path": "/persona_name", "value": "x"}],  # would be a second name
        [{"op": "replace", "path": "/pal_id", "value": "pother000000"}],
        [{"op": "move", "from": "/pal_id", "path": "/persona_id"}],
    ]
    for bad in persona_names:
        assert await call(session, "PATCH", path, body=bad) == (422, INVALID_PATCH), bad
    assert server.persona_json(pid) == stored


async def test_pal_with_a_draft_is_409_unless_forced(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[2]
    rename = [{"op": "replace", "path": "/pal_name", "value": "Forced"}]
    server.set_draft(pid)
    status, payload = await call(session, "PATCH", f"/v2/pals/{pid}", body=rename)
    assert status == 409
    assert payload["conflict"] == "maker_changes"
    assert "force=true" in payload["message"]
    assert server.persona_json(pid)["persona_name"] != "Forced"
    forced = await call(session, "PATCH", f"/v2/pals/{pid}", body=rename, params={"force": "true"})
    assert forced == (200, b"OK")
    assert server.persona_json(pid)["persona_name"] == "Forced"
    # Forcing discarded the draft: the next patch needs no force.
    again = [{"op": "replace", "path": "/pal_name", "value": "Again"}]
    assert (await call(session, "PATCH", f"/v2/pals/{pid}", body=again))[0] == 200
    # A draft only guards /v2/pals; clearing it lifts the guard.
    server.set_draft(pid)
    legacy = [{"op": "replace", "path": "/persona_name", "value": "Legacy"}]
    assert (await call(session, "PATCH", f"/v2/personas/{pid}", body=legacy))[0] == 200
    server.set_draft(pid, pending=False)
    assert (await call(session, "PATCH", f"/v2/pals/{pid}", body=again))[0] == 200
    with pytest.raises(KeyError):
        server.set_draft("pnotthere000")


# ---------------------------------------------------------------------------- delete


async def test_delete_is_204_and_the_persona_is_gone_on_both_paths(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[0]
    assert await call(session, "DELETE", f"/v2/pals/{pid}") == (204, b"")
    assert not server.has_persona(pid)
    with pytest.raises(KeyError):
        server.persona_json(pid)
    invalid = (400, {"error": "Invalid persona_id"})
    assert await call(session, "GET", f"/v2/personas/{pid}") == invalid
    assert await call(session, "DELETE", f"/v2/personas/{pid}") == invalid
    ops = [{"op": "add", "path": "/x", "value": 1}]
    assert await call(session, "PATCH", f"/v2/personas/{pid}", body=ops) == invalid
    listed = await page_of(session, limit="100")
    assert listed["total_count"] == NUM - 1
    assert pid not in [p["persona_id"] for p in listed["data"]]
    assert server.persona_ids[0] == pid  # the generated ids stay as generated
    # A created persona can be deleted too.
    _, created = await call(session, "POST", "/v2/personas", body={"persona_name": "Short-lived"})
    assert (await call(session, "DELETE", f"/v2/personas/{created['persona_id']}"))[0] == 204
    assert (await page_of(session))["total_count"] == NUM - 1


# ------------------------------------------------------------------ ids, keys, methods


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("prefix", "error"), [("/v2/personas", "Invalid persona_id"), ("/v2/pals", "Invalid pal_id")]
)
@pytest.mark.parametrize("bad_id", ["p00000000000", "not-an-id", "%20", "PCB7A34DA5FE"])
async def test_unknown_or_malformed_id_is_400(
    session: aiohttp.ClientSession, method: str, prefix: str, error: str, bad_id: str
) -> None:
    ops = [{"op": "add", "path": "/x", "value": 1}]
    answer = await call(session, method, f"{prefix}/{bad_id}", body=ops)
    assert answer == (400, {"error": error})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/personas"),
        ("GET", "/v2/pals/{pid}"),
        ("POST", "/v2/personas"),
        ("POST", "/v2/pals"),
        ("PATCH", "/v2/personas/{pid}"),
        ("DELETE", "/v2/pals/{pid}"),
        ("DELETE", "/v2/personas/pnotthere000"),  # the key is checked first
    ],
)
@pytest.mark.parametrize("headers", [{"x-api-key": "wrong"}, {}])
async def test_wrong_key_is_401_and_changes_nothing(
    server: FakeTavus,
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    headers: dict[str, str],
) -> None:
    pid = server.persona_ids[0]
    before = server.persona_json(pid)
    body = (
        [{"op": "add", "path": "/x", "value": 1}] if method == "PATCH" else {"default_face_id": "r"}
    )
    status, payload = await call(
        session, method, path.format(pid=pid), raw=json.dumps(body).encode(), headers=headers
    )
    assert (status, payload) == (401, {"message": "Invalid access token"})
    assert server.persona_json(pid) == before
    assert (await page_of(session))["total_count"] == NUM


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v2/personas/{pid}", "GET, HEAD, PATCH, DELETE"),
        ("POST", "/v2/pals/{pid}", "GET, HEAD, PATCH, DELETE"),
        ("DELETE", "/v2/personas", "GET, HEAD, POST"),
        ("PATCH", "/v2/pals", "GET, HEAD, POST"),
    ],
)
async def test_other_methods_are_405(
    server: FakeTavus, session: aiohttp.ClientSession, method: str, path: str, allow: str
) -> None:
    async with session.request(method, path.format(pid=server.persona_ids[0]), headers=AUTH) as r:
        assert (r.status, r.headers["Allow"]) == (405, allow)
        assert await r.json() == {"message": "Method Not Allowed"}


# ---------------------------------------------------------------------------- faults


async def test_faults_scoped_by_method(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    pid = server.persona_ids[0]
    ops = [{"op": "replace", "path": "/persona_name", "value": "Patched"}]
    server.enqueue(Fault.http(503), method="patch")
    assert (await call(session, "GET", f"/v2/personas/{pid}"))[0] == 200
    assert (await call(session, "POST", "/v2/personas", body={}))[0] == 200
    assert (await call(session, "PATCH", f"/v2/personas/{pid}", body=ops))[0] == 503
    assert server.persona_json(pid)["persona_name"] != "Patched"  # the fault replaced the write
    assert server.pending_faults == 0
    assert (await call(session, "PATCH", f"/v2/personas/{pid}", body=ops))[0] == 200


async def test_faults_scoped_by_path_glob(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.http(500), Fault.http(502), path="/v2/pals/*")
    assert (await call(session, "GET", f"/v2/personas/{pid}"))[0] == 200
    assert (await call(session, "GET", "/v2/pals"))[0] == 200  # the collection is not /v2/pals/*
    assert (await call(session, "GET", f"/v2/pals/{pid}"))[0] == 500
    assert (await call(session, "DELETE", f"/v2/pals/{pid}"))[0] == 502
    assert server.has_persona(pid)
    assert (await call(session, "DELETE", f"/v2/pals/{pid}"))[0] == 204


async def test_faults_scoped_by_id_and_method(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    a, b = server.persona_ids[0], server.persona_ids[1]
    server.enqueue(Fault.http(504))  # unscoped: used after every scoped fault that matches
    server.enqueue(Fault.http(503), persona_id=a, method="DELETE")
    assert (await call(session, "GET", f"/v2/pals/{a}"))[0] == 504  # no scoped fault matches
    assert (await call(session, "GET", f"/v2/pals/{a}"))[0] == 200
    assert (await call(session, "DELETE", f"/v2/personas/{b}"))[0] == 204
    assert (await call(session, "DELETE", f"/v2/pals/{a}"))[0] == 503
    assert (await call(session, "DELETE", f"/v2/pals/{a}"))[0] == 204
    assert server.pending_faults == 0
    statuses = [
        (r.method, r.persona_id, r.fault.status if r.fault else None) for r in server.requests
    ]
    assert statuses == [
        ("GET", a, 504),
        ("GET", a, None),
        ("DELETE", b, None),
        ("DELETE", a, 503),
        ("DELETE", a, None),
    ]


async def test_scoped_faults_are_used_first_in_order(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.http(500))
    server.enqueue(Fault.http(501), Fault.http(502), method="GET", path="/v2/personas")
    server.enqueue(Fault.http(503), persona_id=pid)
    statuses = [
        (await call(session, "GET", "/v2/personas"))[0],
        (await call(session, "GET", f"/v2/personas/{pid}"))[0],
        (await call(session, "GET", f"/v2/personas/{pid}"))[0],
        (await call(session, "GET", "/v2/personas"))[0],
        (await call(session, "GET", "/v2/personas"))[0],
    ]
    assert statuses == [501, 503, 500, 502, 200]


async def test_a_fault_can_script_a_list_page(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    # E.g. a server that ignores `page`: the same page twice.
    first = (await page_of(session, limit="2"))["data"]
    same = Fault.http(200, {"data": first, "total_count": NUM})
    server.enqueue(same, same, method="GET", path="/v2/personas")
    assert (await page_of(session, limit="2", page="2"))["data"] == first
    assert (await page_of(session, limit="2", page="3"))["data"] == first
    assert (await page_of(session, limit="2", page="2"))["data"] != first


async def test_lose_response_applies_the_write(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    server.enqueue(Fault.lose_response(), method="POST")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(session, "POST", "/v2/personas", body={"persona_name": "Lost answer"})
    listed = await page_of(session, limit="100")
    assert listed["total_count"] == NUM + 1
    assert listed["data"][-1]["persona_name"] == "Lost answer"
    # aiohttp resends an idempotent DELETE once after a disconnect: the resend finds the
    # persona already deleted, as a retried DELETE against the real API can.
    pid = server.persona_ids[3]
    server.enqueue(Fault.lose_response(), persona_id=pid)
    assert await call(session, "DELETE", f"/v2/personas/{pid}") == (
        400,
        {"error": "Invalid persona_id"},
    )
    assert not server.has_persona(pid)
    assert [r.method for r in server.requests[-2:]] == ["DELETE", "DELETE"]


async def test_stall_on_a_write_applies_nothing(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.stall(), method="DELETE")
    stalled = asyncio.create_task(call(session, "DELETE", f"/v2/personas/{pid}"))
    assert await eventually(lambda: server.in_flight == 1)
    stalled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stalled
    assert await eventually(lambda: server.in_flight == 0)
    assert server.has_persona(pid)


# ------------------------------------------------------------------ recording, serve()


async def test_requests_record_query_and_body(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    await call(session, "GET", "/v2/pals", params={"limit": "5", "pal_type": "user"})
    await call(session, "POST", "/v2/personas", body={"persona_name": "Recorded"})
    listing, creation = server.requests
    assert (listing.method, listing.path, listing.query) == (
        "GET",
        "/v2/pals",
        {"limit": "5", "pal_type": "user"},
    )
    assert listing.body == b""
    assert (creation.method, creation.persona_id) == ("POST", None)
    assert json.loads(creation.body) == {"persona_name": "Recorded"}
    assert creation.headers["content-type"] == "application/json"


async def test_serve_has_the_ids_the_docs_use() -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[str] = loop.create_future()
    task = asyncio.create_task(serve("127.0.0.1", 0, KEY, 3, ready=ready.set_result))
    try:
        base_url = await asyncio.wait_for(ready, 5)
        async with aiohttp.ClientSession(base_url) as sess:
            status, spec_example = await call(sess, "GET", "/v2/personas/pcb7a34da5fe")
            assert status == 200
            assert spec_example["data"][0]["persona_name"] == "Life Coach"
            status, stock = await call(sess, "GET", "/v2/pals/p48fdf065d6b")
            assert (status, stock["data"][0]["pal_id"]) == (200, "p48fdf065d6b")
            system = await page_of(sess, persona_type="system")
            ids = [p["persona_id"] for p in system["data"]]
            assert "p48fdf065d6b" in ids
            assert "pcb7a34da5fe" not in ids
            assert (await page_of(sess, limit="100"))["total_count"] == 3 + 5
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

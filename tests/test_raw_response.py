"""`client.personas.with_raw_response` / `client.pals.with_raw_response`: the HTTP answer
behind each single-request method, and `APIStatusError.request_id`, against FakeTavus."""

from __future__ import annotations

import inspect
import json
import traceback
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from multidict import CIMultiDictProxy

from tavus_async import (
    AsyncTavus,
    ConflictError,
    DecodeError,
    InvalidIdError,
    InvalidPersonaIdError,
    NotFoundError,
    Page,
    Pal,
    Pals,
    PalsWithRawResponse,
    Persona,
    Personas,
    PersonasWithRawResponse,
    RawResponse,
    RetryPolicy,
    patch,
)
from tavus_async.errors import APIStatusError, request_id_of
from tavus_async.testing import FakeTavus, Fault

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "sk-raw-response-test-key"
LLM_KEY = "sk-llm-credential-DISTINCT-7Qp"
HEADER_SECRET = "team-token-DISTINCT-4Wz"
INSTANT = RetryPolicy(initial_backoff=0.0, max_backoff=0.0, jitter=False)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=20) as fake:
        yield fake


def client_for(server: FakeTavus, **kwargs: Any) -> AsyncTavus:
    return AsyncTavus(api_key=KEY, base_url=server.base_url, retry=INSTANT, **kwargs)


# ---------------------------------------------------------------------- request ids


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"x-request-id": "req_1"}, "req_1"),
        ({"X-Request-ID": " req_2 "}, "req_2"),
        ({"request-id": "req_3"}, "req_3"),
        ({"request-id": "req_4", "x-request-id": "req_5"}, "req_5"),
        ({"x-request-id": "  ", "request-id": "req_6"}, "req_6"),
        ({"x-request-id": ""}, None),
        ({"x-correlation-id": "req_7"}, None),
    ],
)
def test_request_id_of(headers: Mapping[str, str], expected: str | None) -> None:
    assert request_id_of(headers) == expected
    assert APIStatusError("x", status_code=500, headers=headers).request_id == expected


async def test_a_status_error_carries_the_request_id(server: FakeTavus) -> None:
    server.enqueue(Fault.http(503, headers={"x-request-id": "req_err"}), Fault.http(404))
    async with client_for(server, max_retries=0) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.personas.get(server.persona_ids[0])
        assert caught.value.request_id == "req_err"
        with pytest.raises(NotFoundError) as missing:
            await client.personas.with_raw_response.get(server.persona_ids[0])
    assert missing.value.request_id is None


# ------------------------------------------------------------------------- get


async def test_raw_get_shows_the_answer_and_parses_to_the_persona(server: FakeTavus) -> None:
    pid = server.persona_ids[1]
    server.enqueue(Fault(headers={"x-request-id": "req_get"}))
    async with client_for(server) as client:
        raw: RawResponse[Persona] = await client.personas.with_raw_response.get(pid)
        plain = await client.personas.get(pid)
    assert raw.status_code == 200
    assert raw.headers["Content-Type"].startswith("application/json")
    assert raw.request_id == "req_get"
    assert raw.attempts == 1
    assert raw.elapsed > 0
    persona: Persona = raw.parse()
    assert persona == plain
    assert raw.parse() is persona  # decoded once


async def test_raw_headers_mask_the_key_and_default_header_values(server: FakeTavus) -> None:
    """A server echoing the key (plainly or JSON-escaped) or a `default_headers` value in a
    header: masked as in an error's headers; every other header is as the server sent it."""
    escaped = "\\u0073" + KEY[1:]  # the key's "s" as a JSON escape
    echoes = {
        "x-echo": KEY,
        "x-echo-escaped": f'{{"key": "{escaped}"}}',
        "x-token-echo": f"token={HEADER_SECRET}",
        "x-request-id": "req_echo",
    }
    pid = server.persona_ids[1]
    server.enqueue(Fault(headers=echoes))
    async with client_for(server, default_headers={"X-Token": HEADER_SECRET}) as client:
        raw = await client.personas.with_raw_response.get(pid)
    values = list(dict(raw.headers).values())
    for text in (repr(raw.headers), *values, raw.headers["x-echo"]):
        assert KEY not in text and HEADER_SECRET not in text
    assert "\\u0073" not in repr(raw.headers)
    assert raw.headers["X-Echo"] == "***"
    assert raw.headers["x-echo-escaped"] == '{"key": "***"}'
    assert raw.headers["x-token-echo"] == "token=***"
    assert raw.headers["x-request-id"] == raw.request_id == "req_echo"
    assert raw.headers["Content-Type"].startswith("application/json")
    assert isinstance(raw.headers, CIMultiDictProxy)
    assert raw.parse().persona_id == pid


async def test_raw_headers_mask_the_credentials_a_write_sent(server: FakeTavus) -> None:
    """A create's or a patch's `layers.*.api_key` and `layers.llm.headers` values echoed in
    a header are masked, as in an error's headers."""
    llm_header = "Bearer llm-header-DISTINCT-2Rk"
    layers = {"llm": {"model": "m", "api_key": LLM_KEY, "headers": {"X-Auth": llm_header}}}
    echo = {"x-echo": f"{LLM_KEY} {llm_header}"}
    server.enqueue(Fault(headers=echo), Fault(headers=echo))
    async with client_for(server) as client:
        created = await client.personas.with_raw_response.create(
            persona_name="A", default_replica_id="r1", layers=layers
        )
        patched = await client.personas.with_raw_response.patch(
            created.parse().persona_id,
            [
                patch.Replace("/layers/llm/api_key", LLM_KEY),
                patch.Add("/layers/llm/headers", {"X-Auth": llm_header}),
            ],
        )
    for raw in (created, patched):
        assert raw.headers["x-echo"] == "*** ***"
        assert LLM_KEY not in repr(raw.headers) and llm_header not in repr(raw.headers)


async def test_raw_get_counts_the_attempts_of_its_retries(server: FakeTavus) -> None:
    server.enqueue(Fault.http(503), Fault.http(429))
    async with client_for(server) as client:
        raw = await client.pals.with_raw_response.get(server.persona_ids[2])
    assert (raw.status_code, raw.attempts) == (200, 3)
    assert raw.parse().pal_id == server.persona_ids[2]


async def test_raw_get_is_always_sent_and_never_cached(server: FakeTavus) -> None:
    pid = server.persona_ids[3]
    async with client_for(server, cache_ttl=60) as client:
        await client.personas.get(pid)
        await client.personas.get(pid)
        assert server.request_count == 1  # the second from the cache
        first = await client.personas.with_raw_response.get(pid)
        second = await client.personas.with_raw_response.get(pid)
        assert server.request_count == 3
        assert first.parse() == second.parse()
        await client.personas.get(pid)
        assert server.request_count == 3  # still the plain get's cached copy


async def test_a_body_that_does_not_decode_raises_from_parse(server: FakeTavus) -> None:
    pid = server.persona_ids[4]
    persona = {"persona_id": pid, "layers": {"llm": {"api_key": LLM_KEY}}}
    secret_body = json.dumps(persona)[:-1].encode() + b', "x": [}'  # cut short: not JSON
    server.enqueue(Fault.http(200, body=secret_body))
    del persona, secret_body  # this frame's locals are rendered below too
    async with client_for(server) as client:
        raw = await client.personas.with_raw_response.get(pid)
    assert raw.status_code == 200
    with pytest.raises(DecodeError) as caught:
        raw.parse()
    assert caught.value.attempts == 1
    depth = len(traceback.extract_tb(caught.value.__traceback__))
    with pytest.raises(DecodeError) as again:
        raw.parse()
    assert again.value is caught.value
    assert len(traceback.extract_tb(again.value.__traceback__)) == depth  # not growing
    rendered = traceback.TracebackException.from_exception(caught.value, capture_locals=True)
    assert LLM_KEY not in "".join(rendered.format())
    assert LLM_KEY not in repr(raw)


async def test_an_answer_about_another_persona_is_still_retried(server: FakeTavus) -> None:
    pid, other = server.persona_ids[5], server.persona_ids[6]
    server.enqueue(Fault.http(200, body=server.persona_json(other)), persona_id=pid)
    async with client_for(server) as client:
        raw = await client.personas.with_raw_response.get(pid)
    assert raw.attempts == 2
    assert raw.parse().persona_id == pid


async def test_raw_methods_check_arguments_before_any_io(server: FakeTavus) -> None:
    async with client_for(server) as client:
        with pytest.raises(InvalidPersonaIdError):
            await client.personas.with_raw_response.get("../secrets")
        with pytest.raises(InvalidPersonaIdError):
            await client.pals.with_raw_response.delete("a/b")
        with pytest.raises(ValueError, match="limit"):
            await client.pals.with_raw_response.list_page(limit=0)
        with pytest.raises(ValueError, match="default_face_id"):
            await client.pals.with_raw_response.create(default_face_id="")
        with pytest.raises(TypeError, match="force"):
            await client.pals.with_raw_response.patch(server.persona_ids[0], [], force=1)  # type: ignore[arg-type]
    assert server.request_count == 0


# ------------------------------------------------------------------- the others


async def test_raw_list_page(server: FakeTavus) -> None:
    async with client_for(server) as client:
        raw: RawResponse[Page[Persona]] = await client.personas.with_raw_response.list_page(
            page=2, limit=5
        )
        pals: RawResponse[Page[Pal]] = await client.pals.with_raw_response.list_page(limit=3)
    assert raw.status_code == 200
    page = raw.parse()
    assert [p.persona_id for p in page.data] == server.persona_ids[5:10]
    assert page.total_count == 20
    assert len(pals.parse().data) == 3


async def test_raw_create_sends_what_the_plain_create_sends(server: FakeTavus) -> None:
    fields: dict[str, Any] = {
        "system_prompt": "Be brief.",
        "pipeline_mode": "full",
        "context": "ctx",
        "document_ids": ["d1"],
        "document_tags": ["t1"],
        "objectives_id": "o1",
        "guardrails_id": "g1",
        "layers": {"llm": {"model": "m", "api_key": LLM_KEY}},
        "extra_body": {"new_field": 1},
    }
    async with client_for(server) as client:
        await client.personas.create(persona_name="A", default_replica_id="r1", **fields)
        raw = await client.personas.with_raw_response.create(
            persona_name="A", default_replica_id="r1", **fields
        )
        await client.pals.create(pal_name="A", default_face_id="r1", **fields)
        raw_pal = await client.pals.with_raw_response.create(
            pal_name="A", default_face_id="r1", **fields
        )
    bodies = [json.loads(r.body) for r in server.requests if r.method == "POST"]
    assert bodies[0] == bodies[1]
    assert bodies[2] == bodies[3]
    assert raw.status_code == 200
    created: Persona = raw.parse()
    assert server.has_persona(created.persona_id)
    assert raw_pal.parse().pal_name == "A"
    assert LLM_KEY not in repr(raw)


async def test_raw_patch_parses_to_whether_it_applied(server: FakeTavus) -> None:
    pid = server.persona_ids[7]
    rename = [patch.Replace("/persona_name", "Renamed")]
    async with client_for(server, cache_ttl=60) as client:
        await client.personas.get(pid)
        applied: RawResponse[bool] = await client.personas.with_raw_response.patch(pid, rename)
        unchanged = await client.personas.with_raw_response.patch(pid, rename)
        assert (await client.personas.get(pid)).persona_name == "Renamed"  # invalidated
    assert (applied.status_code, applied.parse()) == (200, True)
    assert (unchanged.status_code, unchanged.parse()) == (304, False)


async def test_raw_pal_patch_forces_and_keeps_the_conflict_hint(server: FakeTavus) -> None:
    pid = server.persona_ids[8]
    server.set_draft(pid)
    rename = [patch.Replace("/pal_name", "Forced")]
    async with client_for(server) as client:
        with pytest.raises(ConflictError, match="force=True"):
            await client.pals.with_raw_response.patch(pid, rename)
        raw = await client.pals.with_raw_response.patch(pid, rename, force=True)
    assert raw.parse() is True
    assert server.requests[-1].query == {"force": "true"}


async def test_raw_delete(server: FakeTavus) -> None:
    pid = server.persona_ids[9]
    async with client_for(server) as client:
        raw: RawResponse[None] = await client.personas.with_raw_response.delete(pid)
        assert (raw.status_code, raw.attempts) == (204, 1)
        assert raw.parse() is None
        with pytest.raises(InvalidIdError):  # Tavus's answer for an unknown id
            await client.personas.with_raw_response.delete(pid)


async def test_a_retried_raw_delete_that_finds_nothing_shows_that_answer(
    server: FakeTavus,
) -> None:
    pid = server.persona_ids[10]
    server.enqueue(Fault.lose_response(), method="DELETE")
    async with client_for(server) as client:
        raw = await client.pals.with_raw_response.delete(pid)
    assert not server.has_persona(pid)
    assert (raw.status_code, raw.attempts) == (400, 2)  # attempt 1 deleted it
    assert raw.parse() is None
    assert raw.elapsed > 0


# ---------------------------------------------------------------------- the shape


def test_repr_shows_no_body_or_header_but_the_request_id() -> None:
    from multidict import CIMultiDict

    headers = CIMultiDictProxy(CIMultiDict({"x-request-id": "req_r", "set-cookie": LLM_KEY}))
    raw = RawResponse(200, headers, 2, 0.25, LLM_KEY)
    assert (
        repr(raw) == "RawResponse(status_code=200, request_id='req_r', attempts=2, elapsed=0.250)"
    )


@pytest.mark.parametrize(
    ("plain", "raw"),
    [(Personas, PersonasWithRawResponse), (Pals, PalsWithRawResponse)],
)
def test_raw_methods_take_the_plain_methods_arguments(plain: type, raw: type) -> None:
    names = ["get", "list_page", "create", "patch", "delete"]
    for name in names:
        expected = inspect.signature(getattr(plain, name)).parameters
        assert inspect.signature(getattr(raw, name)).parameters == expected, name
    public = {n for n in vars(raw) if not n.startswith("_")}
    assert public == set(names)  # the iterators send many requests: no raw form

"""Tests of the fake Tavus server itself (tavus_async.testing), with plain aiohttp clients."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tavus_async.testing import FakeTavus, Fault, RecordedRequest, serve

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "test-key"
AUTH = {"x-api-key": KEY}
ID_RE = re.compile(r"^p[0-9a-f]{11}$")


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=50) as srv:
        yield srv


@pytest_asyncio.fixture
async def session(server: FakeTavus) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.base_url) as sess:
        yield sess


def url(pid: str) -> str:
    return f"/v2/personas/{pid}"


async def wait_until(predicate: Callable[[], bool], limit: float = 2.0) -> None:
    """Poll ``predicate`` every 5 ms until it is true (fail after ``limit`` seconds)."""
    for _ in range(int(limit / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in time")


async def get(
    session: aiohttp.ClientSession, pid: str, **kwargs: Any
) -> tuple[int, bytes, aiohttp.ClientResponse]:
    async with session.get(url(pid), headers=AUTH, **kwargs) as resp:
        return resp.status, await resp.read(), resp


# --------------------------------------------------------------------------- basics


async def test_get_persona_envelope(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    pid = server.persona_ids[3]
    async with session.get(url(pid), headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        payload = await resp.json()
    assert payload == {"data": [server.persona_json(pid)]}
    assert payload["data"][0]["persona_id"] == pid


async def test_get_persona_bare() -> None:
    async with (
        FakeTavus(api_key=KEY, num_personas=5, envelope=False) as srv,
        aiohttp.ClientSession() as sess,
    ):
        pid = srv.persona_ids[0]
        async with sess.get(srv.base_url + url(pid), headers=AUTH) as resp:
            assert resp.status == 200
            payload = await resp.json()
    assert payload == srv.persona_json(pid)
    assert "data" not in payload


@pytest.mark.parametrize("headers", [{"x-api-key": "wrong"}, {}])
async def test_bad_or_missing_key_is_401(
    server: FakeTavus, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    async with session.get(url(server.persona_ids[0]), headers=headers) as resp:
        assert resp.status == 401
        assert await resp.json() == {"message": "Invalid access token"}


async def test_api_key_header_is_case_insensitive(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    async with session.get(url(server.persona_ids[0]), headers={"X-API-KEY": KEY}) as resp:
        assert resp.status == 200


async def test_unknown_id_is_400_invalid_persona_id(session: aiohttp.ClientSession) -> None:
    # The real API's answer to an unknown or malformed id (404 is not documented).
    async with session.get(url("pdoesnotexist"), headers=AUTH) as resp:
        assert resp.status == 400
        assert await resp.json() == {"error": "Invalid persona_id"}


async def test_other_path_is_json_404(session: aiohttp.ClientSession) -> None:
    async with session.get("/v2/replicas/r123", headers=AUTH) as resp:
        assert resp.status == 404
        assert resp.content_type == "application/json"
        assert (await resp.json())["message"] == "Not Found"


async def test_non_get_on_persona_path_is_405(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    async with session.post(url(server.persona_ids[0]), headers=AUTH) as resp:
        assert resp.status == 405
        assert "GET" in resp.headers["Allow"]


async def test_head_is_allowed(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    async with session.head(url(server.persona_ids[0]), headers=AUTH) as resp:
        assert resp.status == 200


# ---------------------------------------------------------------------- generation


def test_ids_are_deterministic_unique_and_well_formed() -> None:
    a = FakeTavus(num_personas=300)
    b = FakeTavus(num_personas=300)
    assert a.persona_ids == b.persona_ids
    assert len(set(a.persona_ids)) == 300
    assert all(ID_RE.match(pid) for pid in a.persona_ids)
    # Index i maps to the same id whatever the population size.
    assert FakeTavus(num_personas=10).persona_ids == a.persona_ids[:10]
    pid = a.persona_ids[123]
    assert a.persona_json(pid) == b.persona_json(pid)
    assert a.persona_json(a.persona_ids[1]) != a.persona_json(a.persona_ids[2])


async def test_served_bytes_are_identical_across_servers() -> None:
    bodies: list[bytes] = []
    for _ in range(2):
        async with (
            FakeTavus(api_key=KEY, num_personas=20) as srv,
            aiohttp.ClientSession(srv.base_url) as sess,
        ):
            bodies.append((await get(sess, srv.persona_ids[7]))[1])
    assert bodies[0] == bodies[1]


def test_generated_persona_uses_every_spec_field() -> None:
    srv = FakeTavus(num_personas=40)
    sizes = []
    for pid in srv.persona_ids:
        p = srv.persona_json(pid)
        sizes.append(len(json.dumps(p, separators=(",", ":"), ensure_ascii=False).encode()))
        assert p["persona_id"] == pid
        assert p["pipeline_mode"] == "full"
        assert isinstance(p["context"], str)
        assert 200 <= len(p["system_prompt"]) <= 1000
        assert re.match(r"^r[0-9a-f]{11}$", p["default_replica_id"])
        assert isinstance(p["document_ids"], list)
        assert isinstance(p["document_tags"], list)
        for ts in (p["created_at"], p["updated_at"]):
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", ts)
        assert p["created_at"] <= p["updated_at"]
        llm, tts = p["layers"]["llm"], p["layers"]["tts"]
        perception, stt = p["layers"]["perception"], p["layers"]["stt"]
        assert set(llm) == {"model", "base_url", "api_key", "tools", "headers", "extra_body"}
        assert llm["api_key"].startswith("sk-fake-")
        assert llm["headers"]["Authorization"].startswith("Bearer ")
        assert set(llm["extra_body"]) == {"temperature", "top_p"}
        for tool in llm["tools"] + perception["visual_tools"] + perception["audio_tools"]:
            assert tool["type"] == "function"
            assert set(tool["function"]) == {"name", "description", "parameters"}
            assert tool["function"]["parameters"]["type"] == "object"
        assert set(tts) == {
            "api_key",
            "tts_engine",
            "external_voice_id",
            "voice_settings",
            "tts_emotion_control",
            "tts_model_name",
        }
        assert tts["tts_engine"] in {"cartesia", "elevenlabs"}
        assert isinstance(tts["tts_emotion_control"], bool)
        assert set(perception) == {
            "perception_model",
            "visual_awareness_queries",
            "visual_tool_prompt",
            "visual_tools",
            "audio_awareness_queries",
            "audio_tool_prompt",
            "audio_tools",
        }
        assert perception["perception_model"] in {"raven-0", "raven-1"}
        assert stt["stt_engine"] in {"tavus-turbo", "tavus-advanced"}
        assert isinstance(stt["hotwords"], str)
    assert min(sizes) >= 2400
    assert max(sizes) <= 3800
    assert 2500 <= sum(sizes) / len(sizes) <= 3500
    engines = {srv.persona_json(pid)["layers"]["tts"]["tts_engine"] for pid in srv.persona_ids}
    assert engines == {"cartesia", "elevenlabs"}


def test_persona_json_is_a_copy_and_unknown_raises() -> None:
    srv = FakeTavus(num_personas=3)
    pid = srv.persona_ids[0]
    srv.persona_json(pid)["persona_name"] = "mutated"
    assert srv.persona_json(pid)["persona_name"] != "mutated"
    with pytest.raises(KeyError):
        srv.persona_json("pnope")


async def test_add_persona(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    custom = {"persona_id": "pcustom00001", "persona_name": "Custom", "layers": {}}
    assert server.add_persona(custom) == "pcustom00001"
    assert server.persona_json("pcustom00001") == custom
    assert "pcustom00001" not in server.persona_ids
    status, body, _ = await get(session, "pcustom00001")
    assert status == 200
    assert json.loads(body) == {"data": [custom]}
    # Overriding a generated id replaces the cached body.
    pid = server.persona_ids[0]
    await get(session, pid)
    server.add_persona({"persona_id": pid, "persona_name": "Override"})
    _, body, _ = await get(session, pid)
    assert json.loads(body)["data"][0]["persona_name"] == "Override"
    with pytest.raises(ValueError, match="persona_id"):
        server.add_persona({"persona_name": "no id"})


# -------------------------------------------------------------------------- faults


def test_fault_constructors_and_fields() -> None:
    assert Fault.stall().kind == "stall"
    assert Fault.drip(0.1).drip_interval == 0.1
    assert Fault.drip(0.1, 64).drip_chunk == 64
    assert Fault.drop_mid_body().kind == "drop_mid_body"
    assert Fault.close_connection().kind == "close_connection"
    assert Fault.lose_response().kind == "lose_response"
    plain = Fault.http(503)
    assert (plain.kind, plain.drip_interval, plain.delay) == ("reply", 0.0, 0.0)
    assert Fault.retry_after().status == 429
    assert Fault.retry_after(503, "7").headers == {"Retry-After": "7"}
    assert Fault.retry_after(503, 2).headers == {"Retry-After": "2"}
    assert Fault.delay_then(0.1, 500) == Fault(500, delay=0.1)
    assert Fault(kind="stall") == Fault.stall()
    assert repr(Fault.stall()) == "Fault(kind='stall')"
    assert repr(Fault.http(503)) == "Fault(status=503)"
    with pytest.raises(AttributeError):
        plain.status = 200  # type: ignore[misc]
    with pytest.raises(ValueError, match="status"):
        Fault(status=42)
    with pytest.raises(ValueError, match="delay"):
        Fault(delay=-1)
    with pytest.raises(ValueError, match="kind"):
        Fault(kind="explode")  # type: ignore[arg-type]


async def test_status_faults_consumed_in_order(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    server.enqueue(Fault.http(503), Fault.http(500), Fault.http(429))
    assert server.pending_faults == 3
    pid = server.persona_ids[0]
    statuses = [(await get(session, pid))[0] for _ in range(5)]
    assert statuses == [503, 500, 429, 200, 200]
    assert server.pending_faults == 0
    assert [r.fault for r in server.requests[:3]] == [
        Fault.http(503),
        Fault.http(500),
        Fault.http(429),
    ]
    assert server.requests[3].fault is None


async def test_per_id_queue_is_checked_first(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    a, b = server.persona_ids[0], server.persona_ids[1]
    server.enqueue(Fault.http(500))
    server.enqueue(Fault.http(503), Fault.http(504), persona_id=a)
    assert (await get(session, b))[0] == 500  # global queue
    assert (await get(session, b))[0] == 200  # global queue now empty; b has none
    assert (await get(session, a))[0] == 503
    assert (await get(session, a))[0] == 504
    assert (await get(session, a))[0] == 200
    server.enqueue(Fault.http(502), persona_id=a)
    server.clear_faults()
    assert (await get(session, a))[0] == 200


async def test_retry_after_fault(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    server.enqueue(Fault.retry_after(), Fault.retry_after(503, "2"))
    pid = server.persona_ids[0]
    status, body, resp = await get(session, pid)
    assert (status, resp.headers["Retry-After"]) == (429, "1")
    assert json.loads(body) == {"message": "Too Many Requests"}
    status, _, resp = await get(session, pid)
    assert (status, resp.headers["Retry-After"]) == (503, "2")


async def test_invalid_json_fault(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    server.enqueue(Fault.invalid_json())
    async with session.get(url(server.persona_ids[0]), headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.read() == b"{not json"
        with pytest.raises(json.JSONDecodeError):
            await resp.json()


async def test_html_fault(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    server.enqueue(Fault.html())
    status, body, resp = await get(session, server.persona_ids[0])
    assert status == 502
    assert resp.content_type == "text/html"
    assert b"<h1>502 Bad Gateway</h1>" in body


async def test_http_fault_bodies_and_redirect(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[0]
    server.enqueue(
        Fault.http(400, {"error": "Invalid persona_id"}),
        Fault.http(500, "boom"),
        Fault.http(302, headers={"Location": "https://example.invalid/elsewhere"}),
    )
    status, body, _ = await get(session, pid)
    assert (status, json.loads(body)) == (400, {"error": "Invalid persona_id"})
    status, body, resp = await get(session, pid)
    assert (status, body, resp.content_type) == (500, b"boom", "text/plain")
    status, body, resp = await get(session, pid, allow_redirects=False)
    assert (status, body) == (302, b"")
    assert resp.headers["Location"] == "https://example.invalid/elsewhere"


async def test_headers_only_fault_serves_normal_persona(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault(headers={"X-RateLimit-Remaining": "0"}))
    status, body, resp = await get(session, pid)
    assert status == 200
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert json.loads(body) == {"data": [server.persona_json(pid)]}
    # The extra header does not leak into the cached normal response.
    _, _, resp = await get(session, pid)
    assert "X-RateLimit-Remaining" not in resp.headers


async def test_delay_fault(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.delay_then(0.15), Fault.delay_then(0.1, status=503))
    start = time.monotonic()
    status, body, _ = await get(session, pid)
    assert time.monotonic() - start >= 0.14
    assert status == 200
    assert json.loads(body)["data"][0]["persona_id"] == pid
    start = time.monotonic()
    assert (await get(session, pid))[0] == 503
    assert time.monotonic() - start >= 0.09


async def test_stall_fault_times_out_client(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    server.enqueue(Fault.stall())
    with pytest.raises(asyncio.TimeoutError):
        await get(session, server.persona_ids[0], timeout=aiohttp.ClientTimeout(total=0.2))
    # The client gave up and closed its connection: the handler is cancelled.
    await wait_until(lambda: server.in_flight == 0)
    assert (await get(session, server.persona_ids[0]))[0] == 200


async def test_drip_fault_delivers_full_body_slowly(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.add_persona({"persona_id": "pdrip", "persona_name": "Drip"})
    expected = b'{"data":[{"persona_id":"pdrip","persona_name":"Drip"}]}'
    server.enqueue(Fault.drip(0.004), persona_id=pid)
    start = time.monotonic()
    async with session.get(url(pid), headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.content_length == len(expected)
        chunks = [chunk async for chunk in resp.content.iter_any()]
    elapsed = time.monotonic() - start
    assert b"".join(chunks) == expected
    assert len(chunks) > 1
    assert elapsed >= (len(expected) - 1) * 0.004 * 0.9


async def test_drip_fault_with_chunks_on_generated_persona(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    pid = server.persona_ids[0]
    server.enqueue(Fault.drip(0.02, chunk_size=600))
    start = time.monotonic()
    status, body, _ = await get(session, pid)
    assert status == 200
    assert json.loads(body) == {"data": [server.persona_json(pid)]}
    assert time.monotonic() - start >= (len(body) // 600) * 0.02 * 0.9


async def test_drop_mid_body_fault(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    pid = server.persona_ids[0]
    full = len((await get(session, pid))[1])
    server.enqueue(Fault.drop_mid_body())
    async with session.get(url(pid), headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.content_length == full
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    await wait_until(lambda: server.in_flight == 0)
    assert (await get(session, pid))[0] == 200


async def test_close_connection_fault(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    # aiohttp itself retries an idempotent request once after ServerDisconnectedError,
    # so two consecutive faults are needed for the error to reach the caller.
    server.enqueue(Fault.close_connection(), Fault.close_connection())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get(session, server.persona_ids[0])
    assert server.request_count == 2
    assert server.connections_seen == 2
    await wait_until(lambda: server.in_flight == 0)
    assert (await get(session, server.persona_ids[0]))[0] == 200


async def test_single_close_connection_is_absorbed_by_aiohttp_retry(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    server.enqueue(Fault.close_connection())
    assert (await get(session, server.persona_ids[0]))[0] == 200
    assert [r.fault for r in server.requests] == [Fault.close_connection(), None]


async def test_close_connection_on_reused_keepalive_connection(server: FakeTavus) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(server.base_url, connector=connector) as sess:
        assert (await get(sess, server.persona_ids[0]))[0] == 200
        server.enqueue(Fault.close_connection(), Fault.close_connection())
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(sess, server.persona_ids[1])
        assert (await get(sess, server.persona_ids[1]))[0] == 200
    first, second = server.requests[0], server.requests[1]
    assert first.peer == second.peer  # the first fault hit the reused connection
    assert second.fault == Fault.close_connection()


async def test_faults_apply_to_other_paths_too(
    server: FakeTavus, session: aiohttp.ClientSession
) -> None:
    server.enqueue(Fault.http(503))
    async with session.get("/v2/other", headers=AUTH) as resp:
        assert resp.status == 503
    async with session.get("/v2/other", headers=AUTH) as resp:
        assert resp.status == 404


# ------------------------------------------------------------------------ counters


async def test_requests_are_recorded(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    pid = server.persona_ids[0]
    await get(session, pid)
    async with session.get("/nope", headers={"X-Api-Key": "wrong", "User-Agent": "ua/1"}):
        pass
    assert server.request_count == 2
    first, second = server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.persona_id) == ("GET", url(pid), pid)
    assert first.headers["x-api-key"] == KEY
    assert first.peer is not None
    assert first.peer[0] == "127.0.0.1"
    assert (second.path, second.persona_id) == ("/nope", None)
    assert second.headers["x-api-key"] == "wrong"
    assert second.headers["user-agent"] == "ua/1"
    assert first.time <= second.time


async def test_in_flight_and_max_in_flight(server: FakeTavus) -> None:
    server.enqueue(*[Fault.delay_then(0.2) for _ in range(5)])
    async with aiohttp.ClientSession(server.base_url) as sess:
        tasks = [asyncio.create_task(get(sess, pid)) for pid in server.persona_ids[:5]]
        await wait_until(lambda: server.in_flight == 5)
        assert server.open_connections >= 5
        results = await asyncio.gather(*tasks)
    assert [status for status, _, _ in results] == [200] * 5
    assert server.in_flight == 0
    assert server.max_in_flight == 5
    assert server.max_open_connections >= 5
    assert server.connections_seen == 5
    server.reset_stats()
    assert (server.request_count, server.max_in_flight, server.connections_seen) == (0, 0, 0)
    assert server.requests == []


async def test_connection_reuse_with_limit_two(server: FakeTavus) -> None:
    connector = aiohttp.TCPConnector(limit=2)
    async with aiohttp.ClientSession(server.base_url, connector=connector) as sess:
        results = await asyncio.gather(*(get(sess, pid) for pid in server.persona_ids[:20]))
        assert server.open_connections <= 2
    assert all(status == 200 for status, _, _ in results)
    assert server.request_count == 20
    assert 1 <= server.connections_seen <= 2
    assert server.max_open_connections <= 2
    assert server.max_in_flight <= 2


async def test_record_requests_off_still_counts() -> None:
    async with (
        FakeTavus(api_key=KEY, num_personas=3, record_requests=False) as srv,
        aiohttp.ClientSession(srv.base_url) as sess,
    ):
        srv.prewarm()
        for pid in srv.persona_ids:
            assert (await get(sess, pid))[0] == 200
    assert srv.requests == []
    assert srv.request_count == 3
    assert srv.connections_seen == 1


async def test_reset_stats_keeps_faults(server: FakeTavus, session: aiohttp.ClientSession) -> None:
    server.enqueue(Fault.http(503))
    server.reset_stats()
    assert server.pending_faults == 1
    assert (await get(session, server.persona_ids[0]))[0] == 503


# ----------------------------------------------------------------------- lifecycle


async def test_start_stop_without_context_manager() -> None:
    srv = FakeTavus(api_key=KEY, num_personas=2)
    assert not srv.running
    await srv.start()
    try:
        assert srv.running
        assert re.match(r"^http://127\.0\.0\.1:\d+$", srv.base_url)
        assert srv.port != 0
        with pytest.raises(RuntimeError, match="already running"):
            await srv.start()
        async with aiohttp.ClientSession(srv.base_url) as sess:
            assert (await get(sess, srv.persona_ids[1]))[0] == 200
    finally:
        await srv.stop()
    assert not srv.running
    await srv.stop()  # idempotent


async def test_stop_is_clean_with_stalled_request() -> None:
    srv = FakeTavus(api_key=KEY, num_personas=2)
    await srv.start()
    srv.enqueue(Fault.stall(), Fault.drip(0.05))
    async with aiohttp.ClientSession(srv.base_url) as sess:
        stalled = asyncio.create_task(get(sess, srv.persona_ids[0]))
        dripping = asyncio.create_task(get(sess, srv.persona_ids[1]))
        await wait_until(lambda: srv.in_flight == 2)
        start = time.monotonic()
        await srv.stop()
        assert time.monotonic() - start < 0.4
        for task in (stalled, dripping):
            with pytest.raises(aiohttp.ClientError):
                await task
    assert srv.in_flight == 0
    assert srv.open_connections == 0


async def test_serve_runs_until_cancelled() -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[str] = loop.create_future()
    task = asyncio.create_task(serve("127.0.0.1", 0, KEY, 3, ready=ready.set_result))
    base_url = await asyncio.wait_for(ready, 2)
    first_id = FakeTavus(num_personas=1).persona_ids[0]
    async with aiohttp.ClientSession(base_url) as sess:
        status, body, _ = await get(sess, first_id)
    assert status == 200
    assert json.loads(body)["data"][0]["persona_id"] == first_id
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

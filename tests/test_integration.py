"""The client against real servers on loopback: headers, pooling, lifecycle, hostile responses."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

import tavus_async
from tavus_async import (
    APIConnectionError,
    APIStatusError,
    AsyncTavus,
    AuthenticationError,
    ClientClosedError,
    NotFoundError,
    Persona,
    ResponseMismatchError,
    ResponseTooLargeError,
)
from tavus_async.testing import FakeTavus, Fault

KEY = "sk-integration-SECRET-4242"


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=400) as fake:
        yield fake


async def _app_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _raw_server(payload: bytes) -> tuple[asyncio.Server, str]:
    """A TCP server that answers any request with `payload` verbatim, then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(payload)
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    return srv, f"http://127.0.0.1:{port}"


async def test_get_sends_key_and_user_agent(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with AsyncTavus(api_key=KEY, base_url=server.base_url) as client:
        persona = await client.personas.get(pid)
    assert isinstance(persona, Persona)
    assert persona.persona_id == pid
    assert persona.persona_name == server.persona_json(pid)["persona_name"]
    (request,) = server.requests
    assert request.method == "GET"
    assert request.path == f"/v2/personas/{pid}"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["user-agent"].startswith(f"tavus-async/{tavus_async.__version__}")


async def test_bare_object_body_decodes() -> None:
    async with (
        FakeTavus(api_key=KEY, num_personas=3, envelope=False) as fake,
        AsyncTavus(api_key=KEY, base_url=fake.base_url) as client,
    ):
        persona = await client.personas.get(fake.persona_ids[2])
    assert persona.persona_id == fake.persona_ids[2]
    assert persona.layers is not None and persona.layers.llm is not None


async def test_wrong_key_and_unknown_id(server: FakeTavus) -> None:
    async with AsyncTavus(api_key="wrong-key", base_url=server.base_url) as client:
        with pytest.raises(AuthenticationError) as auth:
            await client.personas.get(server.persona_ids[0])
    assert auth.value.status_code == 401
    assert auth.value.message == "Invalid access token"
    async with AsyncTavus(api_key=KEY, base_url=server.base_url) as client:
        with pytest.raises(NotFoundError) as missing:
            await client.personas.get("pdoesnotexist")
    assert missing.value.attempts == 1
    assert KEY not in repr(missing.value) and KEY not in str(missing.value)


async def test_pool_caps_tcp_connections(server: FakeTavus) -> None:
    async with AsyncTavus(api_key=KEY, base_url=server.base_url, max_connections=8) as client:
        ids = server.persona_ids[:300]
        personas = await asyncio.gather(*(client.personas.get(pid) for pid in ids))
    assert [p.persona_id for p in personas] == ids
    assert server.request_count == 300
    assert server.connections_seen <= 8
    assert server.max_open_connections <= 8
    assert server.max_in_flight <= 8


async def test_close_then_call_raises_without_io(server: FakeTavus) -> None:
    client = AsyncTavus(api_key=KEY, base_url=server.base_url)
    await client.personas.get(server.persona_ids[0])
    session = client._transport.session
    assert session is not None
    await client.close()
    assert session.closed and client.is_closed
    with pytest.raises(ClientClosedError):
        await client.personas.get(server.persona_ids[1])
    await client.close()  # idempotent
    assert server.request_count == 1


async def test_session_created_lazily_inside_loop() -> None:
    client = AsyncTavus(api_key=KEY, base_url="http://127.0.0.1:9")
    assert client._transport.session is None
    await client.close()


async def test_user_session_is_used_and_left_open(server: FakeTavus) -> None:
    seen: list[str] = []

    async def on_start(
        _s: aiohttp.ClientSession, _ctx: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        seen.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with AsyncTavus(api_key=KEY, base_url=server.base_url, session=session) as client:
            await client.personas.get(server.persona_ids[0])
        assert not session.closed
        assert seen == [f"{server.base_url}/v2/personas/{server.persona_ids[0]}"]
        # Still usable by its owner after the client closed.
        async with session.get(f"{server.base_url}/nothing") as resp:
            assert resp.status == 404


async def test_redirect_is_not_followed_and_key_not_forwarded(server: FakeTavus) -> None:
    received: list[dict[str, str]] = []

    async def other_origin(request: web.Request) -> web.StreamResponse:
        received.append(dict(request.headers))
        return web.json_response({"persona_id": "pstolen"})

    other, other_url = await _app_server(other_origin)

    async def redirector(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{other_url}/v2/personas/pstolen")

    redirect_runner, redirect_url = await _app_server(redirector)
    try:
        async with AsyncTavus(api_key=KEY, base_url=redirect_url, max_retries=0) as client:
            with pytest.raises(APIStatusError) as caught:
                await client.personas.get("pcb7a34da5fe")
        assert caught.value.status_code == 302
        assert received == []
    finally:
        await redirect_runner.cleanup()
        await other.cleanup()


@pytest.mark.parametrize(
    "payload",
    [
        b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",  # bad status line
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20000 + b"\r\nContent-Length: 2\r\n\r\n{}",
        b"garbage that is not HTTP at all\r\n\r\n",
    ],
    ids=["bad-status-line", "oversized-header", "not-http"],
)
async def test_protocol_errors_are_connection_errors(payload: bytes) -> None:
    srv, url = await _raw_server(payload)
    try:
        async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.personas.get("pcb7a34da5fe")
        assert not isinstance(caught.value, APIStatusError)
        # Nothing reachable from the error, chained exceptions included, holds the key
        # (aiohttp's own exceptions carry the request headers in `request_info`).
        seen: BaseException | None = caught.value
        while seen is not None:
            assert KEY not in str(seen) and KEY not in repr(seen)
            assert KEY not in repr(getattr(seen, "request_info", ""))
            seen = seen.__cause__ or seen.__context__
        assert caught.value.__context__ is None
    finally:
        srv.close()
        await srv.wait_closed()


async def test_close_during_a_request_gives_client_closed_error(server: FakeTavus) -> None:
    server.enqueue(Fault.stall())
    client = AsyncTavus(api_key=KEY, base_url=server.base_url, timeout=10.0)
    call = asyncio.create_task(client.personas.get(server.persona_ids[0]))
    for _ in range(200):
        if server.in_flight:
            break
        await asyncio.sleep(0.005)
    started = asyncio.get_running_loop().time()
    await client.close()
    with pytest.raises(ClientClosedError) as caught:
        await call
    assert asyncio.get_running_loop().time() - started < 2.0
    assert caught.value.attempts == 1  # no retry once closed
    assert server.request_count == 1


async def test_a_different_persona_in_the_body_is_never_returned() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"persona_id": "psomeoneelse", "persona_name": "Other"})

    runner, url = await _app_server(handler)
    try:
        async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
            # An answer meant for another request: a connection fault, never NotFoundError.
            with pytest.raises(ResponseMismatchError):
                await client.personas.get("pcb7a34da5fe")
    finally:
        await runner.cleanup()


async def test_gzip_bomb_is_capped() -> None:
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=bomb,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    runner, url = await _app_server(handler)
    try:
        async with AsyncTavus(
            api_key=KEY, base_url=url, max_retries=0, max_response_bytes=1024 * 1024
        ) as client:
            with pytest.raises(ResponseTooLargeError):
                await client.personas.get("pcb7a34da5fe")
    finally:
        await runner.cleanup()


async def test_endless_chunked_body_is_capped() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b"[" * 65536)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return resp

    runner, url = await _app_server(handler)
    try:
        async with AsyncTavus(
            api_key=KEY, base_url=url, max_retries=0, max_response_bytes=256 * 1024
        ) as client:
            with pytest.raises(ResponseTooLargeError):
                await client.personas.get("pcb7a34da5fe")
    finally:
        await runner.cleanup()


async def test_declared_length_over_cap_is_refused_before_reading() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * 5000, content_type="application/json")

    runner, url = await _app_server(handler)
    try:
        async with AsyncTavus(
            api_key=KEY, base_url=url, max_retries=0, max_response_bytes=4096
        ) as client:
            with pytest.raises(ResponseTooLargeError):
                await client.personas.get("pcb7a34da5fe")
    finally:
        await runner.cleanup()


async def test_key_echoed_by_server_never_surfaces(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        key = request.headers["x-api-key"]
        return web.json_response(
            {"message": f"bad key {key}", "detail": {"key": key}},
            status=503,
            headers={"X-Echo": key},
        )

    runner, url = await _app_server(handler)
    caplog.set_level(logging.DEBUG, logger="tavus_async")
    try:
        policy = tavus_async.RetryPolicy(initial_backoff=0.001, max_backoff=0.002)
        async with AsyncTavus(api_key=KEY, base_url=url, retry=policy) as client:
            with pytest.raises(APIStatusError) as caught:
                await client.personas.get("pcb7a34da5fe")
        error = caught.value
        assert error.attempts == 3
        texts = [str(error), repr(error), error.message, repr(error.body), repr(error.headers)]
        texts += [record.getMessage() for record in caplog.records]
        assert all(KEY not in text for text in texts)
        assert "***" in error.message
    finally:
        await runner.cleanup()


async def test_connection_refused_is_connection_error() -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    async with AsyncTavus(api_key=KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0) as c:
        with pytest.raises(APIConnectionError) as caught:
            await c.personas.get("pcb7a34da5fe")
    assert caught.value.attempts == 1


async def _paths_of_get(persona_id: str, base_path: str) -> list[tuple[str, str]]:
    """(raw path, decoded path) a server sees for one `get(persona_id)` under `base_path`."""
    seen: list[tuple[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((request.raw_path, "/" + request.match_info["tail"]))
        return web.json_response({"data": [{"persona_id": persona_id}]})

    runner, url = await _app_server(handler)
    try:
        async with AsyncTavus(api_key=KEY, base_url=url + base_path, max_retries=0) as client:
            persona = await client.personas.get(persona_id)
    finally:
        await runner.cleanup()
    assert persona.persona_id == persona_id
    return seen


@pytest.mark.parametrize(
    ("persona_id", "segment"),
    [
        ("p5317866_a-b~c", "p5317866_a-b~c"),  # sent as it is
        ("pérsona", "p%C3%A9rsona"),
        ("a:b@c+d;e", "a:b@c+d;e"),  # allowed in a path segment unquoted
        ('x"<>[]{}|^`', "x%22%3C%3E%5B%5D%7B%7D%7C%5E%60"),
        ("v1.2", "v1.2"),
    ],
)
async def test_ids_are_quoted_only_when_needed(persona_id: str, segment: str) -> None:
    """The fast path (no quoting) and the quoting path both reach the right URL."""
    seen = await _paths_of_get(persona_id, "/prefix")
    assert seen == [(f"/prefix/v2/personas/{segment}", f"/prefix/v2/personas/{persona_id}")]


@pytest.mark.parametrize(
    ("persona_id", "segment"), [("p123", "p123"), ("p.123", "p.123"), ("pé", "p%C3%A9")]
)
async def test_an_encoded_base_path_is_kept_as_it_is(persona_id: str, segment: str) -> None:
    """The base URL's own path (here with a space and a non-ASCII letter) is never re-quoted."""
    seen = await _paths_of_get(persona_id, "/my proxy/ü")
    assert seen == [
        (f"/my%20proxy/%C3%BC/v2/personas/{segment}", f"/my proxy/ü/v2/personas/{persona_id}")
    ]


async def test_a_zero_total_timeout_means_no_total_as_in_aiohttp(server: FakeTavus) -> None:
    server.enqueue(Fault(delay=0.05))  # would time out at once if 0 meant "0 seconds"
    timeout = aiohttp.ClientTimeout(total=0)
    async with AsyncTavus(api_key=KEY, base_url=server.base_url, timeout=timeout) as client:
        persona = await client.personas.get(server.persona_ids[0])
    assert persona.persona_id == server.persona_ids[0]
    assert server.request_count == 1

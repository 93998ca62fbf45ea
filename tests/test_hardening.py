"""The faults a hostile review found in the transport, each shown fixed on loopback.

Close while 200 calls are in flight, secrets in tracebacks rendered with their locals,
JSON-escaped and id-shaped echoes of the key, a stray response on a reused connection,
unasked encodings, and every constructor number checked before any I/O.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from support import acquired_connections, eventually, sdk_tasks

from tavus_async import (
    APIConnectionError,
    APIStatusError,
    AsyncTavus,
    BudgetConfig,
    ClientClosedError,
    DecodeError,
    MissingAPIKeyError,
    ResponseMismatchError,
    ResponseTooLargeError,
    RetryPolicy,
    TavusError,
    UnexpectedEncodingError,
)

KEY = "tk_hardening_SECRET_7f3a9c"
LLM_SECRET = "llm-credential-Q8vN2"
HEADER_SECRET = "Bearer header-credential-Zt41"
ESCAPED_KEY = "".join(f"\\u{ord(c):04x}" for c in KEY)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _persona_body(persona_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "persona_id": persona_id,
        "persona_name": "Hardening",
        "layers": {
            "llm": {"api_key": LLM_SECRET, "headers": {"Authorization": HEADER_SECRET}},
            "tts": {"api_key": LLM_SECRET},
        },
        **extra,
    }


def _rendered(exc: BaseException) -> str:
    """What an error tracker shows: the whole chain, every frame's locals."""
    return "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())


def _assert_no_secret(exc: BaseException) -> None:
    texts = [str(exc), repr(exc), _rendered(exc)]
    for secret in (KEY, ESCAPED_KEY, LLM_SECRET, HEADER_SECRET):
        for text in texts:
            assert secret not in text, secret


# --------------------------------------------------------------------------- close in flight


async def _stalling_server(
    app_server: Callable[[Handler], Awaitable[str]],
) -> tuple[str, list[int]]:
    seen: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(1)
        await asyncio.Event().wait()  # never answers; cancelled when the client goes
        raise AssertionError("unreachable")

    return await app_server(handler), seen


async def _close_when(client: AsyncTavus, seen: list[int], count: int) -> None:
    assert await eventually(lambda: len(seen) >= count, limit=10.0)
    await client.close()


@pytest.mark.usefixtures("no_error_logs")
async def test_close_ends_200_pending_gets_with_client_closed_error(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    url, seen = await _stalling_server(app_server)
    client = AsyncTavus(api_key=KEY, base_url=url, max_connections=100, timeout=60)
    calls = [asyncio.ensure_future(client.personas.get(f"p{i}")) for i in range(200)]
    await _close_when(client, seen, 100)  # 100 on the wire, 100 waiting for the pool
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results), {type(r) for r in results}
    assert await eventually(lambda: not sdk_tasks())
    assert acquired_connections(client) == 0


@pytest.mark.usefixtures("no_error_logs")
async def test_close_during_get_many_accounts_for_every_id(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    url, seen = await _stalling_server(app_server)
    client = AsyncTavus(api_key=KEY, base_url=url, max_connections=100, timeout=60)
    ids = [f"p{i}" for i in range(200)]
    job = asyncio.ensure_future(
        client.personas.get_many(ids, concurrency=200, return_exceptions=True)
    )
    await _close_when(client, seen, 100)
    results = await job
    assert len(results) == 200
    assert all(isinstance(r, ClientClosedError) for r in results)
    assert await eventually(lambda: not sdk_tasks())


async def test_close_during_get_many_raises_client_closed_error(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    url, seen = await _stalling_server(app_server)
    client = AsyncTavus(api_key=KEY, base_url=url, max_connections=100, timeout=60)
    job = asyncio.ensure_future(
        client.personas.get_many([f"p{i}" for i in range(200)], concurrency=200)
    )
    await _close_when(client, seen, 100)
    with pytest.raises(ClientClosedError):
        await job
    assert await eventually(lambda: not sdk_tasks())


@pytest.mark.usefixtures("no_error_logs")
async def test_close_during_iter_many_yields_every_id_and_ends(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    url, seen = await _stalling_server(app_server)
    client = AsyncTavus(api_key=KEY, base_url=url, max_connections=100, timeout=60)
    ids = [f"p{i}" for i in range(200)]

    async def consume() -> list[tuple[str, object]]:
        return [item async for item in client.personas.iter_many(ids, concurrency=200)]

    job = asyncio.ensure_future(consume())
    await _close_when(client, seen, 100)
    items = await asyncio.wait_for(job, 10)
    assert sorted(pid for pid, _ in items) == sorted(ids)
    assert all(isinstance(result, ClientClosedError) for _, result in items)
    assert await eventually(lambda: not sdk_tasks())


async def test_close_ends_a_call_on_a_users_session_and_a_backoff_wait(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    url, seen = await _stalling_server(app_server)
    async with aiohttp.ClientSession() as session:
        client = AsyncTavus(api_key=KEY, base_url=url, session=session, timeout=60)
        call = asyncio.ensure_future(client.personas.get("p1"))
        await _close_when(client, seen, 1)
        with pytest.raises(ClientClosedError) as caught:
            await asyncio.wait_for(call, 5)
        assert caught.value.attempts == 1
        assert not session.closed  # a user's session is theirs to close

    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "busy"}, status=503)

    policy = RetryPolicy(initial_backoff=30.0, max_backoff=30.0, jitter=False)
    client = AsyncTavus(api_key=KEY, base_url=await app_server(refuse), retry=policy)
    call = asyncio.ensure_future(client.personas.get("p1"))
    await asyncio.sleep(0.2)  # the first attempt failed; the call waits out its 30 s backoff
    await client.close()
    with pytest.raises(ClientClosedError) as caught:
        await asyncio.wait_for(call, 5)
    assert caught.value.attempts == 1


async def test_close_ends_a_policys_own_sleep(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """The policy's `sleep` is cancelled by `close()` as the usual backoff wait is ended."""

    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "busy"}, status=503)

    sleeping = asyncio.Event()
    never = asyncio.Event()
    sleepers: list[asyncio.Task[Any] | None] = []

    async def sleep(seconds: float) -> None:
        sleepers.append(asyncio.current_task())
        sleeping.set()
        await never.wait()

    policy = RetryPolicy(sleep=sleep)
    client = AsyncTavus(api_key=KEY, base_url=await app_server(refuse), retry=policy)
    call = asyncio.ensure_future(client.personas.get("p1"))
    await sleeping.wait()  # the first attempt failed; the call is in the policy's sleep
    await client.close()
    async with asyncio.timeout(5):  # a bound: without the close the sleep never ends
        with pytest.raises(ClientClosedError) as caught:
            await call
    assert caught.value.attempts == 1
    assert len(sleepers) == 1
    assert all(task is not None and task.done() for task in sleepers)


# --------------------------------------------------------------------------- secrets


async def _error_from(
    app_server: Callable[[Handler], Awaitable[str]], handler: Handler, **options: Any
) -> TavusError:
    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0, **options) as client:
        with pytest.raises(TavusError) as caught:
            await client.personas.get("p1")
    return caught.value


async def test_status_error_echoing_every_secret_renders_none_of_them(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        key = request.headers["x-api-key"]
        body = {"message": f"bad key {key}", "echo": _persona_body(key)}
        return web.json_response(body, status=401, headers={"X-Echo": key})

    error = await _error_from(app_server, handler)
    assert isinstance(error, APIStatusError)
    assert "***" in error.message
    _assert_no_secret(error)


async def test_decode_error_renders_neither_key_nor_credentials(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        # A 2xx body that is no persona (persona_name is a number), echoing the key and
        # carrying credential fields, the key also JSON-escaped.
        body = _persona_body("p1", persona_name=123, note=request.headers["x-api-key"])
        text = json.dumps(body).replace('"note": "', f'"escaped": "{ESCAPED_KEY}", "note": "')
        return web.Response(text=text, content_type="application/json")

    error = await _error_from(app_server, handler)
    assert isinstance(error, DecodeError)
    _assert_no_secret(error)


async def test_size_cap_error_renders_no_body(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = json.dumps(_persona_body("p1", note=request.headers["x-api-key"] * 50))
        return web.Response(text=body, content_type="application/json")

    error = await _error_from(app_server, handler, max_response_bytes=300)
    assert isinstance(error, ResponseTooLargeError)
    _assert_no_secret(error)


async def test_connection_error_renders_no_request_headers() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.personas.get("p1")
    finally:
        server.close()
        await server.wait_closed()
    _assert_no_secret(caught.value)


async def test_key_echoed_json_escaped_in_a_broken_body_is_masked(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        # Not valid JSON (cut short), so the message is a text snippet of the raw body.
        return web.Response(text=f'{{"message": "bad key {ESCAPED_KEY}', status=500)

    error = await _error_from(app_server, handler)
    assert isinstance(error, APIStatusError)
    assert "***" in str(error)
    _assert_no_secret(error)


async def test_key_echoed_as_the_persona_id_is_masked(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(_persona_body(request.headers["x-api-key"]))

    error = await _error_from(app_server, handler)
    assert isinstance(error, ResponseMismatchError)
    _assert_no_secret(error)


def test_client_and_its_parts_have_safe_reprs() -> None:
    client = AsyncTavus(api_key=KEY)
    texts = [repr(client), str(client), repr(client.personas), repr(client._transport)]
    assert all(KEY not in text for text in texts)


# --------------------------------------------------------------------------- constructor input


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_response_bytes": float("nan")}, TypeError),
        ({"max_response_bytes": 1.5}, TypeError),
        ({"max_response_bytes": True}, TypeError),
        ({"max_response_bytes": 0}, ValueError),
        ({"max_connections": 1.5}, TypeError),
        ({"max_connections": True}, TypeError),
        ({"max_connections": "3"}, TypeError),
        ({"max_connections": 0}, ValueError),
        ({"timeout": float("nan")}, ValueError),
        ({"timeout": float("inf")}, ValueError),
        ({"timeout": aiohttp.ClientTimeout(total=float("nan"))}, ValueError),
        ({"timeout": aiohttp.ClientTimeout(sock_read=-1)}, ValueError),
        ({"max_retries": -1}, ValueError),
        ({"max_retries": 1.5}, TypeError),
        ({"max_retries": True}, TypeError),
        ({"cache_ttl": float("nan")}, ValueError),
        ({"cache_ttl": float("inf")}, ValueError),
        ({"cache_ttl": 0}, ValueError),
        ({"cache_ttl": 10, "cache_size": 0}, ValueError),
        ({"cache_size": 2.5}, TypeError),
        ({"rate_limit": float("nan")}, ValueError),
        ({"rate_limit": float("inf")}, ValueError),
        ({"rate_limit": 0}, ValueError),
        ({"rate_limit": True}, TypeError),
        ({"coalesce": "yes"}, TypeError),
        ({"retry": "fast"}, TypeError),
    ],
)
def test_bad_constructor_values_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        AsyncTavus(api_key=KEY, **kwargs)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"initial_backoff": float("inf"), "max_backoff": float("inf")}, ValueError),
        ({"initial_backoff": True}, TypeError),
        ({"deadline": float("inf")}, ValueError),
        ({"max_retry_after": float("nan")}, ValueError),
        ({"jitter": 1}, TypeError),
        ({"retry_writes": "yes"}, TypeError),
        ({"budget": 100}, TypeError),
    ],
)
def test_bad_policy_values_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        RetryPolicy(**kwargs)


def test_bad_budget_values_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        BudgetConfig(capacity=float("inf"))
    with pytest.raises(TypeError, match="retry_cost"):
        BudgetConfig(retry_cost=True)


@pytest.mark.parametrize(
    "bad",
    [KEY + "\r\nX-Injected: 1", KEY + "\n", KEY + "\x00", "\t" + KEY, KEY + "\x7f", KEY + "é"],
)
def test_a_key_that_cannot_be_a_header_value_is_refused_unquoted(bad: str) -> None:
    with pytest.raises(ValueError, match="api_key") as caught:
        AsyncTavus(api_key=bad)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("bad", [123, b"tk_bytes_key", ["k"]])
def test_a_key_that_is_not_a_str_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="api_key"):
        AsyncTavus(api_key=bad)


def test_a_blank_key_is_still_missing() -> None:
    with pytest.raises(MissingAPIKeyError):
        AsyncTavus(api_key="   ")


def test_base_url_with_user_info_is_refused_without_the_password() -> None:
    with pytest.raises(ValueError, match="user info") as caught:
        AsyncTavus(api_key=KEY, base_url="https://user:hunter2-pw@tavusapi.com")
    assert "hunter2-pw" not in str(caught.value)
    with pytest.raises(ValueError, match="user info"):
        AsyncTavus(api_key=KEY, base_url="ftp://user:hunter2-pw@host")


# --------------------------------------------------------------------------- protocol faults


async def test_a_stray_response_on_a_reused_connection_is_retried_on_a_fresh_one() -> None:
    """A stale answer for `p1` arrives on the kept-alive connection just ahead of the answer
    to `p2` (as from a server or proxy that answered a request twice): `get("p2")` reads it
    first. Checking the id is what keeps it from being returned, or taken for a 404."""
    connections = 0
    requests: list[bytes] = []

    def answer(persona_id: str) -> bytes:
        body = json.dumps({"persona_id": persona_id, "persona_name": persona_id}).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        return head.encode() + b"\r\n\r\n" + body

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                requests.append(head.split(b" ")[1])
                persona_id = head.split(b" ")[1].rsplit(b"/", 1)[1].decode()
                stale = answer("p1") if len(requests) == 2 else b""
                writer.write(stale + answer(persona_id))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with AsyncTavus(api_key=KEY, base_url=url) as client:
            first = await client.personas.get("p1")
            second = await client.personas.get("p2")
    finally:
        server.close()
        await server.wait_closed()
    assert (first.persona_id, second.persona_id) == ("p1", "p2")
    assert requests == [b"/v2/personas/p1", b"/v2/personas/p2", b"/v2/personas/p2"]
    assert connections == 2  # the confused connection was dropped, not reused


async def test_a_persistent_mismatch_ends_as_a_connection_error_never_not_found(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        return web.json_response({"persona_id": "psomeoneelse"})

    url = await app_server(handler)
    policy = RetryPolicy(max_retries=2, initial_backoff=0.001, max_backoff=0.002)
    async with AsyncTavus(api_key=KEY, base_url=url, retry=policy) as client:
        with pytest.raises(ResponseMismatchError) as caught:
            await client.personas.get("p1")
    assert isinstance(caught.value, APIConnectionError)
    assert caught.value.attempts == 3
    assert calls == 3


@pytest.mark.parametrize("encoding", ["zstd", "br", "compress", "gzip, gzip"])
async def test_an_unasked_encoding_is_refused_and_not_retried(
    app_server: Callable[[Handler], Awaitable[str]], encoding: str
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        assert request.headers["Accept-Encoding"] == "gzip, deflate"
        return web.Response(body=b"\x28\xb5\x2f\xfd...", headers={"Content-Encoding": encoding})

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url) as client:
        with pytest.raises(UnexpectedEncodingError) as caught:
            await client.personas.get("p1")
    assert caught.value.attempts == 1
    assert calls == 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_asked_encodings_are_decoded(
    app_server: Callable[[Handler], Awaitable[str]], encoding: str
) -> None:
    import zlib

    raw = json.dumps({"persona_id": "p1", "persona_name": "Zipped"}).encode()
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, headers={"Content-Encoding": encoding})

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url) as client:
        persona = await client.personas.get("p1")
    assert persona.persona_name == "Zipped"


async def test_status_999_is_not_a_server_error_and_not_retried(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        return web.json_response({"message": "odd"}, status=999)

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.personas.get("p1")
    assert type(caught.value) is APIStatusError
    assert caught.value.attempts == 1
    assert calls == 1


async def test_coalescing_spans_get_and_get_many(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return web.json_response({"persona_id": "p1"})

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url) as client:

        async def from_iter_many() -> list[tuple[str, object]]:
            return [item async for item in client.personas.iter_many(["p1"])]

        one, many, iterated = await asyncio.gather(
            client.personas.get("p1"), client.personas.get_many(["p1"]), from_iter_many()
        )
    assert one.persona_id == "p1"
    assert many == [one]
    assert iterated == [("p1", one)]
    assert calls == 1

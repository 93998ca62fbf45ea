"""Transport faults a second hostile review found, each shown fixed on loopback.

A late stray answer on a kept-alive connection, credentials of a write in its error, bodies
kept alive by a raised error's frames, deadlines and timeout messages, a secret in an
unasked Content-Encoding, aiohttp's silent resend on a user's session, multi-member gzip.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tavus_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncTavus,
    ResponseMismatchError,
    ResponseTooLargeError,
    RetryPolicy,
    TavusError,
    UnexpectedEncodingError,
    UnprocessableEntityError,
    patch,
)
from tavus_async._credentials import credentials_in
from tavus_async._transport import Response

KEY = "tk_Transport_FAULTS_Secret_9c2b"
LLM_SECRET = "sk-PERSONASECRET-4f1e"
HEADER_SECRET = "Bearer header-SECRET-Zt41"
TTS_SECRET = "tts-SECRET-88aa"
SECRETS = (KEY, LLM_SECRET, HEADER_SECRET, TTS_SECRET)
LAYERS = {
    "llm": {"api_key": LLM_SECRET, "headers": {"Authorization": HEADER_SECRET}},
    "tts": {"api_key": TTS_SECRET},
}
FAST = RetryPolicy(max_retries=2, initial_backoff=0.001, max_backoff=0.002)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[str]]
RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handle: RawHandler) -> str:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def _persona_answer(persona_id: str) -> bytes:
    body = json.dumps({"persona_id": persona_id, "persona_name": persona_id}).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


async def _read_request(reader: asyncio.StreamReader) -> str:
    """The path of the next request on a connection (bodies are not sent by a GET)."""
    head = await reader.readuntil(b"\r\n\r\n")
    return head.split(b" ")[1].decode()


def _rendered(exc: BaseException) -> str:
    """What an error tracker shows of the SDK: the chain, every frame's locals, but for the
    test's own frame (whose locals hold what the test sent)."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        assert seen.__traceback__ is not None
        below = traceback.walk_tb(seen.__traceback__.tb_next if seen is exc else seen.__traceback__)
        texts += traceback.StackSummary.extract(below, capture_locals=True).format()
        texts += traceback.format_exception_only(seen)
        seen = seen.__cause__ or seen.__context__
    return "".join(texts)


def _assert_no_secret(exc: BaseException) -> None:
    texts = [str(exc), repr(exc), _rendered(exc)]
    if isinstance(exc, APIStatusError):
        texts += [repr(exc.body), json.dumps(exc.body), repr(dict(exc.headers))]
    for secret in SECRETS:
        for text in texts:
            assert secret not in text, (secret, text)


# --------------------------------------------------------------------------- 1: late stray


async def test_a_late_stray_answer_drops_the_connection_and_the_retry_goes_out_on_a_new_one(
    raw_server: Callable[[RawHandler], Awaitable[str]],
) -> None:
    """The server answers `a1` twice, the second time after the client has read the first
    (the body was read whole, so aiohttp has already pooled the connection). `b2` reads
    that stray answer: the connection is dropped, and the retry goes out on a fresh one."""
    sends: list[tuple[int, str]] = []
    stray_go, stray_sent = asyncio.Event(), asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = len({c for c, _ in sends}) + 1
        try:
            while True:
                path = await _read_request(reader)
                sends.append((connection, path))
                writer.write(_persona_answer(path.rsplit("/", 1)[1]))
                await writer.drain()
                if path.endswith("/a1"):
                    await stray_go.wait()
                    writer.write(_persona_answer("a1"))
                    await writer.drain()
                    stray_sent.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    url = await raw_server(handle)
    async with AsyncTavus(api_key=KEY, base_url=url, max_connections=1, retry=FAST) as client:
        assert (await client.personas.get("a1")).persona_id == "a1"
        stray_go.set()
        await stray_sent.wait()
        got = [(await client.personas.get(p)).persona_id for p in ("b2", "c3", "d4")]
    assert got == ["b2", "c3", "d4"]
    assert sends == [
        (1, "/v2/personas/a1"),
        (1, "/v2/personas/b2"),  # read the stray answer
        (2, "/v2/personas/b2"),  # the retry, on a new connection
        (2, "/v2/personas/c3"),
        (2, "/v2/personas/d4"),
    ]


async def test_without_retries_a_stray_answer_costs_one_call_only(
    raw_server: Callable[[RawHandler], Awaitable[str]],
) -> None:
    stray_go, stray_sent = asyncio.Event(), asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                path = await _read_request(reader)
                writer.write(_persona_answer(path.rsplit("/", 1)[1]))
                await writer.drain()
                if path.endswith("/a1"):
                    await stray_go.wait()
                    writer.write(_persona_answer("a1"))
                    await writer.drain()
                    stray_sent.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    url = await raw_server(handle)
    async with AsyncTavus(api_key=KEY, base_url=url, max_connections=1, max_retries=0) as client:
        await client.personas.get("a1")
        stray_go.set()
        await stray_sent.wait()
        with pytest.raises(ResponseMismatchError):
            await client.personas.get("b2")
        assert (await client.personas.get("c3")).persona_id == "c3"
        assert (await client.personas.get("d4")).persona_id == "d4"


# --------------------------------------------------------------------------- 2: credentials


@pytest.mark.parametrize("status", [400, 500])
async def test_a_failed_create_renders_no_credential_it_sent(
    app_server: Serve, status: int
) -> None:
    sent: list[bytes] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        sent.append(await request.read())
        return web.json_response({"message": "no"}, status=status)

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.personas.create(persona_name="x", layers=LAYERS)
    assert LLM_SECRET.encode() in sent[0]  # it was sent
    _assert_no_secret(caught.value)


async def test_a_create_on_a_dropped_connection_renders_no_credential_it_sent(
    raw_server: Callable[[RawHandler], Awaitable[str]],
) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    url = await raw_server(handle)
    async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.create(persona_name="x", layers=LAYERS)
    _assert_no_secret(caught.value)


async def test_an_echoed_credential_is_masked_in_the_error_of_that_call(app_server: Serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        layers = (await request.json())["layers"]
        key = layers["llm"]["api_key"]
        escaped = "".join(f"\\u{ord(c):04x}" for c in layers["tts"]["api_key"])
        text = json.dumps(
            {"message": f"rejected key {key}", "detail": {"sent": layers}, "tts": "ESC"}
        ).replace("ESC", escaped)
        header = layers["llm"]["headers"]["Authorization"]
        return web.Response(
            text=text, status=422, content_type="application/json", headers={"X-Echo": header}
        )

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
        with pytest.raises(UnprocessableEntityError) as caught:
            await client.personas.create(persona_name="x", layers=LAYERS)
    assert str(caught.value).endswith("rejected key ***")
    assert caught.value.headers["x-echo"] == "***"
    _assert_no_secret(caught.value)


async def test_a_credential_patched_in_and_echoed_is_masked(app_server: Serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        operations = await request.json()
        return web.json_response({"message": f"bad {operations[0]['value']}"}, status=400)

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.personas.patch("p1", [patch.Replace("/layers/llm/api_key", LLM_SECRET)])
    assert str(caught.value).endswith("bad ***")
    _assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (None, set()),
        ({"persona_name": "x"}, set()),
        ({"layers": LAYERS}, {LLM_SECRET, HEADER_SECRET, TTS_SECRET}),
        ({"a": [{"b": {"api_key": "k1"}}]}, {"k1"}),
        ({"headers": {"X": ["v1", {"y": "v2"}]}}, {"v1", "v2"}),
        ([{"op": "replace", "path": "/layers/llm/api_key", "value": "k2"}], {"k2"}),
        ([{"op": "add", "path": "/layers/llm/headers", "value": {"A": "v3"}}], {"v3"}),
        ([{"op": "replace", "path": "/persona_name", "value": "name"}], set()),
        ({"api_key": 5}, set()),
    ],
)
def test_credentials_in_a_request_body(document: object, expected: set[str]) -> None:
    body = None if document is None else json.dumps(document).encode()
    assert set(credentials_in(body)) == expected


def test_credentials_in_a_body_that_is_no_json() -> None:
    assert credentials_in(b"{not json") == ()


# --------------------------------------------------------------------------- 3: bodies kept


BIG = 1024 * 1024


def _holders_of_big_data(exc: BaseException) -> list[str]:
    """Locals of every frame along the error's chain that are a response or a big body."""
    found: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        for frame, _ in traceback.walk_tb(seen.__traceback__):
            for name, value in frame.f_locals.items():
                big = isinstance(value, bytes | bytearray | str) and len(value) >= BIG
                if big or isinstance(value, Response | aiohttp.ClientResponse):
                    found.append(f"{frame.f_code.co_name}.{name}")
        seen = seen.__cause__ or seen.__context__
    return found


@pytest.mark.parametrize("status", [500, 200])
async def test_a_raised_error_keeps_no_body_alive(app_server: Serve, status: int) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * BIG, status=status)

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
        with pytest.raises(TavusError) as caught:
            await client.personas.get("p1")
    assert _holders_of_big_data(caught.value) == []


# --------------------------------------------------------------------------- 4: deadlines


async def test_the_deadline_bounds_the_rate_limiter_wait(app_server: Serve) -> None:
    served: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        served.append(request.path)
        return web.json_response({"persona_id": "p1", "persona_name": "n"})

    url = await app_server(handler)
    # Slots at 0, 0.5 and 1.0 s fall within the deadline; the later ones do not.
    policy = RetryPolicy(deadline=1.2, initial_backoff=0.001, max_backoff=0.002)
    async with AsyncTavus(
        api_key=KEY, base_url=url, rate_limit=2, retry=policy, coalesce=False
    ) as client:
        results = await asyncio.gather(
            *(client.personas.get("p1") for _ in range(8)), return_exceptions=True
        )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors, "8 calls at 2 per second cannot all pass in 1.2 s"
    for error in errors:
        assert isinstance(error, APITimeoutError), repr(error)
        assert "deadline of 1.2s passed" in str(error)
    unsent = [
        e
        for e in errors
        if isinstance(e, APITimeoutError)
        and ("rate limiter" in str(e) or "before it was sent" in str(e))
    ]
    assert unsent, "the calls past the deadline ended in the limiter's wait"
    for error in unsent:
        assert (error.request_sent, error.attempts) == (False, 0)
    successes = len(results) - len(errors)
    assert successes <= len(served) <= len(results) - len(unsent)


async def _stalling(app_server: Serve) -> str:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return await app_server(handler)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timeout": 10, "retry": RetryPolicy(deadline=0.3)}, "deadline of 0.3s passed"),
        ({"timeout": 0.2, "max_retries": 0}, "after 0.2s (the per-attempt timeout)"),
        (
            {"timeout": aiohttp.ClientTimeout(total=5, sock_read=0.2), "max_retries": 0},
            "sock_read=0.2s",
        ),
    ],
)
async def test_a_timeout_names_what_expired(
    app_server: Serve, options: dict[str, Any], expected: str
) -> None:
    url = await _stalling(app_server)
    async with AsyncTavus(api_key=KEY, base_url=url, **options) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.personas.get("p1")
    assert expected in str(caught.value)
    assert "after 10s" not in str(caught.value)
    assert "after 5s" not in str(caught.value)


# --------------------------------------------------------------------------- 5: encoding


@pytest.mark.parametrize("value", [KEY, "x" * 30 + KEY, f"gzip, {KEY}"])
async def test_an_unasked_encoding_never_echoes_its_value(app_server: Serve, value: str) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"{}", headers={"Content-Encoding": value})

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url) as client:
        with pytest.raises(UnexpectedEncodingError) as caught:
            await client.personas.get("p1")
    text = _rendered(caught.value)
    for part in (KEY, KEY.lower(), KEY[:10], KEY[:10].lower()):
        assert part not in text


async def test_a_registered_unasked_encoding_is_named(app_server: Serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"{}", headers={"Content-Encoding": "BR"})

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url) as client:
        with pytest.raises(UnexpectedEncodingError, match="'br'"):
            await client.personas.get("p1")


# --------------------------------------------------------------------------- 6: resend


async def test_no_silent_resend_on_a_users_session_and_its_middlewares_still_run(
    raw_server: Callable[[RawHandler], Awaitable[str]],
) -> None:
    sends: list[str] = []
    through_middleware: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                path = await _read_request(reader)
                sends.append(path)
                if path.endswith("/p2"):
                    break  # drop the reused connection under the sent request
                writer.write(_persona_answer(path.rsplit("/", 1)[1]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def users_middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        through_middleware.append(request.url.path)
        return await handler(request)

    url = await raw_server(handle)
    async with (
        aiohttp.ClientSession(middlewares=(users_middleware,)) as session,
        AsyncTavus(api_key=KEY, base_url=url, session=session, max_retries=0) as client,
    ):
        await client.personas.get("p1")
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.get("p2")
    assert caught.value.attempts == 1
    assert sends == ["/v2/personas/p1", "/v2/personas/p2"]
    assert through_middleware == sends


# --------------------------------------------------------------------------- 7: gzip members


def _members(raw: bytes, cut: int) -> bytes:
    return gzip.compress(raw[:cut]) + gzip.compress(raw[cut:])


async def test_every_gzip_member_is_decoded(app_server: Serve) -> None:
    raw = json.dumps({"persona_id": "p1", "persona_name": "Two members"}).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=_members(raw, 20), headers={"Content-Encoding": "gzip"})

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url) as client:
        persona = await client.personas.get("p1")
    assert persona.persona_name == "Two members"


async def test_the_size_cap_spans_every_gzip_member(app_server: Serve) -> None:
    raw = json.dumps({"persona_id": "p1", "persona_name": "n" * 200}).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=_members(raw, 150), headers={"Content-Encoding": "gzip"})

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url, max_response_bytes=200) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.personas.get("p1")


async def test_a_truncated_gzip_body_is_an_encoding_error(app_server: Serve) -> None:
    raw = json.dumps({"persona_id": "p1", "persona_name": "n"}).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=_members(raw, 10)[:-6], headers={"Content-Encoding": "gzip"})

    url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=url, max_retries=0) as client:
        with pytest.raises(UnexpectedEncodingError, match="truncated"):
            await client.personas.get("p1")

"""Unit tests of `AsyncTavus` and `client.personas.get` with aiohttp mocked by aioresponses.

No network: aioresponses patches `ClientSession._request`, so an unrouted request fails with a
connection error, which lets tests prove that no I/O happened.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from multidict import CIMultiDict
from support import STATUS_CLASSES
from yarl import URL

import tavus_async
from tavus_async import (
    APIConnectionError,
    APIStatusError,
    AsyncTavus,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    DecodeError,
    InternalServerError,
    MissingAPIKeyError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    TavusError,
)

BASE = "http://api.test"
KEY = "sk-unit-test-key"
PID = "pcb7a34da5fe"


class _DoneWriter:
    """Stands in for the request's stream writer: the request was already sent."""

    output_size = 0


class _Response(aiohttp.ClientResponse):
    """aiohttp >= 3.14 requires `stream_writer`, which aioresponses 0.7.x does not pass
    (pnuckowski/aioresponses#289); every mocked route uses this response class instead."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _DoneWriter())
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked() -> Iterator[Any]:
    with aioresponses() as m:
        yield m


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    monkeypatch.delenv("TAVUS_BASE_URL", raising=False)


def _route(m: Any, persona_id: str = PID, **kwargs: Any) -> str:
    url = f"{BASE}/v2/personas/{persona_id}"
    m.get(url, response_class=_Response, **kwargs)
    return url


def _client(**kwargs: Any) -> AsyncTavus:
    options: dict[str, Any] = {"api_key": KEY, "base_url": BASE, "max_retries": 0}
    return AsyncTavus(**(options | kwargs))


def _persona(persona_id: str = PID, **extra: Any) -> dict[str, Any]:
    return {"persona_id": persona_id, "persona_name": "Life Coach", **extra}


def _calls(m: Any) -> list[tuple[str, URL, dict[str, Any]]]:
    return [
        (method, url, call.kwargs) for (method, url), calls in m.requests.items() for call in calls
    ]


# --------------------------------------------------------------------------- status mapping


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_maps_to_error_class(
    mocked: Any, status: int, cls: type[APIStatusError]
) -> None:
    _route(mocked, status=status, payload={"message": f"status {status}"})
    async with _client() as client:
        with pytest.raises(APIStatusError) as info:
            await client.personas.get(PID)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.message == f"status {status}"
    assert err.attempts == 1
    assert len(_calls(mocked)) == 1


async def test_400_and_401_messages_from_spec_shapes(mocked: Any) -> None:
    _route(mocked, status=400, payload={"error": "Invalid persona_id"})
    _route(mocked, "p401", status=401, payload={"message": "Invalid access token"})
    # A realistic key: a one-letter key ("k") would be scrubbed out of "token" itself.
    async with _client(api_key="tvs-0123456789abcdef") as client:
        with pytest.raises(BadRequestError, match="Invalid persona_id"):
            await client.personas.get(PID)
        with pytest.raises(AuthenticationError, match="Invalid access token"):
            await client.personas.get("p401")


async def test_error_response_headers_and_body_are_exposed(mocked: Any) -> None:
    _route(
        mocked,
        status=429,
        payload={"message": "slow down"},
        headers={"Retry-After": "7", "X-Request-Id": "req-1"},
    )
    async with _client() as client:
        with pytest.raises(RateLimitError) as info:
            await client.personas.get(PID)
    assert info.value.body == {"message": "slow down"}
    assert info.value.headers["x-request-id"] == "req-1"
    assert info.value.retry_after == 7.0


async def test_secret_echoed_by_server_is_scrubbed(mocked: Any) -> None:
    secret = "tvs-secret-key-3c9a"
    _route(
        mocked,
        status=401,
        payload={"message": f"bad key {secret}", "echo": {"x-api-key": secret}},
        headers={"x-api-key": secret, "X-Debug": secret},
    )
    async with _client(api_key=secret) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.personas.get(PID)
    err = info.value
    shown = " ".join([str(err), repr(err), err.message, repr(err.body), repr(dict(err.headers))])
    assert secret not in shown
    assert "x-api-key" not in err.headers


async def test_5xx_with_deeply_nested_body_is_an_internal_server_error(mocked: Any) -> None:
    # A proxy's (or hostile server's) nested JSON error body must still map to the 5xx class;
    # the client always scrubs its API key from error bodies, which must not blow the stack.
    depth = 600
    _route(mocked, status=500, body=b"[" * depth + b"]" * depth)
    async with _client() as client:
        with pytest.raises(InternalServerError) as info:
            await client.personas.get(PID)
    assert info.value.status_code == 500


# --------------------------------------------------------------------------- success bodies


async def test_enveloped_body(mocked: Any) -> None:
    _route(mocked, payload={"data": [_persona()]})
    async with _client() as client:
        p = await client.personas.get(PID)
    assert p.persona_id == PID
    assert p.persona_name == "Life Coach"


async def test_bare_body(mocked: Any) -> None:
    _route(mocked, payload=_persona(layers={"stt": {"stt_engine": "tavus-turbo"}}))
    async with _client() as client:
        p = await client.personas.get(PID)
    assert p.persona_id == PID
    assert p.layers is not None and p.layers.stt is not None
    assert p.layers.stt.stt_engine == "tavus-turbo"


async def test_envelope_with_several_personas_returns_the_requested_one(mocked: Any) -> None:
    _route(mocked, payload={"data": [_persona("pother"), _persona(PID, persona_name="Me")]})
    async with _client() as client:
        p = await client.personas.get(PID)
    assert p.persona_id == PID
    assert p.persona_name == "Me"


async def test_invalid_json_200_is_decode_error_after_one_attempt(mocked: Any) -> None:
    _route(mocked, status=200, body=b"<html>not json</html>", content_type="text/html")
    async with _client(max_retries=3) as client:
        with pytest.raises(DecodeError) as info:
            await client.personas.get(PID)
    assert info.value.attempts == 1
    assert info.value.status_code == 200
    assert info.value.body_length == len(b"<html>not json</html>")
    assert "html" not in str(info.value)  # the body is never quoted
    assert len(_calls(mocked)) == 1  # never retried, even with retries allowed


async def test_empty_envelope_is_not_found(mocked: Any) -> None:
    _route(mocked, payload={"data": []})
    async with _client() as client:
        with pytest.raises(NotFoundError) as info:
            await client.personas.get(PID)
    assert info.value.attempts == 1


# --------------------------------------------------------------------------- the request


async def test_request_url_method_and_headers(mocked: Any) -> None:
    _route(mocked, payload={"data": [_persona()]})
    async with _client() as client:
        await client.personas.get(PID)
    calls = _calls(mocked)
    assert len(calls) == 1
    method, url, kwargs = calls[0]
    assert method == "GET"
    assert url == URL(f"{BASE}/v2/personas/{PID}")
    headers = CIMultiDict(kwargs["headers"])
    assert headers["x-api-key"] == KEY
    user_agent = headers["User-Agent"]
    assert user_agent.startswith(f"tavus-async/{tavus_async.__version__}")
    assert re.match(r"^tavus-async/\d+\.\d+\.\d+", user_agent)
    assert kwargs["allow_redirects"] is False


async def test_base_url_with_path_prefix(mocked: Any) -> None:
    mocked.get(f"{BASE}/proxy/v2/personas/{PID}", response_class=_Response, payload=_persona())
    async with _client(base_url=f"{BASE}/proxy/") as client:
        assert client.base_url == f"{BASE}/proxy"
        assert (await client.personas.get(PID)).persona_id == PID


# --------------------------------------------------------------------------- id validation

BAD_IDS = [
    "",
    "a" * 257,
    "a/b",
    "a?b",
    "a#b",
    "a%2F",
    "a b",
    "a\tb",
    "a\nb",
    "\x00",
    "\x7f",
    "a..b",
    "..",
    "\ud800",  # lone surrogates: yarl would drop them and the path would change
    "a\udfffb",
    ".\ud800.",
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=[repr(b)[:20] for b in BAD_IDS])
async def test_bad_persona_id_raises_value_error_before_io(mocked: Any, bad: str) -> None:
    async with _client() as client:
        with pytest.raises(ValueError, match="persona_id"):
            await client.personas.get(bad)
    assert mocked.requests == {}


async def test_single_dot_persona_id_is_rejected_before_io(mocked: Any) -> None:
    # "." is a dot-segment: yarl normalises ".../v2/personas/." to ".../v2/personas/", i.e. the
    # *list* endpoint, and the client would then return whatever persona comes first there.
    assert URL(f"{BASE}/v2/personas/.").path == "/v2/personas/"
    async with _client() as client:
        with pytest.raises(ValueError, match="persona_id"):
            await client.personas.get(".")
    assert mocked.requests == {}


@pytest.mark.parametrize("good", [PID, "p" * 256, "p-1_2.3~x"])
async def test_good_persona_ids_are_requested(mocked: Any, good: str) -> None:
    _route(mocked, good, payload={"data": [_persona(good)]})
    async with _client() as client:
        p = await client.personas.get(good)
    assert p.persona_id == good
    assert [url for _, url, _ in _calls(mocked)] == [URL(f"{BASE}/v2/personas/{good}")]


@pytest.mark.parametrize("bad", [123, None, b"pcb7a34da5fe", ["p"]])
async def test_non_str_persona_id_is_type_error(mocked: Any, bad: Any) -> None:
    async with _client() as client:
        with pytest.raises(TypeError, match="persona_id must be a str"):
            await client.personas.get(bad)
    assert mocked.requests == {}


# --------------------------------------------------------------------------- constructor


async def test_api_key_from_argument_is_sent(mocked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVUS_API_KEY", "from-env")
    _route(mocked, payload=_persona())
    async with _client(api_key="from-arg") as client:
        await client.personas.get(PID)
    assert CIMultiDict(_calls(mocked)[0][2]["headers"])["x-api-key"] == "from-arg"


async def test_api_key_from_env(mocked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVUS_API_KEY", "from-env")
    _route(mocked, payload=_persona())
    async with AsyncTavus(base_url=BASE, max_retries=0) as client:
        await client.personas.get(PID)
    assert CIMultiDict(_calls(mocked)[0][2]["headers"])["x-api-key"] == "from-env"


@pytest.mark.parametrize(
    ("arg", "env"),
    [(None, None), ("", None), ("   ", None), ("\t\n", None), (None, ""), (None, "  "), ("", "ok")],
)
def test_missing_api_key(monkeypatch: pytest.MonkeyPatch, arg: str | None, env: str | None) -> None:
    if env is not None:
        monkeypatch.setenv("TAVUS_API_KEY", env)
    with pytest.raises(MissingAPIKeyError) as info:
        AsyncTavus(api_key=arg)
    assert isinstance(info.value, TavusError)
    message = str(info.value)
    assert "TAVUS_API_KEY" in message
    assert "api_key=" in message


def test_base_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AsyncTavus(api_key=KEY).base_url == "https://tavusapi.com"
    monkeypatch.setenv("TAVUS_BASE_URL", "http://env.test:8080/")
    assert AsyncTavus(api_key=KEY).base_url == "http://env.test:8080"
    assert AsyncTavus(api_key=KEY, base_url="https://arg.test/").base_url == "https://arg.test"
    assert AsyncTavus(api_key=KEY, base_url="http://arg.test/v1/").base_url == "http://arg.test/v1"
    assert AsyncTavus(api_key=KEY, base_url="http://arg.test").base_url == "http://arg.test"


@pytest.mark.parametrize(
    "bad", ["ftp://x", "not a url", "http://", "file:///etc/passwd", "http://h/?q=1", "http://h/#f"]
)
def test_bad_base_url(bad: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        AsyncTavus(api_key=KEY, base_url=bad)


def test_bad_base_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVUS_BASE_URL", "ftp://x")
    with pytest.raises(ValueError, match="base_url"):
        AsyncTavus(api_key=KEY)


def test_timeout_float_and_int() -> None:
    assert AsyncTavus(api_key=KEY, timeout=2.5).timeout == aiohttp.ClientTimeout(total=2.5)
    five = AsyncTavus(api_key=KEY, timeout=5).timeout
    assert five == aiohttp.ClientTimeout(total=5.0)
    assert isinstance(five.total, float)
    assert AsyncTavus(api_key=KEY).timeout == aiohttp.ClientTimeout(total=30.0)


def test_client_timeout_passes_through() -> None:
    timeout = aiohttp.ClientTimeout(total=None, connect=1.0, sock_read=4.0)
    assert AsyncTavus(api_key=KEY, timeout=timeout).timeout is timeout


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, float("nan"), float("inf")])
def test_bad_timeout(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        AsyncTavus(api_key=KEY, timeout=bad)


@pytest.mark.parametrize("bad", [True, "5", None])
def test_timeout_of_the_wrong_type(bad: Any) -> None:
    with pytest.raises(TypeError, match="timeout"):
        AsyncTavus(api_key=KEY, timeout=bad)


def test_max_retries_overrides_policy() -> None:
    policy = RetryPolicy(max_retries=5, initial_backoff=0.1)
    client = AsyncTavus(api_key=KEY, retry=policy, max_retries=1)
    assert client.max_retries == 1
    assert client.retry.max_retries == 1
    assert client.retry.initial_backoff == 0.1  # the rest of the policy is kept
    assert policy.max_retries == 5  # the caller's policy is not mutated
    assert AsyncTavus(api_key=KEY, retry=policy, max_retries=0).max_retries == 0


def test_policy_retry_count_kept_when_max_retries_not_given() -> None:
    assert AsyncTavus(api_key=KEY, retry=RetryPolicy(max_retries=5)).max_retries == 5
    assert AsyncTavus(api_key=KEY).max_retries == RetryPolicy().max_retries


def test_repr_shows_options_never_the_key() -> None:
    key = "tvs-very-secret-key-1234"
    client = AsyncTavus(api_key=key, base_url=BASE, timeout=7.0, max_retries=4, max_connections=9)
    text = repr(client)
    assert key not in text
    assert f"base_url='{BASE}'" in text
    assert "timeout=7.0" in text
    assert "max_retries=4" in text
    assert "max_connections=9" in text
    assert key not in str(client)


# --------------------------------------------------------------------------- lifetime


async def test_closed_client_raises_without_io(mocked: Any) -> None:
    client = _client()
    await client.close()
    assert client.is_closed
    with pytest.raises(ClientClosedError):
        await client.personas.get(PID)
    assert mocked.requests == {}


async def test_closed_after_use_raises_without_io(mocked: Any) -> None:
    _route(mocked, payload=_persona())
    async with _client() as client:
        await client.personas.get(PID)
    assert client.is_closed
    with pytest.raises(ClientClosedError) as info:
        await client.personas.get(PID)
    assert isinstance(info.value, TavusError)
    assert isinstance(info.value, RuntimeError)
    assert len(_calls(mocked)) == 1


async def test_close_is_idempotent() -> None:
    client = _client()
    await client.close()
    await client.close()
    assert client.is_closed
    async with _client() as other:
        await other.close()
    assert other.is_closed


async def test_unrouted_request_is_connection_error(mocked: Any) -> None:
    # The premise of the "no I/O" tests: a request that *is* made fails like this.
    async with _client() as client:
        with pytest.raises(APIConnectionError):
            await client.personas.get(PID)
    assert len(_calls(mocked)) == 1


async def test_user_session_is_used_and_not_closed(
    mocked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = aiohttp.ClientSession(headers={"X-From-User-Session": "yes"})
    try:

        def no_new_sessions(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
            raise AssertionError("the client created its own session")

        monkeypatch.setattr(aiohttp, "ClientSession", no_new_sessions)
        _route(mocked, payload={"data": [_persona()]})
        client = _client(session=session)
        p = await client.personas.get(PID)
        assert p.persona_id == PID
        headers = CIMultiDict(_calls(mocked)[0][2]["headers"])
        assert headers["X-From-User-Session"] == "yes"  # the user's session sent it
        assert headers["x-api-key"] == KEY
        await client.close()
        assert client.is_closed
        assert not session.closed
        with pytest.raises(ClientClosedError):
            await client.personas.get(PID)
        assert len(_calls(mocked)) == 1
    finally:
        await session.close()
    assert session.closed


async def test_user_session_survives_async_with(mocked: Any) -> None:
    _route(mocked, payload=_persona())
    async with aiohttp.ClientSession() as session:
        async with _client(session=session) as client:
            await client.personas.get(PID)
        assert not session.closed
    assert len(_calls(mocked)) == 1

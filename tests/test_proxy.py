"""`proxy=` and `trust_env=`, through a loopback forward proxy in front of the fake server."""

from __future__ import annotations

import base64
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from tavus_async import APIConnectionError, APIStatusError, AsyncTavus
from tavus_async.testing import FakeTavus

pytestmark = pytest.mark.usefixtures("no_error_logs")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KEY = "tk_proxy_SECRET_41be"
USER, PASSWORD = "proxy-user", "proxy-PASSWORD-8c3d"
# Hop-by-hop headers a proxy does not forward (RFC 9110 section 7.6.1), and Host (reset).
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)


class ForwardProxy:
    """A loopback HTTP forward proxy: forwards absolute-form requests (`GET http://h:p/x`)
    and counts them; anything else is refused, so a request that bypassed it is seen."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.forwarded: list[str] = []
        self.authorizations: list[str | None] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if not request.raw_path.startswith("http://"):
            return web.Response(status=400, text="not an absolute-form proxy request")
        self.authorizations.append(request.headers.get("Proxy-Authorization"))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self.session.request(
            request.method,
            URL(request.raw_path, encoded=True),
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
            auto_decompress=False,
        ) as upstream:
            body = await upstream.read()
            kept = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in _HOP | {"content-length"}
            }
        self.forwarded.append(f"{request.method} {URL(request.raw_path).path}")
        return web.Response(status=upstream.status, body=body, headers=kept)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=5) as fake:
        yield fake


@pytest.fixture
async def proxy(app_server: Callable[[Handler], Awaitable[str]]) -> AsyncIterator[ForwardProxy]:
    async with aiohttp.ClientSession() as session:
        forward = ForwardProxy(session)
        forward.url = await app_server(forward.handle)
        yield forward


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No proxy variable and no ~/.netrc but the ones a test sets."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NETRC"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def with_credentials(url: str) -> str:
    return str(URL(url).with_user(USER).with_password(PASSWORD))


async def _use(client: AsyncTavus, server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client:
        await client.personas.get(pid)
        await client.pals.patch(pid, [{"op": "replace", "path": "/pal_name", "value": "Via"}])
        await client.personas.list_page()


async def test_requests_go_through_the_proxy(server: FakeTavus, proxy: ForwardProxy) -> None:
    await _use(AsyncTavus(api_key=KEY, base_url=server.base_url, proxy=proxy.url), server)
    pid = server.persona_ids[0]
    assert proxy.forwarded == [
        f"GET /v2/personas/{pid}",
        f"PATCH /v2/pals/{pid}",
        "GET /v2/personas",
    ]
    assert server.request_count == 3
    assert all(r.headers["x-api-key"] == KEY for r in server.requests)
    assert server.persona_json(pid)["persona_name"] == "Via"
    assert proxy.authorizations == [None, None, None]


async def test_proxy_credentials_are_sent_and_never_shown(
    server: FakeTavus, proxy: ForwardProxy
) -> None:
    client = AsyncTavus(api_key=KEY, base_url=server.base_url, proxy=with_credentials(proxy.url))
    shown = repr(client)
    assert PASSWORD not in shown and USER not in shown and proxy.url in shown
    await _use(client, server)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert proxy.authorizations == [expected] * 3


async def test_a_proxy_error_echoing_the_credentials_is_masked(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def refusing(request: web.Request) -> web.Response:
        auth = request.headers.get("Proxy-Authorization", "").removeprefix("Basic ")
        echoed = base64.b64decode(auth).decode()
        return web.json_response({"message": f"407: wrong {echoed}"}, status=407)

    url = with_credentials(await app_server(refusing))
    async with AsyncTavus(api_key=KEY, base_url="http://tavus.invalid", proxy=url) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.personas.get("p1")
    error = caught.value
    assert error.status_code == 407
    for text in (str(error), str(error.body), "".join(traceback.format_exception(error))):
        assert PASSWORD not in text and USER not in text


async def test_a_refused_tunnel_shows_no_credentials_however_short(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """aiohttp names the proxy URL in the error of a refused CONNECT: short user info,
    which masking leaves alone (too short to mask safely), must not be in it at all."""

    async def refusing(request: web.Request) -> web.Response:
        return web.Response(status=407)

    url = str(URL(await app_server(refusing)).with_user("me").with_password("pw1"))
    async with AsyncTavus(
        api_key=KEY, base_url="https://tavus.invalid", proxy=url, max_retries=0
    ) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.get("p1")
    rendered = "".join(traceback.format_exception(caught.value))
    assert "ClientHttpProxyError" in rendered
    assert "me:" not in rendered and "pw1" not in rendered and "@" not in rendered


async def test_a_proxy_echoing_its_authorization_header_is_masked(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def echoing(request: web.Request) -> web.Response:
        auth = request.headers.get("Proxy-Authorization", "")
        return web.json_response({"message": f"407: refused {auth}"}, status=407)

    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    url = with_credentials(await app_server(echoing))
    async with AsyncTavus(api_key=KEY, base_url="http://tavus.invalid", proxy=url) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.personas.get("p1")
    error = caught.value
    assert error.status_code == 407 and "refused Basic ***" in str(error)
    for text in (str(error), str(error.body), "".join(traceback.format_exception(error))):
        assert token not in text


async def test_an_unreachable_proxy_is_a_connection_error_without_credentials() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = with_credentials(f"http://127.0.0.1:{port}")
    async with AsyncTavus(
        api_key=KEY, base_url="http://tavus.invalid", proxy=url, max_retries=0
    ) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.get("p1")
    assert caught.value.request_sent is False
    rendered = "".join(traceback.format_exception(caught.value))
    assert PASSWORD not in rendered and USER not in rendered


async def test_trust_env_reads_http_proxy(
    server: FakeTavus, proxy: ForwardProxy, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("HTTP_PROXY", proxy.url)
    await _use(AsyncTavus(api_key=KEY, base_url=server.base_url, trust_env=True), server)
    assert len(proxy.forwarded) == 3 and server.request_count == 3


async def test_trust_env_honours_no_proxy(
    server: FakeTavus, proxy: ForwardProxy, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("HTTP_PROXY", proxy.url)
    environment.setenv("NO_PROXY", "127.0.0.1")
    await _use(AsyncTavus(api_key=KEY, base_url=server.base_url, trust_env=True), server)
    assert proxy.forwarded == [] and server.request_count == 3


async def test_the_environment_is_ignored_by_default(
    server: FakeTavus, proxy: ForwardProxy, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("HTTP_PROXY", proxy.url)
    await _use(AsyncTavus(api_key=KEY, base_url=server.base_url), server)
    assert proxy.forwarded == [] and server.request_count == 3


async def test_proxy_wins_over_the_environment(
    server: FakeTavus, proxy: ForwardProxy, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail: nothing there
    client = AsyncTavus(api_key=KEY, base_url=server.base_url, proxy=proxy.url, trust_env=True)
    await _use(client, server)
    assert len(proxy.forwarded) == 3


@pytest.mark.parametrize("options", [{"proxy": "http://127.0.0.1:3128"}, {"trust_env": True}])
async def test_proxy_settings_are_refused_with_a_users_session(options: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="set them on your aiohttp session"):
            AsyncTavus(api_key=KEY, session=session, **options)
        assert AsyncTavus(api_key=KEY, session=session, trust_env=False).is_closed is False


_BAD_PROXIES: list[tuple[object, type[Exception]]] = [
    (f"ftp://{USER}:{PASSWORD}@proxy.local:21", ValueError),
    (f"http://{USER}:{PASSWORD}@", ValueError),
    (f"{USER}:{PASSWORD}@proxy.local:3128", ValueError),
    (f"http://{USER}:{PASSWORD}@proxy.local:99999", ValueError),
    (f"http://{USER}:{PASSWORD}@proxy.local:3128/path", ValueError),
    (f"http://{USER}:{PASSWORD}@proxy.local:3128?token=1", ValueError),
    (f"http://{USER}:{PASSWORD}/x@proxy.local:3128", ValueError),
    ("", ValueError),
    (3128, TypeError),
]


@pytest.mark.parametrize(("bad", "error"), _BAD_PROXIES)
def test_bad_proxies_are_refused_without_showing_them(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        AsyncTavus(api_key=KEY, proxy=bad)  # type: ignore[arg-type]
    rendered = traceback.TracebackException.from_exception(caught.value, capture_locals=True)
    ours = [str(f.locals) for f in rendered.stack if "tavus_async" in f.filename]
    text = "".join(rendered.format_exception_only()) + "".join(ours)
    assert PASSWORD not in text


def test_a_proxy_may_be_a_yarl_url() -> None:
    url = URL("http://proxy.local:3128/").with_user(USER).with_password(PASSWORD)
    shown = repr(AsyncTavus(api_key=KEY, proxy=url))
    assert "proxy='http://proxy.local:3128/'" in shown and PASSWORD not in shown


def test_trust_env_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="trust_env"):
        AsyncTavus(api_key=KEY, trust_env="yes")  # type: ignore[arg-type]

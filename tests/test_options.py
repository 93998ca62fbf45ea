"""`with_options()` copies, `default_headers`, and a client used from another event loop."""

from __future__ import annotations

import asyncio
import threading
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from support import eventually

from tavus_async import (
    APIStatusError,
    APITimeoutError,
    AsyncTavus,
    BudgetConfig,
    ClientClosedError,
    EventLoopError,
    InternalServerError,
    RateLimiter,
    RetryPolicy,
    TavusError,
)
from tavus_async._headers import checked_default_headers
from tavus_async._secret import Hidden
from tavus_async.testing import FakeTavus, Fault

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KEY = "tk_options_SECRET_9f2c"
HEADER_SECRET = "hdr-token-SECRET-77a1"
FAST = RetryPolicy(initial_backoff=0, max_backoff=0, jitter=False)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=5) as fake:
        yield fake


def client_for(server: FakeTavus, **options: Any) -> AsyncTavus:
    return AsyncTavus(api_key=KEY, base_url=server.base_url, **options)


# ---------------------------------------------------------------- with_options


async def test_a_copy_has_its_options_and_inherits_the_rest(server: FakeTavus) -> None:
    limiter = RateLimiter(1000)
    async with client_for(
        server, timeout=30, max_retries=4, cache_ttl=60, rate_limiter=limiter
    ) as client:
        fast = client.with_options(timeout=2, max_retries=0)
        assert (fast.timeout.total, fast.max_retries) == (2.0, 0)
        assert (client.timeout.total, client.max_retries) == (30.0, 4)  # unchanged
        assert fast.base_url == client.base_url
        assert fast.cache is client.cache and fast.rate_limiter is limiter
        same = client.with_options()
        assert (same.timeout, same.retry) == (client.timeout, client.retry)
        patient = client.with_options(retry=RetryPolicy(max_retries=7, initial_backoff=1))
        assert (patient.max_retries, patient.retry.initial_backoff) == (7, 1)
        assert patient.timeout == client.timeout
        # max_retries overrides the given policy's, as in the constructor
        assert client.with_options(retry=RetryPolicy(), max_retries=1).max_retries == 1
        assert fast.with_options(timeout=5).max_retries == 0  # a copy of a copy


async def test_a_copy_keeps_the_clients_retry_budget(server: FakeTavus) -> None:
    async with client_for(server, retry=RetryPolicy(budget=None)) as client:
        copy = client.with_options(retry=RetryPolicy(max_retries=5))
        assert copy.retry.budget is None and copy.max_retries == 5


async def test_a_copy_shares_the_pool(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server) as client:
        copy = client.with_options(timeout=5)
        for target in (client, copy, client.with_options(max_retries=0), copy):
            await target.personas.get(pid)
            await target.pals.get(pid)
    assert server.request_count == 8
    assert server.connections_seen == 1  # one keep-alive connection for all of them


async def test_a_copy_shares_the_cache_and_the_coalescer(server: FakeTavus) -> None:
    first, second = server.persona_ids[:2]
    async with client_for(server, cache_ttl=60) as client:
        copy = client.with_options(max_retries=0)
        await client.personas.get(first)
        await copy.personas.get(first)  # a hit in the shared cache
        assert server.request_count == 1
        server.enqueue(Fault.delay_then(0.05), persona_id=second)
        await asyncio.gather(client.personas.get(second), copy.pals.get(second))
        assert server.request_count == 2  # one request shared by both


async def test_a_copy_spends_the_clients_retry_budget(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    one_retry = RetryPolicy(
        max_retries=3, initial_backoff=0, jitter=False, budget=BudgetConfig(capacity=1)
    )
    async with client_for(server, retry=one_retry) as client:
        server.enqueue(*[Fault.http(500)] * 6, persona_id=pid)
        with pytest.raises(InternalServerError) as by_copy:
            await client.with_options(timeout=5).personas.get(pid)
        assert by_copy.value.attempts == 2  # the one token the bucket held
        with pytest.raises(InternalServerError) as by_client:
            await client.personas.get(pid)
        assert by_client.value.attempts == 1  # the copy spent it


async def test_a_copys_timeout_and_retries_apply_to_its_calls_only(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server, timeout=30, retry=FAST) as client:
        server.enqueue(Fault.stall(), persona_id=pid)
        with pytest.raises(APITimeoutError) as timed_out:
            await client.with_options(timeout=0.05, max_retries=0).personas.get(pid)
        assert timed_out.value.attempts == 1
        server.enqueue(Fault.http(500), Fault.http(500), persona_id=pid)
        with pytest.raises(InternalServerError) as no_retry:
            await client.with_options(max_retries=0).personas.get(pid)
        assert no_retry.value.attempts == 1
        persona = await client.personas.get(pid)  # the client's 2 retries outlast a 500
        assert persona.persona_id == pid


async def test_closing_a_copy_leaves_the_pool_open(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with client_for(server) as client:
        async with client.with_options(timeout=5) as copy:
            await copy.personas.get(pid)
        await copy.close()
        assert not copy.is_closed and not client.is_closed
        await client.personas.get(pid)
        await copy.personas.get(pid)
        assert server.connections_seen == 1


async def test_closing_the_client_closes_its_copies(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    client = client_for(server)
    copy = client.with_options(max_retries=0)
    await copy.personas.get(pid)
    server.enqueue(Fault.stall(), persona_id=pid)
    pending = asyncio.create_task(copy.personas.get(pid))
    assert await eventually(lambda: server.in_flight == 1)
    await client.close()
    assert copy.is_closed
    with pytest.raises(ClientClosedError):
        await pending
    with pytest.raises(ClientClosedError):
        await copy.pals.get(pid)
    assert server.request_count == 2  # the closed copy sent nothing
    assert await eventually(lambda: server.open_connections == 0)


_BAD_OPTIONS: list[tuple[dict[str, Any], type[Exception]]] = [
    ({"timeout": "1"}, TypeError),
    ({"timeout": True}, TypeError),
    ({"timeout": 0}, ValueError),
    ({"timeout": float("nan")}, ValueError),
    ({"timeout": 10**400}, ValueError),
    ({"max_retries": 1.5}, TypeError),
    ({"max_retries": -1}, ValueError),
    ({"retry": "fast"}, TypeError),
]


@pytest.mark.parametrize(("kwargs", "error"), _BAD_OPTIONS)
def test_with_options_checks_its_arguments_as_the_constructor_does(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    client = AsyncTavus(api_key=KEY)
    with pytest.raises(error) as by_copy:
        client.with_options(**kwargs)
    with pytest.raises(error) as by_constructor:
        AsyncTavus(api_key=KEY, **kwargs)
    assert str(by_copy.value) == str(by_constructor.value)


def test_with_options_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        AsyncTavus(api_key=KEY).with_options(5)  # type: ignore[call-arg]


def test_a_copys_repr_shows_no_secret() -> None:
    client = AsyncTavus(
        api_key=KEY,
        default_headers={"X-Token": HEADER_SECRET},
        proxy="http://user:proxy-PASSWORD-1@proxy.local:3128",
    )
    for shown in (repr(client), repr(client.with_options(timeout=3))):
        assert KEY not in shown and HEADER_SECRET not in shown
        assert "proxy-PASSWORD-1" not in shown and "user" not in shown
        assert "proxy='http://proxy.local:3128'" in shown
    assert "timeout=3.0" in repr(client.with_options(timeout=3))


# ------------------------------------------------------------- default_headers


async def test_default_headers_go_with_every_request(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    headers = {"X-Team": "search", "X-Token": HEADER_SECRET}
    async with client_for(server, default_headers=headers) as client:
        await client.personas.get(pid)
        await client.with_options(max_retries=0).pals.get(pid)
        await client.personas.patch(pid, [{"op": "replace", "path": "/persona_name", "value": "N"}])
        await client.personas.delete(pid)
    assert len(server.requests) == 4
    for request in server.requests:
        assert request.headers["x-team"] == "search"
        assert request.headers["x-token"] == HEADER_SECRET
        assert request.headers["x-api-key"] == KEY
        assert request.headers["user-agent"].startswith("tavus-async/")


async def test_default_headers_go_through_a_users_session(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    async with (
        aiohttp.ClientSession(headers={"X-Session": "theirs"}) as session,
        client_for(server, session=session, default_headers={"X-Team": "search"}) as client,
    ):
        await client.personas.get(pid)
        await client.personas.patch(pid, [{"op": "replace", "path": "/persona_name", "value": "N"}])
    for request in server.requests:
        assert request.headers["x-team"] == "search"
        assert request.headers["x-session"] == "theirs"


async def test_default_headers_may_replace_the_user_agent(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    agents: list[list[str]] = []

    async def handler(request: web.Request) -> web.Response:
        agents.append(request.headers.getall("User-Agent"))
        return web.json_response({"persona_id": "p1"})

    base_url = await app_server(handler)
    async with AsyncTavus(
        api_key=KEY, base_url=base_url, default_headers={"user-agent": "my-app/1.0"}
    ) as client:
        await client.personas.get("p1")
    assert agents == [["my-app/1.0"]]  # one header, the given one


async def test_a_default_header_value_echoed_in_an_error_is_masked(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.Response:
        echoed = request.headers["X-Token"]
        return web.json_response(
            {"message": f"bad token {echoed}"}, status=400, headers={"X-Echo": echoed}
        )

    base_url = await app_server(handler)
    async with AsyncTavus(
        api_key=KEY, base_url=base_url, default_headers={"X-Token": HEADER_SECRET}
    ) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.personas.get("p1")
    error = caught.value
    rendered = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), str(error.body), str(dict(error.headers)), rendered):
        assert HEADER_SECRET not in text
    assert "***" in str(error)


@pytest.mark.parametrize(
    "name",
    [
        "x-api-key",
        "X-API-KEY",
        "X-Api-Key",
        "Accept",
        "accept-encoding",
        "Content-Type",
        # CGI-style servers (WSGI's HTTP_X_API_KEY) read "_" as "-": the same header there.
        "x_api_key",
        "X_Api-Key",
        "content_type",
    ],
)
def test_default_headers_cannot_set_the_key_or_what_the_client_needs(name: str) -> None:
    with pytest.raises(ValueError, match="must not set") as caught:
        AsyncTavus(api_key=KEY, default_headers={name: HEADER_SECRET})
    assert HEADER_SECRET not in str(caught.value)
    if name.lower().replace("_", "-") == "x-api-key":
        assert "api_key=" in str(caught.value)


_BAD_HEADERS: list[tuple[object, type[Exception]]] = [
    ({"X-Token": HEADER_SECRET + "\r\nX-Injected: 1"}, ValueError),
    ({"X-Token": HEADER_SECRET + "\n"}, ValueError),
    ({"X-Token": HEADER_SECRET + "\x00"}, ValueError),
    ({"X-Token": " " + HEADER_SECRET}, ValueError),
    ({f"X-Token: {HEADER_SECRET}": "1"}, ValueError),  # a whole header line as the name
    ({f"X-Token\r\n{HEADER_SECRET}": "1"}, ValueError),
    ({"": HEADER_SECRET}, ValueError),
    ({"X-Token": HEADER_SECRET, "x-token": HEADER_SECRET}, ValueError),
    ({"X-Token": HEADER_SECRET.encode()}, TypeError),
    ({b"X-Token": HEADER_SECRET}, TypeError),
    ([("X-Token", HEADER_SECRET)], TypeError),
    (f"X-Token: {HEADER_SECRET}", TypeError),
]


@pytest.mark.parametrize(("headers", "error"), _BAD_HEADERS)
def test_bad_default_headers_are_refused_without_showing_them(
    headers: object, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        AsyncTavus(api_key=KEY, default_headers=headers)  # type: ignore[arg-type]
    assert HEADER_SECRET not in _rendered(caught.value)


def test_a_later_constructor_error_shows_no_header_value() -> None:
    with pytest.raises(ValueError, match="max_connections") as caught:
        AsyncTavus(api_key=KEY, default_headers={"X-Token": HEADER_SECRET}, max_connections=0)
    assert HEADER_SECRET not in _rendered(caught.value)


@pytest.mark.parametrize(
    ("headers", "sent"),
    [
        (None, {}),
        ({}, {}),
        ({"X-Team": "a", "X-Empty": ""}, {"X-Team": "a", "X-Empty": ""}),
        ({"X-Tab": "a\tb", "X-Utf8": "café"}, {"X-Tab": "a\tb", "X-Utf8": "café"}),
        ({"User-Agent": "mine"}, {"User-Agent": "mine"}),
        ({"user-agent": "mine"}, {"user-agent": "mine"}),
    ],
)
def test_checked_default_headers_table(headers: object, sent: dict[str, str]) -> None:
    checked = checked_default_headers(Hidden(headers))
    assert not isinstance(checked, Exception)
    base = {"User-Agent": "sdk", "x-api-key": KEY}
    merged = checked.over(base)
    assert {k.lower() for k in merged} == {"user-agent", "x-api-key"} | {k.lower() for k in sent}
    for name, value in sent.items():
        assert merged[name] == value
    assert repr(checked) == f"DefaultHeaders(names={tuple(sent)!r})"


def _rendered(exc: BaseException) -> str:
    """The message and every local of each frame of the error's traceback."""
    rendered = traceback.TracebackException.from_exception(exc, capture_locals=True)
    ours = [frame for frame in rendered.stack if "tavus_async" in frame.filename]
    return "".join(rendered.format_exception_only()) + "".join(str(f.locals) for f in ours)


# ----------------------------------------------------------- another event loop


@pytest.fixture
def threaded_server() -> Iterator[FakeTavus]:
    """A FakeTavus serving from a thread of its own, so several event loops can call it."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        async with FakeTavus(api_key=KEY, num_personas=5) as fake:
            holder["fake"], holder["stop"] = fake, asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            ready.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder["fake"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def test_a_client_used_from_a_second_asyncio_run_says_so(threaded_server: FakeTavus) -> None:
    pid = threaded_server.persona_ids[0]
    client = client_for(threaded_server)  # created outside any loop: fine
    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(client.personas.get(pid)).persona_id == pid

        async def again() -> tuple[BaseException, BaseException]:
            listing = client.with_options(max_retries=5).personas.list()
            return await _first_error(client.personas.get(pid)), await _first_error(anext(listing))

        error, by_copy = asyncio.run(again())
        assert isinstance(error, EventLoopError) and isinstance(by_copy, EventLoopError)
        assert isinstance(error, TavusError) and isinstance(error, RuntimeError)
        assert "another event loop" in str(error) and "one client per loop" in str(error)
        assert error.attempts == 0
        assert threaded_server.request_count == 1  # nothing sent, nothing retried
        assert not client.is_closed
        first.run_until_complete(client.close())
    finally:
        first.close()


def test_bulk_calls_from_another_loop_fail_each_slot(threaded_server: FakeTavus) -> None:
    ids = threaded_server.persona_ids[:3]
    client = client_for(threaded_server)
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(client.personas.get(ids[0]))

        async def bulk() -> list[object]:
            results = await client.personas.get_many(ids, return_exceptions=True)
            return [*results, *[r async for _, r in client.personas.iter_many(ids)]]

        results = asyncio.run(bulk())
        assert len(results) == 6
        assert all(isinstance(r, EventLoopError) for r in results)
        assert threaded_server.request_count == 1
        first.run_until_complete(client.close())
    finally:
        first.close()


def test_a_users_session_from_another_loop_is_named(threaded_server: FakeTavus) -> None:
    pid = threaded_server.persona_ids[0]
    first = asyncio.new_event_loop()
    try:

        async def make() -> tuple[aiohttp.ClientSession, AsyncTavus]:
            session = aiohttp.ClientSession()
            return session, client_for(threaded_server, session=session)

        session, client = first.run_until_complete(make())
        error = asyncio.run(_first_error(client.personas.get(pid)))
        assert isinstance(error, EventLoopError)
        assert "aiohttp session given to it" in str(error)
        assert threaded_server.request_count == 0
        first.run_until_complete(client.personas.get(pid))  # its own loop still works
        first.run_until_complete(session.close())
    finally:
        first.close()


def test_closing_from_another_open_loop_is_refused_and_changes_nothing(
    threaded_server: FakeTavus,
) -> None:
    pid = threaded_server.persona_ids[0]
    client = client_for(threaded_server)
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(client.personas.get(pid))
        error = asyncio.run(_first_error(client.close()))
        assert isinstance(error, EventLoopError)
        assert "close the client from that loop" in str(error)
        assert not client.is_closed
        asyncio.run(client.with_options(timeout=1).close())  # a copy's close: nothing
        first.run_until_complete(client.personas.get(pid))  # still whole in its own loop
        first.run_until_complete(client.close())
        assert client.is_closed
    finally:
        first.close()


def test_a_closed_client_from_another_loop_says_closed(threaded_server: FakeTavus) -> None:
    pid = threaded_server.persona_ids[0]

    async def use_and_close() -> None:
        async with client_for(threaded_server) as client:
            await client.personas.get(pid)
        holder.append(client)

    holder: list[AsyncTavus] = []
    asyncio.run(use_and_close())
    error = asyncio.run(_first_error(holder[0].personas.get(pid)))
    assert isinstance(error, ClientClosedError)


def test_a_client_first_used_in_a_later_loop_works(threaded_server: FakeTavus) -> None:
    client = client_for(threaded_server)

    async def use() -> str:
        async with client:
            return (await client.personas.get(threaded_server.persona_ids[0])).persona_id

    assert asyncio.run(use()) == threaded_server.persona_ids[0]


async def _first_error(call: Awaitable[object]) -> BaseException:
    try:
        await call
    except BaseException as exc:
        return exc
    raise AssertionError("the call did not fail")


def test_a_lookup_from_another_loop_never_joins_the_first_loops_request(
    threaded_server: FakeTavus,
) -> None:
    """A lookup of an id another loop is fetching, or has cached, is refused as any other
    call: waiting on the first loop's request would hang (its answer cannot wake this loop)."""
    pid, cached = threaded_server.persona_ids[:2]
    client = client_for(threaded_server, cache_ttl=60)
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(client.personas.get(cached))
        threaded_server.enqueue(Fault.stall(), persona_id=pid)
        pending = first.create_task(client.personas.get(pid))
        assert first.run_until_complete(eventually(lambda: threaded_server.in_flight == 1))

        async def elsewhere() -> list[BaseException]:
            return [
                await _first_error(asyncio.wait_for(client.personas.get(pid), 5)),
                await _first_error(client.pals.get(cached)),
                await _first_error(client.personas.get_many([pid, cached])),
                await _first_error(client.pals.patch(pid, [])),
                await _first_error(client.personas.delete(cached)),
            ]

        errors = asyncio.run(elsewhere())
        assert [type(error) for error in errors] == [EventLoopError] * 5
        assert threaded_server.request_count == 2  # the first loop's two, nothing more
        pending.cancel()
        first.run_until_complete(asyncio.gather(pending, return_exceptions=True))
        assert first.run_until_complete(client.personas.get(cached)).persona_id == cached
        first.run_until_complete(client.close())
    finally:
        first.close()

"""`AsyncTavus(event_hooks=...)`: request, response and retry events for every attempt,
sync or async hooks, and hooks that fail without failing the call."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from yarl import URL

from tavus_async import (
    APIConnectionError,
    AsyncTavus,
    EventHooks,
    InternalServerError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    RetryPolicy,
)
from tavus_async._hooks import Observer, check_event_hooks, public_url
from tavus_async._secret import Secret
from tavus_async.testing import FakeTavus, Fault

KEY = "sk-hooks-test-DISTINCT-key-42"
INSTANT = RetryPolicy(initial_backoff=0.0, max_backoff=0.0, jitter=False)
Event = RequestEvent | ResponseEvent | RetryEvent


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=10) as fake:
        yield fake


class Recorder:
    """Hooks for every event, recording them in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


def recording_client(server: FakeTavus, recorder: Recorder, **kwargs: Any) -> AsyncTavus:
    hooks = {"request": [recorder], "response": [recorder], "retry": [recorder]}
    return AsyncTavus(
        api_key=KEY, base_url=server.base_url, retry=INSTANT, event_hooks=hooks, **kwargs
    )


# ----------------------------------------------------------------- construction


def _hook(event: object) -> None:
    return None


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ([_hook], TypeError, "must be a dict of lists, not list"),
        ({"requests": [_hook]}, ValueError, "no event 'requests'"),
        ({1: [_hook]}, TypeError, "keys must be str"),
        ({"request": _hook}, TypeError, r"must be a list of callables, not function"),
        ({"request": "print"}, TypeError, "must be a list of callables, not str"),
        ({"request": {_hook}}, TypeError, "must be a list of callables, not set"),
        ({"retry": [_hook, 3]}, TypeError, r"event_hooks\['retry'\]\[1\] must be callable"),
    ],
)
def test_bad_event_hooks_are_refused_at_construction(
    value: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        check_event_hooks(value)
    with pytest.raises(error, match=match):
        AsyncTavus(api_key=KEY, event_hooks=value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {}),
        ({}, {}),
        ({"request": []}, {}),
        (
            {"request": [_hook], "retry": (_hook, print)},
            {"request": (_hook,), "retry": (_hook, print)},
        ),
    ],
)
def test_good_event_hooks(value: Any, expected: dict[str, tuple[Any, ...]]) -> None:
    assert check_event_hooks(value) == expected


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("https://h/v2/personas/p1", None, "https://h/v2/personas/p1"),
        (
            "https://h/v2/personas",
            {"page": "2", "limit": "5"},
            "https://h/v2/personas?page=2&limit=5",
        ),
        ("https://h/v2/pals/p1", {"force": "true"}, "https://h/v2/pals/p1?force=true"),
        (
            "https://h/x",
            {"api_key": "v", "Token": "t", "page": "1"},
            "https://h/x?api_key=***&Token=***&page=1",
        ),
        ("https://h/x?signature=abc", None, "https://h/x?signature=***"),
        ("https://user:pw@h/x", None, "https://h/x"),
        (f"https://h/{KEY}", {"q": KEY}, "https://h/***?q=***"),
    ],
)
def test_public_url(url: str, params: dict[str, str] | None, expected: str) -> None:
    assert public_url(URL(url), params, Secret(KEY)) == expected


# --------------------------------------------------------------------- the events


async def test_each_attempt_gives_request_and_response_events(server: FakeTavus) -> None:
    recorder = Recorder()
    pid = server.persona_ids[0]
    server.enqueue(Fault.http(503, headers={"Retry-After": "0"}))
    async with recording_client(server, recorder) as client:
        await client.personas.get(pid)
    url = f"{server.base_url}/v2/personas/{pid}"
    first, second = recorder.of(ResponseEvent)
    assert [type(event) for event in recorder.events] == [
        RequestEvent,
        ResponseEvent,
        RetryEvent,
        RequestEvent,
        ResponseEvent,
    ]
    assert recorder.of(RequestEvent) == [
        RequestEvent("GET", url, 1),
        RequestEvent("GET", url, 2),
    ]
    assert (first.method, first.url, first.attempt, first.status_code) == ("GET", url, 1, 503)
    assert (second.attempt, second.status_code) == (2, 200)
    assert first.elapsed > 0 and second.elapsed > 0
    (retry,) = recorder.of(RetryEvent)
    assert (retry.method, retry.url, retry.attempt, retry.wait) == ("GET", url, 1, 0.0)
    assert isinstance(retry.error, InternalServerError)
    assert retry.error.status_code == 503
    with pytest.raises(dataclasses.FrozenInstanceError):
        retry.attempt = 3


async def test_events_of_writes_and_lists_name_their_query(server: FakeTavus) -> None:
    recorder = Recorder()
    pid = server.persona_ids[1]
    async with recording_client(server, recorder) as client:
        await client.pals.list_page(page=2, limit=3, pal_type="user")
        await client.pals.patch(
            pid, [{"op": "replace", "path": "/pal_name", "value": "N"}], force=True
        )
        await client.personas.delete(pid)
    requests = recorder.of(RequestEvent)
    assert [(e.method, e.url) for e in requests] == [
        ("GET", f"{server.base_url}/v2/pals?page=2&limit=3&pal_type=user"),
        ("PATCH", f"{server.base_url}/v2/pals/{pid}?force=true"),
        ("DELETE", f"{server.base_url}/v2/personas/{pid}"),
    ]
    assert [e.status_code for e in recorder.of(ResponseEvent)] == [200, 200, 204]


async def test_an_attempt_without_an_answer_has_no_response_event() -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()  # nothing listens there now: connection refused
    recorder = Recorder()
    hooks = {"request": [recorder], "response": [recorder], "retry": [recorder]}
    policy = dataclasses.replace(INSTANT, max_retries=1)
    async with AsyncTavus(
        api_key=KEY, base_url=f"http://127.0.0.1:{port}", retry=policy, event_hooks=hooks
    ) as client:
        with pytest.raises(APIConnectionError):
            await client.personas.get("p1")
    assert [type(event) for event in recorder.events] == [RequestEvent, RetryEvent, RequestEvent]
    (retry,) = recorder.of(RetryEvent)
    assert isinstance(retry.error, APIConnectionError)
    assert retry.error.attempts == 1


async def test_bulk_lookups_give_events_per_request(server: FakeTavus) -> None:
    recorder = Recorder()
    async with recording_client(server, recorder) as client:
        await client.personas.get_many(server.persona_ids[:4])
    assert sorted(e.url.rsplit("/", 1)[1] for e in recorder.of(RequestEvent)) == sorted(
        server.persona_ids[:4]
    )
    assert [e.status_code for e in recorder.of(ResponseEvent)] == [200] * 4


async def test_async_hooks_are_awaited_before_the_call_goes_on(server: FakeTavus) -> None:
    seen: list[str] = []

    async def on_request(event: RequestEvent) -> None:
        await asyncio.sleep(0)
        seen.append(f"request {event.attempt}")

    async def on_response(event: ResponseEvent) -> None:
        await asyncio.sleep(0)
        seen.append(f"response {event.status_code}")

    async with AsyncTavus(
        api_key=KEY,
        base_url=server.base_url,
        event_hooks={"request": [on_request], "response": [on_response]},
    ) as client:
        await client.personas.get(server.persona_ids[2])
        assert seen == ["request 1", "response 200"]


async def test_a_failing_hook_is_logged_and_never_fails_the_call(
    server: FakeTavus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tavus_async")
    recorder = Recorder()

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("hook bug")

    async def broken_async(event: ResponseEvent) -> None:
        raise ValueError("async hook bug")

    async with AsyncTavus(
        api_key=KEY,
        base_url=server.base_url,
        event_hooks={"request": [broken, recorder], "response": [broken_async, recorder]},
    ) as client:
        persona = await client.personas.get(server.persona_ids[3])
    assert persona.persona_id == server.persona_ids[3]
    assert [type(e) for e in recorder.events] == [RequestEvent, ResponseEvent]  # others ran
    failures = [r for r in caplog.records if r.name == "tavus_async"]
    assert [r.getMessage() for r in failures] == [
        f"The request hook {broken.__qualname__} raised",
        f"The response hook {broken_async.__qualname__} raised",
    ]
    assert all(r.levelno == logging.WARNING for r in failures)
    assert [r.exc_info[1].args for r in failures if r.exc_info and r.exc_info[1]] == [
        ("hook bug",),
        ("async hook bug",),
    ]


async def test_an_async_hook_that_overruns_is_abandoned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="tavus_async")
    never = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(event: RequestEvent) -> None:
        try:
            await never.wait()
        finally:
            cancelled.set()

    async def send() -> tuple[Any, None]:
        return _Answer(), None

    observer = Observer({"request": (stuck,)}, Secret(KEY), timeout=0.01)
    answer = await observer.exchange("GET", URL("http://h/x"), None, 1, send)
    assert answer[0].status_code == 204
    assert cancelled.is_set()
    assert [r.getMessage() for r in caplog.records] == [
        f"The request hook {stuck.__qualname__} took longer than 0.01s: abandoned"
    ]


@dataclasses.dataclass
class _Answer:
    status_code: int = 204


async def test_cancelling_the_call_cancels_its_hook(server: FakeTavus) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(event: RequestEvent) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    async with AsyncTavus(
        api_key=KEY, base_url=server.base_url, event_hooks={"request": [slow]}
    ) as client:
        call = asyncio.create_task(client.personas.get(server.persona_ids[4]))
        await started.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    assert cancelled.is_set()
    assert server.request_count == 0


async def test_events_carry_no_secret(server: FakeTavus) -> None:
    recorder = Recorder()
    echo = {"message": f"bad key {KEY}"}
    server.enqueue(Fault.http(503, body=echo, headers={"x-echo": KEY}))
    async with recording_client(server, recorder) as client:
        await client.personas.get(server.persona_ids[5])
    (retry,) = recorder.of(RetryEvent)
    texts = [repr(event) for event in recorder.events]
    texts += [str(retry.error), repr(retry.error.body), repr(dict(retry.error.headers))]
    assert [text for text in texts if KEY in text] == []


async def test_no_hooks_and_no_debug_log_skip_the_observer(
    server: FakeTavus, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The per-attempt path does nothing extra unless a hook is set or DEBUG is logged."""
    calls: list[str] = []
    original: Callable[..., Any] = Observer.exchange

    async def spy(self: Observer, *args: Any) -> Any:
        calls.append(args[0])
        return await original(self, *args)

    monkeypatch.setattr(Observer, "exchange", spy)
    caplog.set_level(logging.INFO, logger="tavus_async")
    async with AsyncTavus(api_key=KEY, base_url=server.base_url) as client:
        await client.personas.get(server.persona_ids[6])
        assert calls == []
        caplog.set_level(logging.DEBUG, logger="tavus_async")  # turned on later: seen
        await client.personas.with_raw_response.get(server.persona_ids[6])
        assert calls == ["GET"]


async def test_a_hook_raising_cancelled_error_is_a_failing_hook_not_a_cancel(
    server: FakeTavus, caplog: pytest.LogCaptureFixture
) -> None:
    """A CancelledError no one asked for (a hook that raises it, or awaits a cancelled
    future) is the hook's failure: logged, and the call goes on. A real cancel still wins."""
    caplog.set_level(logging.WARNING, logger="tavus_async")

    def raises(event: RequestEvent) -> None:
        raise asyncio.CancelledError

    async def awaits_a_cancelled_future(event: ResponseEvent) -> None:
        future = asyncio.get_running_loop().create_future()
        future.cancel()
        await future

    recorder = Recorder()
    hooks: EventHooks = {
        "request": [raises, recorder],
        "response": [awaits_a_cancelled_future, recorder],
        "retry": [raises, recorder],
    }
    server.enqueue(Fault.http(503))
    async with AsyncTavus(
        api_key=KEY, base_url=server.base_url, retry=INSTANT, event_hooks=hooks
    ) as client:
        persona = await client.personas.get(server.persona_ids[7])
    assert persona.persona_id == server.persona_ids[7]
    assert [type(e).__name__ for e in recorder.events] == [
        "RequestEvent",
        "ResponseEvent",
        "RetryEvent",
        "RequestEvent",
        "ResponseEvent",
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "tavus_async"] == [
        f"The request hook {raises.__qualname__} raised",
        f"The response hook {awaits_a_cancelled_future.__qualname__} raised",
        f"The retry hook {raises.__qualname__} raised",
        f"The request hook {raises.__qualname__} raised",
        f"The response hook {awaits_a_cancelled_future.__qualname__} raised",
    ]


async def test_hooks_built_before_the_client_type_check_as_event_hooks(
    server: FakeTavus,
) -> None:
    """Sync functions, async functions and callable objects for different events in one
    dict: unannotated, mypy infers `dict[str, object]`; annotated `EventHooks`, it passes
    (mypy --strict runs over this file)."""
    seen: list[str] = []

    def on_request(event: RequestEvent) -> None:
        seen.append(f"request {event.attempt}")

    async def on_response(event: ResponseEvent) -> None:
        seen.append(f"response {event.status_code}")

    class RetryCounter:
        def __call__(self, event: RetryEvent) -> None:
            seen.append(f"retry {event.wait}")

    hooks: EventHooks = {
        "request": [on_request],
        "response": [on_response],
        "retry": [RetryCounter()],
    }
    server.enqueue(Fault.http(503))
    async with AsyncTavus(
        api_key=KEY, base_url=server.base_url, retry=INSTANT, event_hooks=hooks
    ) as client:
        await client.personas.get(server.persona_ids[8])
    assert seen == ["request 1", "response 503", "retry 0.0", "request 2", "response 200"]

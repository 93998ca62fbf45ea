"""`FakeTavus`: an in-process fake of the Tavus persona API built on aiohttp.web.

Serves `GET /v2/personas/{persona_id}` with deterministic generated personas,
checks `x-api-key`, replays scripted `Fault` objects and records
statistics that tests can assert on (requests, concurrency, connections).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, overload

import msgspec
from aiohttp import web

from ._personas_gen import generate_persona, persona_id_for

__all__ = ["FakeTavus", "Fault", "RecordedRequest", "serve"]

PERSONA_PATH_PREFIX = "/v2/personas/"

_JSON = "application/json"
_encode = msgspec.json.Encoder().encode
_UNAUTHORIZED_BODY = _encode({"message": "Invalid access token"})


_P = ParamSpec("_P")
_T = TypeVar("_T")

_Body = bytes | str | dict[str, Any] | None


class _FieldOrConstructor(Generic[_P, _T]):
    """Descriptor: on the class it is a `Fault` constructor, on an instance a field.

    Lets `Fault.stall()` build a fault while `fault.stall` reads the flag.
    """

    def __init__(self, storage: str, constructor: Callable[_P, Fault]) -> None:
        self._storage = storage
        self._constructor = constructor
        self.__doc__ = constructor.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Callable[_P, Fault]: ...

    @overload
    def __get__(self, instance: Fault, owner: type[Any] | None = None) -> _T: ...

    def __get__(
        self, instance: Fault | None, owner: type[Any] | None = None
    ) -> Callable[_P, Fault] | _T:
        if instance is None:
            return self._constructor
        value: _T = getattr(instance, self._storage)
        return value


class _FlagOrConstructor(_FieldOrConstructor[_P, bool]):
    """A `bool` field that doubles as a constructor on the class."""


class _IntervalOrConstructor(_FieldOrConstructor[_P, float | None]):
    """A `float | None` field that doubles as a constructor on the class."""


def _make_stall() -> Fault:
    """Never respond; the handler waits until the client leaves or the server stops."""
    return Fault(stall=True)


def _make_drip(interval: float, chunk_size: int = 1) -> Fault:
    """Send the normal body `chunk_size` byte(s) at a time, every `interval` seconds."""
    return Fault(drip=interval, drip_chunk=chunk_size)


def _make_drop_mid_body() -> Fault:
    """Send headers with the full Content-Length and half the body, then close."""
    return Fault(drop_mid_body=True)


def _make_close_connection() -> Fault:
    """Close the TCP connection as soon as the request arrives, sending nothing."""
    return Fault(close_connection=True)


@dataclass(frozen=True, init=False, repr=False)
class Fault:
    """One scripted misbehaviour, consumed by exactly one matching request.

    Parts compose in this order: `close_connection`; `delay`; `stall`; then
    the reply (`status`/`body`/`headers` if `status` is set, else the
    normal reply plus extra `headers`), sent slowly if `drip` is set or cut
    in half if `drop_mid_body` is set.
    """

    status: int | None
    body: _Body
    headers: Mapping[str, str] | None
    delay: float
    drip_chunk: int
    _stall: bool
    _drip: float | None
    _drop_mid_body: bool
    _close_connection: bool

    # Same names on the class (constructors) and on instances (field values).
    stall = _FlagOrConstructor("_stall", _make_stall)
    drip = _IntervalOrConstructor("_drip", _make_drip)
    drop_mid_body = _FlagOrConstructor("_drop_mid_body", _make_drop_mid_body)
    close_connection = _FlagOrConstructor("_close_connection", _make_close_connection)

    def __init__(
        self,
        status: int | None = None,
        body: _Body = None,
        headers: Mapping[str, str] | None = None,
        *,
        delay: float = 0.0,
        stall: bool = False,
        drip: float | None = None,
        drip_chunk: int = 1,
        drop_mid_body: bool = False,
        close_connection: bool = False,
    ) -> None:
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"status must be in 100..599, got {status}")
        if delay < 0:
            raise ValueError("delay must be >= 0")
        if drip is not None and drip < 0:
            raise ValueError("drip must be >= 0")
        if drip_chunk < 1:
            raise ValueError("drip_chunk must be >= 1")
        if headers is not None:
            headers = dict(headers)
        setattr_ = object.__setattr__
        setattr_(self, "status", status)
        setattr_(self, "body", body)
        setattr_(self, "headers", headers)
        setattr_(self, "delay", float(delay))
        setattr_(self, "drip_chunk", drip_chunk)
        setattr_(self, "_stall", stall)
        setattr_(self, "_drip", drip)
        setattr_(self, "_drop_mid_body", drop_mid_body)
        setattr_(self, "_close_connection", close_connection)

    def __repr__(self) -> str:
        parts = []
        for name, default in _FAULT_DEFAULTS:
            value = getattr(self, name)
            if value != default:
                parts.append(f"{name}={value!r}")
        return f"Fault({', '.join(parts)})"

    @classmethod
    def http(
        cls,
        status: int,
        body: _Body = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Respond with `status` (and optional body/headers) instead of the persona."""
        return cls(status, body, headers)

    @classmethod
    def retry_after(cls, status: int = 429, seconds: str | float = "1") -> Fault:
        """Respond `status` with a `Retry-After: seconds` header (value sent as given)."""
        return cls(status, headers={"Retry-After": str(seconds)})

    @classmethod
    def invalid_json(cls) -> Fault:
        """Respond 200 `application/json` with a body that is not valid JSON."""
        return cls(200, b"{not json")

    @classmethod
    def delay_then(cls, delay: float, status: int | None = None) -> Fault:
        """Sleep `delay` seconds, then respond normally (or with `status`)."""
        return cls(status, delay=delay)

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """Respond with an HTML error page, as a proxy or load balancer would."""
        reason = _reason(status)
        page = (
            f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        return cls(status, page, {"Content-Type": "text/html; charset=utf-8"})


_FAULT_DEFAULTS: tuple[tuple[str, object], ...] = (
    ("status", None),
    ("body", None),
    ("headers", None),
    ("delay", 0.0),
    ("stall", False),
    ("drip", None),
    ("drip_chunk", 1),
    ("drop_mid_body", False),
    ("close_connection", False),
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as seen by `FakeTavus` (header names are lower-cased)."""

    method: str
    path: str
    persona_id: str | None
    headers: dict[str, str]
    peer: tuple[str, int] | None
    fault: Fault | None
    time: float


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Reply:
    """A fully materialised response (status, body bytes, headers)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def _json_reply(status: int, payload: dict[str, Any]) -> _Reply:
    return _Reply(status, _encode(payload), {"Content-Type": _JSON})


def _build(reply: _Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


def _fault_reply(fault: Fault, status: int) -> _Reply:
    headers: dict[str, str] = {}
    body = fault.body
    if body is None:
        if status >= 400:
            raw = _encode({"message": _reason(status)})
            headers["Content-Type"] = _JSON
        else:
            raw = b""
    elif isinstance(body, bytes):
        raw = body
        headers["Content-Type"] = _JSON
    elif isinstance(body, str):
        raw = body.encode()
        headers["Content-Type"] = "text/plain; charset=utf-8"
    else:
        raw = _encode(body)
        headers["Content-Type"] = _JSON
    if fault.headers:
        _merge_headers(headers, fault.headers)
    return _Reply(status, raw, headers)


def _merge_headers(into: dict[str, str], extra: Mapping[str, str]) -> None:
    """Merge `extra` into `into`, replacing case-insensitively."""
    lowered = {k.lower(): k for k in into}
    for key, value in extra.items():
        old = lowered.get(key.lower())
        if old is not None:
            del into[old]
        into[key] = value


class FakeTavus:
    """A fake Tavus persona API server for tests and demos (aiohttp.web on a TCP port).

    Use as `async with FakeTavus(...) as server:` or call `start` / `stop`.

    Serves `num_personas` generated personas (`persona_ids`; index `i` always
    gets the same id and document) plus any added with `add_persona`.
    Statistics: `requests` (list of `RecordedRequest`, header names
    lower-cased; disabled by `record_requests=False`), `request_count`,
    `in_flight` / `max_in_flight`, `open_connections` /
    `max_open_connections` (sampled at each request start) and
    `connections_seen` (distinct peer addresses that sent a request).
    Scripted faults are queued with `enqueue`.

    Note: aiohttp's client retries an idempotent request once after
    `ServerDisconnectedError`, so one `Fault.close_connection` is
    invisible to a plain `aiohttp` GET; enqueue two to surface the error.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        num_personas: int = 1000,
        envelope: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_timeout: float = 0.5,
        record_requests: bool = True,
    ) -> None:
        if num_personas < 0:
            raise ValueError("num_personas must be >= 0")
        self.api_key = api_key
        self._envelope = envelope
        self.host = host
        self.port = port
        self._shutdown_timeout = shutdown_timeout
        self.record_requests = record_requests
        self.persona_ids: list[str] = [persona_id_for(i) for i in range(num_personas)]
        self._index: dict[str, int] = {pid: i for i, pid in enumerate(self.persona_ids)}
        self._custom: dict[str, dict[str, Any]] = {}
        self._bodies: dict[str, bytes] = {}
        self._global_faults: deque[Fault] = deque()
        self._id_faults: dict[str, deque[Fault]] = {}
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._transports: dict[asyncio.Task[Any], asyncio.Transport] = {}
        self._peers: set[tuple[str, int]] = set()
        self.requests: list[RecordedRequest] = []
        self.request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_open_connections = 0

    # ------------------------------------------------------------------ data

    def persona_json(self, persona_id: str) -> dict[str, Any]:
        """Return (a copy of) the persona object served for `persona_id`; KeyError if unknown."""
        custom = self._custom.get(persona_id)
        if custom is not None:
            return copy.deepcopy(custom)
        return generate_persona(self._index[persona_id])

    def add_persona(self, persona: Mapping[str, Any]) -> str:
        """Serve `persona` (must contain a string `persona_id`) and return its id."""
        pid = persona.get("persona_id")
        if not isinstance(pid, str) or not pid:
            raise ValueError("persona must have a non-empty string 'persona_id'")
        self._custom[pid] = copy.deepcopy(dict(persona))
        self._bodies.pop(pid, None)
        return pid

    def prewarm(self) -> None:
        """Generate and encode every persona body now instead of on first request."""
        for pid in self.persona_ids:
            self._body_for(pid)

    def _body_for(self, persona_id: str) -> bytes | None:
        """Encoded response body for `persona_id` (cached), or None if unknown."""
        body = self._bodies.get(persona_id)
        if body is not None:
            return body
        custom = self._custom.get(persona_id)
        if custom is not None:
            obj = custom
        else:
            index = self._index.get(persona_id)
            if index is None:
                return None
            obj = generate_persona(index)
        raw = _encode(obj)
        body = b'{"data":[' + raw + b"]}" if self._envelope else raw
        self._bodies[persona_id] = body
        return body

    # ---------------------------------------------------------------- faults

    def enqueue(self, *faults: Fault, persona_id: str | None = None) -> None:
        """Queue `faults` (FIFO) for any request, or only for `persona_id`'s requests."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected Fault, got {type(fault).__name__}")
        if persona_id is None:
            self._global_faults.extend(faults)
        else:
            self._id_faults.setdefault(persona_id, deque()).extend(faults)

    def clear_faults(self) -> None:
        """Drop every queued fault (global and per-id)."""
        self._global_faults.clear()
        self._id_faults.clear()

    @property
    def pending_faults(self) -> int:
        """Number of queued faults not yet consumed (global plus per-id)."""
        return len(self._global_faults) + sum(len(q) for q in self._id_faults.values())

    def _pop_fault(self, persona_id: str | None) -> Fault | None:
        if persona_id is not None and self._id_faults:
            queue = self._id_faults.get(persona_id)
            if queue:
                return queue.popleft()
        if self._global_faults:
            return self._global_faults.popleft()
        return None

    # ----------------------------------------------------------------- stats

    @property
    def envelope(self) -> bool:
        """Whether 200 bodies are wrapped as `{"data": [persona]}`."""
        return self._envelope

    @property
    def base_url(self) -> str:
        """`http://host:port` of the running server (port resolved after start)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """TCP connections currently open to the server."""
        runner = self._runner
        if runner is None or runner.server is None:
            return 0
        return len(runner.server.connections)

    @property
    def connections_seen(self) -> int:
        """Distinct TCP connections (peer addresses) that carried at least one request."""
        return len(self._peers)

    def reset_stats(self) -> None:
        """Zero the counters and forget recorded requests (queued faults are kept)."""
        self.requests.clear()
        self.request_count = 0
        self.max_in_flight = self.in_flight
        self.max_open_connections = 0
        self._peers.clear()

    # ------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        return self._runner is not None

    async def start(self) -> None:
        """Bind and start serving; resolves an ephemeral `port=0` to the real port."""
        if self._runner is not None:
            raise RuntimeError("FakeTavus is already running")
        app = web.Application()
        app.router.add_get(PERSONA_PATH_PREFIX + "{persona_id}", self._handle_persona)
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self._shutdown_timeout,
            handler_cancellation=True,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving: cut slow/stalled requests, close connections. Idempotent."""
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        # Cut requests that are parked (stall / delay / drip) so shutdown is instant.
        pending = [t for t in self._handlers if not t.done()]
        for task in pending:
            transport = self._transports.get(task)
            if transport is not None:
                transport.abort()
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self._shutdown_timeout)
        await runner.cleanup()

    async def __aenter__(self) -> FakeTavus:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -------------------------------------------------------------- handlers

    def _enter(self, request: web.Request, persona_id: str | None, fault: Fault | None) -> None:
        """Record `request` and update counters at request start."""
        self.request_count += 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        open_now = self.open_connections
        if open_now > self.max_open_connections:
            self.max_open_connections = open_now
        transport = request.transport
        peer: tuple[str, int] | None = None
        if transport is not None:
            peername = transport.get_extra_info("peername")
            if peername:
                peer = (str(peername[0]), int(peername[1]))
                self._peers.add(peer)
        if not self.record_requests:
            return
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                persona_id=persona_id,
                headers={k.lower(): v for k, v in request.headers.items()},
                peer=peer,
                fault=fault,
                time=time.monotonic(),
            )
        )

    async def _handle_persona(self, request: web.Request) -> web.StreamResponse:
        persona_id = request.match_info["persona_id"]
        fault = self._pop_fault(persona_id)
        self._enter(request, persona_id, fault)
        try:
            if fault is None:
                return self._persona_response(request, persona_id)
            return await self._apply_fault(
                request, fault, lambda: self._persona_reply(request, persona_id)
            )
        finally:
            self.in_flight -= 1

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        """Every other path/method: JSON 404, or JSON 405 on the persona path."""
        path = request.path
        persona_id: str | None = None
        if path.startswith(PERSONA_PATH_PREFIX):
            rest = path[len(PERSONA_PATH_PREFIX) :]
            if rest and "/" not in rest:
                persona_id = rest
        fault = self._pop_fault(persona_id)
        self._enter(request, persona_id, fault)
        try:
            if persona_id is None:
                reply = _json_reply(
                    404,
                    {"message": "Not Found", "error": f"No route for {request.method} {path}"},
                )
            else:
                reply = _json_reply(405, {"message": "Method Not Allowed"})
                reply.headers["Allow"] = "GET, HEAD"
            if fault is None:
                return _build(reply)
            return await self._apply_fault(request, fault, lambda: reply)
        finally:
            self.in_flight -= 1

    def _persona_response(self, request: web.Request, persona_id: str) -> web.Response:
        if request.headers.get("x-api-key") == self.api_key:
            body = self._bodies.get(persona_id)
            if body is not None:  # hot path: cached 200
                return web.Response(body=body, content_type=_JSON)
        return _build(self._persona_reply(request, persona_id))

    def _persona_reply(self, request: web.Request, persona_id: str) -> _Reply:
        if request.headers.get("x-api-key") != self.api_key:
            return _Reply(401, _UNAUTHORIZED_BODY, {"Content-Type": _JSON})
        body = self._body_for(persona_id)
        if body is None:
            return _json_reply(
                404,
                {
                    "message": "Persona not found",
                    "error": f"No persona with persona_id {persona_id!r}",
                },
            )
        return _Reply(200, body, {"Content-Type": _JSON})

    async def _apply_fault(
        self, request: web.Request, fault: Fault, normal: Callable[[], _Reply]
    ) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        transport = request.transport
        self._handlers.add(task)
        if transport is not None:
            self._transports[task] = transport
        try:
            if fault.close_connection:
                if transport is not None:
                    # close() sends FIN, like a server dropping an idle keep-alive.
                    transport.close()
                await _park()
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            if fault.stall:
                await _park()

            if fault.status is not None:
                reply = _fault_reply(fault, fault.status)
            else:
                reply = normal()
                if fault.headers:
                    reply = _Reply(reply.status, reply.body, dict(reply.headers))
                    _merge_headers(reply.headers, fault.headers)

            if fault.drip is not None:
                return await self._send_drip(request, reply, fault.drip, fault.drip_chunk)
            if fault.drop_mid_body:
                return await self._send_half(request, reply)
            return _build(reply)
        finally:
            self._handlers.discard(task)
            self._transports.pop(task, None)

    @staticmethod
    async def _stream_start(request: web.Request, reply: _Reply) -> web.StreamResponse:
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        resp.content_length = len(reply.body)
        await resp.prepare(request)
        return resp

    async def _send_drip(
        self, request: web.Request, reply: _Reply, interval: float, chunk: int
    ) -> web.StreamResponse:
        resp = await self._stream_start(request, reply)
        body = reply.body
        for start in range(0, len(body), chunk):
            if start:
                await asyncio.sleep(interval)
            await resp.write(body[start : start + chunk])
        await resp.write_eof()
        return resp

    async def _send_half(self, request: web.Request, reply: _Reply) -> web.StreamResponse:
        resp = await self._stream_start(request, reply)
        body = reply.body
        half = max(1, len(body) // 2) if body else 0
        await resp.write(body[:half])
        transport = request.transport
        if transport is not None:
            # close() flushes what was written, then sends FIN: the client gets
            # the headers and half the body, then EOF before Content-Length.
            transport.close()
        await _park()
        return resp  # pragma: no cover - _park only ends by cancellation


async def _park() -> None:
    """Wait until cancelled (client disconnect or server stop)."""
    await asyncio.get_running_loop().create_future()


async def serve(
    host: str,
    port: int,
    api_key: str,
    num_personas: int,
    ready: Callable[[str], None] | None = None,
    *,
    envelope: bool = True,
) -> None:
    """Run a `FakeTavus` until cancelled, calling `ready(base_url)` once listening."""
    server = FakeTavus(
        api_key=api_key,
        num_personas=num_personas,
        envelope=envelope,
        host=host,
        port=port,
        record_requests=False,  # long-running: do not grow the request log forever
    )
    await server.start()
    try:
        if ready is not None:
            ready(server.base_url)
        await _park()
    finally:
        await server.stop()

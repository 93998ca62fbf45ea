"""`FakeTavus`: an in-process, stateful fake of the Tavus persona/PAL API on aiohttp.web.

Serves `/v2/personas` and `/v2/pals` (get, list, create, patch, delete) from one store of
deterministic generated personas, checks `x-api-key`, replays scripted `Fault` objects and
records statistics that tests can assert on (requests, concurrency, connections).
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import msgspec
from aiohttp import web

from ._faults import Fault, FaultQueue, reason
from ._personas_gen import example_personas
from ._resource import JSON, PALS, PERSONAS, PersonaType, Reply, Resource, json_reply

__all__ = ["FakeTavus", "Fault", "RecordedRequest", "serve"]

_encode = msgspec.json.Encoder().encode
_UNAUTHORIZED = json_reply(401, {"message": "Invalid access token"})
_KINDS = {"personas": PERSONAS, "pals": PALS}
_COLLECTION = "/v2/{kind:personas|pals}"
_ITEM = _COLLECTION + "/{persona_id}"
_RESOURCE_PATH = re.compile(r"/v2/(?:personas|pals)(?:/([^/]+))?")


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
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _build(reply: Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


def _fault_reply(fault: Fault, status: int) -> Reply:
    headers: dict[str, str] = {}
    body = fault.body
    if body is None:
        if status >= 400:
            raw = _encode({"message": reason(status)})
            headers["Content-Type"] = JSON
        else:
            raw = b""
    elif isinstance(body, bytes):
        raw = body
        headers["Content-Type"] = JSON
    elif isinstance(body, str):
        raw = body.encode()
        headers["Content-Type"] = "text/plain; charset=utf-8"
    else:
        raw = _encode(body)
        headers["Content-Type"] = JSON
    if fault.headers:
        _merge_headers(headers, fault.headers)
    return Reply(status, raw, headers)


def _merge_headers(into: dict[str, str], extra: Mapping[str, str]) -> None:
    """Merge `extra` into `into`, replacing case-insensitively."""
    lowered = {k.lower(): k for k in into}
    for key, value in extra.items():
        old = lowered.get(key.lower())
        if old is not None:
            del into[old]
        into[key] = value


class FakeTavus:
    """A stateful fake Tavus persona/PAL API for tests and demos (aiohttp.web on a TCP port).

    Use as `async with FakeTavus(...) as server:` or call `start` / `stop`.

    `/v2/personas` and `/v2/pals` serve one store: `num_personas` generated personas
    (`persona_ids`; index `i` always gets the same id and document, type `user`), plus any
    added with `add_persona` or created over HTTP. They can be listed, created, patched
    (RFC 6902) and deleted, with the API's status codes and bodies.
    Statistics: `requests` (list of `RecordedRequest`, header names lower-cased; disabled by
    `record_requests=False`), `request_count`, `in_flight` / `max_in_flight`,
    `open_connections` / `max_open_connections` (sampled at each request start) and
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
        self.host = host
        self.port = port
        self._shutdown_timeout = shutdown_timeout
        self.record_requests = record_requests
        self._resource = Resource(num_personas, envelope=envelope)
        #: The generated personas' ids, in order (whatever writes did to them since).
        self.persona_ids: list[str] = self._resource.generated_ids
        self._faults = FaultQueue()
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
        """Return (a copy of) the persona served for `persona_id`, with persona names;
        KeyError if there is none (never was, or deleted)."""
        return copy.deepcopy(self._resource.document(persona_id))

    def has_persona(self, persona_id: str) -> bool:
        """True while `persona_id` is served (not deleted)."""
        return persona_id in self._resource

    def add_persona(self, persona: Mapping[str, Any], *, persona_type: PersonaType = "user") -> str:
        """Serve `persona` (must contain a string `persona_id`) and return its id.

        `persona_type` (`"user"` or `"system"`, a stock persona) is what the list filter
        `persona_type=` / `pal_type=` matches.
        """
        pid = persona.get("persona_id")
        if not isinstance(pid, str) or not pid:
            raise ValueError("persona must have a non-empty string 'persona_id'")
        self._resource.put(copy.deepcopy(dict(persona)), persona_type)
        return pid

    def set_draft(self, persona_id: str, pending: bool = True) -> None:
        """Give `persona_id` unsaved maker changes (or clear them): a PATCH on `/v2/pals`
        then answers 409 `"conflict": "maker_changes"` unless sent with `force=true`."""
        self._resource.set_draft(persona_id, pending)

    def prewarm(self) -> None:
        """Generate and encode every persona body now instead of on first request."""
        for pid in self.persona_ids:
            self._resource.body(PERSONAS, pid)

    # ---------------------------------------------------------------- faults

    def enqueue(
        self,
        *faults: Fault,
        persona_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Queue `faults` (FIFO) for the requests they match: any request, or only those for
        `persona_id` (on either path), with `method`, or whose path matches `path` (a glob:
        `"/v2/pals/*"`). Scoped faults are used before unscoped ones."""
        self._faults.add(faults, persona_id=persona_id, method=method, path=path)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Number of queued faults not yet consumed."""
        return len(self._faults)

    # ----------------------------------------------------------------- stats

    @property
    def envelope(self) -> bool:
        """Whether single-persona 200 bodies are wrapped as `{"data": [persona]}`."""
        return self._resource.envelope

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
        app.router.add_get(_COLLECTION, self._handle_list)
        app.router.add_post(_COLLECTION, self._handle_create)
        app.router.add_get(_ITEM, self._handle_get)
        app.router.add_patch(_ITEM, self._handle_patch)
        app.router.add_delete(_ITEM, self._handle_delete)
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

    async def _handle_get(self, request: web.Request) -> web.StreamResponse:
        kind, pid = _KINDS[request.match_info["kind"]], request.match_info["persona_id"]
        return await self._serve(request, pid, lambda _: self._resource.get(kind, pid))

    async def _handle_list(self, request: web.Request) -> web.StreamResponse:
        kind = _KINDS[request.match_info["kind"]]
        return await self._serve(request, None, lambda _: self._resource.list(kind, request.query))

    async def _handle_create(self, request: web.Request) -> web.StreamResponse:
        kind = _KINDS[request.match_info["kind"]]
        return await self._serve(request, None, lambda body: self._resource.create(kind, body))

    async def _handle_patch(self, request: web.Request) -> web.StreamResponse:
        kind, pid = _KINDS[request.match_info["kind"]], request.match_info["persona_id"]
        return await self._serve(
            request, pid, lambda body: self._resource.patch(kind, pid, request.query, body)
        )

    async def _handle_delete(self, request: web.Request) -> web.StreamResponse:
        kind, pid = _KINDS[request.match_info["kind"]], request.match_info["persona_id"]
        return await self._serve(request, pid, lambda _: self._resource.delete(kind, pid))

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        """Every other path/method: JSON 404, or JSON 405 on a resource path."""
        match = _RESOURCE_PATH.fullmatch(request.path)
        persona_id = match[1] if match is not None else None
        if match is None:
            reply = json_reply(
                404,
                {"message": "Not Found", "error": f"No route for {request.method} {request.path}"},
            )
        else:
            reply = json_reply(405, {"message": "Method Not Allowed"})
            reply.headers["Allow"] = "GET, HEAD, PATCH, DELETE" if persona_id else "GET, HEAD, POST"
        return await self._serve(request, persona_id, lambda _: reply, check_key=False)

    async def _serve(
        self,
        request: web.Request,
        persona_id: str | None,
        answer: Callable[[bytes], Reply],
        *,
        check_key: bool = True,
    ) -> web.StreamResponse:
        """Record the request, then send `answer(body)`, through its fault if one is queued."""
        body = await request.read() if request.body_exists else b""
        fault = self._faults.pop(request.method, request.path, persona_id) if self._faults else None

        def reply() -> Reply:
            if check_key and request.headers.get("x-api-key") != self.api_key:
                return _UNAUTHORIZED
            return answer(body)

        self._enter(request, persona_id, fault, body)
        try:
            if fault is None:
                return _build(reply())
            return await self._apply_fault(request, fault, reply)
        finally:
            self.in_flight -= 1

    def _enter(
        self, request: web.Request, persona_id: str | None, fault: Fault | None, body: bytes
    ) -> None:
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
                query=dict(request.query),
                body=body,
            )
        )

    async def _apply_fault(
        self, request: web.Request, fault: Fault, normal: Callable[[], Reply]
    ) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        transport = request.transport
        self._handlers.add(task)
        if transport is not None:
            self._transports[task] = transport
        try:
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            if fault.kind in ("stall", "close_connection"):
                if fault.kind == "close_connection" and transport is not None:
                    # close() sends FIN, like a server dropping an idle keep-alive.
                    transport.close()
                await _park()

            if fault.status is not None:
                reply = _fault_reply(fault, fault.status)
            else:
                reply = normal()
                if fault.headers:
                    reply = Reply(reply.status, reply.body, dict(reply.headers))
                    _merge_headers(reply.headers, fault.headers)

            if fault.kind == "lose_response":
                if transport is not None:
                    transport.close()
                await _park()
            if fault.kind == "drip":
                return await self._send_drip(request, reply, fault.drip_interval, fault.drip_chunk)
            if fault.kind == "drop_mid_body":
                return await self._send_half(request, reply)
            return _build(reply)
        finally:
            self._handlers.discard(task)
            self._transports.pop(task, None)

    @staticmethod
    async def _stream_start(request: web.Request, reply: Reply) -> web.StreamResponse:
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        resp.content_length = len(reply.body)
        await resp.prepare(request)
        return resp

    async def _send_drip(
        self, request: web.Request, reply: Reply, interval: float, chunk: int
    ) -> web.StreamResponse:
        resp = await self._stream_start(request, reply)
        body = reply.body
        for start in range(0, len(body), chunk):
            if start:
                await asyncio.sleep(interval)
            await resp.write(body[start : start + chunk])
        await resp.write_eof()
        return resp

    async def _send_half(self, request: web.Request, reply: Reply) -> web.StreamResponse:
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
    """Run a `FakeTavus` until cancelled, calling `ready(base_url)` once listening.

    Besides the generated personas it serves the ids the README and docs use: the API
    reference's example `pcb7a34da5fe` and Tavus's stock personas (type `system`), such as
    `p48fdf065d6b`.
    """
    server = FakeTavus(
        api_key=api_key,
        num_personas=num_personas,
        envelope=envelope,
        host=host,
        port=port,
        record_requests=False,  # long-running: do not grow the request log forever
    )
    for persona, persona_type in example_personas():
        server.add_persona(persona, persona_type=persona_type)
    await server.start()
    try:
        if ready is not None:
            ready(server.base_url)
        await _park()
    finally:
        await server.stop()

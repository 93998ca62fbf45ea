"""A fast loopback HTTP/1.1 server for the benchmarks: canned keep-alive persona responses.

`python -m benchmarks.server --port 0 --cpu 1` prints one JSON line (`{"port": ...}`) once it
listens, then serves until SIGTERM/SIGINT. It answers `GET /v2/personas/{id}` with a ~2.9 KB
`{"data":[persona]}` whose `persona_id` is `id`, and `GET /__stats` with its own CPU time and
request count. Requests are parsed minimally (GET only, no request bodies); pipelined and
partial data are handled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import signal
import sys
from typing import Final, cast

from benchmarks.affinity import pin_to_cpu
from benchmarks.payload import Template, templates

__all__ = ["PERSONA_PREFIX", "STATS_PATH", "Responder", "main", "server_cpu_seconds"]

PERSONA_PREFIX: Final = b"/v2/personas/"
STATS_PATH: Final = b"/__stats"
_HEAD: Final = (
    b"HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/json\r\nContent-Length: "
)
_NOT_FOUND: Final = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n"
    b'{"message":"not found"}'
)
_SAFE_ID: Final = re.compile(rb"[A-Za-z0-9_-]{1,64}")


def server_cpu_seconds() -> float:
    """User + system CPU time of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Responder:
    """Builds the response bytes for a request path; counts persona requests."""

    __slots__ = ("_parts", "requests")

    def __init__(self, variants: list[Template]) -> None:
        self._parts = [(t.prefix, t.suffix, len(t.prefix) + len(t.suffix)) for t in variants]
        self.requests = 0

    def respond(self, path: bytes) -> bytes:
        """The full HTTP response for `path`."""
        if path.startswith(PERSONA_PREFIX):
            pid = path[len(PERSONA_PREFIX) :]
            if _SAFE_ID.fullmatch(pid) is not None:
                self.requests += 1
                prefix, suffix, size = self._parts[pid[-1] % len(self._parts)]
                length = str(size + len(pid)).encode()
                return b"".join((_HEAD, length, b"\r\n\r\n", prefix, pid, suffix))
        elif path == STATS_PATH:
            body = json.dumps({"cpu_s": server_cpu_seconds(), "requests": self.requests}).encode()
            return b"".join((_HEAD, str(len(body)).encode(), b"\r\n\r\n", body))
        return _NOT_FOUND


class HTTPProtocol(asyncio.Protocol):
    """One keep-alive connection: split requests on the blank line, answer each in order."""

    __slots__ = ("_pending", "_responder", "_transport")

    def __init__(self, responder: Responder) -> None:
        self._responder = responder
        self._pending = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self._pending:
            data = self._pending + data
        respond = self._responder.respond
        out: list[bytes] = []
        start = 0
        while True:
            end = data.find(b"\r\n\r\n", start)
            if end < 0:
                break
            line_end = data.find(b"\r\n", start)
            parts = data[start:line_end].split(b" ", 2)
            out.append(respond(parts[1]) if len(parts) == 3 else _NOT_FOUND)
            start = end + 4
        self._pending = data[start:]
        if out and self._transport is not None:
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def _serve(host: str, port: int, responder: Responder, info: dict[str, object]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HTTPProtocol(responder), host, port, backlog=1024, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    info["port"] = server.sockets[0].getsockname()[1]
    print(json.dumps(info), flush=True)
    try:
        await stop.wait()
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the options, pin, and serve until signalled."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=1, help="CPU to pin to (-1: no pinning)")
    parser.add_argument("--variants", type=int, default=8, help="distinct persona bodies")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    args = parser.parse_args(argv)
    pinned = pin_to_cpu(args.cpu) if args.cpu >= 0 else False
    responder = Responder(templates(args.variants))
    use_uvloop = False
    if not args.no_uvloop:
        try:
            import uvloop

            use_uvloop = True
        except ImportError:
            pass
    info: dict[str, object] = {"pinned": pinned, "cpu": args.cpu, "uvloop": use_uvloop}
    coro = _serve(args.host, args.port, responder, info)
    if use_uvloop:
        uvloop.run(coro)
    else:
        asyncio.run(coro)
    return 0


if __name__ == "__main__":
    sys.exit(main())

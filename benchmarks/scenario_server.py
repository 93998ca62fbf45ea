"""A loopback server that behaves like a real API: latency, a rate limit, faults, a slow tail.

`python -m benchmarks.scenario_server --delay-ms 20 --rate 200 ...` prints one JSON line
(`{"port": ...}`) once it listens on 127.0.0.1, then serves until SIGTERM/SIGINT. It answers
`GET /v2/personas/{id}` with the same ~2.9 KB bodies as `benchmarks.server`, shaped by:

- `--delay-ms` / `--jitter-ms`: every response waits delay +/- jitter (uniform);
- `--rate` / `--burst`: a token bucket; beyond it `429` + `Retry-After: 1`, sent at once;
- `--error-rate`: that share of responses is `503`;
- `--reset-rate`: that share sends the headers and half the body, then aborts the connection;
- `--slow-rate` / `--slow-ms`: that share waits `slow-ms` instead of the delay;
- `--tls-cert` / `--tls-key`: serve HTTPS.

`GET /__reset` zeroes the counters, refills the bucket, reseeds the fault dice and restarts
the timeline; `GET /__stats` returns the counters and the per-100 ms timeline since then.
Neither is shaped or counted; a connection counts once it asks for a persona.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Final, cast

from benchmarks.affinity import pin_to_cpu
from benchmarks.payload import Template, templates
from benchmarks.server import PERSONA_PREFIX, STATS_PATH, server_cpu_seconds

__all__ = ["BIN_S", "Behaviour", "Shaper", "main"]

BIN_S: Final = 0.1
RESET_PATH: Final = b"/__reset"
_OK_HEAD: Final = (
    b"HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/json\r\nContent-Length: "
)


def _status(line: bytes, extra: bytes, message: bytes) -> bytes:
    body = b'{"message":"' + message + b'"}'
    return b"".join(
        (
            line,
            b"\r\nContent-Type: application/json\r\n",
            extra,
            b"Content-Length: ",
            str(len(body)).encode(),
            b"\r\n\r\n",
            body,
        )
    )


_429: Final = _status(b"HTTP/1.1 429 Too Many Requests", b"Retry-After: 1\r\n", b"slow down")
_503: Final = _status(b"HTTP/1.1 503 Service Unavailable", b"", b"unavailable")
_404: Final = _status(b"HTTP/1.1 404 Not Found", b"", b"not found")


@dataclass(frozen=True)
class Behaviour:
    """How the server shapes persona responses (all off: the fast server)."""

    delay_s: float = 0.0
    jitter_s: float = 0.0
    rate: float | None = None
    burst: int = 20
    error_rate: float = 0.0
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 1.0
    seed: int = 1


@dataclass
class Counters:
    """What the server did since the last reset; `timeline` bins are [sent, 429, 200]."""

    started: float = field(default_factory=time.monotonic)
    connections: int = 0  # that sent a persona request since the reset
    requests: int = 0
    ok: int = 0
    throttled: int = 0
    errors: int = 0
    resets: int = 0
    slow: int = 0
    timeline: list[list[int]] = field(default_factory=list)

    def bin(self, now: float) -> list[int]:
        index = int((now - self.started) / BIN_S)
        while len(self.timeline) <= index:
            self.timeline.append([0, 0, 0])
        return self.timeline[index]


class Shaper:
    """Decides each persona response: what to send and after how long."""

    def __init__(self, behaviour: Behaviour, variants: list[Template]) -> None:
        self.behaviour = behaviour
        self._parts = [(t.prefix, t.suffix, len(t.prefix) + len(t.suffix)) for t in variants]
        self.reset()

    def reset(self) -> None:
        """Zero the counters, refill the bucket, reseed the dice."""
        b = self.behaviour
        self.counters = Counters()
        self._rng = random.Random(b.seed)
        self._tokens = float(b.burst)
        self._refilled = time.monotonic()

    def _take_token(self, now: float) -> bool:
        rate = self.behaviour.rate
        if rate is None:
            return True
        burst = self.behaviour.burst
        self._tokens = min(float(burst), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _ok(self, pid: bytes) -> bytes:
        prefix, suffix, size = self._parts[pid[-1] % len(self._parts)]
        return b"".join((_OK_HEAD, str(size + len(pid)).encode(), b"\r\n\r\n", prefix, pid, suffix))

    def decide(self, pid: bytes) -> tuple[bytes, float, bool]:
        """(response, delay in seconds, abort after half of it) for one persona request."""
        b, c, now = self.behaviour, self.counters, time.monotonic()
        row = c.bin(now)
        c.requests += 1
        row[0] += 1
        if not self._take_token(now):
            c.throttled += 1
            row[1] += 1
            return _429, 0.0, False
        rng = self._rng
        delay = b.delay_s + (rng.uniform(-b.jitter_s, b.jitter_s) if b.jitter_s else 0.0)
        if b.slow_rate and rng.random() < b.slow_rate:
            c.slow += 1
            delay = b.slow_s
        if b.error_rate and rng.random() < b.error_rate:
            c.errors += 1
            return _503, delay, False
        if b.reset_rate and rng.random() < b.reset_rate:
            c.resets += 1
            return self._ok(pid), delay, True
        c.ok += 1
        row[2] += 1
        return self._ok(pid), delay, False

    def stats(self) -> bytes:
        c = self.counters
        doc = {
            "cpu_s": server_cpu_seconds(),
            "elapsed_s": time.monotonic() - c.started,
            "connections": c.connections,
            "requests": c.requests,
            "ok": c.ok,
            "throttled": c.throttled,
            "errors": c.errors,
            "resets": c.resets,
            "slow": c.slow,
            "bin_s": BIN_S,
            "timeline": c.timeline,
        }
        body = json.dumps(doc).encode()
        return b"".join((_OK_HEAD, str(len(body)).encode(), b"\r\n\r\n", body))


class ShapedProtocol(asyncio.Protocol):
    """One keep-alive connection; responses go out in request order, each at its due time."""

    def __init__(self, shaper: Shaper) -> None:
        self._shaper = shaper
        self._pending = b""
        self._transport: asyncio.Transport | None = None
        self._last_due = 0.0
        self._loop = asyncio.get_running_loop()
        self._counted: Counters | None = None  # the counters this connection was counted in

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        data = self._pending + data
        start = 0
        while (end := data.find(b"\r\n\r\n", start)) >= 0:
            parts = data[start : data.find(b"\r\n", start)].split(b" ", 2)
            start = end + 4
            self._answer(parts[1] if len(parts) == 3 else b"")
        self._pending = data[start:]

    def _answer(self, path: bytes) -> None:
        shaper = self._shaper
        if path.startswith(PERSONA_PREFIX):
            if self._counted is not shaper.counters:  # connections used since the reset
                self._counted = shaper.counters
                shaper.counters.connections += 1
            response, delay, abort = shaper.decide(path[len(PERSONA_PREFIX) :])
        elif path == STATS_PATH:
            response, delay, abort = shaper.stats(), 0.0, False
        elif path == RESET_PATH:
            shaper.reset()
            response, delay, abort = shaper.stats(), 0.0, False
        else:
            response, delay, abort = _404, 0.0, False
        due = max(self._loop.time() + delay, self._last_due)
        self._last_due = due
        if due <= self._loop.time():
            self._send(response, abort)
        else:
            self._loop.call_at(due, self._send, response, abort)

    def _send(self, response: bytes, abort: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if abort:
            head_end = response.index(b"\r\n\r\n") + 4
            transport.write(response[: head_end + (len(response) - head_end) // 2])
            transport.abort()
        else:
            transport.write(response)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def _serve(args: argparse.Namespace, shaper: Shaper, info: dict[str, object]) -> None:
    loop = asyncio.get_running_loop()
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    server = await loop.create_server(
        lambda: ShapedProtocol(shaper), "127.0.0.1", args.port, backlog=1024, ssl=context
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cpu", type=int, default=1, help="CPU to pin to (-1: no pinning)")
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--rate", type=float, help="token bucket: requests per second")
    p.add_argument("--burst", type=int, default=20)
    p.add_argument("--error-rate", type=float, default=0.0, help="share answered 503")
    p.add_argument("--reset-rate", type=float, default=0.0, help="share cut mid-body")
    p.add_argument("--slow-rate", type=float, default=0.0)
    p.add_argument("--slow-ms", type=float, default=1000.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tls-cert", help="PEM certificate chain (serve HTTPS)")
    p.add_argument("--tls-key", help="PEM private key")
    return p.parse_args(argv)


def behaviour_of(args: argparse.Namespace) -> Behaviour:
    """The `Behaviour` the options describe."""
    return Behaviour(
        delay_s=args.delay_ms / 1000,
        jitter_s=args.jitter_ms / 1000,
        rate=args.rate,
        burst=args.burst,
        error_rate=args.error_rate,
        reset_rate=args.reset_rate,
        slow_rate=args.slow_rate,
        slow_s=args.slow_ms / 1000,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    """Pin, then serve on uvloop (when installed) until signalled."""
    args = parse_args(argv)
    pinned = pin_to_cpu(args.cpu) if args.cpu >= 0 else False
    shaper = Shaper(behaviour_of(args), templates())
    info: dict[str, object] = {"pinned": pinned, "cpu": args.cpu, "tls": bool(args.tls_cert)}
    try:
        import uvloop
    except ImportError:
        info["uvloop"] = False
        asyncio.run(_serve(args, shaper, info))
    else:
        info["uvloop"] = True
        uvloop.run(_serve(args, shaper, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())

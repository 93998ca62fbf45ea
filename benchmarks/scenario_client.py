"""One production-scenario measurement in a fresh process, printed as one JSON line.

`python -m benchmarks.scenario_client --peer tavus --mode bulk --n 3000 --port P` opens the
peer, optionally warms it up, resets the server (`/__reset`), runs once under a time limit,
and reports wall and CPU time, ids that succeeded or failed, latency percentiles (`--mode
tail`), what the server saw (`/__stats`: requests, 429s, connections, its timeline) and,
with `--timeline`, completions and the client's concurrency limit sampled over time.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import ssl
import sys
import time
from typing import Any

from benchmarks.affinity import pin_to_cpu
from benchmarks.allocator import settle
from benchmarks.ids import id_list, warmup_ids
from benchmarks.peers import PEERS, BulkOutcome, Peer, TavusPeer, UnsupportedOption, make_peer
from benchmarks.procstats import run_queue_wait_ns
from benchmarks.stats import percentile

__all__ = ["control", "main", "probe_gates"]

SAMPLE_S = 0.05


def control(port: int, path: str, ca: str | None) -> dict[str, Any]:
    """GET one of the server's `/__` endpoints (not shaped, not counted)."""
    if ca is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        context = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("GET", path)
        doc: dict[str, Any] = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return doc


def probe_gates(peer: TavusPeer) -> bool:
    """Record every flow gate the bulk engine creates, so its pacer's rate can be sampled.

    Benchmark-only, and on purpose through a private name: the SDK has no public hook for
    its controller yet. If the internals change, the plot simply has no controller line.
    """
    try:
        from tavus_async import _bulk

        original: type[Any] = getattr(_bulk, "BulkFlow")  # noqa: B009 (private, may vanish)
    except (ImportError, AttributeError):
        return False

    class RecordedGate(original):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            peer.gates.append(self)

    setattr(_bulk, "BulkFlow", RecordedGate)  # noqa: B010
    return True


async def _tail(peer: Peer, ids: list[str], callers: int, latencies: list[float]) -> BulkOutcome:
    """`callers` tasks, each calling `get` over its share of `ids` one at a time."""
    failures: dict[str, int] = {}
    clock = time.perf_counter

    async def caller(share: list[str]) -> None:
        for pid in share:
            started = clock()
            try:
                await peer.get(pid)
            except Exception as exc:
                name = type(exc).__name__
                failures[name] = failures.get(name, 0) + 1
            latencies.append(clock() - started)

    await asyncio.gather(*(caller(ids[i::callers]) for i in range(callers)))
    return BulkOutcome(len(ids) - sum(failures.values()), failures)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Open, warm up, reset the server, run once, and collect the numbers."""
    settle()
    options: dict[str, Any] = json.loads(args.options)
    peer = make_peer(args.peer, options)
    probed = isinstance(peer, TavusPeer) and args.timeline and probe_gates(peer)
    ssl_ctx = ssl.create_default_context(cafile=args.tls_ca) if args.tls_ca else None
    scheme = "https" if ssl_ctx else "http"
    result: dict[str, Any] = {"peer": args.peer, "options": options, "mode": args.mode}
    result |= {"n": args.n, "concurrency": args.concurrency, "uvloop": args.uvloop}
    try:
        await peer.open(f"{scheme}://127.0.0.1:{args.port}", args.concurrency, ssl_ctx)
    except UnsupportedOption as exc:
        return result | {"unsupported": str(exc)}
    try:
        if args.warmup:
            await peer.bulk(warmup_ids(args.warmup), args.concurrency, lambda: None)
        ids = id_list(args.n)
        completed: list[float] = []
        limits: list[tuple[float, float]] = []
        clock = time.perf_counter
        control(args.port, "/__reset", args.tls_ca)
        wait0 = run_queue_wait_ns()
        cpu0, wall0 = time.process_time(), clock()
        latencies: list[float] = []

        async def run() -> BulkOutcome:
            if args.mode == "tail":
                return await _tail(peer, ids, args.concurrency, latencies)
            record = (lambda: completed.append(clock() - wall0)) if args.timeline else _nothing
            return await peer.bulk(ids, args.concurrency, record)

        task = asyncio.ensure_future(run())
        timed_out = False
        while not task.done():
            left = args.time_limit - (clock() - wall0)
            done, _ = await asyncio.wait([task], timeout=min(SAMPLE_S, left) if probed else left)
            if probed:
                limit = peer.controller_limit()
                if limit is not None:
                    limits.append((clock() - wall0, limit))
            if not done and clock() - wall0 >= args.time_limit:
                task.cancel()
                timed_out = True
                await asyncio.gather(task, return_exceptions=True)
        wall, cpu = clock() - wall0, time.process_time() - cpu0
        wait1 = run_queue_wait_ns()
        server = control(args.port, "/__stats", args.tls_ca)
        if timed_out:
            outcome, latencies = BulkOutcome(len(completed), {"timed out": 1}), []
        else:
            outcome = task.result()
    finally:
        await peer.close()
    result |= {
        "ok": outcome.ok,
        "failed": args.n - outcome.ok,
        "failures": outcome.failures,
        "timed_out": timed_out,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_us_per_req": cpu / max(server["requests"], 1) * 1e6,
        "per_s": outcome.ok / wall,
        # Runnable but waiting for the core (another process had it): the machine's load.
        "run_queue_wait_s": None if wait0 is None or wait1 is None else (wait1 - wait0) / 1e9,
        "server": server,
    }
    if latencies:
        result["latency_ms"] = {
            q: percentile(latencies, float(q)) * 1e3 for q in ("50", "90", "99", "99.9")
        }
    if args.timeline:
        result["completed_at"] = completed
        result["limits"] = limits
    return result


def _nothing() -> None:
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--peer", choices=list(PEERS), required=True)
    p.add_argument("--options", default="{}", help="JSON: tavus-async constructor options")
    p.add_argument("--mode", choices=("bulk", "tail"), default="bulk")
    p.add_argument("--n", type=int, default=3000, help="distinct ids (tail: calls)")
    p.add_argument("--concurrency", type=int, default=64, help="bulk: in flight; tail: callers")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-ca", help="PEM CA to trust: the server speaks HTTPS")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop")
    p.add_argument("--warmup", type=int, default=0, help="warm-up requests before the reset")
    p.add_argument("--timeline", action="store_true", help="record completions and limits")
    p.add_argument("--time-limit", type=float, default=300.0, help="seconds, then cancel")
    p.add_argument("--cpu", type=int, default=0, help="CPU to pin to (-1: no pinning)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one measurement and print it as JSON."""
    args = parse_args(argv)
    pinned = pin_to_cpu(args.cpu) if args.cpu >= 0 else False
    if args.uvloop:
        import uvloop

        result = uvloop.run(measure(args))
    else:
        result = asyncio.run(measure(args))
    result["pinned"] = pinned
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

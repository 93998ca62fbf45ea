"""One measurement in a fresh process, printed as one JSON line.

`python -m benchmarks.client --impl NAME --n N --concurrency C --port P` opens the client,
warms it up on ids it will not fetch again, then times one run over `N` distinct ids:
wall (`perf_counter`), CPU (`process_time`), GC (`gc.callbacks`), peak RSS, run-queue wait,
and the server's CPU over the same span (its `/__stats`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Iterable
from typing import Any

from benchmarks.affinity import pin_to_cpu
from benchmarks.allocator import settle
from benchmarks.clients import make_bench
from benchmarks.ids import id_list, lazy_ids, warmup_ids
from benchmarks.impls import IMPLS
from benchmarks.procstats import current_rss, peak_rss, ru_maxrss, run_queue_wait_ns, server_stats
from benchmarks.stats import percentile

__all__ = ["GcTimer", "main", "measure"]

MIB = 1024 * 1024


class GcTimer:
    """A `gc.callbacks` hook adding up the CPU time spent in collections, per generation."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.collections[info["generation"]] += 1


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Open, warm up, time one run and return the measurement."""
    if not args.cold_allocator:
        settle()
    bench = make_bench(args.impl)
    concurrency: int = args.concurrency
    await bench.open(f"http://127.0.0.1:{args.port}", concurrency)
    try:
        if args.warmup > 0:
            await bench.run(warmup_ids(max(args.warmup, 2 * concurrency)), concurrency)
        bench.latencies.clear()
        ids: Iterable[str] = lazy_ids(args.n) if args.lazy_ids else id_list(args.n)
        gc.collect()
        server_cpu0, served0 = server_stats(args.port)
        rss_before = current_rss()
        wait0 = run_queue_wait_ns()
        timer = GcTimer()
        gc.callbacks.append(timer)
        if args.no_gc:
            gc.disable()
        if args.tracemalloc:
            tracemalloc.start()
        # CPU-time clock: on a shared machine a wall clock would bill waiting to whatever ran.
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        if profiler is not None:
            profiler.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        outcome = await bench.run(ids, concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        wait1 = run_queue_wait_ns()
        gc.enable()
        gc.callbacks.remove(timer)
        server_cpu1, served1 = server_stats(args.port)
        result: dict[str, Any] = {
            "impl": args.impl,
            "n": args.n,
            "concurrency": concurrency,
            "lazy_ids": args.lazy_ids,
            "gc_disabled": args.no_gc,
            "cold_allocator": args.cold_allocator,
            "ok": outcome.ok,
            "errors": outcome.errors,
            "wall_s": wall,
            "cpu_s": cpu,
            "personas_per_s": outcome.ok / wall,
            "cpu_us_per_req": cpu / args.n * 1e6,
            "gc_s": timer.seconds,
            "gc_collections": timer.collections,
            "server_cpu_s": server_cpu1 - server_cpu0,
            "server_requests": served1 - served0,
        }
        # Time runnable but not running (another process had the core): take it out of the
        # wall time for the rate this client reaches with a core to itself.
        waited = None if wait0 is None or wait1 is None else (wait1 - wait0) / 1e9
        result["run_queue_wait_s"] = waited
        result["own_core_personas_per_s"] = outcome.ok / max(wall - (waited or 0.0), 1e-9)
        if bench.latencies:
            lat = bench.latencies
            result["lat_p50_us"] = percentile(lat, 50) * 1e6
            result["lat_p99_us"] = percentile(lat, 99) * 1e6
            result["lat_mean_us"] = sum(lat) / len(lat) * 1e6
        if args.retained:
            gc.collect()
            result["retained_rss_bytes_per_persona"] = (current_rss() - rss_before) / args.n
        if args.tracemalloc:
            result["tracemalloc_bytes_per_persona"] = tracemalloc.get_traced_memory()[0] / args.n
            tracemalloc.stop()
        del outcome
        return result
    finally:
        await bench.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=IMPLS, required=True)
    parser.add_argument("--n", type=int, default=20_000, help="distinct ids to fetch")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--port", type=int, required=True, help="the benchmark server's port")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests (>= 2*C)")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (-1: no pinning)")
    parser.add_argument("--lazy-ids", action="store_true", help="generate ids one at a time")
    parser.add_argument("--retained", action="store_true", help="report RSS kept per persona")
    parser.add_argument("--tracemalloc", action="store_true", help="report traced bytes kept")
    parser.add_argument("--no-gc", action="store_true", help="gc.disable() while timing")
    parser.add_argument("--profile", metavar="PATH", help="cProfile the timed run into PATH")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, not asyncio's loop")
    parser.add_argument(
        "--cold-allocator",
        action="store_true",
        help="skip benchmarks.allocator.settle() (glibc's mmap threshold left at its start value)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one measurement and print it as JSON."""
    start_rss = current_rss()
    args = parse_args(argv)
    pinned = pin_to_cpu(args.cpu) if args.cpu >= 0 else False
    if args.uvloop:
        import uvloop

        result = uvloop.run(measure(args))
    else:
        result = asyncio.run(measure(args))
    result["pinned"] = pinned
    result["uvloop"] = args.uvloop
    result["start_rss_mib"] = start_rss / MIB
    result["peak_rss_mib"] = peak_rss() / MIB
    result["ru_maxrss_mib"] = ru_maxrss() / MIB
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the client CPU goes: cProfile by area, and a GC on/off experiment.

`python -m benchmarks.profiling --impls aiohttp_raw,tavus_get_many --concurrency 64` starts the
benchmark server, profiles one timed run per client (cProfile, in a fresh client process),
prints the top functions, the time per area (aiohttp, asyncio, tavus_async, ...) and the
functions that grew most against the first client's profile (the floor), then
runs each client with the collector on and off (`gc.disable()` while timing), interleaved.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.impls import IMPLS
from benchmarks.runner import Server, run_client
from benchmarks.stats import median

__all__ = ["area_of", "main"]

_AREAS = (
    ("tavus_async/", "tavus_async"),
    ("aiohttp/", "aiohttp"),
    ("yarl/", "yarl"),
    ("multidict/", "multidict"),
    ("asyncio/", "asyncio"),
    ("httpx/", "httpx"),
    ("httpcore/", "httpcore"),
    ("pydantic", "pydantic"),
    ("benchmarks/", "benchmarks"),
)


def area_of(filename: str, name: str) -> str:
    """The package a profiled function belongs to (builtins by their method's owner)."""
    for marker, area in _AREAS:
        if marker in filename:
            return area
    if filename == "~":
        if "msgspec" in name:
            return "msgspec (decode)"
        if "socket" in name or "send" in name or "recv" in name:
            return "socket syscalls"
        return "builtins"
    return "other stdlib"


Key = tuple[str, int, str]


def _load(path: Path) -> dict[Key, Any]:
    raw: dict[Key, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    return raw


def _where(key: Key) -> str:
    filename, line, name = key
    return f"{name} ({Path(filename).name}:{line})" if filename != "~" else name


def _diff(raw: dict[Key, Any], base: dict[Key, Any], label: str, requests: int, top: int) -> None:
    """Functions whose own time grew most against the floor's profile."""
    keys = set(raw) | set(base)

    def own(stats: dict[Key, Any], key: Key) -> float:
        return float(stats[key][2]) if key in stats else 0.0

    deltas = sorted(((own(raw, k) - own(base, k), k) for k in keys), reverse=True)[:top]
    total = sum(v[2] for v in raw.values()) - sum(v[2] for v in base.values())
    print(f"  vs the floor: {total * 1e6 / requests:+.1f} µs/req profiled; largest increases:")
    for delta, key in deltas:
        print(f"    {delta * 1e6 / requests:+6.2f} µs/req  {_where(key)}")


def _report(raw: dict[Key, Any], label: str, requests: int, top: int) -> None:
    total = sum(v[2] for v in raw.values())
    areas: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        areas[area_of(filename, name)] += tottime
    print(f"\n=== {label}: {total * 1e6 / requests:.1f} µs/req profiled (cProfile inflates) ===")
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"  {area:<20} {seconds * 1e6 / requests:7.1f} µs/req  {100 * seconds / total:5.1f}%")
    print(f"  top {top} functions by own time:")
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for key, (_cc, ncalls, tottime, cumtime, _callers) in rows:
        print(
            f"    {tottime * 1e6 / requests:6.2f} µs/req  {ncalls / requests:5.2f} calls/req  "
            f"cum {cumtime * 1e6 / requests:7.1f}  {_where(key)}"
        )


def main(argv: list[str] | None = None) -> int:
    """Profile, then run the GC experiment."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impls", default="aiohttp_raw,tavus_get_many,tavus_iter_many")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="GC experiment rounds")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--client-cpu", type=int, default=0)
    parser.add_argument("--server-cpu", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--skip-profile", action="store_true")
    args = parser.parse_args(argv)
    impls = [x for x in args.impls.split(",") if x]
    if unknown := [x for x in impls if x not in IMPLS]:
        parser.error(f"unknown impl: {', '.join(unknown)}")
    c, n = args.concurrency, args.n
    with Server(args.server_cpu) as server, tempfile.TemporaryDirectory() as tmp:
        if not args.skip_profile:
            floor: dict[Key, Any] | None = None
            for impl in impls:
                path = Path(tmp) / f"{impl}.prof"
                run_client(args, server.port, impl, n, c, "--profile", str(path))
                raw = _load(path)
                _report(raw, f"{impl} c={c}", n, args.top)
                if floor is None:
                    floor = raw
                else:
                    _diff(raw, floor, impl, n, args.top)
        rows: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
        for _ in range(args.rounds):
            for impl in impls:
                for no_gc in (False, True):
                    extra = ("--no-gc",) if no_gc else ()
                    rows[impl, no_gc].append(run_client(args, server.port, impl, n, c, *extra))
    if args.rounds < 1:
        return 0
    print(f"\n=== GC experiment, c={c}, n={n}, medians of {args.rounds} rounds ===")
    print(
        f"{'impl':<16} {'gc':<4} {'µs/req':>8} {'GC µs/req':>10} {'GC %':>6} "
        f"{'collections g0/g1/g2':>22} {'personas/s':>11} {'peak MiB':>9}"
    )
    for impl in impls:
        for no_gc in (False, True):
            rs = rows[impl, no_gc]
            cpu = median([r["cpu_us_per_req"] for r in rs])
            gc_us = median([r["gc_s"] / r["n"] * 1e6 for r in rs])
            counts = "/".join(
                str(int(median([r["gc_collections"][g] for r in rs]))) for g in range(3)
            )
            print(
                f"{impl:<16} {'off' if no_gc else 'on':<4} {cpu:8.1f} {gc_us:10.1f} "
                f"{100 * gc_us / cpu:5.1f}% {counts:>22} "
                f"{median([r['personas_per_s'] for r in rs]):11,.0f} "
                f"{median([r['peak_rss_mib'] for r in rs]):9.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `mock-server` and `demo` commands: the fake Tavus API served, or bulk-fetched from."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import aiohttp

from ..client import AsyncTavus
from ..errors import TavusError
from ._output import EXIT_FAILED, EXIT_OK
from ._progress import progress_bar


async def run_mock_server(args: argparse.Namespace) -> int:
    from ..testing import persona_id_for, serve, stock_persona_ids

    # Resolved here, not as the option's default: `--help` must not print the key.
    api_key = args.api_key or os.environ.get("TAVUS_API_KEY") or "test-key"

    def ready(base_url: str) -> None:
        print(f"Fake Tavus API listening on {base_url}", flush=True)
        sample = ", ".join(persona_id_for(i) for i in range(min(args.personas, 3)))
        print(
            f"  export TAVUS_BASE_URL={base_url} TAVUS_API_KEY={api_key}\n"
            f"  {args.personas} personas, e.g. {sample}\n"
            f"  and the ids the docs use: {', '.join(stock_persona_ids())}",
            flush=True,
        )

    await serve(args.host, args.port, api_key, args.personas, ready=ready)
    return EXIT_OK


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def run_demo(args: argparse.Namespace) -> int:
    from ..testing import FakeTavus

    latencies: list[float] = []

    async def on_start(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        ctx.start = time.perf_counter()

    async def on_end(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
        latencies.append(time.perf_counter() - ctx.start)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    api_key = "demo-key"
    async with FakeTavus(api_key=api_key, num_personas=args.count) as server:
        print(f"Fake Tavus API on {server.base_url}; fetching {args.count} personas...")
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with (
            aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session,
            AsyncTavus(api_key=api_key, base_url=server.base_url, session=session) as client,
        ):
            bar = progress_bar(args.count, "personas", sys.stderr)
            failed = 0
            started = time.perf_counter()
            try:
                async for _pid, result in client.personas.iter_many(
                    server.persona_ids, concurrency=args.concurrency
                ):
                    bar.update()
                    if isinstance(result, TavusError):
                        failed += 1
            finally:
                bar.close()
            elapsed = time.perf_counter() - started
        latencies.sort()
        done = args.count - failed
        print(f"fetched {done}/{args.count} personas in {elapsed:.2f}s: {done / elapsed:,.0f}/s")
        print(
            f"latency p50 {_percentile(latencies, 0.5) * 1000:.2f} ms, "
            f"p99 {_percentile(latencies, 0.99) * 1000:.2f} ms, "
            f"mean {statistics.fmean(latencies) * 1000 if latencies else 0:.2f} ms"
        )
        print(f"TCP connections used: {server.connections_seen} (pool limit {args.concurrency})")
    return EXIT_FAILED if failed else EXIT_OK

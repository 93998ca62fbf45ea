"""The `tavus-async` command line: fetch personas, run the fake server, run the demo.

It sits outside the core: it uses only the public client and `tavus_async.testing`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from types import SimpleNamespace
from typing import IO, Any, Protocol, TypeVar

import aiohttp
import msgspec

from ._version import __version__
from .client import AsyncTavus
from .errors import InvalidPersonaIdError, MissingAPIKeyError, TavusError
from .models import Persona
from .personas import validate_persona_id

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_encode = msgspec.json.Encoder().encode


class _Bar(Protocol):
    def update(self, n: int = 1) -> object: ...
    def close(self) -> None: ...


class _NoBar:
    def update(self, n: int = 1) -> object:
        return None

    def close(self) -> None:
        return None


def _progress_bar(total: int | None, desc: str, stream: IO[str], force: bool = False) -> _Bar:
    """A tqdm bar on `stream` when it is a terminal (or `force`), else a silent stand-in.

    tqdm over rich: one small dependency-free package, cheap per update, and optional
    (`pip install "tavus-async[cli]"`); without it the CLI simply shows no bar.
    """
    if not (force or stream.isatty()):
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    bar: _Bar = tqdm(total=total, desc=desc, unit="persona", file=stream, mininterval=0.2)
    return bar


async def _stdin_ids() -> AsyncIterator[str]:
    """Ids from stdin, one a line, read in batches by a daemon thread.

    A daemon thread, not `asyncio.to_thread`: a read blocked on an open terminal or pipe must
    not keep Ctrl-C from ending the program (the loop's executor would wait for it).
    """
    loop = asyncio.get_running_loop()
    batches: asyncio.Queue[list[str]] = asyncio.Queue(maxsize=4)

    def read() -> None:
        while True:
            lines = sys.stdin.readlines(1 << 16)
            try:
                asyncio.run_coroutine_threadsafe(batches.put(lines), loop).result()
            except RuntimeError:  # the loop is gone: nobody wants more ids
                return
            if not lines:
                return

    threading.Thread(target=read, name="tavus-async-stdin", daemon=True).start()
    while lines := await batches.get():
        for line in lines:
            persona_id = line.strip()
            if persona_id:
                yield persona_id


def _table(personas: Sequence[Persona]) -> str:
    header = ("persona_id", "persona_name", "llm", "tts", "perception", "stt", "updated_at")
    rows = [header]
    for p in personas:
        layers = p.layers
        rows.append(
            (
                p.persona_id,
                p.persona_name or "",
                (layers.llm.model if layers and layers.llm else None) or "",
                (layers.tts.tts_engine if layers and layers.tts else None) or "",
                (layers.perception.perception_model if layers and layers.perception else None)
                or "",
                (layers.stt.stt_engine if layers and layers.stt else None) or "",
                p.updated_at or "",
            )
        )
    widths = [min(40, max(len(row[i]) for row in rows)) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell[:40].ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _report(persona_id: str, error: TavusError) -> None:
    print(f"error: {persona_id}: {type(error).__name__}: {error}", file=sys.stderr)


async def _personas_get(args: argparse.Namespace) -> int:
    ids: list[str] | AsyncIterator[str]
    ids = _stdin_ids() if args.ids == ["-"] else list(args.ids)
    total = len(ids) if isinstance(ids, list) else None
    bar = _progress_bar(total, "personas", sys.stderr)
    failed = 0
    out = sys.stdout
    try:
        async with AsyncTavus(api_key=args.api_key, base_url=args.base_url) as client:
            if args.format == "ndjson":
                async for persona_id, result in client.personas.iter_many(
                    ids, concurrency=args.concurrency
                ):
                    bar.update()
                    if isinstance(result, TavusError):
                        failed += 1
                        _report(persona_id, result)
                    else:
                        out.write(_encode(result).decode() + "\n")
            else:
                id_list = []
                for persona_id in ids if isinstance(ids, list) else [i async for i in ids]:
                    try:  # report a bad id like any other failure instead of aborting
                        id_list.append(validate_persona_id(persona_id))
                    except InvalidPersonaIdError as exc:
                        failed += 1
                        _report(persona_id, exc)
                results = await client.personas.get_many(
                    id_list,
                    concurrency=args.concurrency,
                    return_exceptions=True,
                    on_progress=lambda done, total: bar.update(),
                )
                good: list[Persona] = []
                for persona_id, result in zip(id_list, results, strict=True):
                    if isinstance(result, TavusError):
                        failed += 1
                        _report(persona_id, result)
                    else:
                        good.append(result)
                if args.format == "json":
                    out.write(msgspec.json.format(_encode(good).decode(), indent=2) + "\n")
                else:
                    out.write(_table(good) + "\n")
    finally:
        bar.close()
    out.flush()
    return EXIT_FAILED if failed else EXIT_OK


async def _mock_server(args: argparse.Namespace) -> int:
    from .testing import persona_id_for, serve

    def ready(base_url: str) -> None:
        print(f"Fake Tavus API listening on {base_url}", flush=True)
        sample = ", ".join(persona_id_for(i) for i in range(min(args.personas, 3)))
        print(
            f"  export TAVUS_BASE_URL={base_url} TAVUS_API_KEY={args.api_key}\n"
            f"  {args.personas} personas, e.g. {sample}",
            flush=True,
        )

    await serve(args.host, args.port, args.api_key, args.personas, ready=ready)
    return EXIT_OK


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _demo(args: argparse.Namespace) -> int:
    from .testing import FakeTavus

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
            bar = _progress_bar(args.count, "personas", sys.stderr)
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


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="tavus-async", description="Async client for the Tavus persona API."
    )
    parser.add_argument("--version", action="version", version=f"tavus-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    personas = commands.add_parser("personas", help="persona lookups")
    persona_commands = personas.add_subparsers(dest="personas_command", required=True)
    get = persona_commands.add_parser("get", help="fetch personas by id ('-' reads stdin)")
    get.add_argument("ids", nargs="+", metavar="ID")
    get.add_argument("--concurrency", type=_positive_int, default=32)
    get.add_argument("--format", choices=("ndjson", "json", "table"), default="ndjson")
    get.add_argument("--api-key", default=None, help="default: $TAVUS_API_KEY")
    get.add_argument("--base-url", default=None, help="default: $TAVUS_BASE_URL or tavusapi.com")
    get.set_defaults(run=_personas_get)

    mock = commands.add_parser("mock-server", help="run the fake Tavus API")
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=8000)
    mock.add_argument("--api-key", default=os.environ.get("TAVUS_API_KEY") or "test-key")
    mock.add_argument("--personas", type=int, default=1000)
    mock.set_defaults(run=_mock_server)

    demo = commands.add_parser("demo", help="bulk-fetch from an embedded fake server")
    demo.add_argument("--count", type=_positive_int, default=10_000)
    demo.add_argument("--concurrency", type=_positive_int, default=64)
    demo.set_defaults(run=_demo)
    return parser


def run_on_fastest_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop when it is installed (`tavus-async[speed]`), else with
    `asyncio.run`. Only for this program's own entry point: the library never sets a
    loop or a policy."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tavus-async` and `python -m tavus_async`."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Any] = args.run
    try:
        return int(run_on_fastest_loop(run(args)))
    except KeyboardInterrupt:
        return 130
    except MissingAPIKeyError as exc:
        print(f"error: {exc} On the command line: --api-key KEY.", file=sys.stderr)
        return EXIT_FAILED
    except TavusError as exc:  # other configuration problems
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:  # a bad --base-url and the like
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. mock-server on a port already in use
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED

"""The `tavus-async` command line: personas and PALs (get, list, create, patch, delete), the
fake server, the demo.

It sits outside the core: it uses only the public client and `tavus_async.testing`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, Protocol, TypeVar

import aiohttp
import msgspec

from ._paging import Page, iterate_pages
from ._patch import InvalidPatchError
from ._retry import RetryPolicy
from ._version import __version__
from .client import DEFAULT_TIMEOUT, AsyncTavus
from .errors import AuthenticationError, InvalidPersonaIdError, MissingAPIKeyError, TavusError
from .models import Persona
from .resources import Pals, Personas, validate_persona_id

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_encode = msgspec.json.Encoder().encode
_READ_AHEAD = 256  # ids read from stdin before the requests catch up


class _Bar(Protocol):
    total: float | None

    def update(self, n: int = 1) -> object: ...
    def refresh(self) -> object: ...
    def close(self) -> None: ...


class _NoBar:
    total: float | None = None

    def update(self, n: int = 1) -> object:
        return None

    def refresh(self) -> object:
        return None

    def close(self) -> None:
        return None


def _progress_bar(total: int | None, unit: str, stream: IO[str], force: bool = False) -> _Bar:
    """A tqdm bar counting `unit` (a plural: "personas") on `stream` when it is a terminal
    (or `force`), else a silent stand-in: `3000 personas [00:02, 1500 personas/s]`.

    tqdm over rich: one small dependency-free package, cheap per update, and optional
    (`pip install "tavus-async[cli]"`); without it the CLI simply shows no bar.
    """
    if not (force or stream.isatty()):
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    bar: _Bar = tqdm(total=total, unit=f" {unit}", file=stream, mininterval=0.2)
    return bar


def _set_total(bar: _Bar, total: int | None) -> None:
    """Give the bar the total the server announced (`total_count`), once it is known."""
    if total is not None and bar.total != total:
        bar.total = total
        bar.refresh()


async def _stdin_ids() -> AsyncIterator[str]:
    """Ids from stdin, one a line, each handed over as soon as its line arrives.

    A daemon thread, not `asyncio.to_thread`: a read blocked on an open terminal or pipe must
    not keep Ctrl-C from ending the program (the loop's executor would wait for it). It reads
    at most `_READ_AHEAD` lines ahead of the consumer. Lines are read as bytes and decoded
    as UTF-8 whatever the locale: bytes that are not UTF-8 make an invalid id (surrogate
    escapes, refused before any request), not a dead reader; a leading BOM is dropped.
    """
    if sys.stdin is None:  # fd 0 was closed: Python sets sys.stdin to None
        raise ValueError("cannot read ids from stdin: it is closed")
    source = sys.stdin.buffer
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | OSError] = asyncio.Queue()
    room = threading.Semaphore(_READ_AHEAD)

    def read() -> None:
        line: bytes | OSError = b"-"
        while line and not isinstance(line, OSError):
            room.acquire()
            try:
                line = source.readline()  # b"" at the end of the input
            except OSError as exc:
                line = exc
            try:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            except RuntimeError:  # the loop is closed: nobody wants more ids
                return

    threading.Thread(target=read, name="tavus-async-stdin", daemon=True).start()
    first = True
    while line := await lines.get():
        if isinstance(line, OSError):
            raise ValueError(f"cannot read ids from stdin: {line.strerror or line}")
        room.release()
        text = line.decode("utf-8", "surrogateescape")
        if first:
            text, first = text.removeprefix("\ufeff"), False
        persona_id = text.strip()
        if persona_id:
            yield persona_id


def _table(personas: Sequence[Persona], pals: bool = False) -> str:
    names = ("pal_id", "pal_name") if pals else ("persona_id", "persona_name")
    header = (*names, "llm", "tts", "perception", "stt", "updated_at")
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


def _shown(persona_id: str) -> str:
    """`persona_id` as an error line shows it: a huge one (a stray line of stdin) cut short."""
    if len(persona_id) <= 80:
        return persona_id
    return f"{persona_id[:64]}... ({len(persona_id)} characters)"


def _report(persona_id: str, error: TavusError) -> None:
    print(f"error: {_shown(persona_id)}: {type(error).__name__}: {error}", file=sys.stderr)


class _Failures:
    """The failed ids of a run, each reported on stderr as it comes, except a refused API
    key (401): every request shares the key, so it is reported once and the run stops."""

    def __init__(self) -> None:
        self.count = 0
        self.refused = False

    def add(self, persona_id: str, error: TavusError) -> None:
        self.count += 1
        if not isinstance(error, AuthenticationError):
            _report(persona_id, error)
        elif not self.refused:
            self.refused = True
            print(
                f"error: the API key was refused ({type(error).__name__}: {error}): "
                "the remaining ids are skipped. Check --api-key or $TAVUS_API_KEY.",
                file=sys.stderr,
            )

    def exit_code(self) -> int:
        return EXIT_FAILED if self.count else EXIT_OK


def _resource(client: AsyncTavus, args: argparse.Namespace) -> Personas | Pals:
    return client.pals if args.resource == "pals" else client.personas


def _id_name(args: argparse.Namespace) -> str:
    return "pal_id" if args.resource == "pals" else "persona_id"


def _unit(args: argparse.Namespace) -> str:
    return "PALs" if args.resource == "pals" else "personas"


def _client(args: argparse.Namespace) -> AsyncTavus:
    return AsyncTavus(
        api_key=args.api_key,
        base_url=args.base_url,
        timeout=args.timeout,
        max_retries=args.max_retries,
    )


def _emit(out: IO[str], text: str) -> None:
    """Write and flush: a pipeline sees each line at once, even when stdout is a pipe
    (block-buffered)."""
    out.write(text)
    out.flush()


def _line(persona: Persona) -> str:
    """One persona as a JSON line: every key the API sent, unknown ones included."""
    return _encode(persona.to_dict()).decode() + "\n"


def _write_all(personas: Sequence[Persona], args: argparse.Namespace, out: IO[str]) -> None:
    """`json` (an indented array) or `table` output of what was collected."""
    if args.format == "json":
        body = _encode([p.to_dict() for p in personas]).decode()
        _emit(out, msgspec.json.format(body, indent=2) + "\n")
    else:
        _emit(out, _table(personas, pals=args.resource == "pals") + "\n")


async def _get(args: argparse.Namespace) -> int:
    ids: list[str] | AsyncIterator[str]
    ids = _stdin_ids() if args.ids == ["-"] else list(args.ids)
    if args.format != "ndjson" and not isinstance(ids, list):
        ids = [i async for i in ids]  # printed in input order: every id is needed first
    bar = _progress_bar(len(ids) if isinstance(ids, list) else None, _unit(args), sys.stderr)
    failures = _Failures()
    try:
        async with _client(args) as client:
            resource = _resource(client, args)
            if isinstance(ids, list) and args.format != "ndjson":
                await _get_collected(resource, ids, args, bar, failures)
            else:
                await _get_streamed(resource, ids, args, bar, failures)
    finally:
        bar.close()
    return failures.exit_code()


async def _get_streamed(
    resource: Personas | Pals,
    ids: list[str] | AsyncIterator[str],
    args: argparse.Namespace,
    bar: _Bar,
    failures: _Failures,
) -> None:
    """NDJSON: each persona printed as it arrives; stops at a refused key."""
    stream = resource.iter_many(ids, concurrency=args.concurrency)
    async with contextlib.aclosing(stream) as results:
        async for persona_id, result in results:
            bar.update()
            if isinstance(result, Persona):
                _emit(sys.stdout, _line(result))
                continue
            failures.add(persona_id, result)
            if failures.refused:
                return


async def _get_collected(
    resource: Personas | Pals,
    ids: list[str],
    args: argparse.Namespace,
    bar: _Bar,
    failures: _Failures,
) -> None:
    """`json`/`table`: every persona fetched first, then printed in input order."""
    valid = []
    for persona_id in ids:
        try:  # report a bad id like any other failure instead of aborting
            valid.append(validate_persona_id(persona_id, _id_name(args)))
        except InvalidPersonaIdError as exc:
            bar.update()
            failures.add(persona_id, exc)
    results = await resource.get_many(
        valid,
        concurrency=args.concurrency,
        return_exceptions=True,
        on_progress=lambda done, total: bar.update(),
    )
    good: list[Persona] = []
    for persona_id, result in zip(valid, results, strict=True):
        if isinstance(result, Persona):
            good.append(result)
        else:
            failures.add(persona_id, result)
    _write_all(good, args, sys.stdout)


async def _list(args: argparse.Namespace) -> int:
    bar = _progress_bar(None, _unit(args), sys.stderr)
    out = sys.stdout
    collected: list[Persona] = []

    async def fetch_page(client: AsyncTavus, page: int, limit: int) -> Page[Persona]:
        if args.resource == "pals":
            result: Page[Persona] = await client.pals.list_page(
                page=page, limit=limit, pal_type=args.type
            )
        else:
            result = await client.personas.list_page(page=page, limit=limit, persona_type=args.type)
        _set_total(bar, result.total_count)
        return result

    try:
        async with _client(args) as client:
            # The paging of `client.personas.list`, with the total shown as soon as known.
            listing = iterate_pages(
                lambda page, limit: fetch_page(client, page, limit),
                page_size=args.page_size,
                id_of=lambda persona: persona.persona_id,
            )
            async for persona in listing:
                bar.update()
                if args.format == "ndjson":
                    _emit(out, _line(persona))
                else:
                    collected.append(persona)
    except TavusError as exc:
        print(f"error: listing {args.resource}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        bar.close()
    if args.format != "ndjson":
        _write_all(collected, args, out)
    return EXIT_OK


def _read_json(source: str) -> Any:
    """The JSON in file `source` (`-`: stdin); ValueError saying what is wrong."""
    if source == "-" and sys.stdin is None:
        raise ValueError("cannot read stdin: it is closed")
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        return msgspec.json.decode(text)
    except OSError as exc:
        raise ValueError(f"cannot read {source}: {exc.strerror or exc}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"{source} is not JSON: {exc}") from None


def _usage_error(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


async def _create(args: argparse.Namespace) -> int:
    try:
        fields = _read_json(args.file)
        if not isinstance(fields, dict):
            raise ValueError(f"{args.file} must hold a JSON object of the fields to create")
    except ValueError as exc:
        return _usage_error(exc)
    face = None
    if args.resource == "pals":
        face = fields.pop("default_face_id", None)
        if not isinstance(face, str) or not face:
            return _usage_error("a PAL needs default_face_id (a non-empty string)")
    async with _client(args) as client:
        try:
            if face is not None:
                created = await client.pals.create(default_face_id=face, extra_body=fields)
            else:
                created = await client.personas.create(extra_body=fields)
        except TavusError as exc:
            print(f"error: creating: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    _emit(sys.stdout, _line(created))
    return EXIT_OK


async def _patch(args: argparse.Namespace) -> int:
    try:
        operations = _read_json(args.file)
        if not isinstance(operations, list):
            raise InvalidPatchError(f"{args.file} must hold a JSON array of patch operations")
    except ValueError as exc:  # InvalidPatchError is one too
        return _usage_error(exc)
    async with _client(args) as client:
        try:
            if args.resource == "pals":
                changed = await client.pals.patch(args.id, operations, force=args.force)
            else:
                changed = await client.personas.patch(args.id, operations)
        except (InvalidPatchError, InvalidPersonaIdError) as exc:
            return _usage_error(exc)
        except TavusError as exc:
            _report(args.id, exc)
            return EXIT_FAILED
    _emit(sys.stdout, _encode({_id_name(args): args.id, "changed": changed}).decode() + "\n")
    return EXIT_OK


async def _delete(args: argparse.Namespace) -> int:
    failures = _Failures()
    gate = asyncio.Semaphore(args.concurrency)

    async def delete(resource: Personas | Pals, persona_id: str) -> None:
        async with gate:
            if failures.refused:
                return
            try:
                await resource.delete(persona_id)
            except TavusError as exc:
                failures.add(persona_id, exc)
            else:
                _emit(sys.stdout, persona_id + "\n")

    async with _client(args) as client:
        resource = _resource(client, args)
        await asyncio.gather(*(delete(resource, persona_id) for persona_id in args.ids))
    return failures.exit_code()


async def _mock_server(args: argparse.Namespace) -> int:
    from .testing import persona_id_for, serve, stock_persona_ids

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
    """`--concurrency`, `--page-size`, ...: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


_MAX_CONCURRENCY = 1000  # far past any pool; each one is a task started up front


def _concurrency(text: str) -> int:
    """`--concurrency`: a whole number from 1 to `_MAX_CONCURRENCY`."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= _MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {_MAX_CONCURRENCY}, got {text!r}"
        )
    return value


def _retry_count(text: str) -> int:
    """`--max-retries`: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    """`--timeout`: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _add_request_args(parser: argparse.ArgumentParser, concurrency: int | None = None) -> None:
    """The options of every command that makes requests; `--concurrency` where several
    requests run at once."""
    if concurrency is not None:
        parser.add_argument(
            "--concurrency",
            type=_concurrency,
            default=concurrency,
            metavar="N",
            help=f"requests in flight at once, 1 to {_MAX_CONCURRENCY} (default: %(default)s)",
        )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        default=DEFAULT_TIMEOUT,
        help="seconds one attempt may take before it fails (default: %(default)s)",
    )
    parser.add_argument(
        "--max-retries",
        type=_retry_count,
        metavar="N",
        default=RetryPolicy().max_retries,
        help="how many times a temporary failure (timeout, connection error, 429, 5xx) "
        "is retried, with backoff; 0: never (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key", default=None, metavar="KEY", help="the Tavus API key (default: $TAVUS_API_KEY)"
    )
    parser.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="the API root (default: $TAVUS_BASE_URL, else https://tavusapi.com)",
    )


def _add_resource_commands(commands: Any, name: str, noun: str) -> None:
    """`tavus-async personas ...` or `tavus-async pals ...`: the same commands."""
    group = commands.add_parser(name, help=f"{noun}s: get, list, create, patch, delete")
    group.set_defaults(resource=name)
    sub = group.add_subparsers(dest=f"{name}_command", required=True)
    formats = ("ndjson", "json", "table")
    format_help = (
        "ndjson: one JSON object a line, streamed; json: an indented array; "
        "table: a summary (default: %(default)s)"
    )

    get = sub.add_parser("get", help=f"fetch {noun}s by id ('-' reads stdin)")
    get.add_argument(
        "ids", nargs="+", metavar="ID", help=f"{noun} ids; a single '-' reads them from stdin"
    )
    get.add_argument("--format", choices=formats, default="ndjson", help=format_help)
    _add_request_args(get, concurrency=32)
    get.set_defaults(run=_get)

    listing = sub.add_parser("list", help=f"list every {noun}")
    listing.add_argument(
        "--type",
        choices=("user", "system"),
        default=None,
        help=f"only your own {noun}s (user) or Tavus's stock ones (system) (default: both)",
    )
    listing.add_argument("--format", choices=formats, default="ndjson", help=format_help)
    listing.add_argument(
        "--page-size",
        type=_positive_int,
        metavar="N",
        default=100,
        help=f"{noun}s per request (default: %(default)s)",
    )
    _add_request_args(listing)
    listing.set_defaults(run=_list)

    create = sub.add_parser("create", help=f"create a {noun} from a JSON object")
    create.add_argument("file", metavar="FILE", help="a JSON file of the fields, or '-'")
    _add_request_args(create)
    create.set_defaults(run=_create)

    patch = sub.add_parser("patch", help=f"apply a JSON Patch (RFC 6902) to a {noun}")
    patch.add_argument("id", metavar="ID", help=f"the {noun} id")
    patch.add_argument("file", metavar="FILE", help="a JSON file of the operations, or '-'")
    if name == "pals":
        patch.add_argument(
            "--force",
            action="store_true",
            help="overwrite unsaved changes in the maker (default: off)",
        )
    _add_request_args(patch)
    patch.set_defaults(run=_patch)

    delete = sub.add_parser("delete", help=f"delete {noun}s by id")
    delete.add_argument("ids", nargs="+", metavar="ID", help=f"the {noun} ids")
    _add_request_args(delete, concurrency=8)
    delete.set_defaults(run=_delete)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="tavus-async", description="Async client for the Tavus persona API."
    )
    parser.add_argument("--version", action="version", version=f"tavus-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    for name, noun in (("personas", "persona"), ("pals", "PAL")):
        _add_resource_commands(commands, name, noun)

    mock = commands.add_parser("mock-server", help="run the fake Tavus API")
    mock.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)"
    )
    mock.add_argument(
        "--port",
        type=int,
        default=8000,
        help="the port; 0: any free port (default: %(default)s)",
    )
    mock.add_argument(
        "--api-key",
        default=None,
        help="the only key the server accepts (default: $TAVUS_API_KEY, else test-key)",
    )
    mock.add_argument(
        "--personas",
        type=int,
        default=1000,
        help="how many generated personas to serve (default: %(default)s)",
    )
    mock.set_defaults(run=_mock_server)

    demo = commands.add_parser("demo", help="bulk-fetch from an embedded fake server")
    demo.add_argument(
        "--count",
        type=_positive_int,
        default=10_000,
        help="personas to fetch (default: %(default)s)",
    )
    demo.add_argument(
        "--concurrency",
        type=_positive_int,
        default=64,
        help="requests in flight, and the connection pool size (default: %(default)s)",
    )
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
    if sys.stdin is None:
        # fd 0 is closed (`<&-`): hold it with /dev/null, or the event loop's own files
        # would take it (uvloop aborts on that). `sys.stdin` stays None: `get -` says so.
        os.open(os.devnull, os.O_RDONLY)
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
    except BrokenPipeError:
        # The reader left (`... | head -1`): stop quietly. Point stdout at /dev/null so the
        # flush at exit cannot fail again (the recipe of Python's `signal` docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # e.g. mock-server on a port already in use
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED

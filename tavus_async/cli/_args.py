"""The argument parser: every command, its options, and the checks of their values."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from .. import RetryPolicy, __version__
from ..client import DEFAULT_TIMEOUT
from ._commands import run_create, run_delete, run_get, run_list, run_patch
from ._demo import run_demo, run_mock_server


def _whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number >= `minimum` (and <= `maximum` when given)."""
    wanted = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be a whole number {wanted}, got {text!r}")
        return value

    return parse


_MAX_CONCURRENCY = 1000  # far past any pool; each one is a task started up front
#: `--page-size` and the mock server's counts; `--concurrency`; `--max-retries`.
_positive_int = _whole_number(1)
_concurrency = _whole_number(1, _MAX_CONCURRENCY)
_retry_count = _whole_number(0)


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
    get.set_defaults(run=run_get)

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
    listing.set_defaults(run=run_list)

    create = sub.add_parser("create", help=f"create a {noun} from a JSON object")
    create.add_argument("file", metavar="FILE", help="a JSON file of the fields, or '-'")
    _add_request_args(create)
    create.set_defaults(run=run_create)

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
    patch.set_defaults(run=run_patch)

    delete = sub.add_parser("delete", help=f"delete {noun}s by id")
    delete.add_argument("ids", nargs="+", metavar="ID", help=f"the {noun} ids")
    _add_request_args(delete, concurrency=8)
    delete.set_defaults(run=run_delete)


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
    mock.set_defaults(run=run_mock_server)

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
    demo.set_defaults(run=run_demo)
    return parser

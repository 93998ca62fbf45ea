"""The `tavus-async` command line: personas and PALs (get, list, create, patch, delete), the
fake server, the demo.

It sits outside the core: it uses the public client and `tavus_async.testing`, and the
paging rules of `tavus_async._paging` (to show a list's `total_count` as it pages).
Its modules import one way: `_args` (the parser) uses `_commands` and `_demo`, which use
`_input`, `_output` and `_progress`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from ..errors import MissingAPIKeyError, TavusError
from ._args import build_parser
from ._output import EXIT_FAILED, EXIT_USAGE

__all__ = ["build_parser", "main", "run_on_fastest_loop"]

T = TypeVar("T")


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

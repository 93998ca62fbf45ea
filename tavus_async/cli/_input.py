"""What the commands read: ids from stdin, one a line, and JSON from a file or stdin."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

_READ_AHEAD = 256  # ids read from stdin before the requests catch up


async def stdin_ids() -> AsyncIterator[str]:
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


def read_json(source: str) -> Any:
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

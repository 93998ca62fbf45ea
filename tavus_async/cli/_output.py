"""What the commands write: JSON lines, a JSON array or a table on stdout, failures on
stderr, and the exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import IO

import msgspec

from ..errors import AuthenticationError, TavusError
from ..models import Persona

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
encode = msgspec.json.Encoder().encode


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


def report(persona_id: str, error: TavusError) -> None:
    print(f"error: {_shown(persona_id)}: {type(error).__name__}: {error}", file=sys.stderr)


class Failures:
    """The failed ids of a run, each reported on stderr as it comes, except a refused API
    key (401): every request shares the key, so it is reported once and the run stops."""

    def __init__(self) -> None:
        self.count = 0
        self.refused = False

    def add(self, persona_id: str, error: TavusError) -> None:
        self.count += 1
        if not isinstance(error, AuthenticationError):
            report(persona_id, error)
        elif not self.refused:
            self.refused = True
            print(
                f"error: the API key was refused ({type(error).__name__}: {error}): "
                "the remaining ids are skipped. Check --api-key or $TAVUS_API_KEY.",
                file=sys.stderr,
            )

    def exit_code(self) -> int:
        return EXIT_FAILED if self.count else EXIT_OK


def emit(out: IO[str], text: str) -> None:
    """Write and flush: a pipeline sees each line at once, even when stdout is a pipe
    (block-buffered)."""
    out.write(text)
    out.flush()


def line(persona: Persona) -> str:
    """One persona as a JSON line: every key the API sent, unknown ones included."""
    return encode(persona.to_dict()).decode() + "\n"


def write_all(personas: Sequence[Persona], args: argparse.Namespace, out: IO[str]) -> None:
    """`json` (an indented array) or `table` output of what was collected."""
    if args.format == "json":
        body = encode([p.to_dict() for p in personas]).decode()
        emit(out, msgspec.json.format(body, indent=2) + "\n")
    else:
        emit(out, _table(personas, pals=args.resource == "pals") + "\n")

"""docs/benchmarks.md is written by two commands: each replaces only its own section.

`python -m benchmarks` (production scenarios) owns the top section, `python -m benchmarks cpu`
(the loopback CPU suite) the one below it. Sections are delimited by HTML comments.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

__all__ = ["SECTIONS", "demote_headings", "write_section"]

#: Section names, in page order.
SECTIONS: Final = ("production", "cpu")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def demote_headings(markdown: str) -> str:
    """Every heading one level down (`#` -> `##`), fenced code left alone."""
    out, fenced = [], False
    for line in markdown.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        out.append("#" + line if not fenced and re.match(r"#{1,5} ", line) else line)
    return "\n".join(out)


def _sections(text: str) -> dict[str, str]:
    found = {}
    for name in SECTIONS:
        begin, end = _markers(name)
        start, stop = text.find(begin), text.find(end)
        if 0 <= start < stop:
            found[name] = text[start + len(begin) : stop].strip("\n")
    return found


def write_section(path: Path, name: str, body: str) -> None:
    """Replace section `name` of the page at `path` (created if missing), keep the others."""
    sections = _sections(path.read_text()) if path.exists() else {}
    sections[name] = body.strip("\n")
    parts = []
    for key in SECTIONS:
        if key in sections:
            begin, end = _markers(key)
            parts.append(f"{begin}\n{sections[key]}\n{end}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))

"""The canned persona bodies the server sends: `{"data":[persona]}` split around the id.

Bodies come from `tavus_async.testing.generate_persona`; the handful of variants closest to
2.9 KB are kept, and the server splices the requested id into the `persona_id` value.
"""

from __future__ import annotations

import json
from typing import Final, NamedTuple

from tavus_async.testing import generate_persona, persona_id_for

__all__ = ["TARGET_BODY_BYTES", "Template", "body_for", "templates"]

TARGET_BODY_BYTES: Final = 2900
_MARKER: Final = "@@PERSONA_ID@@"
_CANDIDATES: Final = 64


class Template(NamedTuple):
    """A body with a hole for the persona id: `prefix + id + suffix`."""

    prefix: bytes
    suffix: bytes


def _template(index: int) -> Template:
    doc = {"data": [generate_persona(index) | {"persona_id": _MARKER}]}
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    prefix, suffix = raw.split(_MARKER.encode())
    return Template(prefix, suffix)


def templates(count: int = 8) -> list[Template]:
    """The `count` generated personas whose enveloped body is closest to 2.9 KB."""
    pool = [_template(i) for i in range(_CANDIDATES)]
    size = len(persona_id_for(0))

    def distance(t: Template) -> int:
        return abs(len(t.prefix) + size + len(t.suffix) - TARGET_BODY_BYTES)

    return sorted(pool, key=distance)[:count]


def body_for(template: Template, persona_id: str) -> bytes:
    """The full body `template` gives for `persona_id`."""
    return template.prefix + persona_id.encode() + template.suffix

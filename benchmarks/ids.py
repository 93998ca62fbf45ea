"""Persona ids for the clients: realistic (`p` + 11 hex digits), distinct, cheap to make.

Self-contained (the same bijection as `tavus_async.testing.persona_id_for`) so that a client
process imports nothing beyond the client it measures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

__all__ = ["id_list", "lazy_ids", "persona_id", "warmup_ids"]

_BITS: Final = 44
_MASK: Final = (1 << _BITS) - 1
_MUL: Final = 0x9E3779B97F4A7C15 & _MASK | 1
_ADD: Final = 0x5DEECE66D
_WARMUP_OFFSET: Final = 1 << 40  # far from the measured ids: warm-up never repeats them


def persona_id(index: int) -> str:
    """The id of `index`; distinct for every index below 2**44."""
    return f"p{(index * _MUL + _ADD) & _MASK:011x}"


def id_list(count: int, start: int = 0) -> list[str]:
    """`count` distinct ids, materialised."""
    return [persona_id(i) for i in range(start, start + count)]


def lazy_ids(count: int) -> Iterator[str]:
    """The same ids as `id_list(count)`, generated one at a time (flat memory)."""
    return (persona_id(i) for i in range(count))


def warmup_ids(count: int) -> list[str]:
    """Ids for warm-up requests, disjoint from the measured ones."""
    return id_list(count, _WARMUP_OFFSET)

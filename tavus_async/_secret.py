"""`Secret`: the API key, held so that no repr, str or rendered frame local shows it."""

from __future__ import annotations

from typing import Final

__all__ = ["MASK", "Hidden", "Secret"]

#: What a secret is replaced with wherever text could show it.
MASK: Final = "***"


class Secret:
    """A string that never shows itself; `.value` is the real one (for the request header)."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


class Hidden:
    """Any value held so that no repr or rendered frame local shows it: a constructor's
    raw key or base_url until it is checked (a bad one could still be a real secret)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Hidden({MASK!r})"

    __str__ = __repr__

"""`default_headers`: checked at construction, set over the client's own headers, and held
so that no repr or rendered frame local shows a value (a value may be a token)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from multidict import CIMultiDict

from ._secret import Hidden

__all__ = ["NO_HEADERS", "RESERVED_HEADERS", "DefaultHeaders", "checked_default_headers"]

#: Headers the client sets itself and a default may not replace: the key, and what decoding
#: the answer and framing the request rely on. `User-Agent` is not among them.
RESERVED_HEADERS: Final = frozenset(
    {
        "x-api-key",
        "accept",
        "accept-encoding",
        "content-type",
        "content-length",
        "transfer-encoding",
        "host",
        "connection",
    }
)
# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters (CR, LF and NUL among them) other than HTAB, and DEL.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class DefaultHeaders:
    """Checked header names and values; the repr shows the names only."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = dict(items)

    def __repr__(self) -> str:
        return f"DefaultHeaders(names={self.names!r})"

    @property
    def names(self) -> tuple[str, ...]:
        """The header names, as given."""
        return tuple(self._items)

    @property
    def values(self) -> tuple[str, ...]:
        """The values: masked like the API key wherever an error could echo them."""
        return tuple(self._items.values())

    def over(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with these headers set over it, names compared case-insensitively."""
        merged = CIMultiDict(base)
        merged.update(self._items)
        return dict(merged.items())


NO_HEADERS: Final = DefaultHeaders({})


def checked_default_headers(given: Hidden) -> DefaultHeaders | Exception:
    """`given.value` (a mapping of str to str, or None) checked, or the error to raise.

    Returned rather than raised, so no frame of a traceback holds a value; no message
    quotes a value, nor a name that is not a valid one (it could be a whole header line).
    """
    headers = given.value
    if headers is None:
        return NO_HEADERS
    if not isinstance(headers, Mapping):
        return TypeError(f"default_headers must be a dict, not {type(headers).__name__}")
    seen: set[str] = set()
    for name, value in headers.items():
        problem = _problem(name, value, seen)
        if problem is not None:
            return problem
        seen.add(name.lower())
    return DefaultHeaders(headers)


def _problem(name: object, value: object, seen: set[str]) -> Exception | None:
    if not isinstance(name, str):
        return TypeError(f"default_headers names must be str, not {type(name).__name__}")
    if not _TOKEN.fullmatch(name):
        return ValueError(
            "default_headers has a name that is not a valid HTTP header name (letters, "
            "digits and !#$%&'*+-.^_`|~ only: no space, colon or control character)"
        )
    # "_" as "-": CGI-style servers (WSGI's `HTTP_X_API_KEY`) read `x_api_key` as `x-api-key`.
    lowered = name.lower().replace("_", "-")
    if lowered == "x-api-key":
        return ValueError("default_headers must not set x-api-key: pass api_key= instead")
    if lowered in RESERVED_HEADERS:
        return ValueError(f"default_headers must not set {name}: the client sets it itself")
    if lowered in seen:
        return ValueError(f"default_headers sets {name} twice (names are case-insensitive)")
    if not isinstance(value, str):
        return TypeError(f"default_headers[{name!r}] must be a str, not {type(value).__name__}")
    if _CONTROL.search(value) or value != value.strip(" \t"):
        return ValueError(
            f"default_headers[{name!r}] must have no CR, LF, NUL or other control "
            "character, and no surrounding whitespace"
        )
    return None

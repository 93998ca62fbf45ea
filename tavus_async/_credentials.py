"""The credentials a request's JSON carries, and masking them (with the API key) in an error;
masking the client's secrets in the headers a raw response shows.

A write may send a persona's `layers.*.api_key` and `layers.llm.headers` values; an API
that echoes them back in an error body must not put them in the raised error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from ._secret import MASK
from .errors import MIN_SECRET_LENGTH, APIStatusError, TavusError, redact

__all__ = ["credentials_in", "mask_error", "masked_headers"]

_DECODER: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder()
_SECRET_KEYS: Final = frozenset({"api_key", "headers"})


def credentials_in(body: bytes | None) -> tuple[str, ...]:
    """Every string held under an `api_key` or `headers` key anywhere in a JSON body, and
    the `value` of a JSON Patch operation whose path names one. Pure; total."""
    try:
        document = _DECODER.decode(body) if body else None
    except (msgspec.DecodeError, RecursionError):
        return ()
    found: list[str] = []
    pending: list[tuple[object, bool]] = [(document, False)]
    while pending:  # a loop, not recursion: a body may nest deeply
        node, secret = pending.pop()
        if isinstance(node, str) and secret:
            found.append(node)
        elif isinstance(node, list):
            pending.extend((item, secret) for item in node)
        elif isinstance(node, dict):
            pending.extend((v, secret or k in _SECRET_KEYS) for k, v in node.items())
            if _names_a_credential(node.get("path")):
                pending.append((node.get("value"), True))
    return tuple(found)


def _names_a_credential(path: object) -> bool:
    return isinstance(path, str) and not _SECRET_KEYS.isdisjoint(path.split("/"))


def mask_error(error: TavusError, secrets: Iterable[str]) -> None:
    """Mask every secret in an error's text and, for a status error, its body and headers
    (JSON-escaped echoes included)."""
    for secret in secrets:
        error.args = tuple(redact(a, secret) if isinstance(a, str) else a for a in error.args)
        message = getattr(error, "message", None)
        if isinstance(message, str):
            error.message = redact(message, secret)  # type: ignore[attr-defined]
        if isinstance(error, APIStatusError):
            error.body = _masked_body(error.body, secret)
            error.headers = masked_headers(error.headers, (secret,))


def masked_headers(headers: Mapping[str, str], secrets: Iterable[str]) -> CIMultiDictProxy[str]:
    """A read-only copy of `headers` with every secret masked in the values (JSON-escaped
    echoes included), as an error's headers are. Pure."""
    secrets = tuple(secrets)
    masked = []
    for name, value in headers.items():
        for secret in secrets:
            value = redact(value, secret)
        masked.append((name, value))
    return CIMultiDictProxy(CIMultiDict(masked))


def _masked_body(body: object, secret: str) -> object:
    if isinstance(body, str):
        return redact(body, secret)
    if body is None or len(secret) < MIN_SECRET_LENGTH:
        return body
    try:
        encoded = msgspec.json.encode(body)
    except (TypeError, RecursionError, OverflowError):
        return None
    needle = msgspec.json.encode(secret)[1:-1]  # as JSON writes it inside a string
    if needle not in encoded:
        return body
    return _DECODER.decode(encoded.replace(needle, MASK.encode()))

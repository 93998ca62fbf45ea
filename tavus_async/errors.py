"""Exception hierarchy and the pure mapping from an HTTP status to an exception.

Nothing here does I/O, so every mapping rule is tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Self

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from ._secret import MASK, Secret

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "DecodeError",
    "EventLoopError",
    "InternalServerError",
    "InvalidIdError",
    "InvalidPersonaIdError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseMismatchError",
    "ResponseTooLargeError",
    "TavusError",
    "UnexpectedEncodingError",
    "UnprocessableEntityError",
    "error_class",
    "error_for_status",
    "redact",
    "request_id_of",
    "snippet",
]

SNIPPET_LIMIT = 200
MESSAGE_LIMIT = 1000
_MESSAGE_KEYS = ("message", "error", "detail")
_JSON_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
#: The headers a server names its request id in, the first present winning.
REQUEST_ID_HEADERS: Final = ("x-request-id", "request-id")


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The request id a server put in `headers` (`x-request-id`, else `request-id`), for a
    support ticket; None when neither is there or both are blank. Pure."""
    if not isinstance(headers, CIMultiDictProxy | CIMultiDict):
        headers = CIMultiDict(headers)  # header names are case-insensitive
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name, "").strip()
        if value:
            return value
    return None


class TavusError(Exception):
    """Base class of every error this SDK raises on purpose."""

    #: How many HTTP attempts were made before this error was raised (0: none).
    attempts: int = 0

    def __copy__(self) -> Self:
        """`copy.copy(error)`: the same class and attributes, without the traceback (the
        default would call `__init__` with the message alone, which some subclasses refuse)."""
        copied = type(self).__new__(type(self), *self.args)
        copied.__dict__.update(self.__dict__)
        return copied


class MissingAPIKeyError(TavusError):
    """No API key was given and `TAVUS_API_KEY` is unset or empty."""


class InvalidPersonaIdError(TavusError, ValueError):
    """An id that is unsafe to put in a URL path; raised before any I/O."""


class ClientClosedError(TavusError, RuntimeError):
    """The client was closed; a closed client never touches the network."""


class EventLoopError(TavusError, RuntimeError):
    """The client was used from another event loop than the one its connection pool belongs
    to (a second `asyncio.run(...)`, another thread's loop): create one client per loop,
    inside it. Raised before any I/O; never retried."""


class APIConnectionError(TavusError):
    """The request did not produce a usable HTTP response (refused, reset, protocol error).

    `request_sent` is False when the failure came before the request left (connection
    refused, DNS, connect timeout): the server cannot have acted on it, so even a write
    is safe to send again.
    """

    def __init__(
        self, message: str = "Connection error.", *, attempts: int = 0, request_sent: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """An attempt took longer than the configured timeout."""

    def __init__(
        self, message: str = "Request timed out.", *, attempts: int = 0, request_sent: bool = True
    ) -> None:
        super().__init__(message, attempts=attempts, request_sent=request_sent)


class ResponseMismatchError(APIConnectionError):
    """A 2xx response described another resource than the one requested.

    That is a response meant for another request (a stray one left on a reused
    connection): the connection is dropped and the request retried on a fresh one.
    """


class UnexpectedEncodingError(APIConnectionError):
    """The response came in a Content-Encoding the client did not ask for, or could not
    decode it. Not retried: the server would send the same again."""


class ResponseTooLargeError(APIConnectionError):
    """The response body (after decompression) exceeded `max_response_bytes`."""


class DecodeError(TavusError):
    """A 2xx body (or data given to `from_dict`) that is not JSON or not a persona.

    The message gives the reason and the path of the field at fault, never a value from the
    body: a persona may hold credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body_length: int | None = None,
        attempts: int = 0,
    ) -> None:
        details = [f"status {status_code}"] if status_code is not None else []
        if body_length is not None:
            details.append(f"body of {body_length} bytes")
        super().__init__(f"{message} ({', '.join(details)})" if details else message)
        self.message = message
        #: The HTTP status of the response; None for `from_dict`.
        self.status_code = status_code
        #: The size of the body in bytes, when there was one.
        self.body_length = body_length
        self.attempts = attempts


class APIStatusError(TavusError):
    """The API answered with a status that is not a success."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(f"Error code: {status_code} - {message}")
        self.message = message
        self.status_code = status_code
        self.body = body
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(headers or {}))
        self.attempts = attempts
        #: Seconds the server asked us to wait (`Retry-After`/`retry-after-ms`), when it did.
        self.retry_after: float | None = None

    @property
    def request_id(self) -> str | None:
        """The server's id of this request (`x-request-id`/`request-id`), when it sent one."""
        return request_id_of(self.headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r})"


class BadRequestError(APIStatusError):
    """400: the API rejected the request (its message comes from the body's `error`)."""


class AuthenticationError(APIStatusError):
    """401: the API key was refused."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not access this resource."""


class NotFoundError(APIStatusError):
    """404 (or a 2xx envelope that holds no item): no such resource."""


class InvalidIdError(NotFoundError, BadRequestError):
    """400 whose message is `Invalid persona_id` (or `Invalid pal_id`, ...): Tavus's answer
    for an id it does not know. Not found, and still the 400 the API sent."""


class ConflictError(APIStatusError):
    """409."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429. `retry_after` holds the server's requested wait in seconds, when it sent one."""


class InternalServerError(APIStatusError):
    """A status from 500 to 599."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


# A "secret" shorter than this is no real key; masking it would garble every message.
MIN_SECRET_LENGTH = 6


# A JSON string escape: `\u0074` or `\n`, `\/`, ... (one level, as a JSON body carries it).
_JSON_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SHORT_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def _unescape_one(match: re.Match[str]) -> str:
    if match[1] is None:
        return _SHORT_ESCAPES[match[2]]
    code = int(match[1], 16)
    return match[0] if 0xD800 <= code <= 0xDFFF else chr(code)  # lone surrogates stay escaped


def redact(text: str, secret: Secret | str | None) -> str:
    """Return `text` with every occurrence of `secret` masked, JSON-escaped ones included.

    When the secret appears only once JSON string escapes are undone (`\u0074k_...`), the
    text is returned unescaped, with the secret masked.
    """
    key = secret.value if isinstance(secret, Secret) else secret
    if not key or len(key) < MIN_SECRET_LENGTH:
        return text
    if "\\" in text:
        unescaped = _JSON_ESCAPE.sub(_unescape_one, text)
        if key in unescaped:
            text = unescaped
    return text.replace(key, MASK) if key in text else text


def snippet(
    body: bytes | bytearray | memoryview,
    secret: Secret | str | None = None,
    limit: int = SNIPPET_LIMIT,
) -> str:
    """A short, printable, redacted beginning of a response body for error messages."""
    text = bytes(body[: limit * 4]).decode("utf-8", errors="replace")
    text = redact(text, secret)
    return text if len(text) <= limit else text[:limit] + "..."


def _message_from(parsed: object) -> str | None:
    if isinstance(parsed, dict):
        for key in _MESSAGE_KEYS:
            value = parsed.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):  # {"error": {"message": "..."}} as some gateways send
                inner = _message_from(value)
                if inner:
                    return inner
    return None


def _scrub_parsed(parsed: object, secret: str) -> object:
    """Mask a key that reached the parsed body through JSON escapes (`\\u0073k-...`).

    Re-encoding writes strings unescaped, so the key shows up literally; no recursion, so
    absurdly nested bodies are safe.
    """
    try:
        encoded = msgspec.json.encode(parsed)
    except (TypeError, RecursionError, OverflowError):
        return None
    needle = secret.encode()
    if needle not in encoded:
        return parsed
    return _JSON_DECODER.decode(encoded.replace(needle, MASK.encode()))


_INVALID_ID: Final = re.compile(r"invalid [a-z]+_id", re.IGNORECASE)


def error_class(status: int, message: str | None) -> type[APIStatusError]:
    """The exception class for a non-2xx status and the message its body gave. Pure."""
    if status == 400 and message is not None and _INVALID_ID.fullmatch(message.strip()):
        return InvalidIdError
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = InternalServerError if 500 <= status <= 599 else APIStatusError
    return cls


def error_for_status(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Secret | str | None = None,
    reason: str | None = None,
) -> APIStatusError:
    """Build the exception for a non-2xx response. Pure: no I/O, never raises.

    The message is read from the JSON body's `message`, then `error`, then `detail`;
    a non-JSON body (an HTML page from a proxy) gives a short text snippet instead.
    `secret` (the API key) is masked in the message, the body and the headers, also where
    the body carries it JSON-escaped; an `x-api-key` response header is dropped.
    Only 500-599 are server errors (`InternalServerError`); any other unmapped status,
    999 included, is a plain `APIStatusError`.
    """
    key = secret.value if isinstance(secret, Secret) else secret
    if key is not None and len(key) < MIN_SECRET_LENGTH:
        key = None
    if key is not None and body:
        body = body.replace(key.encode(), MASK.encode())
    try:
        parsed: object = _JSON_DECODER.decode(body) if body else None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        parsed = None
    if key is not None and parsed is not None:
        parsed = _scrub_parsed(parsed, key)
    message = _message_from(parsed)
    if message is not None and len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "..."
    if message is None:
        message = snippet(body, key).strip() or reason or "HTTP error"
    if parsed is None and body:
        parsed = snippet(body, key, limit=1000)
    safe_headers = [(k, redact(v, key)) for k, v in headers.items() if k.lower() != "x-api-key"]
    cls = error_class(status, message)
    return cls(
        redact(message, key), status_code=status, body=parsed, headers=CIMultiDict(safe_headers)
    )

"""`RawResponse`: the HTTP answer behind a result (`client.personas.with_raw_response...`).

A resource method passes the transport a parser; `raw()` turns that parser into one that
returns a `RawResponse` instead, keeping the parsed result, or the decoding error, for
`parse()`. `plain()` leaves the parser as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from multidict import CIMultiDictProxy

from ._credentials import masked_headers
from ._transport import Response
from .errors import ResponseMismatchError, TavusError, request_id_of

__all__ = ["Parser", "RawResponse", "plain", "raw"]

T = TypeVar("T")
Parser = Callable[[Response], T]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RawResponse(Generic[T]):
    """The HTTP answer of one call: `status_code`, `headers`, `attempts` (1 when the first
    attempt answered), `elapsed` (seconds from the call's start, retries and waits
    included), `request_id`, and `parse()` for the result the plain method returns.

    The body is not kept: `parse()` returns what was decoded from it (and raises a
    decoding error there, not where the call returned). `headers` mask the API key,
    `default_headers` values and the credentials a write sent wherever the server echoed
    them, as an error's headers do.
    The repr shows the status, the request id and the counts, never a body or another
    header.
    """

    status_code: int
    headers: CIMultiDictProxy[str]
    attempts: int
    elapsed: float
    _outcome: T | TavusError

    @property
    def request_id(self) -> str | None:
        """The server's id of this request (`x-request-id`, else `request-id`), or None."""
        return request_id_of(self.headers)

    def parse(self) -> T:
        """The result the plain method would have returned (the same object each time), or
        its decoding error (`DecodeError`, ...) raised."""
        outcome = self._outcome
        if isinstance(outcome, TavusError):
            raise outcome.with_traceback(None)
        return outcome

    def __repr__(self) -> str:
        return (
            f"RawResponse(status_code={self.status_code}, request_id={self.request_id!r}, "
            f"attempts={self.attempts}, elapsed={self.elapsed:.3f})"
        )


def plain(parse: Parser[T]) -> Parser[T]:
    """The parser as it is: the plain methods' shape."""
    return parse


def raw(parse: Parser[T]) -> Parser[RawResponse[T]]:
    """A parser that returns the answer as a `RawResponse` holding `parse`'s result or
    error. An answer meant for another request is still retried, as for a plain call."""

    def parse_raw(response: Response) -> RawResponse[T]:
        outcome: T | TavusError
        try:
            outcome = parse(response)
        except ResponseMismatchError:
            raise
        except TavusError as error:
            # The frames below hold the body (and a persona's credentials): dropped.
            error.attempts = response.attempts
            outcome = error.with_traceback(None)
        headers = masked_headers(response.headers, response.secrets)
        return RawResponse(
            response.status_code, headers, response.attempts, response.elapsed, outcome
        )

    return parse_raw

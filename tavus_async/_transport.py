"""The HTTP layer: one pooled aiohttp session, and one GET exchange with retries.

The happy path is a single attempt with no retry machinery allocated; tenacity's
`AsyncRetrying` is built (fresh, per call) only once an attempt has failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import aiohttp
from aiohttp import hdrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from yarl import URL

from ._limits import THROTTLE_HOOK, RateLimiter
from ._retry import (
    RetryBudget,
    RetryPolicy,
    default_rand,
    is_retryable,
    parse_retry_after,
    retry_after_of,
    wait_for,
)
from ._timeouts import TimeoutWheel, tick_for
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    ResponseTooLargeError,
    TavusError,
    error_for_status,
    redact,
)

T = TypeVar("T")

logger = logging.getLogger("tavus_async")

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_ENCODING = hdrs.CONTENT_ENCODING


class Transport:
    """Owns the session (unless the user brought one) and performs GETs against the API."""

    __slots__ = (
        "_aiohttp_timeout",
        "_api_key",
        "_budget",
        "_closed",
        "_first_total",
        "_headers",
        "_limiter",
        "_max_connections",
        "_max_response_bytes",
        "_owns_session",
        "_policy",
        "_request_headers",
        "_session",
        "_timeout",
        "_total",
        "_wheel",
    )

    def __init__(
        self,
        *,
        api_key: str,
        user_agent: str,
        timeout: aiohttp.ClientTimeout,
        policy: RetryPolicy,
        max_connections: int,
        max_response_bytes: int,
        session: aiohttp.ClientSession | None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._api_key = api_key
        # Built once: every request reuses the same header mapping.
        self._headers = {
            "x-api-key": api_key,
            hdrs.USER_AGENT: user_agent,
            hdrs.ACCEPT: "application/json",
        }
        self._timeout = timeout
        # The total per attempt is enforced by a shared-timer wheel (see _timeouts.py);
        # aiohttp keeps the other limits (connect, sock_read, ...), which arm no timer
        # per request unless set.
        self._aiohttp_timeout = _with_total(timeout, None)
        # A call's deadline also bounds its first attempt.
        deadline = policy.deadline
        # aiohttp reads a total of 0 (or less) as "no total"; so does the wheel.
        self._total = timeout.total if timeout.total is not None and timeout.total > 0 else None
        first = self._total
        if deadline is not None and (first is None or deadline < first):
            first = deadline
        self._first_total = first
        self._wheel = TimeoutWheel(tick_for(first)) if first is not None else None
        self._policy = policy
        self._budget = RetryBudget(policy.budget) if policy.budget is not None else None
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._session = session
        self._owns_session = session is None
        # Our own session carries the headers as defaults (nothing to merge per request);
        # a user's session gets them on each request instead.
        self._request_headers: dict[str, str] | None = None if session is None else self._headers
        self._closed = False
        self._limiter = limiter

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    @property
    def budget(self) -> RetryBudget | None:
        """The client's retry budget (None when switched off)."""
        return self._budget

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session in use, if one was created or given."""
        return self._session

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is not None and not self._closed:
            return session
        if self._closed:
            raise ClientClosedError("This AsyncTavus client is closed; create a new one.")
        # Created lazily so the connector binds to the loop that actually runs the calls.
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._max_connections),
            timeout=self._aiohttp_timeout,
            headers=self._headers,
        )
        self._session = session
        return session

    async def close(self) -> None:
        """Close the session if this transport created it. Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    async def get(self, url: URL, parse: Callable[[bytes, int, str], T], key: str) -> T:
        """GET `url`, retrying per the policy, then `parse(body, status, key)` a 2xx body.

        Errors raised (by the exchange or by `parse`) carry how many attempts were made.
        """
        # The deadline clock starts with the call (only read when a deadline is set).
        started = time.monotonic() if self._policy.deadline is not None else 0.0
        try:
            status, body = await self._attempt(url, self._first_total)
            attempts = 1
        except TavusError as exc:
            status, body, attempts = await self._retry(url, exc, started)
        if self._budget is not None:
            self._budget.refund()
        try:
            return parse(body, status, key)
        except TavusError as exc:
            exc.attempts = attempts
            raise

    async def _attempt(self, url: URL, total: float | None) -> tuple[int, bytes]:
        """One HTTP exchange: a 2xx gives (status, body); anything else raises a `TavusError`.

        `total` bounds the exchange (None: unbounded, as with `ClientTimeout(total=None)`).
        """
        session = self._session
        if session is None or self._closed:
            session = self._get_session()
        if self._limiter is not None:
            await self._limiter.acquire()
        failure: Exception
        wheel = self._wheel
        expiry = wheel.arm(total) if wheel is not None and total is not None else None
        try:
            # Awaited rather than `async with`: the context manager's four extra coroutines
            # per request buy nothing for a GET without a body; `release()` is all it does.
            resp = await session.get(
                url,
                headers=self._request_headers,
                timeout=self._aiohttp_timeout,
                allow_redirects=False,
                raise_for_status=False,  # even if the user's session says otherwise
            )
            try:
                status = resp.status
                cap = self._max_response_bytes
                length = resp.content_length
                if length is not None and length <= cap and _ENCODING not in resp.headers:
                    body = await resp.read()  # the parser stops at Content-Length: bounded
                else:
                    body = await self._read_capped(resp, length)
                if 200 <= status < 300:
                    return status, body
                error = error_for_status(
                    status, body, resp.headers, secret=self._api_key, reason=resp.reason
                )
                error.retry_after = parse_retry_after(resp.headers, time.time())
                if status == 429:
                    hook = THROTTLE_HOOK.get()
                    if hook is not None:
                        hook()
                raise error
            finally:
                resp.release()
        except TavusError as exc:
            exc.attempts = 1
            raise
        except asyncio.CancelledError:
            if expiry is None or not expiry.is_timeout():
                raise
            failure = APITimeoutError(f"Request timed out after {total:g}s", attempts=1)
        # The errors below are built here but raised after the `except` block: raised inside
        # it, they would keep aiohttp's exception as `__context__`, and that exception's
        # `request_info` carries the request headers, API key included.
        except TimeoutError as exc:
            failure = APITimeoutError(self._describe(exc, "Request timed out"), attempts=1)
        except aiohttp.InvalidURL as exc:
            failure = ValueError(f"Invalid request URL: {redact(str(exc), self._api_key)}")
        except aiohttp.ClientResponseError as exc:
            # aiohttp reports an unparsable response (bad status line, oversized header) as a
            # synthetic 400: that is a broken connection, not the API's BadRequestError.
            failure = APIConnectionError(
                self._describe(exc, "Invalid HTTP response from server"), attempts=1
            )
        except (aiohttp.ClientError, OSError) as exc:
            failure = APIConnectionError(self._describe(exc, "Connection error"), attempts=1)
        finally:
            if expiry is not None:
                expiry.disarm()
        if self._closed:  # the client was closed under this request
            failure = ClientClosedError("This AsyncTavus client was closed during the request.")
            failure.attempts = 1
        raise failure

    def _describe(self, exc: BaseException, what: str) -> str:
        detail = str(exc)
        text = (
            f"{what}: {type(exc).__name__}: {detail}" if detail else f"{what}: {type(exc).__name__}"
        )
        return redact(text, self._api_key)

    async def _read_capped(self, resp: aiohttp.ClientResponse, length: int | None) -> bytes:
        """Read a compressed or unsized body, bounding its decoded size by the cap."""
        cap = self._max_response_bytes
        if length is not None and length > cap and _ENCODING not in resp.headers:
            raise ResponseTooLargeError(
                f"Response declares {length} bytes, over the {cap}-byte cap"
            )
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_any():
            total += len(chunk)
            if total > cap:
                raise ResponseTooLargeError(f"Response body exceeds the {cap}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _retry(self, url: URL, first: TavusError, started: float) -> tuple[int, bytes, int]:
        """Retry after a failed first attempt; tenacity drives the waits and stop rules."""
        policy = self._policy
        if policy.max_retries == 0 or not is_retryable(first):
            raise first
        pending: TavusError | None = first
        budget = self._budget
        deadline = policy.deadline

        def should_stop(state: RetryCallState) -> bool:
            # Order matters: the budget is spent last, only for a retry that will happen.
            if state.attempt_number > policy.max_retries or self._closed:
                return True
            exc = state.outcome.exception() if state.outcome is not None else None
            requested = retry_after_of(exc) if exc is not None else None
            if (
                policy.respect_retry_after
                and requested is not None
                and requested > policy.max_retry_after
            ):
                return True
            if deadline is not None and (
                time.monotonic() - started + state.upcoming_sleep >= deadline
            ):
                return True
            return budget is not None and not budget.try_spend()

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            assert exc is not None
            return wait_for(policy, state.attempt_number, exc, default_rand)

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            what = (
                f"status {exc.status_code}"
                if isinstance(exc, APIStatusError)
                else type(exc).__name__
            )
            logger.debug(
                "Retrying GET %s after %s (attempt %d of %d), waiting %.3fs",
                url,
                what,
                state.attempt_number,
                policy.max_retries + 1,
                state.upcoming_sleep,
            )

        retrying = AsyncRetrying(
            stop=should_stop,
            wait=wait,
            # Anything that is not an Exception (CancelledError) is never retried.
            retry=retry_if_exception(is_retryable),
            before_sleep=log_retry,
            sleep=policy.sleep or asyncio.sleep,
            reraise=True,
        )
        attempt_number = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_number = attempt.retry_state.attempt_number
                    if pending is not None:
                        # Replay the first failure so tenacity counts it as attempt 1.
                        error, pending = pending, None
                        raise error
                    total = self._total
                    if deadline is not None:
                        remaining = deadline - (time.monotonic() - started)
                        if total is None or remaining < total:
                            total = max(remaining, 0.001)
                    status, body = await self._attempt(url, total)
                    return status, body, attempt_number
        except TavusError as exc:
            exc.attempts = attempt_number
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


def _with_total(timeout: aiohttp.ClientTimeout, total: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=total,
        connect=timeout.connect,
        sock_read=timeout.sock_read,
        sock_connect=timeout.sock_connect,
        ceil_threshold=timeout.ceil_threshold,
    )

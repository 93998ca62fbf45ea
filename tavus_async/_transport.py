"""The HTTP layer: one pooled aiohttp session, and one exchange for every method.

`Transport.request()` sends a request in one tenacity retry loop and returns
`parse(response)` for a 2xx answer; any other answer raises its mapped `APIStatusError`.
Inside are the per-attempt timeout (`asyncio.timeout`, cut to the call's deadline), the
body size cap, the masking of the API key, and what `close()` does to calls in flight.
Decoding belongs to the resources, through `parse`.
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Generic, TypeVar

import aiohttp
import msgspec
from aiohttp import hdrs
from aiohttp.client_proto import ResponseHandler
from multidict import CIMultiDictProxy
from yarl import URL

from ._checks import check_seconds
from ._credentials import credentials_in, mask_error
from ._headers import NO_HEADERS, DefaultHeaders
from ._hooks import Hooks, Observer
from ._limits import BulkFlow
from ._retry import RetryBudget, RetryPolicy, is_retryable, parse_retry_after, retrying
from ._secret import Secret
from ._stores import RateLimiterProtocol
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    EventLoopError,
    ResponseMismatchError,
    ResponseTooLargeError,
    TavusError,
    UnexpectedEncodingError,
    error_for_status,
    redact,
)

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "CallOptions", "Response", "Transport"]

T = TypeVar("T")

DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
#: The encodings the client asks for; an answer in any other is refused, not retried.
ACCEPT_ENCODING: Final = "gzip, deflate"
_ACCEPTED_ENCODINGS: Final = frozenset({"", "identity", "gzip", "deflate"})
_NO_IO_TIMEOUT: Final = aiohttp.ClientTimeout(total=None)
_JSON_CONTENT: Final = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP answer as read: status, headers, the whole body, and the attempt that got
    it (1-based) with the seconds since its call began. The repr never shows the body.

    `secrets` are what the headers may echo and any view of them must mask: the API key,
    `default_headers` values, a proxy's user info, the credentials the request's JSON sent.
    """

    status_code: int
    headers: CIMultiDictProxy[str]
    body: bytes
    attempts: int
    elapsed: float
    secrets: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"Response(status_code={self.status_code}, attempts={self.attempts}, "
            f"body=<{len(self.body)} bytes>)"
        )


@dataclass(frozen=True, slots=True)
class CallOptions:
    """What a call may take: seconds per attempt (None: unbounded), aiohttp's own phase
    limits (connect, sock_read; never a total), and the retry policy.

    Passed with every request, so a copy of a client with other options shares the
    session, cache and budget.
    """

    timeout: float | None
    io_timeout: aiohttp.ClientTimeout
    retry: RetryPolicy

    @classmethod
    def build(cls, timeout: float | aiohttp.ClientTimeout, retry: RetryPolicy) -> CallOptions:
        """From a number of seconds, or an `aiohttp.ClientTimeout` whose `total` (0 or None:
        none, as in aiohttp) bounds each attempt and whose other limits aiohttp applies."""
        if not isinstance(timeout, aiohttp.ClientTimeout):
            return cls(check_seconds("timeout", timeout), _NO_IO_TIMEOUT, retry)
        for name in ("total", "connect", "sock_read", "sock_connect"):
            value = getattr(timeout, name)
            if value is not None:
                check_seconds(f"timeout.{name}", value, strict=False)
        total = timeout.total or None
        return cls(total, _without_total(timeout), retry)


class _Call(Generic[T]):
    """One request as its caller described it, and when it began."""

    __slots__ = (
        "accept",
        "attempts",
        "backing_off",
        "body",
        "flow",
        "hedge_after",
        "method",
        "options",
        "params",
        "parse",
        "secrets",
        "started",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        body: bytes | None,
        parse: Callable[[Response], T],
        options: CallOptions,
        flow: BulkFlow | None,
        hedge_after: float | None,
        accept: Collection[int],
        secrets: tuple[str, ...],
    ) -> None:
        self.method = method
        self.url = url
        self.params = params
        self.body = body
        self.parse = parse
        self.options = options
        self.flow = flow
        self.hedge_after = hedge_after
        self.accept = accept
        #: What its answers and errors must mask: the transport's secrets and the
        #: credentials the body sends (under `api_key`/`headers`).
        self.secrets = secrets
        self.backing_off = False  # failed, waiting to retry: counted in `flow.backing_off`
        self.attempts = 0  # attempts begun
        self.started = time.monotonic()

    def __repr__(self) -> str:
        return f"_Call({self.method} {self.url.path})"

    def elapsed(self) -> float:
        """Seconds since the call began."""
        return time.monotonic() - self.started

    def deadline_left(self) -> float | None:
        """Seconds left before the call's deadline (None: no deadline)."""
        deadline = self.options.retry.deadline
        return None if deadline is None else max(deadline - self.elapsed(), 0.0)

    def past_deadline(self, when: str, *, sent: bool = False, attempts: int = 0) -> APITimeoutError:
        """The error for a call whose deadline passed `when`."""
        deadline = self.options.retry.deadline
        return APITimeoutError(
            f"Request timed out {when}: the call's deadline of {deadline:g}s passed",
            request_sent=sent,
            attempts=attempts,
        )


class _Inflater:
    """Decodes a gzip or deflate body chunk by chunk, never more than asked for at once.

    A gzip body may hold several members (RFC 1952); each is decoded in turn.
    """

    __slots__ = ("_encoding", "_zlib")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._zlib: zlib._Decompress | None = None

    def feed(self, chunk: bytes, limit: int) -> bytes:
        """Up to `limit` decoded bytes of `chunk` (more means the body is over the cap)."""
        decoded: list[bytes] = []
        while chunk and limit > 0:
            part = self._decode(chunk, limit)
            decoded.append(part)
            limit -= len(part)
            chunk = self._next_member()
        return b"".join(decoded)

    def _decode(self, chunk: bytes, limit: int) -> bytes:
        if self._zlib is None:
            self._zlib = zlib.decompressobj(self._wbits(chunk))
        try:
            return self._zlib.decompress(chunk, limit)
        except zlib.error:
            raise UnexpectedEncodingError(
                f"Response body is not valid {self._encoding} data"
            ) from None

    def _next_member(self) -> bytes:
        """What follows a finished gzip member (the next one starts with it), else nothing."""
        if self._zlib is None or not self._zlib.eof or self._encoding != "gzip":
            return b""
        rest, self._zlib = self._zlib.unused_data, None
        return rest

    @property
    def complete(self) -> bool:
        """Whether the data fed so far ends where a member (or the deflate stream) ends."""
        return self._zlib is None or self._zlib.eof

    def _wbits(self, chunk: bytes) -> int:
        if self._encoding == "gzip":
            return 31
        if chunk[:1] and chunk[0] & 0x0F == 8:
            return 15  # zlib-wrapped deflate, as RFC 9110 means it
        return -15  # raw deflate, as some servers send it


class _DroppedConnection(aiohttp.ClientConnectionError):
    """A connection lost under a sent request, raised as a type aiohttp does not resend."""


async def _no_silent_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """aiohttp sends a GET or DELETE once more, unseen, when a reused connection drops; the
    retry loop must see (count, budget, log) every send, so the drop is passed up."""
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # the connection was never made: nothing was sent
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise _DroppedConnection(f"{type(exc).__name__}: {exc}") from None


class Transport:
    """Sends every request of a client (and of its copies): owns the session unless the user
    brought one, the retry budget, the rate limiter, and the closed state."""

    __slots__ = (
        "_api_key",
        "_attempts",
        "_base_url",
        "_budget",
        "_closed",
        "_closing",
        "_headers",
        "_hedge_after",
        "_json_headers",
        "_limiter",
        "_loop",
        "_max_connections",
        "_max_response_bytes",
        "_middlewares",
        "_observer",
        "_owns_session",
        "_proxy",
        "_request_headers",
        "_secrets",
        "_session",
        "_trust_env",
    )

    def __init__(
        self,
        *,
        api_key: Secret,
        base_url: str,
        user_agent: str,
        max_connections: int,
        max_response_bytes: int,
        session: aiohttp.ClientSession | None,
        budget: RetryBudget | None,
        limiter: RateLimiterProtocol | None,
        hedge_after: float | None = None,
        default_headers: DefaultHeaders = NO_HEADERS,
        proxy: Secret | None = None,
        trust_env: bool = False,
        secrets: tuple[str, ...] = (),
        event_hooks: Mapping[str, Hooks] | None = None,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._headers = default_headers.over(
            {
                "x-api-key": api_key.value,
                "User-Agent": user_agent,
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
            }
        )
        # Masked in every error, like the key: default header values, proxy user info.
        self._secrets = (api_key.value, *secrets)
        self._proxy = proxy
        self._trust_env = trust_env
        # Our own session carries the headers as defaults; a user's gets them per request.
        self._request_headers = None if session is None else self._headers
        self._json_headers = {**(self._request_headers or {}), **_JSON_CONTENT}
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._session = session
        self._owns_session = session is None
        # The loop the pool belongs to: a user's session's now, our own once created.
        self._loop = None if session is None else session._loop
        self._middlewares = _with_no_silent_resend(session)
        self._budget = budget
        self._limiter = limiter
        self._hedge_after = hedge_after
        self._observer = Observer(event_hooks or {}, api_key)
        self._closed = False
        self._closing: asyncio.Future[None] | None = None  # resolved by close(): ends pauses
        self._attempts: set[asyncio.Timeout] = set()  # in flight: close() expires them

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r}, closed={self._closed})"

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

    async def close(self) -> None:
        """End every pending call with `ClientClosedError` and close the session if this
        transport created it. Idempotent.

        From another loop than the pool's, while that loop is open, it raises
        `EventLoopError` and changes nothing (the pool can only be closed there); once that
        loop is closed, it closes what can still be closed.
        """
        if self._owns_session and not self._closed and self._pool_loop_elsewhere():
            raise EventLoopError(
                "This AsyncTavus client's connection pool belongs to another event loop, "
                "which is still open: close the client from that loop."
            )
        self._closed = True
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)
        now = asyncio.get_running_loop().time()
        for scope in self._attempts:
            if not scope.expired():
                scope.reschedule(now)
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        parse: Callable[[Response], T],
        options: CallOptions,
        params: Mapping[str, str] | None = None,
        json: object = None,
        flow: BulkFlow | None = None,
        accept: Collection[int] = (),
    ) -> T:
        """Send `method` to `path` (encoded, below the base URL) and return `parse(response)`
        of the 2xx answer, retrying per `options.retry`.

        `parse` runs inside the attempt: a `ResponseMismatchError` from it drops the
        connection and the attempt is retried like a connection error; any other
        `TavusError` from it is raised. A bulk call's `flow` gates every attempt (see
        `BulkFlow`). A GET without a flow is hedged when the transport has `hedge_after`.
        A status in `accept` (PATCH's 304) is parsed like a 2xx instead of raised.
        Raises a `TavusError` carrying how many attempts were made.
        """
        self.check_loop()
        body = None if json is None else msgspec.json.encode(json)
        hedge_after = self._hedge_after if method == "GET" and flow is None else None
        # The JSON may hold credentials: only `call` (whose repr shows neither the body nor
        # the secrets) keeps them.
        secrets = self._secrets if body is None else (*self._secrets, *credentials_in(body))
        call = _Call(
            method,
            self._url(path),
            params,
            body,
            parse,
            options,
            flow,
            hedge_after,
            accept,
            secrets,
        )
        del json, body, secrets
        sleep = options.retry.sleep or asyncio.sleep
        loop = retrying(
            options.retry,
            method,
            elapsed=call.elapsed,
            budget=self._budget,
            closed=lambda: self._closed,
            sleep=lambda seconds, makes_room: self._pause(sleep, seconds, flow, makes_room),
            label=redact(f"{method} {path}", self._api_key),
            flow=flow,
            on_retry=self._observer.on_retry(method, call.url, params),  # observability
        )
        try:
            result: T = await loop(self._attempt, call)
        finally:
            # tenacity keeps its last actions, which point back at the loop: a reference
            # cycle per call that only the cyclic collector would free, call state included.
            loop.iter_state.reset()
            if call.backing_off and flow is not None:
                flow.resume()  # it gave up
        if self._budget is not None:
            self._budget.refund()
        return result

    def _pool_loop_elsewhere(self) -> bool:
        """Whether the pool belongs to an open loop other than the running one."""
        loop = self._loop
        return loop is not None and loop is not asyncio.get_running_loop() and not loop.is_closed()

    def check_loop(self) -> None:
        """Refuse, before any I/O, a call from another event loop than the pool's: aiohttp
        would fail with "Event loop is closed" or a future attached to a different loop."""
        if self._loop is None or self._closed or self._loop is asyncio.get_running_loop():
            return
        whose = "its connection pool" if self._owns_session else "the aiohttp session given to it"
        raise EventLoopError(
            f"This AsyncTavus client was used from another event loop than the one "
            f"{whose} belongs to (a second asyncio.run(), another thread's loop). Create "
            "the client inside the event loop that uses it: one client per loop."
        )

    def _url(self, path: str) -> URL:
        return URL(self._base_url + path, encoded=True)

    async def _attempt(self, call: _Call[T]) -> T:
        """One attempt, through the call's flow (a slot held for this attempt only)."""
        call.attempts += 1
        number = call.attempts
        flow = call.flow
        if flow is None:
            if call.hedge_after is None:
                return await self._send(call, number)
            return await self._hedged(call, number, call.hedge_after)
        if call.backing_off:
            call.backing_off = False
            flow.resume()
        ticket = await flow.enter()
        status: int | None = None
        retry_after: float | None = None
        failed = False  # and may back off (a 429 is retried at once, paced)
        moved = False  # a final answer: the job progressed (a retried one is no progress)
        try:
            result = await self._send(call, number)
            status, moved = 200, True
            return result
        except APIStatusError as exc:
            status, retry_after, failed = exc.status_code, exc.retry_after, exc.status_code != 429
            moved = status < 500 and not is_retryable(
                exc, call.method, retry_writes=call.options.retry.retry_writes
            )
            raise
        except TavusError:
            failed = True
            raise
        finally:
            flow.exit(ticket, status, retry_after, moved)
            if failed:
                call.backing_off = True
                flow.back_off()

    async def _hedged(self, call: _Call[T], number: int, delay: float) -> T:
        """`_send`, and once more if no answer came within `delay` (and the retry budget
        allows it): the first success wins, the other is cancelled and awaited."""
        loop = asyncio.get_running_loop()
        tasks = {loop.create_task(self._send(call, number))}
        try:
            done, _ = await asyncio.wait(tasks, timeout=delay)
            if not done and not self._closed and (self._budget is None or self._budget.try_spend()):
                tasks.add(loop.create_task(self._send(call, number)))
            pending = tasks
            failure: BaseException | None = None
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = task.exception()
                    if exc is None:
                        return task.result()
                    failure = failure or exc
            assert failure is not None
            raise failure
        finally:
            for task in tasks:
                task.cancel()
            # The loser's connection is closed and back in the pool before the call returns.
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, call: _Call[T], number: int) -> T:
        """One exchange, then map a non-2xx status to its error or parse the body.

        A failure leaves as a `TavusError` raised from here, outside any `except` and with
        the frames below dropped: they hold aiohttp's response and the raw body.
        """
        if self._limiter is not None and not self._closed:
            await self._wait_for_slot(self._limiter, call, number)
        self._check_sendable(call, number)
        failure: TavusError
        try:
            if self._observer.watching():  # observability: events and DEBUG line of the attempt
                exchanged = await self._observer.exchange(
                    call.method,
                    call.url,
                    call.params,
                    number,
                    lambda: self._exchange_in_time(call, number),
                )
            else:
                exchanged = await self._exchange_in_time(call, number)
            return self._answer(call, *exchanged)
        except TavusError as exc:
            failure = exc
        except asyncio.CancelledError:
            if not self._closed_under(asyncio.current_task()):
                raise
            failure = self._closed_error("closed during the request")
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            failure = self._connection_error(exc, call)
        mask_error(failure, call.secrets)
        failure.attempts = number
        raise failure.with_traceback(None)

    def _answer(self, call: _Call[T], response: Response, link: asyncio.BaseTransport | None) -> T:
        """The parsed answer of one exchange, or its status error; a connection that gave
        an answer meant for another request is dropped (the right one may still come on it)."""
        try:
            if 200 <= response.status_code < 300 or response.status_code in call.accept:
                return call.parse(response)
            raise self._status_error(response)
        except ResponseMismatchError:
            if link is not None:
                link.close()
            raise

    async def _wait_for_slot(
        self, limiter: RateLimiterProtocol, call: _Call[T], number: int
    ) -> None:
        """Wait for the rate limiter, within the call's deadline.

        The wait is a scope `close()` expires like an attempt's, so closing ends it whatever
        the limiter is.
        """
        scope = asyncio.timeout(call.deadline_left())
        self._attempts.add(scope)
        try:
            async with scope:
                await limiter.acquire()
        except TimeoutError:
            if not scope.expired():
                raise
        finally:
            self._attempts.discard(scope)
        if scope.expired() and not self._closed:
            raise call.past_deadline("waiting for the rate limiter", attempts=number - 1)

    def _check_sendable(self, call: _Call[T], number: int) -> None:
        """Refuse once the client is closed or the call has no time left."""
        if self._closed:
            raise self._closed_error("closed", attempts=number - 1)
        if call.deadline_left() == 0:
            raise call.past_deadline("before it was sent", attempts=number - 1)

    async def _exchange_in_time(
        self, call: _Call[T], number: int
    ) -> tuple[Response, asyncio.BaseTransport | None]:
        """The exchange within the attempt's time (the per-attempt timeout, cut to the
        deadline). `close()` can expire it at once."""
        limit, left = call.options.timeout, call.deadline_left()
        by_deadline = left is not None and (limit is None or left <= limit)
        scope = asyncio.timeout(left if by_deadline else limit)
        self._attempts.add(scope)
        try:
            async with scope:
                return await self._exchange(call, number)
        except TimeoutError:
            if not scope.expired() or self._closed:
                raise
        finally:
            self._attempts.discard(scope)
        if by_deadline:
            raise call.past_deadline("during the request", sent=True)
        raise APITimeoutError(f"Request timed out after {limit:g}s (the per-attempt timeout)")

    async def _exchange(
        self, call: _Call[T], number: int
    ) -> tuple[Response, asyncio.BaseTransport | None]:
        """Send the request and read the whole body; also return the connection's socket
        transport, so a confused connection can be dropped after the body was read."""
        session = self._session_in_use()
        async with session.request(
            call.method,
            call.url,
            params=call.params,
            data=call.body,
            headers=self._json_headers if call.body is not None else self._request_headers,
            timeout=call.options.io_timeout,
            allow_redirects=False,
            raise_for_status=False,  # even if a user's session says otherwise
            auto_decompress=False,  # decoded in `_read`, within the size cap
            middlewares=self._middlewares,
        ) as resp:
            # A small body read whole hands its connection back to the pool at once
            # (`resp.connection` is then None): only the protocol aiohttp's `start()`
            # kept still names it.
            protocol: ResponseHandler | None = getattr(resp, "_protocol", None)
            link = protocol.transport if protocol is not None else None
            body = await self._read(resp)
            answer = Response(resp.status, resp.headers, body, number, call.elapsed(), call.secrets)
            return answer, link

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, decoded, refused past `max_response_bytes` or in an unasked encoding."""
        encoding = resp.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
        if encoding not in _ACCEPTED_ENCODINGS:
            raise UnexpectedEncodingError(_unasked_encoding(encoding))
        inflater = _Inflater(encoding) if encoding in ("gzip", "deflate") else None
        cap = self._max_response_bytes
        declared = resp.content_length
        if inflater is None and declared is not None and declared > cap:
            raise ResponseTooLargeError(
                f"Response declares {declared} bytes, over the {cap}-byte cap"
            )
        chunks: list[bytes] = []
        size = 0
        content = resp.content
        while chunk := await content.readany():
            if inflater is not None:
                chunk = inflater.feed(chunk, cap - size + 1)
            size += len(chunk)
            if size > cap:
                raise ResponseTooLargeError(f"Response body exceeds the {cap}-byte cap")
            chunks.append(chunk)
        if inflater is not None and not inflater.complete:
            raise UnexpectedEncodingError(f"Response body is truncated {encoding} data")
        return b"".join(chunks)

    def _session_in_use(self) -> aiohttp.ClientSession:
        if self._closed:
            raise self._closed_error("closed")
        if self._session is None:
            # Created on first use, so the connector binds to the loop that runs the calls.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                headers=self._headers,
                timeout=_NO_IO_TIMEOUT,
                proxy=None if self._proxy is None else self._proxy.value,
                trust_env=self._trust_env,
            )
            self._loop = asyncio.get_running_loop()
        elif self._session.closed:
            raise ClientClosedError("The aiohttp session given to this client is closed.")
        return self._session

    def _status_error(self, response: Response) -> APIStatusError:
        status = response.status_code
        error = error_for_status(
            status, response.body, response.headers, secret=self._api_key, reason=_phrase(status)
        )
        error.retry_after = parse_retry_after(response.headers, time.time())
        return error

    def _connection_error(self, exc: BaseException, call: _Call[T]) -> TavusError:
        """The error for an exchange that produced no usable answer."""
        if self._closed:
            return self._closed_error("closed during the request")
        # Refused, DNS, connect timeout: the request never left.
        sent = not isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))
        if isinstance(exc, TimeoutError):
            what = _expired(exc, call.options.io_timeout)
            return APITimeoutError(self._describe(exc, what), request_sent=sent)
        if isinstance(exc, aiohttp.ClientResponseError):
            # aiohttp reports an unparsable answer (bad status line, oversized header) as a
            # synthetic 400: a broken connection, not the API's BadRequestError.
            what = "Invalid HTTP response from server"
            return APIConnectionError(self._describe(exc, what), request_sent=sent)
        return APIConnectionError(self._describe(exc, "Connection error"), request_sent=sent)

    def _describe(self, exc: BaseException, what: str) -> str:
        # aiohttp names the proxy URL, user info included, in a refused CONNECT's error.
        detail = _USER_INFO.sub("", str(exc))
        name = type(exc).__name__
        return redact(f"{what}: {name}: {detail}" if detail else f"{what}: {name}", self._api_key)

    def _closed_under(self, task: asyncio.Task[object] | None) -> bool:
        # Closing the pool cancels the futures of requests waiting for a connection: that
        # CancelledError is the close's when nobody is cancelling the task itself.
        return self._closed and task is not None and task.cancelling() == 0

    def _closed_error(self, when: str, *, attempts: int = 0) -> ClientClosedError:
        error = ClientClosedError(f"This AsyncTavus client was {when}; create a new one.")
        error.attempts = attempts
        return error

    async def _pause(
        self,
        sleep: Callable[[float], Awaitable[None]],
        seconds: float,
        flow: BulkFlow | None,
        makes_room: bool = False,
    ) -> None:
        """Wait between attempts: `sleep(seconds)` (`asyncio.sleep` or the policy's own);
        `close()`, or a stop of the bulk call's `flow`, ends the wait at once, cancelling
        the sleep. So does the flow's drain for a wait that `makes_room`: it only left the
        slot to other ids (no `Retry-After` asked for it), and none is left to start."""
        if self._closed:
            return
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        if flow is None:
            ends: tuple[asyncio.Future[None], ...] = (self._closing,)
        elif makes_room:
            ends = (self._closing, flow.stopping, flow.drained)
        else:
            ends = (self._closing, flow.stopping)
        pause = asyncio.ensure_future(sleep(seconds))
        try:
            await asyncio.wait((pause, *ends), return_when=asyncio.FIRST_COMPLETED)
        finally:
            pause.cancel()  # nothing once it is done
            await asyncio.gather(pause, return_exceptions=True)
        if not pause.cancelled():
            pause.result()  # a policy's sleep that failed raises its error, as it did


def _with_no_silent_resend(
    session: aiohttp.ClientSession | None,
) -> tuple[aiohttp.ClientMiddlewareType, ...]:
    """The middlewares of every request: ours outermost, around a user's session's own
    (aiohttp lets per-request middlewares replace the session's, so they are kept here)."""
    own: tuple[aiohttp.ClientMiddlewareType, ...] = ()
    if session is not None:
        own = tuple(session._middlewares)
    return (_no_silent_resend, *own)


#: Content-codings with an IANA registration: named in an error; any other value is not
#: echoed (a header value the client did not ask for may carry anything, a secret too).
_KNOWN_ENCODINGS: Final = frozenset(
    {"aes128gcm", "br", "compress", "dcb", "dcz", "exi", "pack200-gzip", "x-compress", "zstd"}
)


# The user info of a URL in a message: `scheme://` then anything up to an `@` that comes
# before the authority ends.
_USER_INFO: Final = re.compile(r"(?<=://)[^/?#@\s'\"]*@")


def _unasked_encoding(encoding: str) -> str:
    """The message for a Content-Encoding the client did not ask for."""
    named = repr(encoding) if encoding in _KNOWN_ENCODINGS else "(not shown)"
    return (
        f"Response in Content-Encoding {named}, which the client did not ask for "
        f"({ACCEPT_ENCODING})"
    )


def _expired(exc: BaseException, io: aiohttp.ClientTimeout) -> str:
    """Which of aiohttp's limits a timeout from inside the exchange came from."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        limits = [f"{n}={getattr(io, n):g}s" for n in ("connect", "sock_connect") if getattr(io, n)]
        return f"Connecting timed out ({', '.join(limits) or 'connect'})"
    if isinstance(exc, aiohttp.SocketTimeoutError) and io.sock_read:
        return f"Reading the response timed out (sock_read={io.sock_read:g}s)"
    return "Request timed out"


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def _without_total(timeout: aiohttp.ClientTimeout) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.connect,
        sock_read=timeout.sock_read,
        sock_connect=timeout.sock_connect,
        ceil_threshold=timeout.ceil_threshold,
    )

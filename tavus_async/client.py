"""`AsyncTavus`: configuration, the resources, and the client's lifetime."""

from __future__ import annotations

import dataclasses
import os
import platform
from types import TracebackType
from typing import Final

import aiohttp
from yarl import URL

from ._cache import TTLCache
from ._checks import check_count, check_seconds
from ._coalesce import Coalescer
from ._limits import RateLimiter
from ._retry import RetryBudget, RetryPolicy
from ._secret import Secret
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, CallOptions, Transport
from ._version import __version__
from .errors import MissingAPIKeyError
from .models import Persona
from .personas import Personas

__all__ = ["DEFAULT_BASE_URL", "AsyncTavus"]

DEFAULT_BASE_URL: Final = "https://tavusapi.com"
DEFAULT_TIMEOUT: Final = 30.0
USER_AGENT: Final = (
    f"tavus-async/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)


def _resolve_key(api_key: object) -> Secret:
    """The key from the argument or `TAVUS_API_KEY`, checked to be sendable as a header.

    Errors never quote the key.
    """
    key = api_key if api_key is not None else os.environ.get("TAVUS_API_KEY", "")
    if not isinstance(key, str):
        raise TypeError(f"api_key must be a str, not {type(key).__name__}")
    if not key.strip():
        raise MissingAPIKeyError(
            "No Tavus API key: pass AsyncTavus(api_key=...) or set the TAVUS_API_KEY "
            "environment variable."
        )
    if not (key.isascii() and key.isprintable()) or key != key.strip():
        raise ValueError(
            "api_key must be printable ASCII without surrounding whitespace (no CR, LF, "
            "NUL or other control characters: check for a trailing newline)"
        )
    return Secret(key)


def _resolve_base_url(base_url: object) -> str:
    raw = base_url or os.environ.get("TAVUS_BASE_URL") or DEFAULT_BASE_URL
    if not isinstance(raw, str):
        raise TypeError(f"base_url must be a str, not {type(raw).__name__}")
    url = URL(raw)
    if url.user is not None or url.password is not None:
        # Never echo it: the user info may be a password.
        raise ValueError(
            "base_url must not carry user info (user:password@); the API key is "
            "sent in the x-api-key header"
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {raw!r}")
    if url.query_string or url.fragment:
        raise ValueError("base_url must not carry a query or fragment")
    return str(url).rstrip("/")


def _resolve_timeout(timeout: float | aiohttp.ClientTimeout) -> aiohttp.ClientTimeout:
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    return aiohttp.ClientTimeout(total=check_seconds("timeout", timeout))


class AsyncTavus:
    """Async client for the Tavus persona API.

    Use it as `async with AsyncTavus() as client:` (or call `await client.close()`), and share
    one client per process: it holds one pooled connector of `max_connections` connections.

    - `api_key`: else env `TAVUS_API_KEY`; required.
    - `base_url`: else env `TAVUS_BASE_URL`, else `https://tavusapi.com`.
    - `timeout`: seconds per attempt, or an `aiohttp.ClientTimeout` (its `total` bounds each
      attempt; its `connect`, `sock_read`, ... are applied by aiohttp).
    - `max_retries`: overrides `retry.max_retries` when given (default policy: 2 retries).
    - `retry`: a `RetryPolicy` (backoff, Retry-After, deadline, retry budget, writes).
    - `max_connections`: size of the pool the client creates (ignored with your own `session`).
    - `session`: bring your own `aiohttp.ClientSession`; the client never closes it.
    - `max_response_bytes`: cap on a (decompressed) response body.
    - `cache_ttl`: keep fetched personas this many seconds (off by default), at most
      `cache_size` of them (least recently used evicted first).
    - `rate_limit`: at most this many requests per second from this client (off by default).
    - `coalesce`: concurrent lookups of one id (`get`, `get_many`, `iter_many`) share one
      request (on by default).
    - `hedge_after`: seconds after which a GET still unanswered is sent once more, the
      first answer winning (off by default; hedges spend the retry budget; never a write).

    Every argument is checked here, before any I/O: a wrong type raises `TypeError`, a
    value out of range `ValueError`, and no message quotes the key.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
        session: aiohttp.ClientSession | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        cache_ttl: float | None = None,
        cache_size: int = 1024,
        rate_limit: float | None = None,
        coalesce: bool = True,
        hedge_after: float | None = None,
    ) -> None:
        key = _resolve_key(api_key)
        del api_key  # from here on only the masked key is a local a traceback could render
        policy = retry if retry is not None else RetryPolicy()
        if not isinstance(policy, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(policy).__name__}")
        if max_retries is not None:
            policy = dataclasses.replace(policy, max_retries=max_retries)
        if not isinstance(coalesce, bool):
            raise TypeError("coalesce must be a bool")
        self._base_url = _resolve_base_url(base_url)
        self._timeout = _resolve_timeout(timeout)
        self._options = CallOptions.build(self._timeout, policy)
        self._max_connections = check_count("max_connections", max_connections)
        check_count("max_response_bytes", max_response_bytes)
        check_count("cache_size", cache_size)
        cache: TTLCache[Persona] | None = (
            TTLCache(cache_ttl, cache_size) if cache_ttl is not None else None
        )
        limiter = RateLimiter(rate_limit) if rate_limit is not None else None
        if hedge_after is not None:
            hedge_after = check_seconds("hedge_after", hedge_after)
        self._transport = Transport(
            api_key=key,
            base_url=self._base_url,
            user_agent=USER_AGENT,
            max_connections=max_connections,
            max_response_bytes=max_response_bytes,
            session=session,
            budget=RetryBudget(policy.budget) if policy.budget is not None else None,
            limiter=limiter,
            hedge_after=hedge_after,
        )
        self._rate_limit = rate_limit
        self._cache_ttl = cache_ttl
        self._hedge_after = hedge_after
        #: Persona lookups: `get`, `get_many`, `iter_many`.
        self.personas: Final[Personas] = Personas(
            self._transport, self._options, cache, Coalescer() if coalesce else None
        )

    @property
    def base_url(self) -> str:
        """The API root every request goes to."""
        return self._base_url

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        """The per-attempt timeout."""
        return self._timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force (with `max_retries` applied)."""
        return self._options.retry

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self._options.retry.max_retries

    @property
    def max_connections(self) -> int:
        """Size of the connection pool this client creates."""
        return self._max_connections

    @property
    def is_closed(self) -> bool:
        """True once the client was closed."""
        return self._transport.closed

    async def close(self) -> None:
        """Close the client: every pending call ends with `ClientClosedError`, and the
        connection pool is closed (a session passed in by the user is left open)."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncTavus:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        timeout = self._timeout.total if self._timeout.total is not None else self._timeout
        return (
            f"AsyncTavus(base_url={self._base_url!r}, timeout={timeout!r}, "
            f"max_retries={self.max_retries}, max_connections={self._max_connections}, "
            f"cache_ttl={self._cache_ttl!r}, rate_limit={self._rate_limit!r}, "
            f"hedge_after={self._hedge_after!r})"
        )

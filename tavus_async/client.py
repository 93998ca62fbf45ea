"""`AsyncTavus`: configuration, the resources, and the client's lifetime."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
from types import TracebackType
from typing import Final

import aiohttp
from yarl import URL

from ._cache import TTLCache
from ._limits import RateLimiter
from ._retry import RetryPolicy
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, Transport
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


def _resolve_base_url(base_url: str | None) -> str:
    raw = base_url or os.environ.get("TAVUS_BASE_URL") or DEFAULT_BASE_URL
    url = URL(raw)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {raw!r}")
    if url.query_string or url.fragment:
        raise ValueError("base_url must not carry a query or fragment")
    return str(url).rstrip("/")


def _resolve_timeout(timeout: float | aiohttp.ClientTimeout) -> aiohttp.ClientTimeout:
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout < math.inf
    ):
        raise ValueError(f"timeout must be a finite, positive number of seconds, got {timeout!r}")
    return aiohttp.ClientTimeout(total=float(timeout))


class AsyncTavus:
    """Async client for the Tavus persona API.

    Use it as `async with AsyncTavus() as client:` (or call `await client.close()`), and share
    one client per process: it holds one pooled connector of `max_connections` connections.

    - `api_key`: else env `TAVUS_API_KEY`; required.
    - `base_url`: else env `TAVUS_BASE_URL`, else `https://tavusapi.com`.
    - `timeout`: seconds per attempt, or an `aiohttp.ClientTimeout` passed through as-is.
    - `max_retries`: overrides `retry.max_retries` when given (default policy: 2 retries).
    - `retry`: a `RetryPolicy` (backoff, Retry-After, deadline, retry budget).
    - `max_connections`: size of the pool the client creates (ignored with your own `session`).
    - `session`: bring your own `aiohttp.ClientSession`; the client never closes it.
    - `max_response_bytes`: cap on a (decompressed) response body.
    - `cache_ttl`: keep fetched personas this many seconds (off by default), at most
      `cache_size` of them (least recently used evicted first).
    - `rate_limit`: at most this many requests per second from this client (off by default).
    - `coalesce`: concurrent `get()`s of one id share one request (on by default). Sharing
      runs the request in a task of its own, which costs about 20 µs of CPU per `get`;
      `coalesce=False` saves that when callers rarely ask for the same id at once.
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
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("TAVUS_API_KEY", "")
        if not key or not key.strip():
            raise MissingAPIKeyError(
                "No Tavus API key: pass AsyncTavus(api_key=...) or set the TAVUS_API_KEY "
                "environment variable."
            )
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be >= 1")
        policy = retry if retry is not None else RetryPolicy()
        if max_retries is not None:
            policy = dataclasses.replace(policy, max_retries=max_retries)
        self._base_url = _resolve_base_url(base_url)
        self._timeout = _resolve_timeout(timeout)
        self._retry = policy
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._transport = Transport(
            api_key=key,
            user_agent=USER_AGENT,
            timeout=self._timeout,
            policy=policy,
            max_connections=max_connections,
            max_response_bytes=max_response_bytes,
            session=session,
            limiter=RateLimiter(rate_limit) if rate_limit is not None else None,
        )
        self._rate_limit = rate_limit
        self._cache_ttl = cache_ttl
        cache: TTLCache[Persona] | None = (
            TTLCache(cache_ttl, cache_size) if cache_ttl is not None else None
        )
        #: Persona lookups: `get`, `get_many`, `iter_many`.
        self.personas: Final[Personas] = Personas(
            self._transport, self._base_url, key, cache, coalesce=coalesce
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
        return self._retry

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self._retry.max_retries

    @property
    def max_connections(self) -> int:
        """Size of the connection pool this client creates."""
        return self._max_connections

    @property
    def is_closed(self) -> bool:
        """True once the client was closed."""
        return self._transport.closed

    async def close(self) -> None:
        """Close the connection pool (a session passed in by the user is left open)."""
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
            f"max_retries={self._retry.max_retries}, max_connections={self._max_connections}, "
            f"cache_ttl={self._cache_ttl!r}, rate_limit={self._rate_limit!r})"
        )

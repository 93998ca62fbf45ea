"""`AsyncTavus`: configuration, the resources, and the client's lifetime."""

from __future__ import annotations

import copy
import dataclasses
import os
import platform
from collections.abc import Mapping
from types import TracebackType
from typing import Final

import aiohttp
from aiohttp import ClientSession
from yarl import URL

from ._cache import TTLCache
from ._checks import check_count, check_rate, check_seconds
from ._coalesce import Coalescer
from ._headers import DefaultHeaders, checked_default_headers
from ._hooks import EventHooks, check_event_hooks
from ._limits import RateLimiter
from ._logging import log_from_env
from ._proxy import checked_proxy, proxy_secrets, shown_proxy
from ._retry import RetryBudget, RetryPolicy
from ._secret import Hidden, Secret
from ._stores import CacheProtocol, RateLimiterProtocol
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, CallOptions, Transport
from ._version import __version__
from .errors import MIN_SECRET_LENGTH, MissingAPIKeyError
from .models import Persona
from .resources import Pals, Personas

__all__ = ["DEFAULT_BASE_URL", "AsyncTavus"]

DEFAULT_BASE_URL: Final = "https://tavusapi.com"
DEFAULT_TIMEOUT: Final = 30.0
USER_AGENT: Final = (
    f"tavus-async/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)


def _resolve_key(given: Hidden) -> Secret:
    """The key from the argument or `TAVUS_API_KEY`, checked to be sendable as a header.

    The checks run in `_checked_key`, which returns its error: no frame a traceback shows
    holds the key itself, and no message quotes it.
    """
    result = _checked_key(given if given.value is not None else _env("TAVUS_API_KEY"))
    if isinstance(result, Exception):
        raise result
    return result


def _checked_key(given: Hidden) -> Secret | Exception:
    key = given.value
    if not isinstance(key, str):
        return TypeError(f"api_key must be a str, not {type(key).__name__}")
    if not key.strip():
        return MissingAPIKeyError(
            "No Tavus API key: pass AsyncTavus(api_key=...) or set the TAVUS_API_KEY "
            "environment variable."
        )
    if not (key.isascii() and key.isprintable()) or key != key.strip():
        return ValueError(
            "api_key must be printable ASCII without surrounding whitespace (no CR, LF, "
            "NUL or other control characters: check for a trailing newline)"
        )
    if len(key) < MIN_SECRET_LENGTH:
        return ValueError(
            f"api_key is shorter than {MIN_SECRET_LENGTH} characters: not a Tavus API key "
            "(and too short to be masked in messages)"
        )
    return Secret(key)


def _resolve_base_url(given: Hidden) -> str:
    """The API root from the argument, `TAVUS_BASE_URL` or the default, checked; errors
    say what is wrong, never the URL (a bad one may carry a password)."""
    result = _checked_base_url(given if given.value else _env("TAVUS_BASE_URL"))
    if isinstance(result, Exception):
        raise result
    return result


def _checked_base_url(given: Hidden) -> str | Exception:
    raw = given.value or DEFAULT_BASE_URL
    if not isinstance(raw, str):
        return TypeError(f"base_url must be a str, not {type(raw).__name__}")
    try:
        url = URL(raw)
        problem = _base_url_problem(url)
    except (TypeError, ValueError):
        problem = "base_url is not a valid URL"
    if problem is not None:
        return ValueError(problem)
    return str(url).rstrip("/")


def _base_url_problem(url: URL) -> str | None:
    if url.user is not None or url.password is not None or "@" in url.raw_authority:
        return (
            "base_url must not carry user info (user:password@); the API key is "
            "sent in the x-api-key header"
        )
    if url.scheme not in ("http", "https") or not url.host:
        return "base_url must be an absolute http:// or https:// URL with a host"
    if url.query_string or url.fragment:
        return "base_url must not carry a query or fragment"
    url.port  # noqa: B018 - an invalid port raises here, not at the first request
    return None


def _env(name: str) -> Hidden:
    return Hidden(os.environ.get(name, ""))


def _resolve_headers(given: Hidden) -> DefaultHeaders:
    result = checked_default_headers(given)
    if isinstance(result, Exception):
        raise result
    return result


def _resolve_proxy(
    given: Hidden, trust_env: bool, session: aiohttp.ClientSession | None
) -> Secret | None:
    """The checked proxy URL; refused with a session (its proxy settings are its own)."""
    if not isinstance(trust_env, bool):
        raise TypeError(f"trust_env must be a bool, not {type(trust_env).__name__}")
    if session is not None and (given.value is not None or trust_env):
        raise ValueError(
            "proxy= and trust_env= configure the client's own session: with session=, "
            "set them on your aiohttp session"
        )
    result = checked_proxy(given)
    if isinstance(result, Exception):
        raise result
    return result


def _check_policy(retry: object) -> RetryPolicy:
    if not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
    return retry


def _resolve_limiter(
    rate_limit: float | None, rate_limiter: RateLimiterProtocol | None
) -> RateLimiterProtocol | None:
    """The limiter passed in, or one built from the `rate_limit` shortcut (not both)."""
    if rate_limiter is None:
        return None if rate_limit is None else RateLimiter(check_rate("rate_limit", rate_limit))
    if rate_limit is not None:
        raise ValueError("pass rate_limit= or rate_limiter=, not both")
    if not isinstance(rate_limiter, RateLimiterProtocol):
        raise TypeError(
            f"rate_limiter must have an async acquire() (RateLimiterProtocol), "
            f"not {type(rate_limiter).__name__}"
        )
    return rate_limiter


def _resolve_cache(
    cache_ttl: float | None, cache_size: int | None, cache: CacheProtocol | None
) -> CacheProtocol | None:
    """The cache passed in, or one built from the `cache_ttl`/`cache_size` shortcut."""
    if cache is None:
        size = check_count("cache_size", 1024 if cache_size is None else cache_size)
        if cache_ttl is None:
            return None
        return TTLCache(check_seconds("cache_ttl", cache_ttl), size)
    if cache_ttl is not None or cache_size is not None:
        raise ValueError("pass cache_ttl=/cache_size= or cache=, not both")
    if not isinstance(cache, CacheProtocol):
        raise TypeError(
            f"cache must implement CacheProtocol (get, version, put, invalidate), "
            f"not {type(cache).__name__}"
        )
    return cache


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
      `cache_size` of them (least recently used evicted first): a shortcut for
      `cache=TTLCache(cache_ttl, cache_size)`.
    - `cache`: a persona cache (`CacheProtocol`): a `TTLCache`, a
      `tavus_async.redis.RedisCache` shared by many processes, or your own.
    - `rate_limit`: at most this many requests per second from this client (off by
      default): a shortcut for `rate_limiter=RateLimiter(rate_limit)`.
    - `rate_limiter`: a `RateLimiterProtocol`: a `RateLimiter`, a
      `tavus_async.redis.RedisRateLimiter` shared by many processes, or your own.
    - `coalesce`: concurrent lookups of one id (`get`, `get_many`, `iter_many`) share one
      request (on by default).
    - `hedge_after`: seconds after which a GET still unanswered is sent once more, the
      first answer winning (off by default; hedges spend the retry budget; never a write).
    - `default_headers`: headers sent with every request (not `x-api-key`, nor the ones
      the client needs: `Accept`, `Accept-Encoding`, `Content-Type`, ...; `User-Agent` may be
      replaced). Values are masked in errors like the key and never shown in a repr.
    - `proxy`: an `http://` (or `https://`) proxy for the client's own session; user info
      in it is used, and never shown.
    - `trust_env`: let the client's own session read `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`
      (and `~/.netrc`), as aiohttp does; `proxy` wins over the environment.

    `client.with_options(...)` makes a copy with another timeout or retry policy that
    shares everything else.
    - `event_hooks`: `{"request": [...], "response": [...], "retry": [...]}`, callables
      (sync or async) called with a `RequestEvent`, `ResponseEvent` or `RetryEvent` for
      every attempt; one that raises is logged and never fails the call.

    `TAVUS_LOG=debug` or `info` in the environment, read here, logs the `tavus_async`
    logger at that level: to stderr, unless the application's logging handlers show it.

    A cache or limiter passed in is yours: the client never closes it, and may share it
    with other clients. The shortcut and the object form of one store are refused together.

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
        cache_size: int | None = None,
        rate_limit: float | None = None,
        coalesce: bool = True,
        *,
        rate_limiter: RateLimiterProtocol | None = None,
        cache: CacheProtocol | None = None,
        hedge_after: float | None = None,
        default_headers: Mapping[str, str] | None = None,
        proxy: str | URL | None = None,
        trust_env: bool = False,
        event_hooks: EventHooks | None = None,
    ) -> None:
        given_key, given_url = Hidden(api_key), Hidden(base_url)
        given_headers, given_proxy = Hidden(default_headers), Hidden(proxy)
        # From here on no local a traceback could render holds the raw key, URL, header
        # values or proxy.
        del api_key, base_url, default_headers, proxy
        key = _resolve_key(given_key)
        policy = _check_policy(retry if retry is not None else RetryPolicy())
        if max_retries is not None:
            policy = dataclasses.replace(policy, max_retries=max_retries)
        if not isinstance(coalesce, bool):
            raise TypeError("coalesce must be a bool")
        if session is not None and not isinstance(session, ClientSession):
            raise TypeError(
                f"session must be an aiohttp.ClientSession, not {type(session).__name__}"
            )
        self._base_url = _resolve_base_url(given_url)
        self._timeout = _resolve_timeout(timeout)
        self._options = CallOptions.build(self._timeout, policy)
        self._max_connections = check_count("max_connections", max_connections)
        check_count("max_response_bytes", max_response_bytes)
        store = _resolve_cache(cache_ttl, cache_size, cache)
        limiter = _resolve_limiter(rate_limit, rate_limiter)
        if hedge_after is not None:
            hedge_after = check_seconds("hedge_after", hedge_after)
        headers = _resolve_headers(given_headers)
        proxy_url = _resolve_proxy(given_proxy, trust_env, session)
        hooks = check_event_hooks(event_hooks)
        log_from_env()
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
            default_headers=headers,
            proxy=proxy_url,
            trust_env=trust_env,
            secrets=(*headers.values, *proxy_secrets(proxy_url)),
            event_hooks=hooks,
        )
        self._owns_transport = True  # False in a copy made by with_options()
        self._proxy_shown = shown_proxy(proxy_url)
        self._rate_limit = rate_limit
        self._cache_ttl = cache_ttl
        self._cache = store
        self._limiter = limiter
        self._hedge_after = hedge_after
        # One coalescer and one cache for both paths: a PAL is a persona under other names.
        self._coalescer: Coalescer[Persona] | None = Coalescer() if coalesce else None
        self._personas = Personas(self._transport, self._options, store, self._coalescer)
        self._pals = Pals(self._transport, self._options, store, self._coalescer)

    @property
    def personas(self) -> Personas:
        """Personas at `/v2/personas`: get, list, create, patch, delete."""
        return self._personas

    @property
    def pals(self) -> Pals:
        """The same records as PALs at `/v2/pals`, under the PAL names."""
        return self._pals

    def with_options(
        self,
        *,
        timeout: float | aiohttp.ClientTimeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncTavus:
        """A copy of this client whose calls take another timeout or retry policy; what is
        not given is this client's (None: inherited).

        The copy shares the connection pool, the cache, the coalescer, the rate limiter and
        the retry budget (a `retry` given here keeps this client's `budget`). It owns none
        of them: closing the copy does nothing, closing this client closes it too (its calls
        then raise `ClientClosedError`). Arguments are checked as by the constructor.
        """
        policy = _check_policy(retry if retry is not None else self._options.retry)
        if max_retries is not None:
            policy = dataclasses.replace(policy, max_retries=max_retries)
        budget = self._options.retry.budget
        if policy.budget != budget:
            policy = dataclasses.replace(policy, budget=budget)
        io_timeout = self._timeout if timeout is None else _resolve_timeout(timeout)
        options = CallOptions.build(io_timeout, policy)
        clone = copy.copy(self)
        clone._owns_transport = False
        clone._timeout, clone._options = io_timeout, options
        clone._personas = Personas(self._transport, options, self._cache, self._coalescer)
        clone._pals = Pals(self._transport, options, self._cache, self._coalescer)
        return clone

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
    def cache(self) -> CacheProtocol | None:
        """The persona cache in use, if any."""
        return self._cache

    @property
    def rate_limiter(self) -> RateLimiterProtocol | None:
        """The rate limiter in use, if any."""
        return self._limiter

    @property
    def is_closed(self) -> bool:
        """True once the client (for a copy: the client it was made from) was closed."""
        return self._transport.closed

    async def close(self) -> None:
        """Close the client: every pending call ends with `ClientClosedError`, and the
        connection pool is closed (a session, cache or rate limiter passed in by the user
        is left open). On a copy made by `with_options()`, nothing: the pool is the
        original's."""
        if self._owns_transport:
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
        try:
            timeout = self._timeout.total if self._timeout.total is not None else self._timeout
            return (
                f"AsyncTavus(base_url={self._base_url!r}, timeout={timeout!r}, "
                f"max_retries={self.max_retries}, max_connections={self._max_connections}, "
                f"cache_ttl={self._cache_ttl!r}, rate_limit={self._rate_limit!r}, "
                f"hedge_after={self._hedge_after!r}, proxy={self._proxy_shown!r})"
            )
        except AttributeError:  # half-built: the constructor raised (a traceback shows `self`)
            return "AsyncTavus(<not constructed>)"

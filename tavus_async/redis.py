"""A rate limiter and a persona cache shared by many processes through Redis.

Install with `pip install 'tavus-async[redis]'`. Every Redis call is bounded by `timeout`;
while Redis fails, the limiter limits with a local in-memory limiter of the same rate and
the cache misses. One WARNING is logged (logger `tavus_async.redis`) when an outage begins,
one INFO when it ends; neither names more of the server than its host, port and path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Self, TypeVar
from urllib.parse import urlsplit

import msgspec

try:
    import redis.asyncio as aioredis
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("tavus_async.redis needs redis-py: pip install 'tavus-async[redis]'") from exc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ._checks import check_count, check_seconds
from ._limits import RateLimiter
from .errors import TavusError
from .models import Persona, decode_persona

__all__ = ["RedisCache", "RedisRateLimiter"]

_log: Final = logging.getLogger("tavus_async.redis")
T = TypeVar("T")

#: What counts as Redis failing: its errors, socket errors, and our own timeout.
_FAILURES: Final = (RedisError, OSError, TimeoutError)
_FAILED: Final = object()  # a fallback no Redis reply can equal
#: A version key outlives any fetch that may still compare against it.
VERSION_TTL: Final = 24 * 3600.0

# GCRA: take the next slot at Redis time if it is free (booking it), else return the
# microseconds until it is (booking nothing).
_GCRA: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return math.ceil(wait) end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return 0
"""

# KEYS: entry, version, index. ARGV: id, body, version, ttl ms, max entries, entry prefix.
# The index scores each live entry by its expiry (microseconds), so making room evicts the
# entries soonest to expire, never the one being stored.
_PUT: Final = """
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[3]) then return 0 end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local ttl = tonumber(ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('%.0f', now))
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5]) + 1
if excess > 0 then
  local evicted = redis.call('ZPOPMIN', KEYS[3], excess)
  for i = 1, #evicted, 2 do redis.call('DEL', ARGV[6] .. evicted[i]) end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[3], string.format('%.0f', now + ttl * 1000), ARGV[1])
redis.call('PEXPIRE', KEYS[3], ttl)
return 1
"""

# KEYS: entry, version, index, sequence. ARGV: id, version ttl ms.
# The version is a namespace-wide sequence number, so an id's versions never repeat.
_INVALIDATE: Final = """
local stamp = redis.call('INCR', KEYS[4])
redis.call('SET', KEYS[2], stamp, 'PX', ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return stamp
"""


def safe_location(url: str) -> str:
    """`url` without credentials or query (which may hold `password=`), for logs and reprs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _client_location(client: aioredis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def _connect(url_or_client: str | aioredis.Redis, timeout: float) -> tuple[aioredis.Redis, bool]:
    """The client to use, and whether we own it (and so close it)."""
    if isinstance(url_or_client, aioredis.Redis):
        return url_or_client, False
    if not isinstance(url_or_client, str):
        raise TypeError("expected a redis:// URL or a redis.asyncio.Redis client")
    client = aioredis.Redis.from_url(
        url_or_client,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # One immediate retry survives a pooled connection the server closed while idle.
        retry=Retry(NoBackoff(), 1),
    )
    return client, True


def _check_timing(timeout: float, recheck: float) -> None:
    check_seconds("timeout", timeout)
    check_seconds("recheck", recheck)


class _Guard:
    """Runs Redis calls under a timeout and tracks outages.

    While Redis is failing it is tried again at most every `recheck` seconds; calls in
    between get their fallback at once instead of each waiting out the timeout.
    """

    __slots__ = ("_down", "_retry_at", "fallback", "location", "recheck", "timeout", "user")

    def __init__(self, user: str, fallback: str, location: str, timeout: float, recheck: float):
        self.user = user  # "rate limiter" or "persona cache"
        self.fallback = fallback  # what happens meanwhile, for the warning
        self.location = location
        self.timeout = timeout
        self.recheck = recheck
        self._down = False
        self._retry_at = 0.0

    async def run(self, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        """`await call()`, or `fallback` if Redis fails, times out, or is known down."""
        if self._down and time.monotonic() < self._retry_at:
            return fallback
        try:
            async with asyncio.timeout(self.timeout):
                result = await call()
        except _FAILURES as exc:
            self._retry_at = time.monotonic() + self.recheck
            if not self._down:
                self._down = True
                # The error's class only: its text could quote a script argument.
                _log.warning(
                    "Redis at %s is unavailable for the %s (%s); %s until it answers again",
                    self.location,
                    self.user,
                    type(exc).__name__,
                    self.fallback,
                )
            return fallback
        if self._down:
            self._down = False
            _log.info("Redis at %s answers again; the %s uses it", self.location, self.user)
        return result


class _RedisStore:
    """What both stores share: the client, its ownership, the guard, closing."""

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        timeout: float,
        recheck: float,
        user: str,
        fallback: str,
    ) -> None:
        _check_timing(timeout, recheck)
        self._client, self._owned = _connect(url_or_client, timeout)
        location = (
            safe_location(url_or_client)
            if isinstance(url_or_client, str)
            else _client_location(self._client)
        )
        self._guard = _Guard(user, fallback, location, timeout, recheck)

    async def aclose(self) -> None:
        """Close the connections, if this object made the client from a URL."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class RedisRateLimiter(_RedisStore):
    """Spaces requests at `rate` per second with bursts of `burst`, across every process
    sharing `key` on one Redis: in any window of t seconds they send at most
    `rate * t + burst` requests.

    Each `acquire()` runs one atomic script (GCRA on Redis's clock) that books the next
    slot if it is free, or books nothing and says how long to wait; the caller sleeps and
    asks again, so a cancelled waiter books nothing. In a process, waiters are served in
    call order. While Redis fails, each process limits
    with a local limiter of the same rate (so N processes may together send N times it).
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        rate: float,
        burst: int = 1,
        key: str = "tavus-async:rate",
        timeout: float = 0.25,
        recheck: float = 1.0,
    ) -> None:
        self._local = RateLimiter(rate, burst)  # validates rate and burst
        if not key:
            raise ValueError("key must be a non-empty string")
        super().__init__(
            url_or_client, timeout, recheck, "rate limiter", "limiting with a local limiter"
        )
        self._key = key
        self._burst = burst
        interval = 1_000_000 / rate  # microseconds
        self._args = (interval, interval * (burst - 1))
        self._script = self._client.register_script(_GCRA)
        self._turn = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter(rate={self.rate:g}, burst={self._burst}, key={self._key!r}, "
            f"at={self._guard.location!r})"
        )

    @property
    def rate(self) -> float:
        """Requests per second, shared by every process using `key`."""
        return self._local.rate

    async def acquire(self) -> None:
        """Wait until a request may go out."""
        # One waiter per process asks Redis at a time, the others queue here in order:
        # otherwise every waiter would wake and ask at each free slot.
        async with self._turn:
            while True:
                wait = await self._guard.run(self._take, None)
                if wait is None:
                    await self._local.acquire()
                    return
                if wait <= 0:
                    return
                await asyncio.sleep(wait / 1_000_000)

    async def _take(self) -> int:
        """Book a slot now (0), or the microseconds until one is free."""
        return int(await self._script(keys=[self._key], args=self._args))


class RedisCache(_RedisStore):
    """A persona cache shared by every process using `namespace` on one Redis.

    Personas are stored as their JSON (credentials included: secure the Redis as you
    would the API key) for `ttl` seconds. Writes through any process invalidate for all:
    `invalidate` deletes the entry and advances the id's version, and `put` stores only if
    the version is the one read before the fetch (both atomic scripts). At most
    `max_entries` are kept; a put beyond that evicts the entries soonest to expire.

    While Redis fails, `get` misses and `put` stores nothing. An `invalidate` that fails is
    remembered and retried before this object's next Redis call, and this object serves no
    entry until it succeeded; other processes may serve the old entry until then, for at
    most its `ttl`.
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        ttl: float,
        max_entries: int = 1024,
        namespace: str = "tavus-async",
        timeout: float = 0.25,
        recheck: float = 1.0,
    ) -> None:
        check_seconds("ttl", ttl)
        check_count("max_entries", max_entries)
        if not namespace or "{" in namespace or "}" in namespace:
            raise ValueError("namespace must be a non-empty string without braces")
        super().__init__(url_or_client, timeout, recheck, "persona cache", "every read misses")
        self._ttl_ms = max(1, round(ttl * 1000))
        self._max_entries = max_entries
        self._namespace = namespace
        prefix = f"{{{namespace}}}:"  # one hash tag: a script's keys share a cluster slot
        self._entry = prefix + "persona:"
        self._version = prefix + "version:"
        self._index = prefix + "index"
        self._sequence = prefix + "sequence"
        self._pending: set[str] = set()  # ids whose invalidation has not reached Redis
        self._put_script = self._client.register_script(_PUT)
        self._invalidate_script = self._client.register_script(_INVALIDATE)

    def __repr__(self) -> str:
        return (
            f"RedisCache(ttl={self._ttl_ms / 1000:g}, max_entries={self._max_entries}, "
            f"namespace={self._namespace!r}, at={self._guard.location!r})"
        )

    async def get(self, persona_id: str) -> Persona | None:
        """The cached persona, or None (a miss, also when Redis fails)."""
        body = await self._run(lambda: self._client.get(self._entry + persona_id), None)
        if body is None:
            return None
        try:
            return decode_persona(body.encode() if isinstance(body, str) else body)
        except TavusError:  # an entry this version cannot read: a miss, refilled on put
            return None

    async def version(self, persona_id: str) -> int:
        """The id's version now (0 if never invalidated); -1, which no put accepts, if
        Redis fails."""
        value = await self._run(lambda: self._client.get(self._version + persona_id), _FAILED)
        return -1 if value is _FAILED else int(value or 0)

    async def put(self, persona_id: str, persona: Persona, version: int) -> bool:
        """Store `persona` if the id's version is still `version`; True if stored."""
        if version < 0:
            return False
        args = (
            persona_id,
            msgspec.json.encode(persona.to_dict()),  # every key received, unknown ones too
            version,
            self._ttl_ms,
            self._max_entries,
            self._entry,
        )
        keys = self._keys(persona_id)[:3]
        stored = await self._run(lambda: self._put_script(keys=keys, args=args), 0)
        return bool(stored)

    async def invalidate(self, persona_id: str) -> None:
        """Drop the entry everywhere and advance its version (retried later if Redis fails)."""
        self._pending.add(persona_id)
        await self._guard.run(self._flush, None)

    def _keys(self, persona_id: str) -> list[str]:
        return [
            self._entry + persona_id,
            self._version + persona_id,
            self._index,
            self._sequence,
        ]

    async def _flush(self) -> None:
        """Send the invalidations that have not reached Redis yet."""
        version_ttl = round(VERSION_TTL * 1000)
        while self._pending:
            persona_id = next(iter(self._pending))
            await self._invalidate_script(
                keys=self._keys(persona_id), args=(persona_id, version_ttl)
            )
            self._pending.discard(persona_id)

    async def _run(self, call: Callable[[], Awaitable[Any]], fallback: Any) -> Any:
        """`call()` through the guard, after any pending invalidations."""

        async def step() -> Any:
            await self._flush()
            return await call()

        return await self._guard.run(step, fallback)

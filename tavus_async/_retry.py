"""Retry policy, the pure decisions behind it, and the per-client retry budget.

Everything here but `RetryBudget` is a pure function of its inputs (time is passed in),
so the rules are tested exhaustively without a server or a clock.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from .errors import (
    APIConnectionError,
    APIStatusError,
    ResponseTooLargeError,
)

RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """A token bucket that caps retries to a share of successful traffic.

    Each retry spends `retry_cost` tokens; each success refunds `success_refund`. The bucket
    starts full at `capacity`. With the defaults a client may burst 100 retries; after that
    it earns one retry per ten successes, so a mostly failing server is not hammered.
    """

    capacity: float = 100.0
    retry_cost: float = 1.0
    success_refund: float = 0.1

    def __post_init__(self) -> None:
        if not (
            0 < self.capacity < math.inf
            and 0 < self.retry_cost < math.inf
            and 0 <= self.success_refund < math.inf
        ):
            raise ValueError(
                "BudgetConfig needs finite capacity > 0, retry_cost > 0, success_refund >= 0"
            )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a call is retried. Immutable; one policy may be shared by many clients.

    - Retried: connection errors, timeouts, 408, 409, 429 and every 5xx (a server's
      `x-should-retry: true|false` overrides the status rule). Never: other 4xx, bad bodies.
    - Wait: `initial_backoff * 2**n` capped at `max_backoff`, with "equal jitter" when
      `jitter` (a uniform wait between half and all of it);
      a sane `Retry-After`/`retry-after-ms` is honoured instead when `respect_retry_after`.
    - A `Retry-After` above `max_retry_after` is not slept: the `RateLimitError` is raised at
      once with `retry_after` set, so a batch job can decide what to do.
    - `deadline` bounds all attempts and waits of one call, in seconds.
    - `budget` is the per-client retry budget (`None` switches it off).
    - `sleep` replaces `asyncio.sleep` between attempts (tests, custom schedulers).
    """

    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: bool = True
    respect_retry_after: bool = True
    max_retry_after: float = 60.0
    deadline: float | None = None
    budget: BudgetConfig | None = field(default_factory=BudgetConfig)
    sleep: Callable[[float], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if not (0 <= self.initial_backoff <= self.max_backoff < math.inf):
            raise ValueError("need 0 <= initial_backoff <= max_backoff, finite")
        if not self.max_retry_after >= 0:  # inf is fine: "always honour Retry-After"
            raise ValueError("max_retry_after must be >= 0")
        if self.deadline is not None and not 0 < self.deadline < math.inf:
            raise ValueError("deadline must be a finite number > 0, or None")


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asks us to wait, or None. Total: never raises, never negative.

    Reads `retry-after-ms` first, then `Retry-After` as delta-seconds or an HTTP-date
    (relative to `now`, a Unix time). Garbage, infinities and NaN give None.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is None and not isinstance(headers, CIMultiDictProxy | CIMultiDict):
        headers = CIMultiDict(headers)  # header names are case-insensitive
        raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        value = _parse_number(raw_ms)
        if value is not None:
            return value / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    value = _parse_number(raw)
    if value is not None:
        return value
    return _parse_http_date(raw, now)


def _parse_number(raw: str) -> float | None:
    text = raw.strip()
    if not text or len(text) > 32:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def _parse_http_date(raw: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        return None
    try:
        delta = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, delta) if math.isfinite(delta) else None


def backoff(policy: RetryPolicy, retry_number: int, rand: Callable[[], float]) -> float:
    """The computed wait before retry `retry_number` (1-based), in [0, max_backoff]."""
    exponent = min(max(retry_number - 1, 0), 62)
    base = min(policy.initial_backoff * (2.0**exponent), policy.max_backoff)
    if policy.jitter:
        # "Equal jitter": keep half the delay, randomise the rest, so waits never collapse to 0.
        base = base / 2 + rand() * base / 2
    return min(max(base, 0.0), policy.max_backoff)


def retry_after_of(exc: BaseException) -> float | None:
    """The server-requested wait carried by an error, if any."""
    return exc.retry_after if isinstance(exc, APIStatusError) else None


def is_retryable(exc: BaseException) -> bool:
    """Whether an error from one attempt may be retried. Only `TavusError`s ever are."""
    if isinstance(exc, APIStatusError):
        override = exc.headers.get("x-should-retry")
        if override is not None:
            flag = override.strip().lower()
            if flag == "true":
                return True
            if flag == "false":
                return False
        return exc.status_code in RETRYABLE_STATUSES or exc.status_code >= 500
    if isinstance(exc, ResponseTooLargeError):
        return False
    return isinstance(exc, APIConnectionError)


def wait_for(
    policy: RetryPolicy, retry_number: int, exc: BaseException, rand: Callable[[], float]
) -> float:
    """The wait before retry `retry_number`: a sane server Retry-After, else the backoff."""
    if policy.respect_retry_after:
        requested = retry_after_of(exc)
        if requested is not None and requested <= policy.max_retry_after:
            return requested
    return backoff(policy, retry_number, rand)


def default_rand() -> float:
    """Uniform [0, 1) used for jitter (module-level so tests can pass their own)."""
    return random.random()


class RetryBudget:
    """Thread-safe token bucket built from a `BudgetConfig`; one per client."""

    __slots__ = ("_config", "_lock", "_tokens")

    def __init__(self, config: BudgetConfig) -> None:
        self._config = config
        self._tokens = config.capacity
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        """Tokens left, in [0, capacity]."""
        return self._tokens

    def try_spend(self) -> bool:
        """Take the cost of one retry; False (and nothing taken) when the bucket is short."""
        with self._lock:
            if self._tokens < self._config.retry_cost:
                return False
            self._tokens -= self._config.retry_cost
            return True

    def refund(self) -> None:
        """Credit one success."""
        if self._tokens >= self._config.capacity:
            return  # the common, full-bucket case: no lock taken on the hot path
        with self._lock:
            self._tokens = min(self._config.capacity, self._tokens + self._config.success_refund)

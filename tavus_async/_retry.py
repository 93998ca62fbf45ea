"""Retry policy, the pure decisions behind it, the per-client retry budget, and the one
tenacity loop a call runs in.

The decisions (retryable? how long to wait? when to give up? what does Retry-After say?)
are pure functions of their inputs, time passed in, so they are table-tested without a
server or a clock. `retrying()` wires them into one `AsyncRetrying` per call.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy
from tenacity import AsyncRetrying, RetryCallState

from ._checks import check_count, check_seconds
from ._limits import BulkFlow
from .errors import (
    APIConnectionError,
    APIStatusError,
    ResponseTooLargeError,
    UnexpectedEncodingError,
)

logger = logging.getLogger("tavus_async")

#: Statuses retried for a method that may be repeated (and for writes with `retry_writes`).
RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})
#: Statuses that say the request was refused unprocessed: even a write may be sent again.
UNPROCESSED_STATUSES: Final = frozenset({408, 429})
#: Methods whose repetition has the effect of one request (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Delta-seconds are ASCII digits (RFC 9110 section 10.2.3); a decimal fraction is tolerated.
_DELTA_SECONDS: Final = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?")
_OWS: Final = " \t"
# The obsolete asctime form of an HTTP-date (RFC 9110 section 5.6.7), which carries no zone
# (it is GMT): `Sun Nov  6 08:49:37 1994`, the day of the month space-padded.
_ASCTIME: Final = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(?: [1-9]|[0-3][0-9]) [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}"
)


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
        check_seconds("BudgetConfig.capacity", self.capacity)
        check_seconds("BudgetConfig.retry_cost", self.retry_cost)
        check_seconds("BudgetConfig.success_refund", self.success_refund, strict=False)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a call is retried. Immutable; one policy may be shared by many clients.

    - Retried, for GET and DELETE: connection errors, timeouts, 408, 409, 429 and 500-599
      (a server's `x-should-retry: true|false` overrides the status rule). Never: other
      4xx, bad bodies, oversized bodies, an encoding the client did not ask for.
    - Writes (POST, PATCH) are retried only when the request was certainly not processed:
      it never left (connection refused, DNS, connect timeout), or the answer was 408 or
      429. `retry_writes=True` retries them like GET.
    - Wait: `initial_backoff * 2**n` capped at `max_backoff`, with "equal jitter" when
      `jitter` (a uniform wait between half and all of it);
      a sane `Retry-After`/`retry-after-ms` is honoured instead when `respect_retry_after`.
    - A `Retry-After` above `max_retry_after` is not slept: the `RateLimitError` is raised at
      once with `retry_after` set, so a batch job can decide what to do.
    - `deadline` bounds all attempts and waits of one call, in seconds.
    - `budget` is the per-client retry budget (`None` switches it off).
    - `sleep` replaces the wait between attempts (tests, custom schedulers); `close()`, a
      401 that stopped a bulk call, or (for a backoff that only left the slot to other ids)
      every id of a bulk call having started, cancels it, as it ends the usual wait.
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
    retry_writes: bool = False

    def __post_init__(self) -> None:
        check_count("max_retries", self.max_retries, minimum=0)
        check_seconds("initial_backoff", self.initial_backoff, strict=False)
        check_seconds("max_backoff", self.max_backoff, strict=False)
        if self.initial_backoff > self.max_backoff:
            raise ValueError("initial_backoff must be <= max_backoff")
        # inf is fine: "always honour Retry-After".
        check_seconds("max_retry_after", self.max_retry_after, strict=False, allow_inf=True)
        if self.deadline is not None:
            check_seconds("deadline", self.deadline)
        if self.budget is not None and not isinstance(self.budget, BudgetConfig):
            raise TypeError("budget must be a BudgetConfig or None")
        for name in ("jitter", "respect_retry_after", "retry_writes"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool")


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asks us to wait, or None. Total: never raises, never negative.

    Reads `retry-after-ms` first, then `Retry-After` as delta-seconds or an HTTP-date
    (relative to `now`, a Unix time). Delta-seconds are ASCII digits with an optional
    decimal fraction: `1_000`, `1e3`, `inf` or non-ASCII digits are garbage, and give None.
    """
    if not isinstance(headers, CIMultiDictProxy | CIMultiDict):
        headers = CIMultiDict(headers)  # header names are case-insensitive
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        value = parse_delta_seconds(raw_ms)
        if value is not None:
            return value / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    value = parse_delta_seconds(raw)
    return value if value is not None else _parse_http_date(raw, now)


def parse_delta_seconds(raw: str) -> float | None:
    """`raw` (optional whitespace around ASCII digits and a fraction) as a number, or None."""
    text = raw.strip(_OWS)
    return float(text) if _DELTA_SECONDS.fullmatch(text) else None


def _parse_http_date(raw: str, now: float) -> float | None:
    """An HTTP-date in any of its three forms (IMF-fixdate, RFC 850, asctime) as seconds
    from `now`, or None."""
    text = raw.strip(_OWS)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # Only asctime may leave its zone out; any other zoneless date is no HTTP-date.
        if not _ASCTIME.fullmatch(text):
            return None
        when = when.replace(tzinfo=UTC)
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


def retry_after_of(exc: BaseException | None) -> float | None:
    """The server-requested wait carried by an error, if any."""
    return exc.retry_after if isinstance(exc, APIStatusError) else None


def _should_retry_header(exc: APIStatusError) -> bool | None:
    flag = exc.headers.get("x-should-retry")
    if flag is None:
        return None
    return {"true": True, "false": False}.get(flag.strip().lower())


def is_retryable(exc: BaseException, method: str = "GET", *, retry_writes: bool = False) -> bool:
    """Whether an error from one attempt of a `method` request may be retried.

    Only `TavusError`s ever are. A write (not in `IDEMPOTENT_METHODS`) only when it was
    certainly not processed, unless `retry_writes`. A server's `x-should-retry: false`
    vetoes any retry; its `true` is honoured only where a repeat is safe.
    """
    repeatable = retry_writes or method in IDEMPOTENT_METHODS
    if isinstance(exc, APIStatusError):
        status = exc.status_code
        override = _should_retry_header(exc)
        if override is False or not repeatable:
            return override is not False and status in UNPROCESSED_STATUSES
        if override is not None:
            return override
        return status in RETRYABLE_STATUSES or 500 <= status <= 599
    if isinstance(exc, ResponseTooLargeError | UnexpectedEncodingError):
        return False
    if isinstance(exc, APIConnectionError):
        return repeatable or not exc.request_sent
    return False


def wait_for(
    policy: RetryPolicy, retry_number: int, exc: BaseException | None, rand: Callable[[], float]
) -> float:
    """The wait before retry `retry_number`: a sane server Retry-After, else the backoff."""
    if policy.respect_retry_after:
        requested = retry_after_of(exc)
        if requested is not None and requested <= policy.max_retry_after:
            return requested
    return backoff(policy, retry_number, rand)


def bulk_wait(
    policy: RetryPolicy,
    failed_attempt: int,
    counted: int,
    excused: bool,
    exc: BaseException | None,
    rand: Callable[[], float],
) -> float:
    """The wait before retrying a bulk call's request whose attempt `failed_attempt` failed,
    `counted` of its failures so far counting towards `max_retries` (this one included).

    A 429 waits nothing: the flow's pacer spaces the retry. While the rest of the job makes
    progress (`excused`) a failure is noise: the request's first one is retried at once (it
    queues for a slot like any request, so the job's concurrency bounds it), a repeated one
    waits the first backoff step, a server's Retry-After is honoured. Without progress the
    waits are a single call's, grown by the failures that count only: noise before does
    not lengthen them.
    """
    if _throttled(exc):
        return 0.0
    if not excused:
        return wait_for(policy, counted, exc, rand)
    if failed_attempt == 1 and not _asked_to_wait(policy, exc):
        return 0.0
    return wait_for(policy, 1, exc, rand)


def _asked_to_wait(policy: RetryPolicy, exc: BaseException | None) -> bool:
    """Whether the server's `Retry-After` sets the wait, rather than the backoff."""
    return policy.respect_retry_after and retry_after_of(exc) is not None


def gives_up(
    policy: RetryPolicy, attempts: int, exc: BaseException | None, elapsed_after_wait: float
) -> bool:
    """Whether to stop after `attempts` failed ones, before any budget is spent.

    Stops when the retries are used up, when the server asks for a wait over
    `max_retry_after` (the error is raised at once), or when the wait would end at or past
    the deadline (`elapsed_after_wait`: seconds since the call began, the wait included).
    """
    if attempts > policy.max_retries:
        return True
    requested = retry_after_of(exc)
    if policy.respect_retry_after and requested is not None and requested > policy.max_retry_after:
        return True
    return policy.deadline is not None and elapsed_after_wait >= policy.deadline


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

    def __repr__(self) -> str:
        return f"RetryBudget(tokens={self._tokens:g}, capacity={self._config.capacity:g})"

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
            return  # the common, full-bucket case: no lock taken
        with self._lock:
            self._tokens = min(self._config.capacity, self._tokens + self._config.success_refund)


def _failure(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def retrying(
    policy: RetryPolicy,
    method: str,
    *,
    elapsed: Callable[[], float],
    budget: RetryBudget | None,
    closed: Callable[[], bool],
    sleep: Callable[[float, bool], Awaitable[None]],
    label: str,
    flow: BulkFlow | None = None,
    on_retry: Callable[[int, float, BaseException], Awaitable[None]] | None = None,
) -> AsyncRetrying:
    """The retry loop of one call: tenacity with this policy's rules, covering every attempt.

    `elapsed()` is the seconds since the call began; `closed()` stops retrying once the
    client is closed; `sleep(seconds, makes_room)` waits between attempts (the caller runs
    the policy's own `sleep` in it), `makes_room` when the wait only leaves the slot to
    other ids of a bulk job (a failure while the job progressed, no `Retry-After` asked);
    `label` names the request in the INFO line logged before a retry, after which
    `on_retry(attempt, wait, error)` is awaited (the retry event hooks).
    With a bulk call's `flow`, failures while the job progresses are excused (see `_Rules`).
    """
    rules = _Rules(policy, method, elapsed, budget, closed, sleep, label, flow, on_retry)
    return AsyncRetrying(
        stop=rules.should_stop,
        wait=rules.wait,
        retry=rules.should_retry,  # a CancelledError is never retried: it is no TavusError
        # tenacity skips a None `before`; its default no-op would be inspected and
        # wrapped at every call.
        before=None,  # type: ignore[arg-type]
        before_sleep=rules.log_retry,
        sleep=rules.pause,
        reraise=True,
    )


class _Rules:
    """The retry decisions of one call, with what they count between attempts.

    With a bulk call's `flow`, nothing is retried once the flow was stopped (a 401). A
    failure while the rest of the job made progress (since this call's previous failure)
    is the server's noise, not an outage: it does not count towards `max_retries`, and its
    backoff does not grow (the first step's). Such a 429 costs no budget and no wait
    either: the flow's pacer spaces the retry. Failures without progress count as usual,
    so a server that only refuses still ends the job.
    """

    __slots__ = (
        "budget",
        "closed",
        "counted",
        "elapsed",
        "excused",
        "flow",
        "label",
        "makes_room",
        "mark",
        "method",
        "on_retry",
        "policy",
        "sleep",
    )

    def __init__(
        self,
        policy: RetryPolicy,
        method: str,
        elapsed: Callable[[], float],
        budget: RetryBudget | None,
        closed: Callable[[], bool],
        sleep: Callable[[float, bool], Awaitable[None]],
        label: str,
        flow: BulkFlow | None,
        on_retry: Callable[[int, float, BaseException], Awaitable[None]] | None,
    ) -> None:
        self.policy = policy
        self.sleep = sleep
        self.on_retry = on_retry
        self.method = method
        self.elapsed = elapsed
        self.budget = budget
        self.closed = closed
        self.label = label
        self.flow = flow
        self.counted = 0  # failures that count towards max_retries
        self.mark = flow.progress if flow is not None else 0
        self.excused = False  # the latest failure came while the job progressed
        self.makes_room = False  # and its wait only leaves the slot to other ids

    # A coroutine function: tenacity runs it as it is (a plain callable it would inspect
    # and wrap anew at every attempt).
    async def should_retry(self, state: RetryCallState) -> bool:
        exc = _failure(state)
        return exc is not None and is_retryable(
            exc, self.method, retry_writes=self.policy.retry_writes
        )

    def should_stop(self, state: RetryCallState) -> bool:
        exc = _failure(state)
        if self.flow is not None:
            if self.flow.stopped is not None:  # a 401 stopped the call: no retry would be sent
                return True
            self.mark = self.flow.progress  # `excused` was judged by `wait`, just before
        if not self.excused:
            self.counted += 1
        after_wait = self.elapsed() + state.upcoming_sleep
        attempts = 0 if self.excused else self.counted
        if self.closed() or gives_up(self.policy, attempts, exc, after_wait):
            return True
        if self.excused and _throttled(exc):
            return False
        # The budget is spent last, only for a retry that will happen.
        return self.budget is not None and not self.budget.try_spend()

    def wait(self, state: RetryCallState) -> float:
        # tenacity asks for the wait before the stop: judge progress here, once per failure.
        exc = _failure(state)
        if self.flow is None:
            return wait_for(self.policy, state.attempt_number, exc, default_rand)
        self.excused = self.flow.progress > self.mark
        self.makes_room = self.excused and not _asked_to_wait(self.policy, exc)
        if self.makes_room and self.flow.drained.done():
            return 0.0  # no id is left to make room for
        counted = self.counted if self.excused else self.counted + 1  # `should_stop` counts it
        return bulk_wait(
            self.policy, state.attempt_number, counted, self.excused, exc, default_rand
        )

    async def pause(self, seconds: float) -> None:
        await self.sleep(seconds, self.makes_room)

    async def log_retry(self, state: RetryCallState) -> None:
        exc = _failure(state)
        what = (
            f"status {exc.status_code}" if isinstance(exc, APIStatusError) else type(exc).__name__
        )
        logger.info(
            "Retrying %s after %s (attempt %d of %d), waiting %.3fs",
            self.label,
            what,
            self.counted,  # an excused failure (see above) is not counted
            self.policy.max_retries + 1,
            state.upcoming_sleep,
        )
        if self.on_retry is not None and exc is not None:
            await self.on_retry(state.attempt_number, state.upcoming_sleep, exc)


def _throttled(exc: BaseException | None) -> bool:
    return isinstance(exc, APIStatusError) and exc.status_code == 429

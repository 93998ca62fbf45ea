"""Pure and property tests of the retry rules in `tavus_async._retry`.

Everything but one property is free of I/O: waits, the Retry-After parser, the retry budget,
policy validation and the retryable truth table. The attempts-cap property drives the real
transport against a `FakeTavus` on loopback with a fake sleep (a handful of examples).
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from multidict import CIMultiDict

from tavus_async import AsyncTavus, TavusError
from tavus_async._retry import (
    BudgetConfig,
    RetryBudget,
    RetryPolicy,
    backoff,
    bulk_wait,
    gives_up,
    is_retryable,
    parse_retry_after,
    wait_for,
)
from tavus_async.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    DecodeError,
    RateLimitError,
    ResponseTooLargeError,
    error_for_status,
)
from tavus_async.testing import FakeTavus, Fault

INF = math.inf
NAN = math.nan
NOW = 1_700_000_000.0  # a fixed "current" Unix time for the pure parser tests

PURE = settings(max_examples=200, deadline=None, database=None)

# --------------------------------------------------------------------------- strategies

# Sane, finite policy numbers (the domain a user would plausibly configure).
_seconds = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
_rand_values = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
# Any float at all, for "whatever the validator lets through" properties.
_any_float = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def finite_policies(draw: st.DrawFn) -> RetryPolicy:
    a = draw(_seconds)
    b = draw(_seconds)
    return RetryPolicy(
        max_retries=draw(st.integers(min_value=0, max_value=10)),
        initial_backoff=min(a, b),
        max_backoff=max(a, b),
        jitter=draw(st.booleans()),
        respect_retry_after=draw(st.booleans()),
        max_retry_after=draw(_seconds),
    )


def _const(value: float) -> Callable[[], float]:
    return lambda: value


def _status_error(status: int, retry_after: float | None) -> APIStatusError:
    error = error_for_status(status, b"", {})
    error.retry_after = retry_after
    return error


# --------------------------------------------------------------------------- waits


_NO_JITTER = RetryPolicy(jitter=False)
_CONNECTION_DROP = APIConnectionError("dropped", request_sent=True)


@pytest.mark.parametrize(
    ("failed_attempt", "counted", "excused", "error", "expected"),
    [
        # A 429 is spaced by the flow's pacer, never slept.
        (1, 1, False, _status_error(429, 5.0), 0.0),
        (3, 0, True, _status_error(429, None), 0.0),
        # Amid progress: the first failure at once, a repeat the first step, Retry-After kept.
        (1, 0, True, _status_error(503, None), 0.0),
        (1, 0, True, _CONNECTION_DROP, 0.0),
        (2, 0, True, _status_error(503, None), 0.5),
        (5, 0, True, _status_error(500, None), 0.5),
        (1, 0, True, _status_error(503, 2.0), 2.0),
        # No progress: a single call's exponential backoff or Retry-After.
        (1, 1, False, _status_error(503, None), 0.5),
        (2, 2, False, _CONNECTION_DROP, 1.0),
        (3, 3, False, _status_error(503, None), 2.0),
        (1, 1, False, _status_error(503, 3.0), 3.0),
        # ...grown by the failures that count: excused ones before do not lengthen it.
        (6, 1, False, _status_error(503, None), 0.5),
        (7, 2, False, _status_error(500, None), 1.0),
    ],
)
def test_bulk_wait(
    failed_attempt: int, counted: int, excused: bool, error: TavusError, expected: float
) -> None:
    assert bulk_wait(_NO_JITTER, failed_attempt, counted, excused, error, _const(0.0)) == expected


def test_bulk_wait_without_respect_retry_after_ignores_the_header() -> None:
    # The header must not matter: a first failure amid progress is retried at once.
    policy = RetryPolicy(jitter=False, respect_retry_after=False)
    assert bulk_wait(policy, 1, 0, True, _status_error(503, 2.0), _const(0.0)) == 0.0
    assert bulk_wait(policy, 2, 0, True, _status_error(503, 2.0), _const(0.0)) == 0.5


@PURE
@given(
    policy=finite_policies(),
    retry_number=st.integers(min_value=-5, max_value=500),
    r=_rand_values,
)
def test_backoff_is_within_zero_and_max_backoff(
    policy: RetryPolicy, retry_number: int, r: float
) -> None:
    wait = backoff(policy, retry_number, _const(r))
    assert math.isfinite(wait)
    assert 0.0 <= wait <= policy.max_backoff


@PURE
@given(
    policy=finite_policies(),
    retry_number=st.integers(min_value=1, max_value=50),
    r=_rand_values,
    retry_after=st.none() | _seconds | st.floats(min_value=1e6, max_value=1e12),
    status=st.sampled_from([408, 409, 429, 500, 502, 503, 504]),
)
def test_wait_is_backoff_or_an_honoured_retry_after(
    policy: RetryPolicy,
    retry_number: int,
    r: float,
    retry_after: float | None,
    status: int,
) -> None:
    wait = wait_for(policy, retry_number, _status_error(status, retry_after), _const(r))
    assert math.isfinite(wait)
    assert wait >= 0.0
    honoured = (
        policy.respect_retry_after
        and retry_after is not None
        and retry_after <= policy.max_retry_after
    )
    if honoured:
        assert wait == retry_after
        assert wait <= policy.max_retry_after
    else:
        assert wait == backoff(policy, retry_number, _const(r))
        assert 0.0 <= wait <= policy.max_backoff


@PURE
@given(
    policy=finite_policies(),
    retry_number=st.integers(min_value=1, max_value=50),
    r=_rand_values,
)
def test_connection_errors_wait_the_backoff(
    policy: RetryPolicy, retry_number: int, r: float
) -> None:
    for error in (APIConnectionError(), APITimeoutError()):
        assert wait_for(policy, retry_number, error, _const(r)) == backoff(
            policy, retry_number, _const(r)
        )


@PURE
@given(
    initial=st.floats(min_value=1e-6, max_value=100.0),
    factor=st.floats(min_value=1.0, max_value=1e6),
    rands=st.lists(_rand_values, min_size=1, max_size=3),
)
def test_without_jitter_the_sequence_is_exponential_and_capped(
    initial: float, factor: float, rands: list[float]
) -> None:
    policy = RetryPolicy(initial_backoff=initial, max_backoff=initial * factor, jitter=False)
    numbers = range(1, 101)
    waits = [backoff(policy, n, _const(rands[0])) for n in numbers]
    assert waits == [min(initial * 2.0 ** (n - 1), policy.max_backoff) for n in numbers]
    # Deterministic: the random source is not consulted.
    for r in rands[1:]:
        assert [backoff(policy, n, _const(r)) for n in numbers] == waits
    assert waits == sorted(waits)


def test_without_jitter_the_default_sequence() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=8.0, jitter=False)
    waits = [backoff(policy, n, random.random) for n in range(1, 8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@PURE
@given(
    initial=st.floats(min_value=1e-6, max_value=100.0),
    factor=st.floats(min_value=1.0, max_value=1e6),
    retry_number=st.integers(min_value=1, max_value=60),
    r=_rand_values,
)
def test_jitter_keeps_at_least_half_of_the_delay(
    initial: float, factor: float, retry_number: int, r: float
) -> None:
    plain = RetryPolicy(initial_backoff=initial, max_backoff=initial * factor, jitter=False)
    jittered = RetryPolicy(initial_backoff=initial, max_backoff=initial * factor, jitter=True)
    base = backoff(plain, retry_number, _const(r))
    wait = backoff(jittered, retry_number, _const(r))
    assert base / 2 * (1 - 1e-12) <= wait <= base * (1 + 1e-12)
    assert wait <= jittered.max_backoff


@settings(max_examples=300, deadline=None, database=None)
@given(
    initial=_any_float,
    maximum=_any_float,
    retry_number=st.integers(min_value=1, max_value=100),
    r=st.sampled_from([0.0, 0.5, 0.999]),
)
@example(initial=INF, maximum=INF, retry_number=1, r=0.0)
@example(initial=1e300, maximum=INF, retry_number=10, r=0.5)
def test_any_policy_the_validator_accepts_computes_a_finite_wait(
    initial: float, maximum: float, retry_number: int, r: float
) -> None:
    """Whatever numbers `RetryPolicy` accepts, the wait it yields must be a real, bounded delay.

    An infinite `max_backoff`/`initial_backoff` is accepted today and yields `inf` (sleep
    forever) or, with jitter and rand() == 0, `nan` (0 * inf).
    """
    try:
        policy = RetryPolicy(initial_backoff=initial, max_backoff=maximum, jitter=True)
    except ValueError:
        return
    wait = backoff(policy, retry_number, _const(r))
    assert math.isfinite(wait), f"backoff({policy!r}, {retry_number}) == {wait!r}"
    assert 0.0 <= wait <= policy.max_backoff


# --------------------------------------------------------------------------- Retry-After parser

_HEADER_NAMES = ("retry-after", "retry-after-ms")


def _parse(headers: Mapping[str, str], now: float = NOW) -> float | None:
    return parse_retry_after(CIMultiDict(headers), now)


def _assert_sane(value: float | None) -> None:
    assert value is None or (isinstance(value, float) and math.isfinite(value) and value >= 0.0)


@st.composite
def http_dates(draw: st.DrawFn) -> str:
    """Date-shaped strings, valid or not (out-of-range fields, odd zones, huge years)."""
    day = draw(st.sampled_from(["Mon", "Tue", "Sun", "Xyz", ""]))
    mday = draw(st.integers(min_value=-5, max_value=40))
    month = draw(st.sampled_from(["Jan", "Feb", "Dec", "Foo", "jan"]))
    year = draw(
        st.integers(min_value=-10, max_value=10_000) | st.integers(min_value=0, max_value=10**30)
    )
    hh, mm, ss = (draw(st.integers(min_value=-1, max_value=99)) for _ in range(3))
    zone = draw(
        st.sampled_from(["GMT", "UTC", "-0000", "+0000", "+2359", "+9999", "-9999", "EST", ""])
        | st.text(max_size=6)
    )
    prefix = f"{day}, " if day else ""
    return f"{prefix}{mday} {month} {year} {hh:02d}:{mm:02d}:{ss:02d} {zone}".strip()


_header_values = st.text() | st.text(alphabet="0123456789.eE+-_ ") | http_dates()


@settings(max_examples=400, deadline=None, database=None)
@given(
    headers=st.dictionaries(st.sampled_from(_HEADER_NAMES), _header_values, max_size=2),
    now=st.floats(min_value=-1e12, max_value=1e12),
)
def test_retry_after_parser_is_total(headers: dict[str, str], now: float) -> None:
    _assert_sane(_parse(headers, now))


@PURE
@given(value=_header_values, name=st.sampled_from(_HEADER_NAMES))
def test_retry_after_parser_is_total_for_either_header(value: str, name: str) -> None:
    _assert_sane(_parse({name: value}))


@pytest.mark.parametrize(
    "value",
    [
        "inf",
        "-inf",
        "Infinity",
        "nan",
        "NaN",
        "-5",
        "-0.001",
        "1e400",
        "9" * 40,
        "",
        "   ",
        "soon",
        "3 seconds",
        "0x10",
        "Mon, 32 Jan 2024 00:00:00 GMT",
        "Mon, 01 Foo 2024 00:00:00 GMT",
        "Mon, 01 Jan 2024 25:61:61 GMT",
        "Mon, 01 Jan 2024 00:00:00 +9999",
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
        "Mon, 01 Jan 2024 00:00:00 -0000",  # no zone information: not an HTTP-date
        "jeudi, 1 janvier 2024",
        "\u00fcn\u00efc\u00f6d\u00e9",
        "\u4e09\u79d2",
        "\x00",
        "\ud7ff",
    ],
)
@pytest.mark.parametrize("name", _HEADER_NAMES)
def test_retry_after_garbage_is_none(name: str, value: str) -> None:
    assert _parse({name: value}) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "1"}, 1.0),
        ({"Retry-After": " 3 "}, 3.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After-Ms": "1500"}, 1.5),
        # retry-after-ms wins over Retry-After ...
        ({"retry-after-ms": "250", "Retry-After": "30"}, 0.25),
        # ... unless it is garbage, then Retry-After is read.
        ({"retry-after-ms": "soon", "Retry-After": "30"}, 30.0),
        ({"retry-after-ms": "-1", "Retry-After": "7"}, 7.0),
        # Delta-seconds are ASCII digits only (float() would take all of these).
        ({"Retry-After": "\uff15"}, None),
        ({"Retry-After": "1_000"}, None),
        ({"Retry-After": "1e3"}, None),
        ({"Retry-After": "+5"}, None),
        ({"Retry-After": "\u0665"}, None),  # ARABIC-INDIC DIGIT FIVE
        ({"retry-after-ms": "1_000", "Retry-After": "2"}, 2.0),
        ({"Retry-After": "\t4\t"}, 4.0),
        ({"Retry-After": ".5"}, None),
        ({"Retry-After": "5."}, None),
        ({}, None),
    ],
)
def test_retry_after_values(headers: dict[str, str], expected: float | None) -> None:
    assert _parse(headers) == expected


def test_retry_after_http_date_in_the_future() -> None:
    when = formatdate(NOW + 7, usegmt=True)
    assert _parse({"Retry-After": when}) == 7.0


@pytest.mark.parametrize(
    "when",
    [
        "Tue, 15 Nov 1994 08:12:31 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        formatdate(NOW - 1, usegmt=True),
    ],
)
def test_retry_after_http_date_in_the_past_is_zero(when: str) -> None:
    assert _parse({"Retry-After": when}) == 0.0


# 1994-11-06 08:49:30 UTC: seven seconds before RFC 9110's example date.
_BEFORE_EXAMPLE = 784111770.0


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 7.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 7.0),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", 7.0),  # obsolete asctime (no zone: GMT)
        ("Sun Nov 13 08:49:30 1994", 7 * 86400.0),  # asctime, two-digit day
        (" Sun Nov  6 08:49:37 1994\t", 7.0),  # optional whitespace around it
        ("Sun Nov  6 08:49:37 1994 extra", None),
        ("Sun Nov 6 08:49:37 1994", None),  # a one-digit day is space-padded in asctime
        ("Sun Nov  6 08:49:37", None),
        ("Sun, 06 Nov 1994 08:49:37", None),  # IMF-fixdate needs its GMT
    ],
)
def test_retry_after_accepts_the_three_http_date_forms(when: str, expected: float | None) -> None:
    assert _parse({"Retry-After": when}, _BEFORE_EXAMPLE) == expected


def test_retry_after_far_future_date_is_finite() -> None:
    value = _parse({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"})
    assert value is not None
    assert math.isfinite(value)
    assert value > 200 * 365 * 86400


def test_retry_after_uses_the_real_clock_in_transport_terms() -> None:
    now = time.time()
    value = parse_retry_after(CIMultiDict({"Retry-After": formatdate(now + 5, usegmt=True)}), now)
    assert value is not None
    assert 4.0 <= value <= 5.0


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_backoff": -0.1},
        {"initial_backoff": 2.0, "max_backoff": 1.0},
        {"initial_backoff": NAN},
        {"max_backoff": NAN},
        {"max_retry_after": -1.0},
        {"max_retry_after": NAN},
        {"deadline": 0.0},
        {"deadline": -1.0},
        {"deadline": NAN},
    ],
)
def test_retry_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are free text
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capacity": 0.0},
        {"capacity": -1.0},
        {"capacity": NAN},
        {"retry_cost": 0.0},
        {"retry_cost": -1.0},
        {"success_refund": -0.1},
        {"success_refund": NAN},
    ],
)
def test_budget_config_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are free text
        BudgetConfig(**kwargs)


def test_valid_policies_construct() -> None:
    RetryPolicy()
    RetryPolicy(max_retries=0, initial_backoff=0.0, max_backoff=0.0, deadline=0.001, budget=None)
    BudgetConfig(capacity=0.5, retry_cost=1.0, success_refund=0.0)


# --------------------------------------------------------------------------- is_retryable


@pytest.mark.parametrize("status", [408, 409, 429, 500, 501, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable(error_for_status(status, b"", {}))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422, 451, 499])
def test_non_retryable_statuses(status: int) -> None:
    assert not is_retryable(error_for_status(status, b"", {}))


@pytest.mark.parametrize("name", ["x-should-retry", "X-Should-Retry", "X-SHOULD-RETRY"])
@pytest.mark.parametrize(
    ("value", "status", "expected"),
    [
        ("true", 400, True),
        ("TRUE", 404, True),
        (" True ", 422, True),
        ("false", 503, False),
        ("False", 429, False),
        (" FALSE ", 500, False),
        # Anything else is no override: the status rule applies.
        ("yes", 400, False),
        ("1", 400, False),
        ("", 503, True),
        ("maybe", 503, True),
    ],
)
def test_x_should_retry_overrides_status(
    name: str, value: str, status: int, expected: bool
) -> None:
    built = error_for_status(status, b"", {name: value})
    direct = APIStatusError("x", status_code=status, headers={name: value})
    assert is_retryable(built) is expected
    assert is_retryable(direct) is expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (APIConnectionError(), True),
        (APITimeoutError(), True),
        (ResponseTooLargeError(), False),
        (DecodeError("bad", status_code=200), False),
        (TavusError("generic"), False),
        (RuntimeError("not ours"), False),
        (TimeoutError(), False),
        (OSError("not wrapped"), False),
        (asyncio.CancelledError(), False),
        (KeyboardInterrupt(), False),
    ],
)
def test_is_retryable_for_non_status_errors(error: BaseException, expected: bool) -> None:
    assert is_retryable(error) is expected


# --------------------------------------------------------------------------- retry budget


def _check_bounds(budget: RetryBudget, config: BudgetConfig) -> None:
    tokens = budget.tokens
    assert 0.0 <= tokens <= config.capacity, tokens


def test_budget_accounting_is_exact_under_threads() -> None:
    """With no refunds, exactly floor(capacity / cost) spends succeed across all threads."""
    config = BudgetConfig(capacity=1000.0, retry_cost=1.0, success_refund=0.0)
    budget = RetryBudget(config)
    barrier = threading.Barrier(16)

    def worker() -> int:
        barrier.wait()
        return sum(budget.try_spend() for _ in range(200))

    with ThreadPoolExecutor(max_workers=16) as pool:
        spent = sum(pool.map(lambda _: worker(), range(16)))
    assert spent == 1000
    assert budget.tokens == 0.0


def test_budget_stays_in_bounds_under_threads() -> None:
    config = BudgetConfig(capacity=10.0, retry_cost=1.0, success_refund=0.3)
    budget = RetryBudget(config)
    barrier = threading.Barrier(12)
    violations: list[float] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        for _ in range(3000):
            if rng.random() < 0.5:
                budget.try_spend()
            else:
                budget.refund()
            tokens = budget.tokens
            if not 0.0 <= tokens <= config.capacity:
                violations.append(tokens)

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(worker, range(12)))
    assert violations == []
    _check_bounds(budget, config)


async def test_budget_stays_in_bounds_under_asyncio_tasks() -> None:
    config = BudgetConfig(capacity=5.0, retry_cost=1.0, success_refund=0.25)
    budget = RetryBudget(config)

    async def worker(seed: int) -> int:
        rng = random.Random(seed)
        spent = 0
        for _ in range(300):
            if rng.random() < 0.6:
                spent += budget.try_spend()
            else:
                budget.refund()
            _check_bounds(budget, config)
            await asyncio.sleep(0)
        return spent

    results = await asyncio.gather(*(worker(seed) for seed in range(50)))
    assert sum(results) > 0
    _check_bounds(budget, config)


@PURE
@given(
    config=st.builds(
        BudgetConfig,
        capacity=st.floats(min_value=0.01, max_value=1000.0),
        retry_cost=st.floats(min_value=0.01, max_value=100.0),
        success_refund=st.floats(min_value=0.0, max_value=100.0),
    ),
    ops=st.lists(st.booleans(), max_size=200),
)
def test_budget_sequence_matches_model(config: BudgetConfig, ops: list[bool]) -> None:
    """Any sequence of spends (True) and refunds (False) matches a simple bucket model."""
    budget = RetryBudget(config)
    model = config.capacity
    assert budget.tokens == model
    for spend in ops:
        if spend:
            allowed = model >= config.retry_cost
            if allowed:
                model -= config.retry_cost
            assert budget.try_spend() is allowed
        else:
            model = min(config.capacity, model + config.success_refund)
            budget.refund()
        assert budget.tokens == model
        _check_bounds(budget, config)


class BudgetMachine(RuleBasedStateMachine):
    """Stateful: interleaved spends and refunds never leave [0, capacity]."""

    def __init__(self) -> None:
        super().__init__()
        self.config = BudgetConfig()
        self.budget = RetryBudget(self.config)
        self.spent_in_a_row = 0

    @initialize(
        capacity=st.floats(min_value=0.5, max_value=50.0),
        cost=st.floats(min_value=0.1, max_value=10.0),
        refund=st.just(0.0) | st.floats(min_value=0.01, max_value=10.0),
    )
    def configure(self, capacity: float, cost: float, refund: float) -> None:
        self.config = BudgetConfig(capacity=capacity, retry_cost=cost, success_refund=refund)
        self.budget = RetryBudget(self.config)

    @rule()
    def spend(self) -> None:
        before = self.budget.tokens
        ok = self.budget.try_spend()
        assert ok is (before >= self.config.retry_cost)
        assert self.budget.tokens == (before - self.config.retry_cost if ok else before)

    @rule()
    def refund(self) -> None:
        before = self.budget.tokens
        self.budget.refund()
        assert self.budget.tokens == min(self.config.capacity, before + self.config.success_refund)

    @precondition(lambda self: self.config.success_refund > 0)
    @rule()
    def refill_fully(self) -> None:
        for _ in range(math.ceil(self.config.capacity / self.config.success_refund) + 1):
            self.budget.refund()
        assert self.budget.tokens == self.config.capacity

    @invariant()
    def within_bounds(self) -> None:
        _check_bounds(self.budget, self.config)


TestBudgetMachine = BudgetMachine.TestCase
TestBudgetMachine.settings = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@settings(max_examples=200, deadline=None, database=None)
@given(capacity=_any_float, cost=_any_float, refund=_any_float, ops=st.lists(st.booleans()))
@example(capacity=INF, cost=INF, refund=0.0, ops=[True])
def test_any_budget_the_validator_accepts_stays_in_bounds(
    capacity: float, cost: float, refund: float, ops: list[bool]
) -> None:
    """Whatever `BudgetConfig` accepts, the bucket must stay a number in [0, capacity].

    `capacity=inf, retry_cost=inf` is accepted today; one spend leaves `inf - inf == nan`
    tokens, and a NaN bucket never refuses a retry again.
    """
    try:
        config = BudgetConfig(capacity=capacity, retry_cost=cost, success_refund=refund)
    except ValueError:
        return
    budget = RetryBudget(config)
    for spend in ops:
        if spend:
            budget.try_spend()
        else:
            budget.refund()
        _check_bounds(budget, config)


# --------------------------------------------------------------------------- attempts cap (I/O)

_KEY = "sk-retry-policy-PROPERTY-0b5e"
_RETRYABLE = st.sampled_from([408, 409, 429, 500, 502, 503, 504])


async def _run_failures(max_retries: int, failures: list[int], budget: bool) -> tuple[int, int]:
    """Serve `failures` then successes; return (attempts or 0 on success, requests made)."""
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(
        max_retries=max_retries,
        initial_backoff=0.001,
        max_backoff=0.01,
        sleep=fake_sleep,
        budget=BudgetConfig() if budget else None,
    )
    async with FakeTavus(api_key=_KEY, num_personas=1) as server:
        server.enqueue(*(Fault.http(status) for status in failures))
        async with AsyncTavus(api_key=_KEY, base_url=server.base_url, retry=policy) as client:
            try:
                await client.personas.get(server.persona_ids[0])
            except TavusError as exc:
                attempts = exc.attempts
            else:
                attempts = 0
        assert len(waits) == server.request_count - 1
        assert all(0.0 <= w <= 0.01 for w in waits)
        return attempts, server.request_count


@settings(
    max_examples=10,
    deadline=None,
    database=None,
)
@given(
    max_retries=st.integers(min_value=0, max_value=5),
    failures=st.lists(_RETRYABLE, max_size=8),
    budget=st.booleans(),
)
@example(max_retries=0, failures=[503], budget=True)
@example(max_retries=5, failures=[503] * 8, budget=True)
def test_attempts_never_exceed_max_retries_plus_one(
    max_retries: int, failures: list[int], budget: bool
) -> None:
    attempts, requests = asyncio.run(_run_failures(max_retries, failures, budget))
    assert requests <= max_retries + 1
    if len(failures) <= max_retries:
        assert attempts == 0  # succeeded
        assert requests == len(failures) + 1
    else:
        assert attempts == max_retries + 1
        assert requests == max_retries + 1


def test_oversized_retry_after_error_is_not_retried_in_isolation() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    error = error_for_status(429, b"", {"Retry-After": "3600"})
    error.retry_after = 3600.0
    assert isinstance(error, RateLimitError)
    # wait_for never returns an oversized server wait: it falls back to the backoff.
    assert wait_for(policy, 1, error, _const(0.5)) <= policy.max_backoff


# --------------------------------------------------------------------------- method-aware rules

_UNSENT = APIConnectionError("refused", request_sent=False)
_SENT = APIConnectionError("reset after sending")


@pytest.mark.parametrize(
    ("error", "get", "write", "write_with_retry_writes"),
    [
        (_UNSENT, True, True, True),
        (_SENT, True, False, True),
        (APITimeoutError(), True, False, True),
        (APITimeoutError(request_sent=False), True, True, True),
        (error_for_status(408, b"", {}), True, True, True),
        (error_for_status(429, b"", {}), True, True, True),
        (error_for_status(409, b"", {}), True, False, True),
        (error_for_status(503, b"", {}), True, False, True),
        (error_for_status(599, b"", {}), True, False, True),
        (error_for_status(999, b"", {}), False, False, False),
        (error_for_status(404, b"", {}), False, False, False),
        (error_for_status(400, b"", {"x-should-retry": "true"}), True, False, True),
        (error_for_status(429, b"", {"x-should-retry": "false"}), False, False, False),
        (ResponseTooLargeError(), False, False, False),
    ],
)
@pytest.mark.parametrize("write_method", ["POST", "PATCH"])
def test_is_retryable_by_method(
    error: BaseException, get: bool, write: bool, write_with_retry_writes: bool, write_method: str
) -> None:
    assert is_retryable(error, "GET") is get
    assert is_retryable(error, "DELETE") is get
    assert is_retryable(error, write_method) is write
    assert is_retryable(error, write_method, retry_writes=True) is write_with_retry_writes


def test_only_500_to_599_are_server_errors() -> None:
    assert type(error_for_status(999, b"", {})) is APIStatusError
    assert type(error_for_status(600, b"", {})) is APIStatusError
    assert not is_retryable(error_for_status(600, b"", {}))
    assert is_retryable(error_for_status(500, b"", {}))


@pytest.mark.parametrize(
    ("policy", "attempts", "retry_after", "elapsed_after_wait", "expected"),
    [
        (RetryPolicy(max_retries=2), 1, None, 0.0, False),
        (RetryPolicy(max_retries=2), 2, None, 0.0, False),
        (RetryPolicy(max_retries=2), 3, None, 0.0, True),
        (RetryPolicy(max_retry_after=60), 1, 61.0, 0.0, True),
        (RetryPolicy(max_retry_after=60), 1, 60.0, 0.0, False),
        (RetryPolicy(max_retry_after=60, respect_retry_after=False), 1, 600.0, 0.0, False),
        (RetryPolicy(deadline=5.0), 1, None, 4.9, False),
        (RetryPolicy(deadline=5.0), 1, None, 5.0, True),
    ],
)
def test_gives_up(
    policy: RetryPolicy,
    attempts: int,
    retry_after: float | None,
    elapsed_after_wait: float,
    expected: bool,
) -> None:
    error = _status_error(429, retry_after)
    assert gives_up(policy, attempts, error, elapsed_after_wait) is expected

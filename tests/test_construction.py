"""Constructor errors: no secret in a traceback rendered with its locals, every number
checked (huge ones too), a session that is not a session, and keys too short to mask."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

from tavus_async import AsyncTavus, BudgetConfig, RateLimiter, RetryPolicy, TTLCache

KEY = "tk_construction_SECRET_5e1d"
PASSWORD = "hunter2-pw-Xq9"
HUGE = 10**400  # an int no float can hold


def _rendered(exc: BaseException) -> str:
    """What an error tracker shows of the SDK's frames: the message and every local of
    each frame inside tavus_async (the test's own frames hold the arguments it passed).
    Rendering raises if a repr on the way does, as Python 3.11 does."""
    rendered = traceback.TracebackException.from_exception(exc, capture_locals=True)
    assert rendered.__context__ is None and rendered.__cause__ is None
    ours = [frame for frame in rendered.stack if "tavus_async" in frame.filename]
    assert ours, "the error was raised outside the SDK"
    texts = [str(frame.locals) for frame in ours]
    return "".join(rendered.format_exception_only()) + "".join(texts)


def _refused(kwargs: dict[str, Any]) -> BaseException:
    with pytest.raises((TypeError, ValueError)) as caught:
        AsyncTavus(**kwargs)
    return caught.value


_BAD_KEYS = [KEY + "\n", KEY + "\x00", KEY + "é", " " + KEY, KEY.encode()]
_BAD_URLS = [
    f"https://user:{PASSWORD}@tavusapi.com",
    f"https:/user:{PASSWORD}@tavusapi.com",
    f"user:{PASSWORD}@tavusapi.com",
    f"ftp://user:{PASSWORD}@host",
    f"https://user:{PASSWORD}@tavusapi.com:99999",
    f"https://tavusapi.com?token={PASSWORD}",
]


@pytest.mark.parametrize(
    "kwargs",
    [{"api_key": bad} for bad in _BAD_KEYS]
    + [{"api_key": KEY, "base_url": bad} for bad in _BAD_URLS]
    + [
        {"api_key": KEY, "timeout": float("nan")},
        {"api_key": KEY, "max_connections": 0},
        {"api_key": KEY, "retry": "fast"},
        {"api_key": KEY, "session": "notasession"},
        {"api_key": KEY, "base_url": _BAD_URLS[0], "timeout": float("nan")},
    ],
)
def test_constructor_errors_render_no_secret_and_render_at_all(kwargs: dict[str, Any]) -> None:
    error = _refused(kwargs)
    for text in (str(error), repr(error), _rendered(error)):
        assert KEY not in text
        assert PASSWORD not in text


@pytest.mark.parametrize("bad", [KEY + "\n", KEY + "\x7f", KEY + "é"])
def test_a_bad_key_from_the_environment_renders_no_secret(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("TAVUS_API_KEY", bad)
    error = _refused({})
    assert isinstance(error, ValueError)
    assert KEY not in _rendered(error)


@pytest.mark.parametrize("bad", _BAD_URLS[:4])
def test_a_bad_base_url_from_the_environment_renders_no_password(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("TAVUS_BASE_URL", bad)
    error = _refused({"api_key": KEY})
    assert isinstance(error, ValueError)
    rendered = _rendered(error)
    assert PASSWORD not in rendered
    assert KEY not in rendered


def test_a_half_built_client_has_a_repr() -> None:
    client = AsyncTavus.__new__(AsyncTavus)
    assert repr(client).startswith("AsyncTavus(")


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": HUGE},
        {"cache_ttl": HUGE},
        {"rate_limit": HUGE},
        {"rate_limit": 5e-324},
        {"rate_limit": 1e-310},
        {"retry": "x"},
    ],
)
def test_out_of_range_numbers_are_value_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        AsyncTavus(api_key=KEY, **kwargs)


@pytest.mark.parametrize(
    "build",
    [
        lambda: RetryPolicy(deadline=HUGE),
        lambda: RetryPolicy(initial_backoff=HUGE, max_backoff=HUGE),
        lambda: BudgetConfig(capacity=HUGE),
        lambda: RateLimiter(HUGE),
        lambda: RateLimiter(5e-324),
        lambda: RateLimiter(1e-310),
        lambda: TTLCache(HUGE),
    ],
)
def test_huge_and_tiny_numbers_in_parts_are_value_errors(build: Any) -> None:
    with pytest.raises(ValueError, match=r"finite|at least"):
        build()


def test_a_rate_too_small_to_space_requests_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        AsyncTavus(api_key=KEY, rate_limit=1e-310)


def test_a_session_that_is_not_a_session_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="session"):
        AsyncTavus(api_key=KEY, session="notasession")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- short keys


@pytest.mark.parametrize("short", ["Zq9", "k3y12"])
def test_a_key_too_short_to_mask_is_refused_unquoted(short: str) -> None:
    with pytest.raises(ValueError, match="api_key") as caught:
        AsyncTavus(api_key=short)
    assert short not in _rendered(caught.value)


def test_the_shortest_accepted_key_is_masked_in_messages() -> None:
    from tavus_async.errors import MIN_SECRET_LENGTH, redact

    key = "k" * MIN_SECRET_LENGTH
    AsyncTavus(api_key=key)  # accepted
    assert key not in redact(f"bad key {key}", key)

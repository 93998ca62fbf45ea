"""Checks for constructor arguments: a bad value raises at construction, before any I/O.

`bool` is refused wherever a number is expected (`True` is an `int` to Python, never a
count or a duration to a user), and NaN and the infinities are refused unless allowed.
An int too large for a float is a ValueError like any other out-of-range value.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["MIN_RATE", "check_count", "check_rate", "check_seconds"]

#: The smallest rate accepted: one request in about 11.6 days. Below it the interval
#: between requests grows towards infinity (a subnormal rate makes it `inf`, switching the
#: limiter off).
MIN_RATE: Final = 1e-6


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """`value` if it is an `int` (not a bool) >= `minimum`; else TypeError or ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_seconds(
    name: str, value: object, *, minimum: float = 0.0, strict: bool = True, allow_inf: bool = False
) -> float:
    """`value` as a float if it is a real number (not a bool) above `minimum` (or equal to
    it when `strict` is False), finite unless `allow_inf`; else TypeError or ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(
            f"{name} must be a finite number, got an int too large for a float"
        ) from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if number < minimum or (strict and number == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum:g}, got {value!r}")
    return number


def check_rate(name: str, value: object) -> float:
    """`value` as a rate (per second): a finite number >= `MIN_RATE`."""
    rate = check_seconds(name, value)
    if rate < MIN_RATE:
        raise ValueError(f"{name} must be at least {MIN_RATE:g} per second, got {value!r}")
    return rate

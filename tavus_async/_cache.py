"""A small in-memory TTL cache for personas (off unless `AsyncTavus(cache_ttl=...)`)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from ._checks import check_count, check_seconds

V = TypeVar("V")

__all__ = ["TTLCache"]


class TTLCache(Generic[V]):
    """LRU-bounded mapping whose entries expire `ttl` seconds after they were stored."""

    __slots__ = ("_clock", "_data", "_maxsize", "_ttl")

    def __init__(
        self, ttl: float, maxsize: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = check_seconds("cache_ttl", ttl)
        self._maxsize = check_count("cache_size", maxsize)
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> V | None:
        """The live value for `key`, or None (an expired entry is dropped)."""
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        """Store `value`, evicting the least recently used entry when full."""
        self._data[key] = (self._clock() + self._ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self._maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()

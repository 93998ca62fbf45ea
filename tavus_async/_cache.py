"""In-memory persona caching: an expiring LRU map, and `TTLCache`, the `CacheProtocol` on it."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from ._checks import check_count, check_seconds
from .models import Persona, decode_persona

V = TypeVar("V")

__all__ = ["ExpiringLRU", "TTLCache"]


class ExpiringLRU(Generic[V]):
    """LRU-bounded mapping whose entries expire `ttl` seconds after they were stored."""

    __slots__ = ("_clock", "_data", "_maxsize", "_ttl")

    def __init__(
        self, ttl: float, maxsize: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = check_seconds("ttl", ttl)
        self._maxsize = check_count("max_entries", maxsize)
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

    def pop(self, key: str) -> None:
        """Drop `key` if present."""
        self._data.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()


class TTLCache:
    """The in-memory persona cache (`CacheProtocol`) of one process.

    Keeps at most `max_entries` personas (least recently used evicted first), each for `ttl`
    seconds after it was stored, as its JSON: each hit decodes a `Persona` of its own, so
    no caller sees another's change to its lists or dicts. `AsyncTavus(
    cache_ttl=..., cache_size=...)` builds one; pass one as `AsyncTavus(cache=...)` to share
    it between clients. `clock` (seconds, monotonic) is for tests.

    Writes invalidate: an id's stamp is kept for the `tracked` most recently invalidated
    ids; an id whose stamp was dropped is judged by the newest dropped stamp, which can
    refuse a put (a harmless miss) but never accepts a stale one.
    """

    __slots__ = ("_entries", "_floor", "_stamp", "_stamps", "_tracked")

    def __init__(
        self,
        ttl: float,
        max_entries: int = 1024,
        *,
        tracked: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_count("tracked", tracked)
        self._entries: ExpiringLRU[bytes] = ExpiringLRU(ttl, max_entries, clock)
        self._stamp = 0  # bumped by every invalidation
        self._stamps: OrderedDict[str, int] = OrderedDict()  # id -> its last invalidation
        self._floor = 0  # the newest stamp dropped from `_stamps`
        self._tracked = tracked

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"TTLCache(ttl={self._entries._ttl:g}, max_entries={self._entries._maxsize})"

    async def get(self, persona_id: str) -> Persona | None:
        """A new persona decoded from the live entry, or None."""
        body = self._entries.get(persona_id)
        return None if body is None else decode_persona(body)

    async def version(self, persona_id: str) -> int:
        """The invalidation clock now: any later invalidation is newer."""
        return self._stamp

    async def put(self, persona_id: str, persona: Persona, version: int) -> bool:
        """Store unless `persona_id` was invalidated after `version` was taken."""
        if self._stamps.get(persona_id, self._floor) > version:
            return False
        self._entries.put(persona_id, msgspec.json.encode(persona.to_dict()))
        return True

    async def invalidate(self, persona_id: str) -> None:
        """Drop the entry and stamp the id, so older versions cannot put it back."""
        self._stamp += 1
        self._stamps[persona_id] = self._stamp
        self._stamps.move_to_end(persona_id)
        while len(self._stamps) > self._tracked:
            _, stamp = self._stamps.popitem(last=False)
            self._floor = max(self._floor, stamp)
        self._entries.pop(persona_id)

    def clear(self) -> None:
        """Forget every entry (invalidation stamps are kept)."""
        self._entries.clear()

"""Pluggable stores: the protocols a rate limiter and a persona cache implement.

`AsyncTavus` talks to its limiter and cache only through these, so the in-memory ones and
`tavus_async.redis` (shared by many processes) are interchangeable, and a user may plug
another store.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol, runtime_checkable

from ._cache import TTLCache
from .models import Persona

__all__ = ["CacheProtocol", "MemoryCache", "RateLimiterProtocol"]


@runtime_checkable
class RateLimiterProtocol(Protocol):
    """Spaces the client's requests: `acquire()` is awaited once before each request."""

    async def acquire(self) -> None:
        """Return when a request may go out.

        A caller cancelled while waiting books nothing: its slot stays free for others.
        """


@runtime_checkable
class CacheProtocol(Protocol):
    """A persona cache that a write can invalidate without a fetch putting stale data back.

    The client uses it so:

    - read: `get(id)`; on a miss, `v = version(id)` *before* the request, then after it
      `put(id, persona, v)`;
    - write (patch, delete): `invalidate(id)` once the API answered (or the outcome is
      unknown).

    `put` stores only if no `invalidate(id)` happened since `version(id)` returned `v`, so a
    fetch that began before a write cannot cache what it read before the write.
    """

    async def get(self, persona_id: str) -> Persona | None:
        """The cached persona, or None (a miss)."""

    async def version(self, persona_id: str) -> int:
        """A token to pass to `put`: taken before fetching `persona_id`."""

    async def put(self, persona_id: str, persona: Persona, version: int) -> bool:
        """Store `persona` unless `persona_id` was invalidated since `version`; True if stored."""

    async def invalidate(self, persona_id: str) -> None:
        """Drop the entry, and refuse every `put` with a version taken before this call."""


class MemoryCache:
    """`CacheProtocol` in one process: a `TTLCache` plus per-id invalidation stamps.

    A stamp is kept for the `tracked` most recently invalidated ids; an id whose stamp was
    dropped is judged by the newest dropped stamp, which can refuse a put (a harmless
    miss) but never accepts a stale one.
    """

    __slots__ = ("_clock", "_entries", "_floor", "_stamps", "_tracked")

    def __init__(self, ttl: float, max_entries: int, *, tracked: int = 4096) -> None:
        if tracked < 1:
            raise ValueError("tracked must be >= 1")
        # Invalidation stores a None tombstone: TTLCache has no delete, and a None is a miss.
        self._entries: TTLCache[Persona | None] = TTLCache(ttl, max_entries)
        self._clock = 0  # bumped by every invalidation
        self._stamps: OrderedDict[str, int] = OrderedDict()  # id -> its last invalidation
        self._floor = 0  # the newest stamp dropped from `_stamps`
        self._tracked = tracked

    async def get(self, persona_id: str) -> Persona | None:
        """The live cached persona, or None."""
        return self._entries.get(persona_id)

    async def version(self, persona_id: str) -> int:
        """The invalidation clock now: any later invalidation is newer."""
        return self._clock

    async def put(self, persona_id: str, persona: Persona, version: int) -> bool:
        """Store unless `persona_id` was invalidated after `version` was taken."""
        if self._stamps.get(persona_id, self._floor) > version:
            return False
        self._entries.put(persona_id, persona)
        return True

    async def invalidate(self, persona_id: str) -> None:
        """Drop the entry and stamp the id, so older versions cannot put it back."""
        self._clock += 1
        self._stamps[persona_id] = self._clock
        self._stamps.move_to_end(persona_id)
        while len(self._stamps) > self._tracked:
            _, stamp = self._stamps.popitem(last=False)
            self._floor = max(self._floor, stamp)
        self._entries.put(persona_id, None)

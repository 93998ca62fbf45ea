"""Pluggable stores: the protocols a rate limiter and a persona cache implement.

`AsyncTavus` talks to its limiter and cache only through these, so the in-memory ones and
`tavus_async.redis` (shared by many processes) are interchangeable, and a user may plug
another store.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .models import Persona

__all__ = ["CacheProtocol", "RateLimiterProtocol"]


@runtime_checkable
class RateLimiterProtocol(Protocol):
    """Spaces the client's requests: `acquire()` is awaited once before each request."""

    async def acquire(self) -> None:
        """Return when a request may go out.

        A caller cancelled while waiting books nothing: its slot stays free for others.
        Closing the client cancels its waiting callers.
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

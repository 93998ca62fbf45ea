"""Put every client process in the same glibc allocator state before it is timed.

asyncio reads a plain socket with `recv(256 KiB)`: a fresh 256 KiB bytes object per read.
glibc serves a block that big with `mmap` (and gives it back with `munmap`) until the
process has freed one block above its *dynamic* mmap threshold (128 KiB at start); from
then on such blocks come from the heap. The two states differ by about 15 µs of CPU per
request on this machine, and which one a client lands in depended on incidental
allocations (a `dict` of 20,000 ids freed inside `get_many` was enough). A long-running
process is almost always past that point, so every client is moved there first.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SETTLE_BYTES", "settle"]

#: Above asyncio's 256 KiB read size, so later reads of that size come from the heap.
SETTLE_BYTES: Final = 1024 * 1024


def settle() -> None:
    """Allocate and free one large block (glibc raises its mmap threshold to its size)."""
    block = bytearray(SETTLE_BYTES)
    del block

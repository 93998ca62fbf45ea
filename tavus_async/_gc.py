"""A scoped raise of the collector's young-generation threshold, for `get_many` only.

`get_many` keeps every persona it decodes, and each keeps a few tuples (its arrays) that
the collector tracks until its next young collection. At CPython's default threshold of
700 that is a young collection every ~100 personas, each one scanning every object of the
requests in flight: about 4 µs of CPU per persona in the benchmark (docs/benchmarks.md).
While at least one `get_many` runs, the threshold is raised to `YOUNG_THRESHOLD` if it is
lower; the last one to finish puts the old value back, on every path (errors and
cancellation included), unless somebody else changed it in the meantime. Nothing else
about the collector is touched: it stays enabled, and the older generations keep their
settings (changes made to them meanwhile are kept too).
"""

from __future__ import annotations

import gc
import threading
from types import TracebackType
from typing import Final

__all__ = ["YOUNG_THRESHOLD", "YoungThreshold", "fewer_young_collections"]

#: Young-generation threshold while a `get_many` runs (CPython's default is 700).
YOUNG_THRESHOLD: Final = 5000


class YoungThreshold:
    """Re-entrant context manager: raise threshold 0 to `at_least` while any holder is inside.

    Overlapping holders (concurrent `get_many` calls, on any loop or thread) share one raise:
    the value in force when the first entered is restored when the last leaves.
    """

    __slots__ = ("_at_least", "_depth", "_lock", "_saved")

    def __init__(self, at_least: int) -> None:
        self._at_least = at_least
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: int | None = None  # threshold 0 before the first holder raised it

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                current = gc.get_threshold()
                # 0 means automatic collection is off: left as the user set it.
                if 0 < current[0] < self._at_least:
                    gc.set_threshold(self._at_least, current[1], current[2])
                    self._saved = current[0]
            self._depth += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._saved is not None:
                current = gc.get_threshold()
                # Only threshold 0 is ours to put back, and only if nobody changed it since.
                if current[0] == self._at_least:
                    gc.set_threshold(self._saved, current[1], current[2])
                self._saved = None


#: The one process-wide scope `get_many` enters.
fewer_young_collections: Final = YoungThreshold(YOUNG_THRESHOLD)

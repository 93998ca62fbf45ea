"""The `tavus_async` logger, and `TAVUS_LOG=debug|info`: logging to stderr without code.

`log_from_env()` runs when a client is built: with `TAVUS_LOG` set it gives the
`tavus_async` logger that level, and one stderr handler (one however many clients) when no
handler would show its records yet. An application that configured logging
(`logging.basicConfig()`) gets each line once, through its own handlers, as with
openai's `OPENAI_LOG`. The root logger and every other logger are left alone.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Final

__all__ = ["ENV_VAR", "LOGGER_NAME", "level_for", "log_from_env", "logger"]

LOGGER_NAME: Final = "tavus_async"
ENV_VAR: Final = "TAVUS_LOG"
_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

logger: Final = logging.getLogger(LOGGER_NAME)
_lock: Final = threading.Lock()


def level_for(value: str | None) -> int | None:
    """The logging level `TAVUS_LOG` asks for (`debug`, `info`, any case), else None:
    another value or none leaves logging as the application set it. Pure."""
    if value is None:
        return None
    return _LEVELS.get(value.strip().lower())


def log_from_env(environ: Mapping[str, str] = os.environ) -> None:
    """Apply `TAVUS_LOG`: the `tavus_async` logger's level, and a stderr handler on it when
    neither it nor an ancestor has one (a handler there already shows the records; ours
    would show each twice). Idempotent; without `TAVUS_LOG` nothing changes."""
    level = level_for(environ.get(ENV_VAR))
    if level is None:
        return
    with _lock:
        if not logger.hasHandlers():
            handler = logging.StreamHandler()  # sys.stderr
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
        logger.setLevel(level)

"""Pinning a process to one CPU, where the OS allows it."""

from __future__ import annotations

import os

__all__ = ["pin_to_cpu"]


def pin_to_cpu(cpu: int) -> bool:
    """Pin this process to `cpu` if `sched_setaffinity` exists and the CPU is usable here."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    try:
        if cpu not in os.sched_getaffinity(0):
            return False
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return False
    return True

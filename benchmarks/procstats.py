"""Process statistics (RSS, peak RSS, run-queue wait) and the server's `/__stats` probe.

Light on purpose: the runner imports it, and a parent's size must not leak into its children.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import sys

__all__ = ["current_rss", "peak_rss", "ru_maxrss", "run_queue_wait_ns", "server_stats"]


def current_rss() -> int:
    """Resident set size now, in bytes (from /proc; the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss()


def ru_maxrss() -> int:
    """`getrusage(RUSAGE_SELF).ru_maxrss` in bytes (Linux carries it over from the parent)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def peak_rss() -> int:
    """Peak resident set size of this process in bytes: VmHWM where /proc has it.

    `ru_maxrss` survives fork + exec on Linux, so a child of a larger parent would report the
    parent's peak; VmHWM belongs to this process's own address space.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return ru_maxrss()


def run_queue_wait_ns() -> int | None:
    """Nanoseconds this process spent runnable but waiting for a CPU (/proc/self/schedstat)."""
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None


def server_stats(port: int) -> tuple[float, int]:
    """The benchmark server's (CPU seconds, persona requests served) so far."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/__stats")
        stats = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return float(stats["cpu_s"]), int(stats["requests"])

"""Facts about the machine and software a benchmark run used, and the load it ran under."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["LoadMeter", "facts"]

_PACKAGES = ("tavus-async", "aiohttp", "msgspec", "httpx", "pydantic", "uvloop", "matplotlib")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_revision(root: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{rev}{' (with uncommitted changes)' if dirty else ''}" if rev else "unknown"


def facts(root: Path) -> dict[str, Any]:
    """CPU model, cores, OS, Python, package versions and the git revision."""
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cpus": affinity,
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {name: _version(name) for name in _PACKAGES},
        "git": _git_revision(root),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None
    return round(pages * size / 2**30, 1)


def _busy_seconds() -> float | None:
    """Machine-wide user + nice + system CPU seconds so far, from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]
    except OSError:
        return None
    return sum(int(x) for x in fields) / os.sysconf("SC_CLK_TCK")


class LoadMeter:
    """Measures how much CPU other processes used while the benchmark ran."""

    def __init__(self) -> None:
        self._busy0 = _busy_seconds()
        self._own0 = self._own()
        self._wall0 = datetime.datetime.now().timestamp()

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def finish(self, server_cpu_s: float) -> dict[str, float | None]:
        """Wall seconds, and the average cores busy with work other than this run's."""
        wall = datetime.datetime.now().timestamp() - self._wall0
        busy1 = _busy_seconds()
        other = None
        if self._busy0 is not None and busy1 is not None and wall > 0:
            own = self._own() - self._own0 + server_cpu_s
            other = max(0.0, (busy1 - self._busy0 - own) / wall)
        return {"wall_s": wall, "other_load_cores": other}

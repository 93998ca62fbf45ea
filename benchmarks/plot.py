"""The benchmark plot: personas/s (wall, own core) and CPU per request vs concurrency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.impls import BULK_IMPLS, LABELS
from benchmarks.stats import median

__all__ = ["plot_throughput"]

_PANELS = (
    ("personas_per_s", "personas/s, wall clock"),
    ("own_core_personas_per_s", "personas/s, client with its core to itself"),
    ("cpu_us_per_req", "client CPU µs per request (lower is better)"),
)


def plot_throughput(results: dict[str, Any], path: Path) -> bool:
    """Write the PNG to `path`; False (and nothing written) when there is nothing to plot."""
    bulk: list[dict[str, Any]] = results.get("bulk", [])
    if not bulk:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    fig, axes = plt.subplots(1, len(_PANELS), figsize=(15, 4.6))
    levels_all = sorted({int(r["concurrency"]) for r in bulk})
    for impl in BULK_IMPLS:
        levels = [c for c in levels_all if any(r["impl"] == impl for r in bulk)]
        rows = [[r for r in bulk if r["impl"] == impl and r["concurrency"] == c] for c in levels]
        if not levels or not all(rows):
            continue
        style = "--" if impl == "aiohttp_raw" else "-"
        for ax, (field, _) in zip(axes, _PANELS, strict=True):
            values = [median([r[field] for r in rs]) for rs in rows]
            ax.plot(levels, values, style, marker="o", label=LABELS[impl])
    for ax, (_, title) in zip(axes, _PANELS, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(levels_all)
        ax.get_xaxis().set_major_formatter(ScalarFormatter())
        ax.set_xlabel("concurrency")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    cpu_model = results.get("machine", {}).get("cpu_model", "")
    fig.suptitle(f"Fetching ~2.9 KB personas from a local server, client on one core ({cpu_model})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True

"""The benchmark plot: personas/s (wall, own core) and CPU per request vs concurrency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.impls import BULK_IMPLS, LABELS
from benchmarks.stats import median

__all__ = ["plot_ratelimit", "plot_throughput"]

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


def _per_second(times: list[float], bin_s: float, length: int) -> list[float]:
    counts = [0] * length
    for t in times:
        index = int(t / bin_s)
        if 0 <= index < length:
            counts[index] += 1
    return [c / bin_s for c in counts]


def plot_ratelimit(results: dict[str, Any], path: Path) -> bool:
    """Requests, 429s and completions per second, and the pacer's rate, over time."""
    rows = [r for r in results.get("scenarios", {}).get("ratelimit", []) if "server" in r]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, axes = plt.subplots(len(variants), 1, figsize=(11, 2.6 * len(variants)), sharex=True)
    axes = list(axes) if len(variants) > 1 else [axes]
    rate = float(results["config"]["rate"])
    for ax, variant in zip(axes, variants, strict=True):
        runs = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["wall_s"])
        run = runs[len(runs) // 2]
        server = run["server"]
        bin_s = float(server["bin_s"])
        timeline = server["timeline"]
        length = max(len(timeline), int(run["wall_s"] / bin_s) + 1)
        xs = [i * bin_s for i in range(length)]
        sent = [b[0] / bin_s for b in timeline] + [0.0] * (length - len(timeline))
        throttled = [b[1] / bin_s for b in timeline] + [0.0] * (length - len(timeline))
        done = _per_second(run.get("completed_at", []), bin_s, length)
        ax.plot(xs, sent, lw=0.8, label="requests sent /s")
        ax.plot(xs, throttled, lw=0.8, color="tab:red", label="429s /s")
        ax.plot(xs, done, lw=0.8, color="tab:green", label="ids completed /s")
        ax.axhline(rate, color="grey", ls="--", lw=0.8, label=f"limit R = {rate:g}/s")
        ax.set_ylabel("per second")
        ax.set_ylim(0, max(3.5 * rate, 1.0))
        from benchmarks.production_report import LABELS

        label = LABELS.get(variant, variant).replace("=R", f"={rate:g}")
        ax.set_title(
            f"{label}: {run['wall_s']:.1f} s, {run['failed']} ids failed", fontsize=9, loc="left"
        )
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        limits = run.get("limits", [])
        if limits:
            (line,) = ax.step(
                [t for t, _ in limits],
                [min(v, rate * 3) for _, v in limits],
                where="post",
                color="black",
                lw=1.0,
            )
            handles.append(line)
            labels.append("pacer rate /s")
        ax.legend(handles, labels, loc="upper right", fontsize=7, ncol=5)
    axes[-1].set_xlabel("seconds since start (100 ms bins)")
    fig.suptitle(f"Rate limit {rate:g}/s, burst 20, 429 + Retry-After: 1; 64 in flight")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True

"""Renders the production scenarios: the targets (met / not met) and one table per scenario."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks.page import write_section
from benchmarks.report import _machine, _table
from benchmarks.stats import median

__all__ = ["targets", "targets_text", "write"]

Row = dict[str, Any]
IMAGE: Final = "img/benchmarks-ratelimit.png"
LABELS: Final = {
    "tavus": "tavus-async",
    "tavus_rate_limit": "tavus-async, `rate_limit=R`",
    "tavus_hedged": "tavus-async, `hedge_after=0.05`",
    "handwritten": "aiohttp + msgspec + tenacity (hand-written)",
    "openai_style": "httpx + pydantic, openai-python retries",
    "aiohttp_raw": "aiohttp, bytes only (floor)",
}
MET, NOT_MET, NA = "met", "**not met**", "n/a"


def _rows(results: Row, scenario: str, variant: str, server: str = "main") -> list[Row]:
    rows = results.get("scenarios", {}).get(scenario, [])
    return [
        r
        for r in rows
        if r["variant"] == variant and r["server_name"] == server and "unsupported" not in r
    ]


def _unsupported(results: Row, scenario: str, variant: str) -> str | None:
    for r in results.get("scenarios", {}).get(scenario, []):
        if r["variant"] == variant and "unsupported" in r:
            return str(r["unsupported"])
    return None


def _med(rows: Sequence[Row], get: Callable[[Row], float]) -> float:
    return median([get(r) for r in rows])


def _share_429(r: Row) -> float:
    s = r["server"]
    return float(s["throttled"]) / max(int(s["requests"]), 1)


def _x_ideal(results: Row) -> Callable[[Row], float]:
    rate = float(results["config"]["rate"])
    return lambda r: r["wall_s"] / (r["n"] / rate)


def _paired(a: Sequence[Row], b: Sequence[Row], get: Callable[[Row], float]) -> float | None:
    """Median over rounds of get(a) / get(b), pairing by round."""
    base = {r["round"]: get(r) for r in b}
    ratios = [get(r) / base[r["round"]] for r in a if base.get(r["round"])]
    return median(ratios) if ratios else None


def _fault_ratio(results: Row, variant: str) -> float | None:
    return _paired(
        _rows(results, "faults", variant, "faulty"),
        _rows(results, "faults", variant, "clean"),
        lambda r: float(r["wall_s"]),
    )


def _guard_rows(results: Row, impl: str, uvloop: bool = False) -> list[Row]:
    return [
        r for r in results.get("guard", []) if r["impl"] == impl and bool(r.get("uvloop")) == uvloop
    ]


def targets(results: Row) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each of issue 15's targets this run measured."""
    out: list[tuple[str, str, str]] = []

    def add(name: str, measured: str | None, ok: bool) -> None:
        out.append((name, "not run" if measured is None else measured, MET if ok else NOT_MET))

    rl = _rows(results, "ratelimit", "tavus")
    if rl:
        x, share = _med(rl, _x_ideal(results)), _med(rl, _share_429)
        failed = max(r["failed"] for r in rl)
        shown = f"{x:.2f}x N/R, {100 * share:.1f}% 429, {failed} ids failed (worst round)"
        add(
            "Rate limit, no config: all ids, ≤ 1.10x N/R, ≤ 5% 429",
            shown,
            failed == 0 and x <= 1.10 and share <= 0.05,
        )
        add(
            "Rate limit, no config, moonshot: ≤ 1.03x, ≤ 2% 429",
            shown,
            failed == 0 and x <= 1.03 and share <= 0.02,
        )
    rr = _rows(results, "ratelimit", "tavus_rate_limit")
    if rr:
        x = _med(rr, _x_ideal(results))
        throttled = max(r["server"]["throttled"] for r in rr)
        failed = max(r["failed"] for r in rr)
        add(
            "Rate limit, `rate_limit=R`: ≤ 1.02x N/R, no 429",
            f"{x:.2f}x N/R, {throttled} 429s, {failed} ids failed (worst round)",
            x <= 1.02 and throttled == 0 and failed == 0,
        )
    ratio = _fault_ratio(results, "tavus")
    if ratio is not None:
        lost = max(r["failed"] for r in _rows(results, "faults", "tavus", "faulty"))
        shown = f"{ratio:.2f}x fault-free, {lost} ids lost (worst round)"
        add("Faults: ≤ 1.25x fault-free, 0 ids lost", shown, ratio <= 1.25 and lost == 0)
        add("Faults, moonshot: ≤ 1.10x fault-free", shown, ratio <= 1.10 and lost == 0)
    plain, hedged = _rows(results, "tail", "tavus"), _rows(results, "tail", "tavus_hedged")
    why = _unsupported(results, "tail", "tavus_hedged")
    if hedged and plain:
        gain = _paired(plain, hedged, lambda r: r["latency_ms"]["99"]) or 0.0
        extra = _med(hedged, lambda r: r["server"]["requests"] / r["n"] - 1)
        add(
            "Tail: p99 ≥ 3x lower with `hedge_after`, ≤ 5% extra requests",
            f"p99 {gain:.2f}x lower, {100 * extra:.1f}% extra requests",
            gain >= 3 and extra <= 0.05,
        )
    elif plain:
        p99 = _med(plain, lambda r: r["latency_ms"]["99"])
        note = "`hedge_after` not in the SDK yet" if why else "hedged variant not run"
        out.append(
            (
                "Tail: p99 ≥ 3x lower with `hedge_after`, ≤ 5% extra requests",
                f"{NA}: {note} (p99 without: {p99:,.0f} ms)",
                NA,
            )
        )
    lat = _rows(results, "latency", "tavus")
    if lat:
        x = _med(lat, lambda r: r["per_s"] / (r["concurrency"] / 0.05))
        conns = max(r["server"]["connections"] for r in lat)
        c = lat[0]["concurrency"]
        add(
            "Latency: ≥ 0.97x of C / 50 ms, no connection churn",
            f"{x:.3f}x, {conns} connections for {c} in flight (worst round)",
            x >= 0.97 and conns <= c,
        )
    tls = _paired(
        _rows(results, "tls", "tavus"),
        _rows(results, "tls", "aiohttp_raw"),
        lambda r: r["cpu_us_per_req"],
    )
    if tls is not None:
        add("TLS: CPU per request ≤ 1.15x bare aiohttp over TLS", f"{tls:.2f}x", tls <= 1.15)
    floor = _guard_rows(results, "aiohttp_raw")
    for impl in ("tavus_get_many", "tavus_iter_many"):
        g = _paired(_guard_rows(results, impl), floor, lambda r: r["cpu_us_per_req"])
        if g is not None:
            add(
                f"Guard: loopback CPU per request ≤ 1.25x bare aiohttp (`{impl[6:]}`)",
                f"{g:.2f}x",
                g <= 1.25,
            )
    on_uvloop, stock = (
        _guard_rows(results, "tavus_get_many", True),
        _guard_rows(results, "tavus_get_many"),
    )
    speed = _paired(on_uvloop, stock, lambda r: r["personas_per_s"])
    cpu = _paired(on_uvloop, stock, lambda r: r["cpu_us_per_req"])
    if speed is not None and cpu is not None:
        out.append(
            (
                "uvloop: `get_many` on uvloop vs asyncio's loop (reported, no target)",
                f"{speed:.2f}x personas/s, {cpu:.2f}x CPU per request",
                "reported",
            )
        )
    return out


def targets_text(rows: list[tuple[str, str, str]]) -> str:
    """The targets as a markdown table (what the command prints)."""
    return "\n".join(_table(("Target (issue 15)", "Measured", "Verdict"), rows, "lll"))


def _fmt_failures(rows: Sequence[Row]) -> str:
    """The median over rounds, and the worst round's count by error type."""
    worst = max(rows, key=lambda r: r["failed"])
    text = f"{median([r['failed'] for r in rows]):.0f}"
    if worst["failed"]:
        kinds = ", ".join(f"{k}" for k in sorted(worst["failures"]))
        text += f" (worst {worst['failed']}: {kinds})"
    return text


def _wait_pct(rows: Sequence[Row]) -> str:
    """Median share of wall time the client waited for its core (the machine's load)."""
    waits = [
        100 * r["run_queue_wait_s"] / r["wall_s"]
        for r in rows
        if r.get("run_queue_wait_s") is not None and r["wall_s"] > 0
    ]
    return f"{median(waits):.0f}%" if waits else "n/a"


def _variants(results: Row, scenario: str) -> list[str]:
    seen: dict[str, None] = {}
    for r in results.get("scenarios", {}).get(scenario, []):
        seen[r["variant"]] = None
    return list(seen)


def _label(results: Row, scenario: str, variant: str) -> str:
    rows = _rows(results, scenario, variant) or _rows(results, scenario, variant, "clean")
    slow = bool(rows) and any(
        r["n"] < max(x["n"] for x in results["scenarios"][scenario]) for r in rows
    )
    return LABELS.get(variant, variant) + (" †" if slow else "")


def _latency(results: Row) -> list[str]:
    rows = []
    for v in _variants(results, "latency"):
        rs = _rows(results, "latency", v)
        rows.append(
            (
                _label(results, "latency", v),
                f"{rs[0]['n']:,}",
                f"{_med(rs, lambda r: r['per_s']):,.0f}",
                f"{_med(rs, lambda r: r['per_s'] / (r['concurrency'] / 0.05)):.3f}x",
                f"{max(r['server']['connections'] for r in rs)}",
                f"{_med(rs, lambda r: r['cpu_us_per_req']):.0f}",
                _fmt_failures(rs),
                _wait_pct(rs),
            )
        )
    header = (
        "Client",
        "ids",
        "personas/s",
        "x bound",
        "connections (worst)",
        "CPU µs/req",
        "ids failed",
        "core wait",
    )
    return _table(header, rows)


def _ratelimit(results: Row) -> list[str]:
    rows = []
    for v in _variants(results, "ratelimit"):
        rs = _rows(results, "ratelimit", v)
        rows.append(
            (
                _label(results, "ratelimit", v),
                f"{rs[0]['n']:,}",
                f"{_med(rs, lambda r: r['wall_s']):.1f}",
                f"{_med(rs, _x_ideal(results)):.2f}x",
                _fmt_failures(rs),
                f"{_med(rs, lambda r: r['server']['requests']):,.0f}",
                f"{100 * _med(rs, _share_429):.1f}%",
                f"{_med(rs, lambda r: r['cpu_s'] / r['n'] * 1e6):.0f}",
                _wait_pct(rs),
            )
        )
    header = (
        "Client",
        "ids",
        "time s",
        "x ideal (N/R)",
        "ids failed",
        "requests sent",
        "answered 429",
        "CPU µs per id",
        "core wait",
    )
    return _table(header, rows)


def _faults(results: Row) -> list[str]:
    rows = []
    for v in _variants(results, "faults"):
        clean, faulty = _rows(results, "faults", v, "clean"), _rows(results, "faults", v, "faulty")
        if not clean or not faulty:
            continue
        ratio = _fault_ratio(results, v)
        rows.append(
            (
                _label(results, "faults", v),
                f"{faulty[0]['n']:,}",
                f"{_med(clean, lambda r: r['wall_s']):.2f}",
                f"{_med(faulty, lambda r: r['wall_s']):.2f}",
                "n/a" if ratio is None else f"{ratio:.2f}x",
                f"{_med(faulty, lambda r: r['server']['requests']):,.0f}",
                f"{_med(faulty, lambda r: r['server']['errors'] + r['server']['resets']):,.0f}",
                _fmt_failures(faulty),
                f"{_wait_pct(clean)} / {_wait_pct(faulty)}",
            )
        )
    header = (
        "Client",
        "ids",
        "fault-free s",
        "with faults s",
        "x fault-free",
        "requests sent",
        "faults met",
        "ids lost",
        "core wait",
    )
    return _table(header, rows)


def _tail(results: Row) -> list[str]:
    rows: list[tuple[str, ...]] = []
    for v in _variants(results, "tail"):
        rs = _rows(results, "tail", v)
        if not rs:
            why = _unsupported(results, "tail", v)
            note = "the SDK does not accept this option yet" if why else "not run"
            rows.append((LABELS.get(v, v), NA, NA, NA, NA, NA, note, NA))
            continue
        ms = [median([r["latency_ms"][q] for r in rs]) for q in ("50", "90", "99", "99.9")]
        extra = _med(rs, lambda r: r["server"]["requests"] / r["n"] - 1)
        rows.append(
            (
                LABELS.get(v, v),
                *(f"{x:,.0f}" for x in ms),
                f"{100 * extra:.1f}%",
                _fmt_failures(rs),
                _wait_pct(rs),
            )
        )
    header = (
        "Client",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "extra requests",
        "failed",
        "core wait",
    )
    return _table(header, rows)


def _tls(results: Row) -> list[str]:
    floor = _rows(results, "tls", "aiohttp_raw")
    rows = []
    for v in _variants(results, "tls"):
        rs = _rows(results, "tls", v)
        ratio = _paired(rs, floor, lambda r: r["cpu_us_per_req"])
        rows.append(
            (
                LABELS.get(v, v),
                f"{_med(rs, lambda r: r['per_s']):,.0f}",
                f"{_med(rs, lambda r: r['cpu_us_per_req']):.1f}",
                "n/a" if ratio is None else f"{ratio:.2f}x",
            )
        )
    return _table(("Client", "personas/s", "CPU µs/req", "CPU x floor"), rows)


def _guard(results: Row) -> list[str]:
    floor = _guard_rows(results, "aiohttp_raw")
    rows = []
    for impl, uvloop, label in (
        ("aiohttp_raw", False, "aiohttp, bytes only (floor)"),
        ("tavus_get_many", False, "tavus-async get_many"),
        ("tavus_iter_many", False, "tavus-async iter_many"),
        ("tavus_get_many", True, "tavus-async get_many, on uvloop"),
    ):
        rs = _guard_rows(results, impl, uvloop)
        if not rs:
            continue
        rate = _paired(rs, floor, lambda r: r["personas_per_s"])
        cpu = _paired(rs, floor, lambda r: r["cpu_us_per_req"])
        rows.append(
            (
                label,
                f"{_med(rs, lambda r: r['personas_per_s']):,.0f}",
                "n/a" if rate is None else f"{rate:.2f}x",
                f"{_med(rs, lambda r: r['cpu_us_per_req']):.1f}",
                "n/a" if cpu is None else f"{cpu:.2f}x",
            )
        )
    header = ("Client", "personas/s", "x floor", "CPU µs/req", "CPU x floor")
    return _table(header, rows)


def render(results: Row, image: str | None) -> str:
    """The production section of docs/benchmarks.md."""
    cfg, load = results["config"], results.get("load", {})
    other = load.get("other_load_cores")
    rate = float(cfg["rate"])
    if other is None:
        machine = "**The load from other processes was not measured**"
    elif other < 0.1:
        machine = f"The machine was otherwise idle: other processes kept {other:.2f} cores busy"
    else:
        machine = (
            f"**The machine was shared**: other processes kept {other:.2f} cores busy on "
            "average during the run"
        )
    out = [
        "# Benchmarks",
        "",
        "How tavus-async fares where users feel it: against a local server that behaves like a "
        "real API (latency, a rate limit, faults, a slow tail, TLS), next to a competent "
        "hand-written aiohttp client and an httpx + pydantic client with openai-python's retry "
        "rules. Generated by `python -m benchmarks` (the `benchmarks/` folder); do not edit by "
        "hand.",
        "",
        f"These numbers come from `{results['command']}`, run on "
        f"{results['machine']['date']} at revision {results['machine']['git']}; it took "
        f"{results['elapsed_s'] / 60:.1f} min, {cfg['rounds']} interleaved rounds, medians. "
        f"{machine} (2 cores, one for the server, one for the client); wall-clock numbers "
        "carry noise, and the rounds are interleaved so that every client sees the same "
        "conditions.",
        "",
        "```bash",
        ".venv/bin/python -m benchmarks                          # all scenarios + guard, ~13 min",
        ".venv/bin/python -m benchmarks --quick --out /tmp/bench # small sizes, 1 round, ~1 min",
        ".venv/bin/python -m benchmarks --only ratelimit,tail    # some scenarios ('guard' too)",
        ".venv/bin/python -m benchmarks --from-json raw.json     # re-render from --json output",
        ".venv/bin/python -m benchmarks cpu                      # the loopback CPU suite below",
        "```",
        "",
        "Sizes are options (`--rounds`, `--rate`, `--ratelimit-n`, `--faults-n`, ...; see "
        "`--help`). A client variant is one `Variant` line in `benchmarks/production.py`; a "
        "tavus-async option the SDK does not accept yet (such as `hedge_after=`) is detected "
        "when the client is built and shown as n/a.",
        "",
        "## Machine",
        "",
        *_machine_rows(results),
        "",
        "## Targets",
        "",
        *_table(("Target (issue 15)", "Measured", "Verdict"), targets(results), "lll"),
        "",
        _wait_note(results),
        "",
    ]
    sc = results.get("scenarios", {})
    if "ratelimit" in sc:
        n = (
            _rows(results, "ratelimit", "tavus")[0]["n"]
            if _rows(results, "ratelimit", "tavus")
            else 0
        )
        out += [
            "## Rate limit",
            "",
            f"The server allows {rate:g} requests/s (token bucket, burst 20) and answers `429` "
            f"with `Retry-After: 1` beyond it; every response takes 20 ms. {n:,} ids, "
            f"concurrency 64, the clients are not told the limit (but in the `rate_limit=R` row). "
            f"Ideal: N / R = {n / rate:.1f} s. Each run is cut off at 6x the ideal. † half the ids "
            "(the httpx client is CPU-bound here); its ideal is its own N / R.",
            "",
            *_ratelimit(results),
            "",
        ]
        if image:
            out += [
                f"![requests, 429s, completions and the pacer's rate over time]({image})",
                "",
                "One run per client (its median round): requests sent and 429s answered per "
                "second (server side), ids completed per second (client side), and the bulk "
                "engine's pacer rate (tavus-async's learnt send rate once a 429 was seen, "
                "sampled every 50 ms through a private name: there is no public hook yet).",
                "",
            ]
    if "faults" in sc:
        out += [
            "## Faults",
            "",
            "Every response takes 20 ms; on the faulty server 5% of responses are `503` and 1% "
            "send the headers and half the body, then abort the connection. The same client "
            "fetches the same ids from a fault-free server in the same round. Concurrency 64, "
            f"{cfg['faults_n']:,} ids{_scaled(cfg['faults_n'], 10_000)}, "
            f"{max(cfg['rounds'], cfg.get('faults_rounds', 0))} rounds (the ratio of two "
            "CPU-bound runs moves by ±15% from one client process to the next: more rounds "
            "steady its median). "
            "`faults met`: 503s and cut responses the server sent. † fewer ids (the httpx "
            "client is CPU-bound well below the others), so that the run fits the time "
            "budget; its ratio is against its own fault-free run, but being CPU-bound it mostly "
            "shows how much CPU the machine left it in each run. `core wait`: clean / faulty.",
            "",
            *_faults(results),
            "",
        ]
    if "tail" in sc:
        out += [
            "## Tail latency",
            "",
            "2% of responses take 1 s, the rest 20 ms. 16 callers each `await get(id)` in a "
            "loop (distinct ids); latency per call, percentiles over all calls of a run, "
            "median over rounds. `extra requests`: requests the server saw beyond one per call.",
            "",
            *_tail(results),
            "",
        ]
    if "latency" in sc:
        out += [
            "## Latency",
            "",
            "Every response takes 50 ms (± 5 ms, uniform); concurrency 64, so the bound is "
            "64 / 0.05 s = 1,280 personas/s. `connections`: connections that carried a "
            "request, counted by the server (64 means no churn). † fewer ids.",
            "",
            *_latency(results),
            "",
        ]
    if "tls" in sc:
        out += [
            "## TLS",
            "",
            "The fast server (no delay) over HTTPS with a throwaway CA made by `trustme`; "
            "concurrency 64, after a warm-up that opens the pool. tavus-async has no public "
            "option for a CA or an SSL context, so it is given "
            "`session=aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))`.",
            "",
            *_tls(results),
            "",
        ]
    if results.get("guard"):
        out += [
            "## Guard: loopback CPU, and uvloop",
            "",
            "The CPU suite's fast loopback server (answers in microseconds), "
            f"{results['guard'][0]['n']:,} ids at concurrency 64, each measurement in a fresh "
            "process after a warm-up; the last row runs the same `get_many` on uvloop "
            "(`uvloop.run`) instead of asyncio's loop. Detail: the CPU suite below.",
            "",
            *_guard(results),
            "",
        ]
    return "\n".join(out)


def _wait_note(results: Row) -> str:
    rows = [r for rs in results.get("scenarios", {}).values() for r in rs]
    waits = sorted(
        100 * r["run_queue_wait_s"] / r["wall_s"]
        for r in rows
        if r.get("run_queue_wait_s") is not None and r["wall_s"] > 0
    )
    if not waits:
        return ""
    return (
        "How loaded the client's core was: each client waited for its core (runnable, not "
        f"running, `/proc/self/schedstat`) a median {median(waits):.0f}% and at most "
        f"{waits[-1]:.0f}% of its run's wall time. Time-based ratios (x ideal, x bound, "
        "x fault-free) are inflated by that wait; CPU per request is not."
    )


def _machine_rows(results: Row) -> list[str]:
    shaped = dict(results)
    shaped.setdefault("server", {"cpu": 1, "pinned": True, "uvloop": True})
    shaped["config"] = {"client_cpu": 0, **results.get("config", {})}
    return _machine(shaped)


def write(results: Row, out: Path) -> None:
    """Write the plot and the production section of `<out>/benchmarks.md`."""
    from benchmarks.plot import plot_ratelimit

    image = out / IMAGE
    plotted = plot_ratelimit(results, image)
    write_section(out / "benchmarks.md", "production", render(results, IMAGE if plotted else None))


def _scaled(n: int, issue_n: int) -> str:
    """A note when a scenario runs fewer ids than issue 15 names."""
    if n >= issue_n:
        return ""
    return f" (issue 15 says {issue_n:,}: scaled down so that the whole run fits in 15 minutes)"

"""Renders the runner's measurements as docs/benchmarks.md (medians, ratios, targets)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks.impls import BULK_IMPLS, DECODER_LABELS, LABELS
from benchmarks.stats import median

__all__ = ["FLOOR", "SINGLE_FLOOR", "paired_ratio", "render", "summary"]

Row = dict[str, Any]
FLOOR: Final = "aiohttp_raw"
SINGLE_FLOOR: Final = "aiohttp_single"
KB: Final = 1000
OWN_CORE: Final = "own_core_personas_per_s"
MIB: Final = 1024 * 1024


def _med(rows: Sequence[Row], field: str) -> float:
    return median([float(r[field]) for r in rows])


def _by(rows: Iterable[Row], *keys: str) -> dict[tuple[Any, ...], list[Row]]:
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    return groups


def paired_ratio(rows: Sequence[Row], base: Sequence[Row], field: str) -> float | None:
    """Median over rounds of `rows[field] / base[field]`, pairing measurements by round."""
    base_by_round = {r["round"]: float(r[field]) for r in base}
    ratios = [
        float(r[field]) / base_by_round[r["round"]] for r in rows if base_by_round.get(r["round"])
    ]
    return median(ratios) if ratios else None


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = [":--" if a == "l" else "--:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _bulk_table(bulk: list[Row], concurrency: int) -> list[str]:
    groups = _by((r for r in bulk if r["concurrency"] == concurrency), "impl")
    floor = groups.get((FLOOR,), [])
    rows = []
    for impl in BULK_IMPLS:
        rs = groups.get((impl,))
        if not rs:
            continue
        gc_pct = 100 * sum(r["gc_s"] for r in rs) / max(sum(r["cpu_s"] for r in rs), 1e-12)
        rates = [r["personas_per_s"] for r in rs]
        rows.append(
            (
                LABELS[impl] + (" †" if floor and rs[0]["n"] != floor[0]["n"] else ""),
                f"{_med(rs, 'personas_per_s'):,.0f}",
                _x(paired_ratio(rs, floor, "personas_per_s")),
                f"{min(rates):,.0f}-{max(rates):,.0f}",
                f"{_med(rs, OWN_CORE):,.0f}",
                _x(paired_ratio(rs, floor, OWN_CORE)),
                f"{_med(rs, 'cpu_us_per_req'):.1f}",
                _x(paired_ratio(rs, floor, "cpu_us_per_req")),
                f"{gc_pct:.1f}%",
                f"{_med(rs, 'peak_rss_mib'):.1f}",
            )
        )
    header = (
        "Client",
        "personas/s",
        "x floor",
        "range over rounds",
        "personas/s, own core",
        "x floor",
        "CPU µs/req",
        "CPU x floor",
        "GC share of CPU",
        "peak RSS MiB",
    )
    return _table(header, rows)


def _single_table(single: list[Row]) -> list[str]:
    groups = _by(single, "impl")
    floor = groups.get((SINGLE_FLOOR,), [])
    rows = []
    for (impl,), rs in groups.items():
        rows.append(
            (
                LABELS[impl],
                f"{_med(rs, 'lat_p50_us'):.0f}",
                f"{_med(rs, 'lat_p99_us'):.0f}",
                f"{_med(rs, 'cpu_us_per_req'):.1f}",
                _x(paired_ratio(rs, floor, "cpu_us_per_req")),
                f"{_med(rs, 'personas_per_s'):,.0f}",
                f"{_med(rs, 'peak_rss_mib'):.1f}",
            )
        )
    header = ("Client", "p50 µs", "p99 µs", "CPU µs/req", "CPU x floor", "req/s", "peak RSS MiB")
    return _table(header, rows)


def _scaling_table(scaling: list[Row]) -> list[str]:
    rows = [
        (
            f"{r['n']:,}",
            f"{r['personas_per_s']:,.0f}",
            f"{r[OWN_CORE]:,.0f}",
            f"{r['cpu_us_per_req']:.1f}",
            f"{r['peak_rss_mib']:.1f}",
            f"{r['start_rss_mib']:.1f}",
            f"{r['wall_s']:.1f}",
        )
        for r in sorted(scaling, key=lambda r: int(r["n"]))
    ]
    header = (
        "ids",
        "personas/s",
        "personas/s, own core",
        "CPU µs/req",
        "peak RSS MiB",
        "RSS at start MiB",
        "wall s",
    )
    return _table(header, rows)


def _decode_table(decode: Row) -> list[str]:
    us: dict[str, float] = decode["us_per_decode"]
    kept: dict[str, float] = decode["kept_bytes_per_persona"]
    base = us["tavus_decode_persona"]
    size = float(decode["body_bytes"])
    rows = [
        (
            DECODER_LABELS.get(name, name),
            f"{t:.1f}",
            _x(t / base),
            f"{size / t:,.0f}",
            f"{kept[name] / KB:.1f}",
        )
        for name, t in us.items()
    ]
    header = ("Decoder", "µs/decode", "time x decode_persona", "MB/s", "kept KB/persona")
    return _table(header, rows)


def summary(results: Row) -> list[tuple[str, str, str]]:
    """(target, measured, met) for each of the issue's targets that this run measured."""
    out: list[tuple[str, str, str]] = []
    bulk = _by(results.get("bulk", []), "impl", "concurrency")

    def ratio(impl: str, base: str, c: int, field: str = OWN_CORE) -> float | None:
        rs, bs = bulk.get((impl, c)), bulk.get((base, c))
        return paired_ratio(rs, bs, field) if rs and bs else None

    def check(name: str, value: float | None, fmt: Callable[[float], str], ok: bool) -> None:
        if value is None:
            out.append((name, "not run", "-"))
        else:
            out.append((name, fmt(value), "✅" if ok else "❌"))

    def rate_check(name: str, impl: str, base: str, c: int, target: float) -> None:
        own, wall = ratio(impl, base, c), ratio(impl, base, c, "personas_per_s")
        if own is None or wall is None:
            out.append((name, "not run", "-"))
        else:
            shown = f"{own:.2f}x own core ({wall:.2f}x wall)"
            out.append((name, shown, "✅" if own >= target else "❌"))

    for c in (64, 256):
        rate_check(f"get_many ≥ 0.90x floor at {c}", "tavus_get_many", FLOOR, c, 0.90)
    for c in (64, 256):
        rate_check(f"iter_many ≥ 0.95x floor at {c}", "tavus_iter_many", FLOOR, c, 0.95)
    single = _by(results.get("single", []), "impl")
    for impl, name in (
        ("tavus_get", "single get CPU within 15% of aiohttp"),
        ("tavus_get_uncoalesced", "single get CPU within 15% of aiohttp, `coalesce=False`"),
    ):
        s, f = single.get((impl,)), single.get((SINGLE_FLOOR,))
        v = paired_ratio(s, f, "cpu_us_per_req") if s and f else None
        check(name, v, _x, v is not None and v <= 1.15)
    rate_check("get_many ≥ 12x httpx+pydantic at 64", "tavus_get_many", "httpx_pydantic", 64, 12)
    retained = results.get("retained")
    v = retained["rss"]["retained_rss_bytes_per_persona"] if retained else None
    check(
        "retained per persona (get_many, RSS delta) ≤ ~8.8 KB",
        v,
        lambda b: f"{b / KB:.2f} KB",
        v is not None and v <= 8.8 * KB,
    )
    big = [r for r in results.get("scaling", []) if r["n"] >= 1_000_000]
    v = big[0]["peak_rss_mib"] if big else None
    check("iter_many 1M peak RSS < 200 MB", v, lambda m: f"{m:.1f} MiB", v is not None and v < 200)
    return out


def _machine(results: Row) -> list[str]:
    m, server, load = results["machine"], results.get("server", {}), results.get("load", {})
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    other = load.get("other_load_cores")
    rows = [
        ("CPU", m["cpu_model"]),
        ("Cores", f"{m['cores']} (usable: {m['usable_cpus']})"),
        ("Memory", f"{m['memory_gib']} GiB"),
        ("OS", m["os"]),
        ("Python", m["python"]),
        ("Packages", pkgs),
        ("tavus-async revision", m["git"]),
        ("Date", m["date"]),
        (
            "Pinning",
            f"server on CPU {server.get('cpu')} (pinned: {server.get('pinned')}, "
            f"uvloop: {server.get('uvloop')}), clients on CPU {results['config']['client_cpu']}",
        ),
        (
            "Other load during the run",
            "unknown" if other is None else f"{other:.2f} cores busy with other processes",
        ),
    ]
    return _table(("", ""), rows, "ll")


def _server_capacity(bulk: list[Row]) -> list[str]:
    floor = [r for r in bulk if r["impl"] == FLOOR]
    if not floor:
        return ["Not measured (the floor client did not run)."]
    c = max(r["concurrency"] for r in floor)
    rs = [r for r in floor if r["concurrency"] == c]
    us = median([r["server_cpu_s"] / r["server_requests"] * 1e6 for r in rs])
    util = median([r["server_cpu_s"] / r["wall_s"] for r in rs])
    rate = _med(rs, "personas_per_s")
    return [
        f"While the floor client ran at concurrency {c} ({rate:,.0f} personas/s), the server "
        f"spent **{us:.1f} µs of CPU per request** and was busy {100 * util:.0f}% of the time: "
        f"a capacity of about **{1e6 / us:,.0f} requests/s** on its one core, "
        f"{1e6 / us / rate:.1f}x what the fastest client can ask of it. The clients, not the "
        "server, are what these numbers measure.",
    ]


def _wait_note(results: Row) -> str:
    rows = results.get("bulk", []) + results.get("single", []) + results.get("scaling", [])
    waits = [
        100 * r["run_queue_wait_s"] / r["wall_s"]
        for r in rows
        if r.get("run_queue_wait_s") is not None
    ]
    if not waits:
        return ""
    return (
        " In this run the client waited for its core (runnable, not running) a median "
        f"{median(waits):.0f}% and at most {max(waits):.0f}% of the timed wall time."
    )


def render(results: Row, image: str | None) -> str:
    """The whole markdown report."""
    cfg = results["config"]
    out = [
        "# Loopback CPU suite",
        "",
        "How much CPU tavus-async spends per persona compared with bare aiohttp (the floor), "
        "aiohttp + `json.loads`, and httpx + pydantic v2, against a local server that answers "
        "in microseconds. Generated by `python -m benchmarks cpu`; do not edit by hand.",
        "",
        "## How to run",
        "",
        "```bash",
        ".venv/bin/python -m benchmarks cpu                          # full run, 7-10 min",
        ".venv/bin/python -m benchmarks cpu --scaling-max 100000     # no 1M point, ~5 min",
        ".venv/bin/python -m benchmarks cpu --quick --out /tmp/bench # tiny sizes, ~15 s",
        ".venv/bin/python -m benchmarks.profiling                    # cProfile + GC on/off",
        "```",
        "",
        f"These numbers come from `{results['command']}`, which took "
        f"{results['elapsed_s'] / 60:.1f} min. Every size is an option (`--requests`, "
        "`--rounds`, `--concurrency`, `--scaling`, `--scaling-max`, `--retained-n`, ...; see "
        "`--help`); `--json PATH` keeps the raw measurements and `--from-json PATH` re-renders "
        "this section from them. Needs `httpx`, `pydantic`, `uvloop` and `matplotlib` besides the "
        "package.",
        "",
        "## Machine",
        "",
        *_machine(results),
        "",
        "## Targets (CPU)",
        "",
        *_table(("Target", "Measured", "Met"), summary(results), "lrc"),
        "",
    ]
    bulk = results.get("bulk", [])
    if bulk:
        out += [
            "## Bulk fetch: throughput, CPU and memory",
            "",
            f"{cfg['requests']:,} distinct ids per measurement († httpx + pydantic: "
            f"{cfg['slow_requests']:,}, as it is an order of magnitude slower), each "
            f"measurement in a fresh process, {cfg['rounds']} interleaved rounds, medians.",
            "",
            "- `personas/s` is wall-clock. `personas/s, own core` takes out of the wall time "
            "what the client spent runnable but waiting for its core while other processes "
            "ran on it (`/proc/self/schedstat`): the rate with a core to itself. On a quiet "
            "machine the two agree; on a busy one only the second is comparable across rounds.",
            "- `x floor`: the median over rounds of the ratio to bare aiohttp measured in the "
            "same round (higher is better for personas/s, lower for CPU).",
            "- The decoding clients keep their results, as `get_many` does; `iter_many` drops "
            "each one as it arrives. Peak RSS is the whole client process (about 35 MiB of it "
            "is the interpreter and imports). GC share: CPU time inside collections.",
            "",
        ]
        for c in sorted({int(r["concurrency"]) for r in bulk}, reverse=True):
            out += [f"### Concurrency {c}", "", *_bulk_table(bulk, c), ""]
        if image:
            out += [f"![personas/s and CPU per request vs concurrency]({image})", ""]
            out += ["Dashed: the bare-aiohttp floor. Log scales.", ""]
    if results.get("single"):
        out += [
            "## One request at a time (web-backend latency)",
            "",
            f"`await client.personas.get(id)` in a loop, {cfg['single_requests']:,} distinct "
            "ids, next to a bare aiohttp `session.get` + `read()` loop; median over rounds of "
            "each run's p50/p99.",
            "",
            *_single_table(results["single"]),
            "",
        ]
    if results.get("scaling"):
        out += [
            "## Scaling: `iter_many` from 1k to 1M ids",
            "",
            f"Concurrency {cfg['scaling_concurrency']}, results not retained, ids generated "
            "lazily (so the input list is not what is measured), one run per size.",
            "",
            *_scaling_table(results["scaling"]),
            "",
        ]
    if results.get("retained"):
        rss, traced = results["retained"]["rss"], results["retained"]["tracemalloc"]
        out += [
            "## Retained memory of `get_many`",
            "",
            f"`get_many` of {rss['n']:,} ids with the results kept:",
            "",
            *_table(
                ("Method", "bytes per persona"),
                [
                    (
                        "RSS delta (resident memory after minus before, results alive)",
                        f"{rss['retained_rss_bytes_per_persona']:,.0f}",
                    ),
                    (
                        f"tracemalloc (bytes still allocated after the call; {traced['n']:,} ids)",
                        f"{traced['tracemalloc_bytes_per_persona']:,.0f}",
                    ),
                ],
            ),
            "",
        ]
    if results.get("decode"):
        d = results["decode"]
        out += [
            "## Decode micro-benchmark",
            "",
            f"The same {len(DECODER_LABELS)} decoders on the server's bodies (mean "
            f'{d["body_bytes"]:,.0f} bytes, `{{"data": [persona]}}`), no network; median of '
            f"{d['repeats']} timings of {d['iterations']:,} decodes. Kept KB: tracemalloc over "
            "decoded objects held alive.",
            "",
            *_decode_table(d),
            "",
        ]
    if bulk:
        out += ["## Server capacity", "", *_server_capacity(bulk), ""]
    history = Path(__file__).with_name("history.md")
    if history.exists():
        out += [history.read_text().rstrip(), ""]
    out += [
        "## Method",
        "",
        "- Server: `benchmarks/server.py`, a raw asyncio `Protocol` on uvloop answering "
        "HTTP/1.1 keep-alive with canned ~2.9 KB personas (from "
        "`tavus_async.testing.generate_persona`, `persona_id` set to the requested id), pinned "
        "to CPU 1 with `os.sched_setaffinity`; each client process is pinned to CPU 0.",
        "- Each measurement: a fresh `python -m benchmarks.client` process; it first frees one "
        "1 MiB block (`benchmarks/allocator.py`), so glibc serves asyncio's 256 KiB socket "
        "reads from the heap rather than `mmap`, as in any long-running process (without it "
        "every client paid about 15 µs per request, unless it happened to free a big block "
        "itself; `--cold-allocator` on `benchmarks.client` skips it); it then opens its "
        "client, warms it up (max(300, 2 x concurrency) requests on other ids), "
        "`gc.collect()`s, then times one run. Wall: `time.perf_counter`; CPU: "
        "`time.process_time` (user + system of the client process) / requests; GC: CPU time "
        "inside collections, timed with `gc.callbacks`; peak RSS: `VmHWM` of the process "
        "(`ru_maxrss` is carried over from the parent across fork + exec on Linux).",
        "- Bulk clients run `concurrency` worker tasks on a connection pool of the same size "
        "(`TCPConnector(limit=C)`, `httpx.Limits(max_connections=C)`, "
        "`AsyncTavus(max_connections=C)`), all on the stock asyncio event loop.",
        "- Retained memory: RSS delta reads `/proc/self/statm` before and after `get_many` "
        "(after `gc.collect()`), divided by the number of personas.",
        "- The machine may be shared: other processes on the client's core inflate wall-clock "
        "numbers, hence the `own core` columns; CPU per request is unaffected by waiting."
        + _wait_note(results),
        "",
    ]
    return "\n".join(out)

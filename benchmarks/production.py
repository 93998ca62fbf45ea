"""`python -m benchmarks [production]`: the production-like scenarios and their targets.

Each scenario starts its own `benchmarks.scenario_server` (127.0.0.1, pinned to CPU 1) and
runs every client variant in a fresh `benchmarks.scenario_client` process (pinned to CPU 0),
interleaved round by round (A B C, A B C, ...), each bounded in ids and time. The loopback
CPU guard and the uvloop gain reuse the CPU suite's fast server and `benchmarks.client`.
Writes the report's top section into `<out>/benchmarks.md` (see `benchmarks.page`), the
rate-limit plot into `<out>/img/`, and prints the targets table.

Adding a variant: append a `Variant` to the scenario in `scenarios()`. A tavus-async option
the SDK does not accept yet (`hedge_after=`) is detected by the client and shown as n/a.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from benchmarks.machine import LoadMeter, facts
from benchmarks.runner import ROOT, Server, run_client, run_module

__all__ = ["Scenario", "Variant", "main", "parse_args", "scenarios"]

Log = Callable[[str], None]
#: Seconds `hedge_after` waits in the tail scenario's hedged variant (2.5x the usual 20 ms).
HEDGE_AFTER: Final = 0.05
QUICK: Final[dict[str, Any]] = {
    "rounds": 1,
    "latency_n": 200,
    "ratelimit_n": 100,
    "faults_n": 200,
    "faults_rounds": 1,
    "tail_n": 100,
    "tls_n": 200,
    "guard_n": 300,
}


@dataclass(frozen=True)
class Variant:
    """One client configuration in a scenario; it runs `share` of the scenario's ids."""

    key: str
    peer: str
    label: str
    options: dict[str, Any] = field(default_factory=dict)
    share: float = 1.0


@dataclass(frozen=True)
class Scenario:
    """A server behaviour (or two: `servers`) and the variants run against it."""

    name: str
    servers: dict[str, list[str]]
    variants: tuple[Variant, ...]
    n: int
    concurrency: int = 64
    mode: str = "bulk"
    warmup: int = 0
    timeline: bool = False
    time_limit: float = 300.0
    tls: bool = False
    #: Rounds of this scenario, when not `--rounds` (a noisier ratio wants more).
    rounds: int | None = None


TAVUS: Final = Variant("tavus", "tavus", "tavus-async")
HANDWRITTEN: Final = Variant(
    "handwritten", "handwritten", "aiohttp + msgspec + tenacity (hand-written)"
)
#: The httpx client is CPU-bound far below the others: it runs a share of the ids (†).
OPENAI: Final = Variant(
    "openai_style", "openai_style", "httpx + pydantic, openai retries", share=0.1
)
FLOOR: Final = Variant("aiohttp_raw", "aiohttp_raw", "aiohttp, bytes only (floor)")


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The scenarios at the sizes the options ask for."""
    rate = args.rate
    return [
        Scenario(
            "latency",
            {"main": ["--delay-ms", "50", "--jitter-ms", "5"]},
            (TAVUS, HANDWRITTEN, OPENAI),
            args.latency_n,
        ),
        Scenario(
            "ratelimit",
            {"main": ["--delay-ms", "20", "--rate", str(rate), "--burst", "20"]},
            (
                TAVUS,
                Variant(
                    "tavus_rate_limit",
                    "tavus",
                    f"tavus-async, `rate_limit={rate:g}`",
                    {"rate_limit": rate},
                ),
                HANDWRITTEN,
                Variant(OPENAI.key, OPENAI.peer, OPENAI.label, share=0.5),
            ),
            args.ratelimit_n,
            timeline=True,
            time_limit=max(10.0, 6 * args.ratelimit_n / rate),
        ),
        Scenario(
            "faults",
            {
                "clean": ["--delay-ms", "20"],
                "faulty": ["--delay-ms", "20", "--error-rate", "0.05", "--reset-rate", "0.01"],
            },
            (TAVUS, HANDWRITTEN, OPENAI),
            args.faults_n,
            rounds=max(args.rounds, args.faults_rounds),
        ),
        Scenario(
            "tail",
            {"main": ["--delay-ms", "20", "--slow-rate", "0.02", "--slow-ms", "1000"]},
            (
                TAVUS,
                Variant(
                    "tavus_hedged",
                    "tavus",
                    f"tavus-async, `hedge_after={HEDGE_AFTER}`",
                    {"hedge_after": HEDGE_AFTER},
                ),
                HANDWRITTEN,
                Variant(OPENAI.key, OPENAI.peer, OPENAI.label),
            ),
            args.tail_n,
            concurrency=16,
            mode="tail",
        ),
        Scenario("tls", {"main": []}, (FLOOR, TAVUS), args.tls_n, warmup=256, tls=True),
    ]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _client_args(
    args: argparse.Namespace, sc: Scenario, v: Variant, port: int, ca: str | None
) -> list[str]:
    n = round(sc.n * v.share)
    opts = [
        *("--peer", v.peer, "--options", json.dumps(v.options), "--mode", sc.mode),
        *("--n", str(max(n, 1)), "--concurrency", str(sc.concurrency), "--port", str(port)),
        *("--warmup", str(sc.warmup), "--time-limit", str(sc.time_limit)),
        *("--cpu", str(args.client_cpu)),
    ]
    if ca is not None:
        opts += ["--tls-ca", ca]
    if sc.timeline:
        opts.append("--timeline")
    return opts


def _describe(r: dict[str, Any]) -> str:
    if "unsupported" in r:
        return f"{r['variant']:>18}: n/a ({r['unsupported']})"
    s = r["server"]
    text = (
        f"{r['variant']:>18} [{r['server_name']}] n={r['n']} {r['wall_s']:6.2f}s "
        f"ok={r['ok']} failed={r['failed']} requests={s['requests']} 429={s['throttled']} "
        f"conns={s['connections']} cpu={r['cpu_us_per_req']:.0f}us/req"
    )
    if "latency_ms" in r:
        lat = r["latency_ms"]
        text += f" p50={lat['50']:.0f}ms p99={lat['99']:.0f}ms p999={lat['99.9']:.0f}ms"
    return text


def _run_scenario(
    args: argparse.Namespace, sc: Scenario, ca: str | None, tls: list[str], log: Log
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    unsupported: set[str] = set()
    servers = {
        name: Server(args.server_cpu, "benchmarks.scenario_server", extra + (tls if sc.tls else []))
        for name, extra in sc.servers.items()
    }
    for server in servers.values():
        server.__enter__()
    try:
        rounds = sc.rounds or args.rounds
        for round_no in range(1, rounds + 1):
            for v in sc.variants:
                if v.key in unsupported:
                    continue
                for name, server in servers.items():
                    opts = _client_args(args, sc, v, server.port, ca if sc.tls else None)
                    r = run_module("benchmarks.scenario_client", opts, sc.time_limit + 120)
                    r |= {
                        "scenario": sc.name,
                        "variant": v.key,
                        "server_name": name,
                        "round": round_no,
                    }
                    rows.append(r)
                    log(f"[{sc.name} {round_no}/{rounds}] {_describe(r)}")
                    if "unsupported" in r:
                        unsupported.add(v.key)
                        break
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)
    return rows


def _guard(args: argparse.Namespace, log: Log) -> list[dict[str, Any]]:
    """CPU per request on the fast loopback server (the CPU suite's guard) and uvloop's gain."""
    cfg = argparse.Namespace(warmup=300, client_cpu=args.client_cpu, timeout=600.0)
    runs = (
        ("aiohttp_raw", ()),
        ("tavus_get_many", ()),
        ("tavus_iter_many", ()),
        ("tavus_get_many", ("--uvloop",)),
    )
    rows = []
    with Server(args.server_cpu) as server:
        for round_no in range(1, args.rounds + 1):
            for impl, extra in runs:
                r = run_client(cfg, server.port, impl, args.guard_n, 64, *extra)
                r["round"] = round_no
                rows.append(r)
                log(
                    f"[guard {round_no}/{args.rounds}] {impl}{' uvloop' if extra else ''}: "
                    f"{r['personas_per_s']:,.0f}/s {r['cpu_us_per_req']:.1f} us/req"
                )
    return rows


def _make_ca(folder: Path) -> tuple[str, list[str]]:
    """A throwaway CA (trustme) and a 127.0.0.1 certificate: (CA path, server options)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_path, chain, key = folder / "ca.pem", folder / "chain.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return str(ca_path), ["--tls-cert", str(chain), "--tls-key", str(key)]


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks [production]",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small sizes, 1 round (smoke test)")
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="where benchmarks.md goes")
    p.add_argument("--json", type=Path, help="also write the raw measurements here")
    p.add_argument("--from-json", type=Path, help="measure nothing: re-render from --json output")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    p.add_argument("--rate", type=float, default=200.0, help="the rate-limit server's R/s")
    p.add_argument("--latency-n", type=int, default=4000)
    p.add_argument("--ratelimit-n", type=int, default=3000, help="issue 15's size")
    p.add_argument("--faults-n", type=int, default=10000, help="issue 15's size")
    p.add_argument(
        "--faults-rounds",
        type=int,
        default=5,
        help="rounds of the faults scenario (at least --rounds): its ratio of two CPU-bound "
        "runs moves by ±15%% from process to process",
    )
    p.add_argument("--tail-n", type=int, default=3000, help="get() calls in the tail scenario")
    p.add_argument("--tls-n", type=int, default=5000)
    p.add_argument("--guard-n", type=int, default=10_000)
    p.add_argument("--only", default="", help="comma-separated scenarios (and/or 'guard')")
    p.add_argument("--client-cpu", type=int, default=0, help="-1: no pinning")
    p.add_argument("--server-cpu", type=int, default=1, help="-1: no pinning")
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with `--quick` changing the defaults (explicit options still win)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if "--quick" in argv:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    args.argv = argv
    args.only = [x for x in args.only.split(",") if x]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios, write the report section and the plot, print the targets."""
    from benchmarks.production_report import targets, targets_text, write

    args = parse_args(argv)
    # SIGTERM unwinds like an exception, so the servers this run started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.from_json is not None:
        stored = json.loads(args.from_json.read_text())
        write(stored, args.out)
        print(targets_text(targets(stored)))
        return 0
    started = time.perf_counter()
    shown = " ".join(["python -m benchmarks production", *args.argv])
    results: dict[str, Any] = {
        "command": shown,
        "machine": facts(ROOT),
        "config": {k: v for k, v in vars(args).items() if k in QUICK or k in ("rate",)},
        "scenarios": {},
    }
    meter = LoadMeter()
    with tempfile.TemporaryDirectory() as tmp:
        ca, tls = _make_ca(Path(tmp))
        for sc in scenarios(args):
            if not args.only or sc.name in args.only:
                results["scenarios"][sc.name] = _run_scenario(args, sc, ca, tls, _log)
    if not args.only or "guard" in args.only:
        results["guard"] = _guard(args, _log)
    results["load"] = meter.finish(0.0)
    results["elapsed_s"] = time.perf_counter() - started
    if args.json is not None:
        args.json.write_text(json.dumps(results) + "\n")
    write(results, args.out)
    print(targets_text(targets(results)))
    _log(f"took {results['elapsed_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The loopback CPU suite behind `python -m benchmarks cpu`.

Starts the loopback server (pinned to CPU 1), then runs every measurement in a fresh client
process (pinned to CPU 0), interleaving the clients round by round (A B C D, A B C D, ...),
and writes the medians into the `cpu` section of `<out>/benchmarks.md` (`benchmarks.page`)
with a plot in `<out>/img/`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from benchmarks.impls import BULK_IMPLS, SINGLE_IMPLS
from benchmarks.machine import LoadMeter, facts
from benchmarks.procstats import server_stats

__all__ = ["QUICK", "ROOT", "Server", "main", "parse_args", "run_client", "run_module"]

ROOT: Final = Path(__file__).resolve().parent.parent
#: `--quick`: tiny sizes, for the smoke test and for trying changes out.
QUICK: Final[dict[str, Any]] = {
    "requests": 200,
    "slow_requests": 200,
    "rounds": 1,
    "concurrency": "16,64",
    "single_requests": 200,
    "scaling": "1000,2000",
    "retained_n": 500,
    "decode_iterations": 400,
    "decode_repeats": 1,
    "decode_keep": 100,
    "warmup": 50,
}
PHASES: Final = ("bulk", "single", "scaling", "retained", "decode")

Log = Callable[[str], None]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Server:
    """A benchmark server as a child process; a context manager that stops it on exit.

    `module` is `benchmarks.server` (the fast server) or `benchmarks.scenario_server`, with
    `extra` options.
    """

    def __init__(
        self, cpu: int, module: str = "benchmarks.server", extra: Sequence[str] = ()
    ) -> None:
        self._cpu = cpu
        self._module = module
        self._extra = list(extra)
        self._proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    @property
    def port(self) -> int:
        """The port it listens on (127.0.0.1)."""
        return int(self.info["port"])

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", self._module, "--port", "0", "--cpu", str(self._cpu)]
        cmd += self._extra
        self._proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._stop()
            raise RuntimeError("the benchmark server did not start")
        self.info = json.loads(line)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def cpu_seconds(self) -> float:
        """The server's CPU time so far."""
        return server_stats(self.port)[0]


def run_module(module: str, args: Sequence[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed ({proc.returncode}):\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{' '.join(cmd[1:])} printed nothing:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_client(
    args: argparse.Namespace, port: int, impl: str, n: int, concurrency: int, *extra: str
) -> dict[str, Any]:
    """One measurement in a fresh `benchmarks.client` process; fails on any request error."""
    opts = [
        *("--impl", impl, "--n", str(n), "--concurrency", str(concurrency)),
        *("--port", str(port), "--warmup", str(args.warmup), "--cpu", str(args.client_cpu)),
        *extra,
    ]
    result = run_module("benchmarks.client", opts, args.timeout)
    if result["errors"] or result["ok"] != n:
        raise RuntimeError(f"{impl}: {result['errors']} errors, {result['ok']} of {n} ok")
    return result


def _describe(r: dict[str, Any]) -> str:
    return (
        f"{r['impl']:>16} c={r['concurrency']:<4} n={r['n']:<8} "
        f"{r['personas_per_s']:9.0f}/s {r['cpu_us_per_req']:7.1f} us/req "
        f"peak {r['peak_rss_mib']:6.1f} MiB"
    )


def _bulk_phase(args: argparse.Namespace, port: int, log: Log) -> list[dict[str, Any]]:
    rows = []
    for round_no in range(1, args.rounds + 1):
        for concurrency in args.concurrency:
            for impl in args.impls:
                n = args.slow_requests if impl == "httpx_pydantic" else args.requests
                r = run_client(args, port, impl, n, concurrency)
                r["round"] = round_no
                rows.append(r)
                log(f"[bulk {round_no}/{args.rounds}] {_describe(r)}")
    return rows


def _single_phase(args: argparse.Namespace, port: int, log: Log) -> list[dict[str, Any]]:
    rows = []
    for round_no in range(1, args.rounds + 1):
        for impl in SINGLE_IMPLS:
            r = run_client(args, port, impl, args.single_requests, 1)
            r["round"] = round_no
            rows.append(r)
            log(f"[single {round_no}/{args.rounds}] {_describe(r)} p50 {r['lat_p50_us']:.0f} us")
    return rows


def _scaling_phase(args: argparse.Namespace, port: int, log: Log) -> list[dict[str, Any]]:
    rows = []
    for n in args.scaling:
        if args.scaling_max is not None and n > args.scaling_max:
            continue
        r = run_client(args, port, "tavus_iter_many", n, args.scaling_concurrency, "--lazy-ids")
        rows.append(r)
        log(f"[scaling] {_describe(r)}")
    return rows


def _retained_phase(args: argparse.Namespace, port: int, log: Log) -> dict[str, Any]:
    n, c = args.retained_n, args.scaling_concurrency
    rss = run_client(args, port, "tavus_get_many", n, c, "--retained")
    log(f"[retained] {_describe(rss)}: {rss['retained_rss_bytes_per_persona']:.0f} B/persona")
    # tracemalloc slows every allocation down; bytes per persona need no 100k of them.
    traced = run_client(args, port, "tavus_get_many", min(n, 20_000), c, "--tracemalloc")
    log(f"[retained] tracemalloc: {traced['tracemalloc_bytes_per_persona']:.0f} B/persona")
    return {"rss": rss, "tracemalloc": traced}


def _decode_phase(args: argparse.Namespace, log: Log) -> dict[str, Any]:
    opts = [
        *("--iterations", str(args.decode_iterations), "--repeats", str(args.decode_repeats)),
        *("--keep", str(args.decode_keep), "--cpu", str(args.client_cpu)),
    ]
    result = run_module("benchmarks.decode_bench", opts, args.timeout)
    log(f"[decode] {json.dumps(result['us_per_decode'])}")
    return result


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks cpu", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="where benchmarks.md goes")
    p.add_argument("--json", type=Path, help="also write the raw measurements here")
    p.add_argument(
        "--from-json", type=Path, help="measure nothing: re-render the report from --json output"
    )
    p.add_argument("--requests", type=int, default=20_000, help="distinct ids per measurement")
    p.add_argument(
        "--slow-requests", type=int, default=2_000, help="ids per httpx+pydantic measurement"
    )
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    p.add_argument("--concurrency", default="16,64,256", help="comma-separated")
    p.add_argument("--impls", default=",".join(BULK_IMPLS), help="bulk clients to run")
    p.add_argument("--single-requests", type=int, default=5_000, help="sequential gets")
    p.add_argument("--scaling", default="1000,10000,100000,1000000", help="iter_many sizes")
    p.add_argument("--scaling-max", type=int, help="skip scaling sizes above this")
    p.add_argument("--scaling-concurrency", type=int, default=64)
    p.add_argument("--retained-n", type=int, default=100_000, help="get_many size for memory")
    p.add_argument("--decode-iterations", type=int, default=20_000)
    p.add_argument("--decode-repeats", type=int, default=5)
    p.add_argument("--decode-keep", type=int, default=2_000)
    p.add_argument("--warmup", type=int, default=300, help="warm-up requests per process")
    p.add_argument("--phases", default=",".join(PHASES), help="which parts to run")
    p.add_argument("--client-cpu", type=int, default=0, help="-1: no pinning")
    p.add_argument("--server-cpu", type=int, default=1, help="-1: no pinning")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per subprocess")
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with `--quick` changing the defaults (explicit options still win)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if "--quick" in argv:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    args.argv = argv
    args.concurrency = _ints(args.concurrency)
    args.scaling = _ints(args.scaling)
    args.impls = [x for x in args.impls.split(",") if x]
    args.phases = [x for x in args.phases.split(",") if x]
    unknown = [x for x in args.impls if x not in BULK_IMPLS] + [
        x for x in args.phases if x not in PHASES
    ]
    if unknown:
        parser.error(f"unknown impl or phase: {', '.join(unknown)}")
    return args


def _command(argv: Sequence[str]) -> str:
    exe = Path(sys.executable)
    shown = str(exe.relative_to(ROOT)) if exe.is_relative_to(ROOT) else "python"
    return " ".join([shown, "-m", "benchmarks", "cpu", *argv])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite and write the report."""
    args = parse_args(argv)
    if args.from_json is not None:
        _write(json.loads(args.from_json.read_text()), args.out)
        return 0
    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": _command(args.argv),
        "machine": facts(ROOT),
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("argv", "out", "json", "from_json")
        },
    }
    with Server(args.server_cpu) as server:
        results["server"] = server.info
        meter = LoadMeter()
        if "bulk" in args.phases:
            results["bulk"] = _bulk_phase(args, server.port, _log)
        if "single" in args.phases:
            results["single"] = _single_phase(args, server.port, _log)
        if "scaling" in args.phases:
            results["scaling"] = _scaling_phase(args, server.port, _log)
        if "retained" in args.phases:
            results["retained"] = _retained_phase(args, server.port, _log)
        results["load"] = meter.finish(server.cpu_seconds())
    if "decode" in args.phases:
        results["decode"] = _decode_phase(args, _log)
    results["elapsed_s"] = time.perf_counter() - started
    _write(results, args.out)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _write(results: dict[str, Any], out: Path) -> None:
    """Write `<out>/benchmarks.md` and its plot."""
    from benchmarks.page import demote_headings, write_section
    from benchmarks.plot import plot_throughput
    from benchmarks.report import render

    image = out / "img" / "benchmarks-throughput.png"
    plotted = plot_throughput(results, image)
    report = render(results, image.relative_to(out).as_posix() if plotted else None)
    write_section(out / "benchmarks.md", "cpu", demote_headings(report))
    _log(f"wrote {out / 'benchmarks.md'} ({results['elapsed_s']:.0f} s of measurements)")


if __name__ == "__main__":
    sys.exit(main())

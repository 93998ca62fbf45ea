"""Smoke test of the benchmark runner: tiny sizes, in a subprocess, output well-formed.

Benchmarks are not tests: nothing here checks a timing, only that `python -m benchmarks`
still runs end to end and writes a report, a plot and raw JSON (to a tmp dir, not docs/).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(60)
def test_runner_quick_writes_a_well_formed_report(tmp_path: Path) -> None:
    out, raw = tmp_path / "docs", tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--json", str(raw)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=55,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    results = json.loads(raw.read_text())
    impls = {(r["impl"], r["concurrency"]) for r in results["bulk"]}
    expected = {"aiohttp_raw", "aiohttp_json", "httpx_pydantic", "tavus_get_many"}
    assert {impl for impl, _ in impls} >= expected | {"tavus_iter_many"}
    for row in results["bulk"] + results["single"] + results["scaling"]:
        assert row["errors"] == 0
        assert row["ok"] == row["n"] > 0
        assert row["personas_per_s"] > 0
        assert row["cpu_us_per_req"] > 0
        assert row["peak_rss_mib"] > 0
    assert {r["impl"] for r in results["single"]} == {
        "aiohttp_single",
        "tavus_get",
        "tavus_get_uncoalesced",
    }
    assert all(r["lat_p99_us"] >= r["lat_p50_us"] > 0 for r in results["single"])
    assert results["retained"]["rss"]["retained_rss_bytes_per_persona"] is not None
    assert set(results["decode"]["us_per_decode"]) >= {"tavus_decode_persona", "json_loads"}

    report = (out / "benchmarks.md").read_text()
    for heading in (
        "# Benchmarks",
        "## Machine",
        "## Targets",
        "## Bulk fetch",
        "## One request at a time",
        "## Scaling",
        "## Retained memory",
        "## Decode micro-benchmark",
        "## Server capacity",
    ):
        assert heading in report
    assert "--quick" in report  # the exact command is recorded
    assert "| tavus-async get_many |" in report
    image = out / "img" / "benchmarks-throughput.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "(img/benchmarks-throughput.png)" in report

"""Smoke tests of the benchmark runners: tiny sizes, in a subprocess, output well-formed.

Benchmarks are not tests: nothing here checks a timing, only that `python -m benchmarks`
(the production scenarios) and `python -m benchmarks cpu` (the loopback CPU suite) still run
end to end and write their report sections, plots and raw JSON (to a tmp dir, not docs/).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.page import demote_headings, write_section

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ("# Title\n## Sub\ntext #1\n", "## Title\n### Sub\ntext #1\n"),
        ("```bash\n# a comment\n```\n# Real\n", "```bash\n# a comment\n```\n## Real\n"),
        ("#no-space\n###### six\n", "#no-space\n###### six\n"),
    ],
)
def test_demote_headings(before: str, expected: str) -> None:
    assert demote_headings(before) == expected


def test_write_section_keeps_the_other_section_and_the_order(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "benchmarks.md"
    write_section(page, "cpu", "cpu v1")
    write_section(page, "production", "prod v1")
    write_section(page, "production", "prod v2")
    text = page.read_text()
    assert "prod v1" not in text
    assert text.index("prod v2") < text.index("cpu v1")
    write_section(page, "cpu", "cpu v2")
    assert "cpu v1" not in page.read_text()
    assert "prod v2" in page.read_text()


@pytest.mark.timeout(300)
def test_production_quick_runs_every_scenario(tmp_path: Path) -> None:
    out, raw = tmp_path / "docs", tmp_path / "results.json"
    write_section(out / "benchmarks.md", "cpu", "## Loopback CPU suite\nkept as it was")
    proc = _run("production", "--quick", "--out", str(out), "--json", str(raw), timeout=290)

    results = json.loads(raw.read_text())
    scenarios = results["scenarios"]
    assert set(scenarios) == {"latency", "ratelimit", "faults", "tail", "tls"}
    variants = {name: {r["variant"] for r in rows} for name, rows in scenarios.items()}
    assert variants["ratelimit"] == {"tavus", "tavus_rate_limit", "handwritten", "openai_style"}
    assert variants["tail"] == {"tavus", "tavus_hedged", "handwritten", "openai_style"}
    assert variants["tls"] == {"aiohttp_raw", "tavus"}
    assert {r["server_name"] for r in scenarios["faults"]} == {"clean", "faulty"}
    for name, rows in scenarios.items():
        for r in rows:
            if "unsupported" in r:  # an option the SDK does not have yet: hedge_after
                assert r["variant"] == "tavus_hedged", r
                continue
            assert r["ok"] + r["failed"] == r["n"] > 0, (name, r)
            assert r["server"]["requests"] >= r["ok"]
            assert 0 < r["server"]["connections"] <= r["server"]["requests"]
            if name == "tail":
                assert r["latency_ms"]["99"] >= r["latency_ms"]["50"] > 0
    for r in scenarios["ratelimit"]:
        assert r["server"]["timeline"], r["variant"]
        if not r["timed_out"]:  # one completion recorded per id
            assert len(r["completed_at"]) == r["n"]
    faulty = [r for r in scenarios["faults"] if r["server_name"] == "faulty"]
    assert sum(r["server"]["errors"] + r["server"]["resets"] for r in faulty) > 0
    guard = {(r["impl"], r["uvloop"]) for r in results["guard"]}
    assert guard == {
        ("aiohttp_raw", False),
        ("tavus_get_many", False),
        ("tavus_iter_many", False),
        ("tavus_get_many", True),
    }

    assert "| Target (issue 15) | Measured | Verdict |" in proc.stdout
    for target in ("Rate limit, no config", "`rate_limit=R`", "Faults", "Tail", "Latency", "TLS"):
        assert target in proc.stdout
    report = (out / "benchmarks.md").read_text()
    assert report.index("# Benchmarks") < report.index("## Loopback CPU suite\nkept as it was")
    for heading in ("## Targets", "## Rate limit", "## Faults", "## Tail", "## Latency"):
        assert heading in report
    assert "--quick" in report  # the exact command is recorded
    assert "(img/benchmarks-ratelimit.png)" in report
    assert (out / "img" / "benchmarks-ratelimit.png").read_bytes()[:8] == PNG


@pytest.mark.timeout(90)
def test_cpu_suite_quick_writes_a_well_formed_section(tmp_path: Path) -> None:
    out, raw = tmp_path / "docs", tmp_path / "results.json"
    _run("cpu", "--quick", "--out", str(out), "--json", str(raw), timeout=85)

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
    assert report.startswith("<!-- cpu:begin -->\n## Loopback CPU suite")
    for heading in (
        "### Machine",
        "### Targets (CPU)",
        "### Bulk fetch",
        "### One request at a time",
        "### Scaling",
        "### Retained memory",
        "### Decode micro-benchmark",
        "### Server capacity",
    ):
        assert heading in report
    assert "cpu --quick" in report  # the exact command is recorded
    assert "| tavus-async get_many |" in report
    image = out / "img" / "benchmarks-throughput.png"
    assert image.read_bytes()[:8] == PNG
    assert "(img/benchmarks-throughput.png)" in report

"""The `tavus-async` command line, run as a real subprocess against a FakeTavus.

The fake runs in the test's event loop, so the CLI is started with
`asyncio.create_subprocess_exec` (the loop keeps serving while the CLI runs).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import tavus_async
from tavus_async import AsyncTavus, Persona
from tavus_async.cli import run_on_fastest_loop
from tavus_async.testing import FakeTavus, Fault, persona_id_for, stock_persona_ids

KEY = "sk-cli-test-key"
MISSING = "pmissing0000"
CONSOLE_SCRIPT = Path(sys.executable).with_name("tavus-async")
CLI: tuple[str, ...] = (
    (str(CONSOLE_SCRIPT),) if CONSOLE_SCRIPT.exists() else (sys.executable, "-m", "tavus_async")
)
MODULE: tuple[str, ...] = (sys.executable, "-m", "tavus_async")
# tqdm's bar output: a percentage/rate line drawn with carriage returns.
TQDM_MARKS = re.compile(r"\r|\d+%\||personas/s|PALs/s|it/s")


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=40) as fake:
        yield fake


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any TAVUS_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAVUS_")}
    env.update(extra)
    return env


def server_env(server: FakeTavus) -> dict[str, str]:
    return clean_env(TAVUS_API_KEY=KEY, TAVUS_BASE_URL=server.base_url)


async def run(
    *args: str,
    env: Mapping[str, str],
    stdin: bytes | None = None,
    command: tuple[str, ...] = CLI,
    limit: float = 30.0,
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *command,
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), limit)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def ndjson(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    assert all(line.strip() for line in lines), lines
    docs = [json.loads(line) for line in lines]
    assert all(isinstance(doc, dict) for doc in docs)
    return docs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------- personas get


async def test_get_prints_ndjson_full_personas(server: FakeTavus) -> None:
    ids = server.persona_ids[:3]
    code, out, err = await run("personas", "get", *ids, env=server_env(server))
    assert code == 0, err
    assert err == ""
    docs = ndjson(out)
    assert sorted(d["persona_id"] for d in docs) == sorted(ids)
    for doc in docs:
        assert doc == server.persona_json(doc["persona_id"])
    assert server.request_count == 3
    assert all(r.headers["x-api-key"] == KEY for r in server.requests)


async def test_get_via_python_dash_m(server: FakeTavus) -> None:
    pid = server.persona_ids[5]
    code, out, err = await run("personas", "get", pid, env=server_env(server), command=MODULE)
    assert code == 0, err
    assert ndjson(out) == [server.persona_json(pid)]


async def test_unknown_id_reported_on_stderr_good_results_still_printed(
    server: FakeTavus,
) -> None:
    a, b = server.persona_ids[:2]
    code, out, err = await run("personas", "get", a, MISSING, b, env=server_env(server))
    assert code == 1
    assert sorted(d["persona_id"] for d in ndjson(out)) == sorted([a, b])
    error_lines = err.strip().splitlines()
    assert len(error_lines) == 1, err
    assert MISSING in error_lines[0]
    assert "NotFoundError" in error_lines[0] or "InvalidIdError" in error_lines[0]
    assert "Traceback" not in err
    assert KEY not in err


async def test_invalid_id_reported_without_io(server: FakeTavus) -> None:
    a = server.persona_ids[0]
    code, out, err = await run("personas", "get", a, "../admin", env=server_env(server))
    assert code == 1
    assert [d["persona_id"] for d in ndjson(out)] == [a]
    assert "../admin" in err
    assert "Traceback" not in err
    assert server.request_count == 1


@pytest.mark.parametrize("fmt", ["json", "table"])
async def test_unknown_id_in_other_formats(server: FakeTavus, fmt: str) -> None:
    a, b = server.persona_ids[:2]
    code, out, err = await run(
        "personas", "get", "--format", fmt, a, MISSING, b, env=server_env(server)
    )
    assert code == 1
    assert MISSING in err and "Traceback" not in err
    assert a in out and b in out
    assert MISSING not in out


@pytest.mark.parametrize("fmt", ["json", "table"])
async def test_invalid_id_in_other_formats_is_reported_per_id(server: FakeTavus, fmt: str) -> None:
    """Same contract as NDJSON: the bad id's error on stderr, the good personas on stdout.

    (The json/table path hands every id to `get_many`, which rejects the whole batch
    before any I/O when one id is invalid, so nothing is printed.)
    """
    a, b = server.persona_ids[:2]
    code, out, err = await run(
        "personas", "get", "--format", fmt, a, "../admin", b, env=server_env(server)
    )
    assert code == 1
    assert "../admin" in err and "Traceback" not in err
    assert a in out and b in out


async def test_closed_stdout_pipe_exits_quietly(server: FakeTavus) -> None:
    """`tavus-async personas get ... | head -1`: a closed pipe must not print a traceback."""
    ids = server.persona_ids[:40]  # ~130 KB of NDJSON: more than a pipe buffer holds
    read_end, write_end = os.pipe()
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "personas",
        "get",
        *ids,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=write_end,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(server),
    )
    os.close(write_end)
    try:
        first = await asyncio.to_thread(os.read, read_end, 100)
    finally:
        os.close(read_end)
    try:
        _out, err_bytes = await asyncio.wait_for(proc.communicate(), 30)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    assert first.startswith(b'{"persona_id"')
    err = err_bytes.decode()
    assert "Traceback" not in err, err
    assert "BrokenPipeError" not in err, err


async def test_ids_from_stdin_skip_blank_lines(server: FakeTavus) -> None:
    ids = server.persona_ids[:4]
    stdin = f"{ids[0]}\n\n{ids[1]}\n   \n  {ids[2]}  \n{ids[3]}".encode()
    code, out, err = await run("personas", "get", "-", env=server_env(server), stdin=stdin)
    assert code == 0, err
    assert sorted(d["persona_id"] for d in ndjson(out)) == sorted(ids)
    assert server.request_count == 4


async def test_empty_stdin_is_a_successful_no_op(server: FakeTavus) -> None:
    code, out, err = await run("personas", "get", "-", env=server_env(server), stdin=b"\n\n")
    assert (code, out, err) == (0, "", "")
    assert server.request_count == 0


async def test_stdin_with_json_format(server: FakeTavus) -> None:
    ids = server.persona_ids[:3]
    stdin = ("\n".join(ids) + "\n").encode()
    code, out, err = await run(
        "personas", "get", "-", "--format", "json", env=server_env(server), stdin=stdin
    )
    assert code == 0, err
    assert json.loads(out) == [server.persona_json(pid) for pid in ids]


async def test_format_json_is_an_array_in_input_order(server: FakeTavus) -> None:
    ids = [server.persona_ids[3], server.persona_ids[0], server.persona_ids[7]]
    # Make the first id the slowest so completion order differs from input order.
    server.enqueue(Fault.delay_then(0.05), persona_id=ids[0])
    code, out, err = await run("personas", "get", "--format", "json", *ids, env=server_env(server))
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, list)
    assert data == [server.persona_json(pid) for pid in ids]


async def test_format_table_has_header_and_one_row_per_persona(server: FakeTavus) -> None:
    ids = server.persona_ids[:4]
    code, out, err = await run("personas", "get", "--format", "table", *ids, env=server_env(server))
    assert code == 0, err
    lines = out.rstrip("\n").splitlines()
    assert len(lines) == 1 + len(ids)
    header = lines[0].split()
    assert header[0] == "persona_id"
    assert "persona_name" in header
    for line, pid in zip(lines[1:], ids, strict=True):
        assert line.split()[0] == pid
        name = server.persona_json(pid)["persona_name"]
        assert name[:40] in line


async def test_concurrency_flag_caps_in_flight_requests(server: FakeTavus) -> None:
    ids = server.persona_ids[:8]
    server.enqueue(*[Fault.delay_then(0.05)] * len(ids))
    code, _out, err = await run(
        "personas", "get", "--concurrency", "3", *ids, env=server_env(server)
    )
    assert code == 0, err
    assert server.max_in_flight == 3


@pytest.mark.parametrize("value", ["0", "-2", "x"])
async def test_bad_concurrency_is_a_usage_error(server: FakeTavus, value: str) -> None:
    code, _out, err = await run(
        "personas", "get", "--concurrency", value, server.persona_ids[0], env=server_env(server)
    )
    assert code == 2
    assert "concurrency" in err
    assert server.request_count == 0


async def test_no_progress_bar_when_stderr_is_not_a_terminal(server: FakeTavus) -> None:
    ids = server.persona_ids[:30]
    for fmt in ("ndjson", "json"):
        code, _out, err = await run(
            "personas", "get", "--format", fmt, *ids, env=server_env(server)
        )
        assert code == 0
        assert err == ""
        assert not TQDM_MARKS.search(err)


async def test_api_key_and_base_url_flags(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    code, out, err = await run(
        "personas",
        "get",
        pid,
        "--api-key",
        KEY,
        "--base-url",
        server.base_url,
        env=clean_env(),
    )
    assert code == 0, err
    assert ndjson(out) == [server.persona_json(pid)]


async def test_flags_override_environment(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    env = clean_env(TAVUS_API_KEY="wrong-key", TAVUS_BASE_URL="http://127.0.0.1:9")
    code, out, err = await run(
        "personas", "get", pid, "--api-key", KEY, "--base-url", server.base_url, env=env
    )
    assert code == 0, err
    assert ndjson(out) == [server.persona_json(pid)]


async def test_wrong_api_key_is_reported_once(server: FakeTavus) -> None:
    ids = server.persona_ids[:3]
    env = clean_env(TAVUS_API_KEY="wrong-key", TAVUS_BASE_URL=server.base_url)
    code, out, err = await run("personas", "get", *ids, "--concurrency", "1", env=env)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "error: the API key was refused (AuthenticationError: Error code: 401 - Invalid "
        "access token): the remaining ids are skipped. Check --api-key or $TAVUS_API_KEY."
    ]
    assert "wrong-key" not in err


async def test_missing_api_key_tells_how_to_set_it(server: FakeTavus) -> None:
    code, out, err = await run(
        "personas", "get", server.persona_ids[0], env=clean_env(TAVUS_BASE_URL=server.base_url)
    )
    assert code == 1
    assert out == ""
    assert "TAVUS_API_KEY" in err
    assert "Traceback" not in err
    assert server.request_count == 0


async def test_version() -> None:
    code, out, err = await run("--version", env=clean_env())
    assert code == 0, err
    assert out.strip() == f"tavus-async {tavus_async.__version__}"


async def test_no_command_is_a_usage_error() -> None:
    code, _out, err = await run(env=clean_env())
    assert code == 2
    assert "usage" in err.lower()


# -------------------------------------------------------------- mock-server

# Run the CLI with Python's default SIGINT handler even when the test runner was started
# with SIGINT ignored (as background jobs are), so Ctrl-C can be simulated.
_WITH_SIGINT = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from tavus_async.cli import main; sys.exit(main())"
)


async def _start_mock_server(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WITH_SIGINT,
        "mock-server",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdout is not None
    try:
        banner = [(await asyncio.wait_for(proc.stdout.readline(), 15)).decode() for _ in range(4)]
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc, banner


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), 15)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_mock_server_serves_personas_and_stops_cleanly() -> None:
    port = free_port()
    proc, banner = await _start_mock_server(
        "--port", str(port), "--api-key", KEY, "--personas", "25"
    )
    try:
        match = re.search(r"listening on (http://\S+)", banner[0])
        assert match, banner
        base_url = match.group(1)
        assert base_url == f"http://127.0.0.1:{port}"
        async with AsyncTavus(api_key=KEY, base_url=base_url) as client:
            persona = await client.personas.get(persona_id_for(0))
            assert isinstance(persona, Persona)
            assert persona.persona_id == persona_id_for(0)
            last = await client.personas.get(persona_id_for(24))
            assert last.persona_id == persona_id_for(24)
    finally:
        code, err = await _stop(proc)
    assert code == 130  # Ctrl-C: shut down, exit code 128 + SIGINT
    assert "Traceback" not in err


async def test_mock_server_banner_names_ids_it_serves() -> None:
    """Every persona id the banner shows as an example is one the server actually serves."""
    proc, banner = await _start_mock_server("--port", str(free_port()), "--personas", "10")
    try:
        base_url = banner[0].split("listening on", 1)[1].strip()
        shown = re.findall(r"\bp[0-9a-f]{11}\b", "".join(banner[1:]))
        assert shown, banner
        assert "10 personas" in "".join(banner), banner
        assert set(stock_persona_ids()) <= set(shown), banner  # the ids the docs use
        async with AsyncTavus(api_key="test-key", base_url=base_url) as client:
            results = await client.personas.get_many(shown, return_exceptions=True)
        assert [r.persona_id if isinstance(r, Persona) else r for r in results] == shown
    finally:
        await _stop(proc)


# --------------------------------------------------------------------- demo


async def test_demo_reports_throughput_latency_and_connections() -> None:
    code, out, err = await run("demo", "--count", "300", "--concurrency", "8", env=clean_env())
    assert code == 0, err
    assert not TQDM_MARKS.search(err)
    assert re.search(r"fetched 300/300 personas", out), out
    rate = re.search(r"([\d,.]+)/s", out)
    assert rate and float(rate.group(1).replace(",", "")) > 0, out
    latency = re.search(r"p50 ([\d.]+) ms, p99 ([\d.]+) ms", out)
    assert latency, out
    p50, p99 = float(latency.group(1)), float(latency.group(2))
    assert 0 < p50 <= p99
    used = re.search(r"TCP connections used: (\d+)", out)
    assert used, out
    assert 1 <= int(used.group(1)) <= 8


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_cli_runs_on_uvloop_when_installed() -> None:
    assert run_on_fastest_loop(_loop_module()).startswith("uvloop")
    # The library set no global policy on the way.
    assert not type(asyncio.get_event_loop_policy()).__module__.startswith("uvloop")


def test_cli_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails as when not installed
    assert run_on_fastest_loop(_loop_module()).startswith("asyncio")

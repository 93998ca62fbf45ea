"""Logging: one DEBUG line per attempt, retries at INFO, `TAVUS_LOG=debug|info` to stderr
(checked in a subprocess), and no secret in any record, its arguments included."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tavus_async import APIConnectionError, AsyncTavus, InternalServerError, RetryPolicy, patch
from tavus_async._logging import level_for, log_from_env
from tavus_async.testing import FakeTavus, Fault

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-logging-test-DISTINCT-key-77"
LLM_KEY = "sk-llm-logging-credential-5Rt"
HEADER_VALUE = "Bearer header-credential-9Kd"
INSTANT = RetryPolicy(initial_backoff=0.0, max_backoff=0.0, jitter=False)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=10) as fake:
        yield fake


@pytest.fixture
def restored_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tavus_async")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


# ------------------------------------------------------------------- TAVUS_LOG


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (None, None),
        ("", None),
        ("debug", logging.DEBUG),
        (" DEBUG ", logging.DEBUG),
        ("info", logging.INFO),
        ("Info", logging.INFO),
        ("warning", None),
        ("verbose", None),
        ("10", None),
    ],
)
def test_level_for(value: str | None, level: int | None) -> None:
    assert level_for(value) == level


def test_log_from_env_adds_one_handler_however_often_it_runs(
    restored_logger: logging.Logger,
) -> None:
    restored_logger.handlers.clear()
    restored_logger.propagate = False  # no handler above it either: nothing shows a record
    root = logging.getLogger()
    root_state = (list(root.handlers), root.level)
    log_from_env({"TAVUS_LOG": "debug"})
    log_from_env({"TAVUS_LOG": "debug"})
    assert len(restored_logger.handlers) == 1
    assert restored_logger.level == logging.DEBUG
    log_from_env({"TAVUS_LOG": "info"})
    log_from_env({})  # unset: left as it is
    assert len(restored_logger.handlers) == 1
    assert restored_logger.level == logging.INFO
    assert (list(root.handlers), root.level) == root_state


def test_log_from_env_adds_no_handler_where_the_application_has_one(
    restored_logger: logging.Logger,
) -> None:
    restored_logger.handlers.clear()
    restored_logger.propagate = False
    own = logging.NullHandler()
    restored_logger.addHandler(own)
    log_from_env({"TAVUS_LOG": "debug"})
    assert restored_logger.handlers == [own]
    assert restored_logger.level == logging.DEBUG


_SCRIPT = """
import asyncio, logging
from tavus_async import APIConnectionError, AsyncTavus, RetryPolicy
from tavus_async.testing import FakeTavus, Fault

KEY = {key!r}
{configure}

async def main():
    async with FakeTavus(api_key=KEY, num_personas=3) as server:
        server.enqueue(Fault.http(503))
        policy = RetryPolicy(initial_backoff=0, max_backoff=0, jitter=False)
        first = AsyncTavus(api_key=KEY, base_url=server.base_url, retry=policy)
        second = AsyncTavus(api_key=KEY, base_url=server.base_url)
        async with first, second:
            await first.personas.get(server.persona_ids[0])
        print(server.persona_ids[0])
    root = logging.getLogger()
    print(root.level, len(root.handlers))

asyncio.run(main())
"""


def run_with(tavus_log: str | None, configure: str = "") -> tuple[str, list[str], str]:
    """Run the script with `TAVUS_LOG`, after the application's own logging setup
    `configure`; return the persona id, stderr's lines and stdout."""
    env = {k: v for k, v in os.environ.items() if k != "TAVUS_LOG"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if tavus_log is not None:
        env["TAVUS_LOG"] = tavus_log
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(key=KEY, configure=configure)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    persona_id, root_state = done.stdout.splitlines()
    handlers = 1 if configure else 0
    assert root_state == f"{logging.WARNING} {handlers}"  # the root logger untouched
    return persona_id, done.stderr.splitlines(), done.stdout + done.stderr


def test_tavus_log_debug_logs_each_attempt_and_the_retry_to_stderr() -> None:
    persona_id, lines, everything = run_with("debug")
    path = f"/v2/personas/{persona_id}"
    assert len(lines) == 3, lines  # two clients, one handler: no line twice
    first, retry, second = lines
    assert f" DEBUG tavus_async: GET {path} -> 503 in " in first
    assert first.endswith("s (attempt 1)")
    assert f" INFO tavus_async: Retrying GET {path} after status 503 (attempt 1 of 3)" in retry
    assert f" DEBUG tavus_async: GET {path} -> 200 in " in second
    assert second.endswith("s (attempt 2)")
    assert KEY not in everything


def test_tavus_log_after_logging_basic_config_shows_each_line_once() -> None:
    """The application configured the root logger first: the lines go through its handler,
    in its format, each once (a handler of ours as well would show each twice)."""
    configure = 'logging.basicConfig(format="app %(levelname)s %(name)s: %(message)s")'
    persona_id, lines, everything = run_with("debug", configure)
    path = f"/v2/personas/{persona_id}"
    assert len(lines) == 3, lines
    first, retry, second = lines
    assert first.startswith(f"app DEBUG tavus_async: GET {path} -> 503 in ")
    assert retry.startswith(f"app INFO tavus_async: Retrying GET {path} after status 503 ")
    assert second.startswith(f"app DEBUG tavus_async: GET {path} -> 200 in ")
    assert KEY not in everything


def test_tavus_log_info_logs_only_the_retry() -> None:
    persona_id, lines, _ = run_with("INFO")
    assert len(lines) == 1, lines
    assert f"INFO tavus_async: Retrying GET /v2/personas/{persona_id} after status 503" in lines[0]


@pytest.mark.parametrize("value", [None, "", "verbose"])
def test_without_tavus_log_nothing_is_written(value: str | None) -> None:
    _, lines, _ = run_with(value)
    assert lines == []


# ------------------------------------------------------------- record contents


async def test_one_debug_record_per_attempt(
    server: FakeTavus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tavus_async")
    pid = server.persona_ids[0]
    server.enqueue(Fault.http(429, headers={"Retry-After": "0"}))
    async with AsyncTavus(api_key=KEY, base_url=server.base_url, retry=INSTANT) as client:
        await client.personas.get(pid)
        await client.pals.list_page(limit=2)
    records = [r for r in caplog.records if r.name == "tavus_async"]
    assert [r.levelno for r in records] == [logging.DEBUG, logging.INFO] + [logging.DEBUG] * 2
    first, _, second, listing = (r.args for r in records)
    path = f"/v2/personas/{pid}"
    for args, expected in [
        (first, ("GET", path, 429, 1)),
        (second, ("GET", path, 200, 2)),
        (listing, ("GET", "/v2/pals", 200, 1)),
    ]:
        assert isinstance(args, tuple)
        method, logged_path, status, elapsed, attempt = args
        assert (method, logged_path, status, attempt) == expected
        assert isinstance(elapsed, float) and elapsed > 0


async def test_an_attempt_without_an_answer_is_logged_with_its_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tavus_async")
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()  # nothing listens there now: connection refused
    async with AsyncTavus(
        api_key=KEY, base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_retries=0)
    ) as client:
        with pytest.raises(APIConnectionError):
            await client.personas.get("p1")
    (record,) = [r for r in caplog.records if r.name == "tavus_async"]
    assert record.getMessage().startswith("GET /v2/personas/p1 failed: ")
    assert "(attempt 1, " in record.getMessage()


async def test_no_secret_in_any_record(server: FakeTavus, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's included
    layers = {
        "llm": {"model": "m", "api_key": LLM_KEY, "headers": {"Authorization": HEADER_VALUE}},
        "tts": {"tts_engine": "cartesia", "api_key": LLM_KEY},
    }
    echo = {"message": f"key {KEY} refused", "key": KEY}
    async with AsyncTavus(
        api_key=KEY,
        base_url=server.base_url,
        retry=INSTANT,
        event_hooks={"request": [lambda event: None]},
    ) as client:
        created = await client.personas.create(persona_name="Secretive", layers=layers)
        pid = created.persona_id
        await client.personas.patch(pid, [patch.Replace("/layers/llm/api_key", LLM_KEY)])
        server.enqueue(*[Fault.http(503, body=echo, headers={"x-echo": KEY})] * 3)
        with pytest.raises(InternalServerError):
            await client.personas.get(pid)
        await client.personas.with_raw_response.get(pid)
    assert len([r for r in caplog.records if r.name == "tavus_async"]) >= 6
    texts = [caplog.text]
    for record in caplog.records:
        texts += [str(record.msg), record.getMessage(), repr(record.args)]
    secrets = (KEY, LLM_KEY, HEADER_VALUE)
    assert [t for t in texts if any(secret in t for secret in secrets)] == []

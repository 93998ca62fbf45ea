"""`tavus-async` request options (`--timeout`, `--max-retries`, `--concurrency`), streamed
stdin, a refused API key, option help and the progress bar."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import re
import struct
import termios
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from test_cli import MODULE, clean_env, run, server_env

from tavus_async import cli
from tavus_async.testing import FakeTavus

KEY = "sk-cli-test-key"
WRONG_KEY = "sk-wrong-key"
StartServer = Callable[[Callable[[web.Request], Awaitable[web.StreamResponse]]], Awaitable[str]]
REQUEST_COMMANDS = [
    (resource, command)
    for resource in ("personas", "pals")
    for command in ("get", "list", "create", "patch", "delete")
]
REFUSED = re.compile(
    r"^error: the API key was refused \(AuthenticationError: .*401.*\): the remaining ids are "
    r"skipped\. Check --api-key or \$TAVUS_API_KEY\.$"
)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=200) as fake:
        yield fake


@pytest.fixture
async def silent_server(app_server: StartServer) -> tuple[str, list[web.Request]]:
    """A loopback server that accepts every request and never answers; the requests seen."""
    seen: list[web.Request] = []

    async def hold(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        await asyncio.Event().wait()  # cancelled when the client leaves
        raise AssertionError("unreachable")

    return await app_server(hold), seen


# ------------------------------------------------------------------ parsing


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(argv)


#: The positional arguments each command needs.
POSITIONALS = {
    "get": ["p1"],
    "list": [],
    "create": ["f.json"],
    "patch": ["p1", "f.json"],
    "delete": ["p1"],
}


@pytest.mark.parametrize(("resource", "command"), REQUEST_COMMANDS)
def test_every_request_command_takes_timeout_and_max_retries(resource: str, command: str) -> None:
    base = [resource, command, *POSITIONALS[command]]
    defaults = parse(*base)
    assert (defaults.timeout, defaults.max_retries) == (30.0, 2)  # the client's defaults
    given = parse(*base, "--timeout", "2.5", "--max-retries", "0")
    assert (given.timeout, given.max_retries) == (2.5, 0)
    if command in ("get", "delete"):  # the commands that run several requests at once
        assert parse(*base, "--concurrency", "3").concurrency == 3
    else:
        with pytest.raises(SystemExit):
            parse(*base, "--concurrency", "3")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--timeout", "0", "must be a number of seconds > 0, got '0'"),
        ("--timeout", "-1", "must be a number of seconds > 0, got '-1'"),
        ("--timeout", "nan", "must be a number of seconds > 0, got 'nan'"),
        ("--timeout", "inf", "must be a number of seconds > 0, got 'inf'"),
        ("--timeout", "1e400", "must be a number of seconds > 0, got '1e400'"),
        ("--timeout", "soon", "must be a number of seconds > 0, got 'soon'"),
        ("--max-retries", "-1", "must be a whole number >= 0, got '-1'"),
        ("--max-retries", "1.5", "must be a whole number >= 0, got '1.5'"),
        ("--max-retries", "x", "must be a whole number >= 0, got 'x'"),
        ("--concurrency", "0", "must be a whole number from 1 to 1000, got '0'"),
        ("--concurrency", "many", "must be a whole number from 1 to 1000, got 'many'"),
        ("--concurrency", "3000000", "must be a whole number from 1 to 1000, got '3000000'"),
    ],
)
def test_bad_option_values_are_usage_errors_that_say_why(
    capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse("personas", "get", "p1", option, value)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"tavus-async personas get: error: argument {option}: {message}"
    )


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [("--timeout", "0.25", 0.25), ("--timeout", "1e-3", 0.001), ("--max-retries", "0", 0)],
)
def test_good_option_values(option: str, value: str, expected: float) -> None:
    args = parse("personas", "get", "p1", option, value)
    assert getattr(args, option.lstrip("-").replace("-", "_")) == expected


def leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every (sub)command's parser that has no subcommands of its own.

    argparse offers no public way to walk its subcommands, hence `_actions`.
    """
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield parser
    for action in subcommands:
        for child in action.choices.values():
            yield from leaf_parsers(child)


def test_every_option_says_what_it_does_and_its_default() -> None:
    leaves = list(leaf_parsers(cli.build_parser()))
    assert sorted(p.prog.removeprefix("tavus-async ") for p in leaves) == sorted(
        [f"{r} {c}" for r, c in REQUEST_COMMANDS] + ["mock-server", "demo"]
    )
    for leaf in leaves:
        shown = " ".join(leaf.format_help().split())
        for action in leaf._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help.strip(), (leaf.prog, action.dest)
            text = " ".join((action.help % {"default": action.default}).split())
            assert text in shown, (leaf.prog, text)
            if not action.option_strings:  # a positional argument has no default
                continue
            assert "(default: " in text, (leaf.prog, text)
            if action.default not in (None, False):
                assert f"(default: {action.default})" in text, (leaf.prog, text)


def test_help_never_shows_the_api_key_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAVUS_API_KEY", "sk-secret-from-env")
    for leaf in leaf_parsers(cli.build_parser()):
        assert "sk-secret-from-env" not in leaf.format_help(), leaf.prog


# ---------------------------------------------------------------- timeouts


async def test_timeout_ends_a_request_the_server_never_answers(
    silent_server: tuple[str, list[web.Request]],
) -> None:
    base_url, seen = silent_server
    code, out, err = await run(
        "personas",
        "get",
        "pcb7a34da5fe",
        "--timeout",
        "0.2",
        "--max-retries",
        "1",
        "--api-key",
        KEY,
        "--base-url",
        base_url,
        env=clean_env(),
    )
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "error: pcb7a34da5fe: APITimeoutError: Request timed out after 0.2s "
        "(the per-attempt timeout)"
    ]
    assert len(seen) == 2  # the attempt and its one retry


@pytest.mark.parametrize(
    "argv",
    [
        ("personas", "list"),
        ("pals", "create", "{fields}"),
        ("personas", "patch", "pcb7a34da5fe", "{ops}"),
        ("pals", "delete", "pcb7a34da5fe"),
    ],
)
async def test_every_command_honours_timeout_and_max_retries(
    silent_server: tuple[str, list[web.Request]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: tuple[str, ...],
) -> None:
    base_url, seen = silent_server
    fields = tmp_path / "fields.json"
    fields.write_text(json.dumps({"pal_name": "x", "default_face_id": "r1"}), encoding="utf-8")
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps([{"op": "remove", "path": "/context"}]), encoding="utf-8")
    args = [arg.format(fields=fields, ops=ops) for arg in argv]
    options = ["--timeout", "0.2", "--max-retries", "0", "--api-key", KEY, "--base-url", base_url]
    code = await asyncio.to_thread(cli.main, [*args, *options])
    err = capsys.readouterr().err
    assert code == 1
    assert "APITimeoutError: Request timed out after 0.2s" in err
    assert len(err.splitlines()) == 1, err
    assert len(seen) == 1


# ----------------------------------------------------------- streamed stdin


async def test_stdin_ids_stream_through_a_pipe_kept_open(server: FakeTavus) -> None:
    """Each id's result is printed before the next id is written, with stdout a pipe and
    Python's output block-buffered."""
    env = server_env(server)
    env.pop("PYTHONUNBUFFERED", None)
    proc = await asyncio.create_subprocess_exec(
        *MODULE,
        "personas",
        "get",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for pid in server.persona_ids[:3]:
            proc.stdin.write(f"{pid}\n".encode())
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), 15)
            assert json.loads(line) == server.persona_json(pid)
        proc.stdin.close()
        rest, err = await asyncio.wait_for(proc.communicate(), 15)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    assert (proc.returncode, rest, err) == (0, b"", b"")
    assert server.request_count == 3


# ---------------------------------------------------------- a refused key


async def test_a_refused_key_on_stdin_ids_is_one_message_and_few_requests(
    server: FakeTavus,
) -> None:
    """`personas get - --api-key wrong < ids.txt`: no request after the first 401 comes back
    (those already in flight excepted), one message, exit code 1."""
    stdin = "".join(f"{pid}\n" for pid in server.persona_ids).encode()
    env = clean_env(TAVUS_BASE_URL=server.base_url)
    code, out, err = await run(
        "personas", "get", "-", "--api-key", WRONG_KEY, "--concurrency", "4", env=env, stdin=stdin
    )
    assert code == 1
    assert out == ""
    assert len(err.splitlines()) == 1 and REFUSED.match(err.strip()), err
    assert WRONG_KEY not in err
    assert 1 <= server.request_count <= 4


@pytest.mark.parametrize("fmt", ["json", "table"])
async def test_a_refused_key_in_collected_formats_is_one_message_and_few_requests(
    server: FakeTavus, fmt: str
) -> None:
    ids = server.persona_ids[:60]
    code, out, err = await run(
        "personas",
        "get",
        *ids,
        "--format",
        fmt,
        "--api-key",
        WRONG_KEY,
        "--concurrency",
        "4",
        env=clean_env(TAVUS_BASE_URL=server.base_url),
    )
    assert code == 1
    assert not any(pid in out for pid in ids)
    assert len(err.splitlines()) == 1 and REFUSED.match(err.strip()), err
    assert 1 <= server.request_count <= 4


async def test_a_refused_key_stops_a_bulk_delete(
    server: FakeTavus, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = server.persona_ids[:50]
    argv = ["pals", "delete", *ids, "--concurrency", "3"]
    code = await asyncio.to_thread(
        cli.main, [*argv, "--api-key", WRONG_KEY, "--base-url", server.base_url]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and REFUSED.match(captured.err.strip())
    assert 1 <= server.request_count <= 3
    assert all(server.has_persona(pid) for pid in ids)


# ------------------------------------------------------------ progress bar


async def run_with_terminal_stderr(*args: str, env: dict[str, str], stdin: bytes) -> str:
    """Run the CLI with stderr a pseudo-terminal (so it draws its bar); what it drew."""
    main_end, terminal_end = pty.openpty()
    rows_columns = struct.pack("HHHH", 24, 160, 0, 0)
    fcntl.ioctl(terminal_end, termios.TIOCSWINSZ, rows_columns)  # a new pty is 0 wide
    proc = await asyncio.create_subprocess_exec(
        *MODULE,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=terminal_end,
        env=env,
    )
    os.close(terminal_end)

    def read_all() -> bytes:
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(main_end, 4096)
            except OSError:  # EIO: every writer closed the terminal
                return b"".join(chunks)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    try:
        drawn = asyncio.create_task(asyncio.to_thread(read_all))
        await asyncio.wait_for(proc.communicate(stdin), 30)
        return (await asyncio.wait_for(drawn, 15)).decode()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    finally:
        os.close(main_end)


async def test_progress_bar_counts_personas_in_words(server: FakeTavus) -> None:
    ids = server.persona_ids[:7]
    drawn = await run_with_terminal_stderr(
        "personas", "get", "-", env=server_env(server), stdin="\n".join(ids).encode()
    )
    assert re.search(r"(^|\r)7 personas \[[^\]]*personas/s\]", drawn), drawn


async def test_progress_bar_of_list_has_the_servers_total(server: FakeTavus) -> None:
    drawn = await run_with_terminal_stderr(
        "pals", "list", "--page-size", "50", env=server_env(server), stdin=b""
    )
    assert re.search(r"100%\|.*\| 200/200 \[[^\]]*PALs/s\]", drawn), drawn

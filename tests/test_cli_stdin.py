"""`tavus-async ... get -`: ids from stdin as real inputs come (a BOM, CRLF, blank lines,
bytes that are not UTF-8, a huge line, a closed stdin), each run bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from test_cli import MODULE, run, server_env

from tavus_async.testing import FakeTavus

KEY = "sk-cli-test-key"


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=5) as fake:
        yield fake


def fetched(out: str) -> list[str]:
    return [json.loads(line)["persona_id"] for line in out.splitlines()]


async def test_a_bom_crlf_and_blank_lines_are_not_part_of_any_id(server: FakeTavus) -> None:
    """A file saved by a Windows editor: BOM, CRLF line ends, blank lines."""
    a, b = server.persona_ids[:2]
    stdin = b"\xef\xbb\xbf" + f"{a}\r\n\r\n  \r\n{b}\r\n".encode()
    code, out, err = await run("personas", "get", "-", env=server_env(server), stdin=stdin)
    assert (code, err) == (0, "")
    assert sorted(fetched(out)) == sorted([a, b])
    assert server.request_count == 2


async def test_bytes_that_are_not_utf8_are_one_invalid_id(server: FakeTavus) -> None:
    """Whatever the locale says about stdin's errors (strict here), a line that is not
    UTF-8 is reported as an invalid id, unsent; the other ids are fetched."""
    a, b = server.persona_ids[:2]
    env = {**server_env(server), "PYTHONIOENCODING": "utf-8:strict"}
    stdin = f"{a}\n".encode() + b"\xff\xfe\n" + f"{b}\n".encode()
    code, out, err = await run("personas", "get", "-", env=env, stdin=stdin)
    assert code == 1
    assert sorted(fetched(out)) == sorted([a, b])
    assert err.count("\n") == 1
    assert "InvalidPersonaIdError" in err
    assert "Traceback" not in err
    assert server.request_count == 2


async def test_a_closed_stdin_is_a_usage_error(server: FakeTavus) -> None:
    command = ("sh", "-c", 'exec "$@" <&-', "sh", *MODULE)
    code, out, err = await run("personas", "get", "-", env=server_env(server), command=command)
    assert (code, out) == (2, "")
    assert err == "error: cannot read ids from stdin: it is closed\n"
    assert server.request_count == 0


async def test_a_huge_line_is_reported_shortened(server: FakeTavus) -> None:
    a = server.persona_ids[0]
    stdin = b"p" * 1_000_000 + f"\n{a}\n".encode()
    code, out, err = await run("personas", "get", "-", env=server_env(server), stdin=stdin)
    assert code == 1
    assert fetched(out) == [a]
    assert err.count("\n") == 1
    assert len(err) < 400
    assert "(1000000 characters)" in err
    assert server.request_count == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "-"), "error: cannot read stdin: it is closed\n"),
        (("patch", "p005deece66d", "-"), "error: cannot read stdin: it is closed\n"),
    ],
)
async def test_a_closed_stdin_for_a_json_file_is_a_usage_error(
    server: FakeTavus, args: tuple[str, ...], message: str
) -> None:
    command = ("sh", "-c", 'exec "$@" <&-', "sh", *MODULE)
    code, out, err = await run("personas", *args, env=server_env(server), command=command)
    assert (code, out, err) == (2, "", message)
    assert server.request_count == 0

"""`tavus-async personas|pals list/create/patch/delete`, against a FakeTavus.

Most tests call `cli.main` in a thread (the fake keeps serving in the test's loop) and read
its output with capsys; the stdin tests run the real command in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_cli import run, server_env

from tavus_async import cli
from tavus_async.testing import FakeTavus

KEY = "sk-cli-test-key"
NUM = 12


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=NUM) as fake:
        yield fake


class Cli:
    """Runs `tavus-async ...` in-process against the fake, returning (code, out, err)."""

    def __init__(self, server: FakeTavus, capsys: pytest.CaptureFixture[str]) -> None:
        self.server = server
        self.capsys = capsys

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        argv = [*args, "--api-key", KEY, "--base-url", self.server.base_url]
        code = await asyncio.to_thread(cli.main, argv)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def tavus(server: FakeTavus, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(server, capsys)


def write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def lines(out: str) -> list[Any]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("resource", ["personas", "pals"])
async def test_journey_create_get_list_patch_get_delete_get(
    tavus: Cli, server: FakeTavus, tmp_path: Path, resource: str
) -> None:
    pals = resource == "pals"
    id_key, name_key = ("pal_id", "pal_name") if pals else ("persona_id", "persona_name")
    fields = {name_key: "CLI journey", "system_prompt": "Hi.", "custom": {"kept": True}}
    if pals:
        fields["default_face_id"] = "r-face"

    code, out, err = await tavus(resource, "create", write(tmp_path, "new.json", fields))
    assert code == 0, err
    [created] = lines(out)
    pid = created[id_key]
    assert created[name_key] == "CLI journey"

    code, out, err = await tavus(resource, "get", pid)
    assert code == 0, err
    [fetched] = lines(out)
    assert fetched["custom"] == {"kept": True}  # to_dict(): keys the SDK does not know

    code, out, err = await tavus(resource, "list")
    assert code == 0, err
    assert [p[id_key] for p in lines(out)] == [*server.persona_ids, pid]

    ops = [{"op": "replace", "path": f"/{name_key}", "value": "Renamed"}]
    code, out, err = await tavus(resource, "patch", pid, write(tmp_path, "ops.json", ops))
    assert code == 0, err
    assert lines(out) == [{id_key: pid, "changed": True}]
    code, out, _ = await tavus(resource, "patch", pid, str(tmp_path / "ops.json"))
    assert lines(out) == [{id_key: pid, "changed": False}]  # 304: nothing changed

    code, out, err = await tavus(resource, "get", pid, "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0][name_key] == "Renamed"

    code, out, err = await tavus(resource, "delete", pid)
    assert (code, out.split()) == (0, [pid]), err

    code, out, err = await tavus(resource, "get", pid)
    assert code == 1
    assert out == ""
    assert f"error: {pid}: InvalidIdError" in err
    assert {r.path.split("/")[2] for r in server.requests} == {resource}


async def test_list_filters_by_type_and_prints_table_and_json(
    tavus: Cli, server: FakeTavus
) -> None:
    server.add_persona(
        {"persona_id": "pstock000001", "persona_name": "Stock"}, persona_type="system"
    )
    code, out, err = await tavus("pals", "list", "--type", "system", "--format", "table")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split()[:2] == ["pal_id", "pal_name"]
    assert row.split()[:2] == ["pstock000001", "Stock"]
    assert server.requests[-1].query["pal_type"] == "system"

    code, out, err = await tavus("personas", "list", "--format", "json", "--page-size", "5")
    assert code == 0, err
    assert len(json.loads(out)) == NUM + 1
    assert [r.query["page"] for r in server.requests[1:]] == ["1", "2", "3"]


async def test_a_pal_with_maker_changes_needs_force(
    tavus: Cli, server: FakeTavus, tmp_path: Path
) -> None:
    pid = server.persona_ids[0]
    server.set_draft(pid)
    ops = write(tmp_path, "ops.json", [{"op": "replace", "path": "/pal_name", "value": "F"}])
    code, out, err = await tavus("pals", "patch", pid, ops)
    assert (code, out) == (1, "")
    assert "ConflictError" in err and "force=True" in err
    code, out, err = await tavus("pals", "patch", pid, ops, "--force")
    assert code == 0, err
    assert lines(out) == [{"pal_id": pid, "changed": True}]


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "replace", "path": "/persona_name", "value": "not in a list"},
        [{"op": "replace", "path": "persona_name", "value": "no slash"}],
    ],
)
async def test_a_bad_patch_file_is_a_usage_error_without_io(
    tavus: Cli, server: FakeTavus, tmp_path: Path, ops: object
) -> None:
    code, out, err = await tavus(
        "personas", "patch", server.persona_ids[0], write(tmp_path, "ops.json", ops)
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert server.request_count == 0


async def test_unreadable_files_are_usage_errors(
    tavus: Cli, server: FakeTavus, tmp_path: Path
) -> None:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    for args in (
        ("personas", "create", str(tmp_path / "missing.json")),
        ("personas", "create", str(tmp_path / "broken.json")),
        ("personas", "create", write(tmp_path, "list.json", [1])),
        ("pals", "create", write(tmp_path, "faceless.json", {"pal_name": "x"})),
    ):
        code, _out, err = await tavus(*args)
        assert code == 2, (args, err)
    assert server.request_count == 0


async def test_a_422_is_reported_and_exits_1(tavus: Cli, server: FakeTavus, tmp_path: Path) -> None:
    ops = write(tmp_path, "ops.json", [{"op": "remove", "path": "/no_such_field"}])
    code, _out, err = await tavus("personas", "patch", server.persona_ids[0], ops)
    assert code == 1
    assert "UnprocessableEntityError" in err and "Invalid JSON patch format" in err


async def test_delete_many_reports_each_failure(tavus: Cli, server: FakeTavus) -> None:
    keep, gone = server.persona_ids[:2]
    code, out, err = await tavus("personas", "delete", keep, "pmissing0000", gone, "bad/id")
    assert code == 1
    assert sorted(out.split()) == sorted([keep, gone])
    assert "error: pmissing0000: InvalidIdError" in err
    assert "error: bad/id: InvalidPersonaIdError" in err
    assert not server.has_persona(keep) and not server.has_persona(gone)


async def test_create_and_patch_read_stdin(server: FakeTavus) -> None:
    env = server_env(server)
    body = json.dumps({"persona_name": "From stdin"}).encode()
    code, out, err = await run("personas", "create", "-", env=env, stdin=body)
    assert code == 0, err
    pid = json.loads(out)["persona_id"]
    ops = json.dumps([{"op": "replace", "path": "/persona_name", "value": "Piped"}]).encode()
    code, out, err = await run("personas", "patch", pid, "-", env=env, stdin=ops)
    assert code == 0, err
    assert server.persona_json(pid)["persona_name"] == "Piped"

"""Every ```python block in README.md and docs/*.md runs, against a FakeTavus.

Each block is one test, named by file, block index and line (`docs/bulk.md#2-L40`). A block
runs with TAVUS_API_KEY / TAVUS_BASE_URL pointing at a fresh fake server that serves the
example persona ids below, and with the repository root importable (`examples.*`). If it
defines `async def main()`, main is awaited; otherwise each `async def test_*()` it defines
that takes no argument or only `monkeypatch` is awaited (with a fresh MonkeyPatch), as pytest
would. Top-level `await` is a syntax error, as it would be in a script. `--8<-- "path"` lines
(the snippets extension) are replaced by the file they include, so included files are what
runs.

A block that cannot run here is marked by an HTML comment on the line before its fence:
`<!-- no-run: reason -->`. It is still compiled, so it cannot rot into invalid Python.
"""

from __future__ import annotations

import ast
import inspect
import logging
import re
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tavus_async.testing import FakeTavus, generate_persona

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

API_KEY = "docs-example-key"
# The persona ids the examples use. "p00000000000" is deliberately absent (a 404).
EXAMPLE_PERSONAS = {
    "pcb7a34da5fe": "Life Coach",
    "p48fdf065d6b": "Sales Coach",
    "p2c5e8f1a3b7": "Support Agent",
    "p7f3a9c2e1d4": "History Teacher",
    "p9d1b6e4c8a2": "AI Interviewer",
}
MISSING_ID = "p00000000000"

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$")
_NO_RUN = re.compile(r"^\s*<!--\s*no-run:\s*(?P<reason>.*?)\s*-->\s*$")
_SECTION = re.compile(r"--8<--\s*\[(start|end):")
_SNIPPET = re.compile(r"""^(?P<indent>[ \t]*)--8<--[ \t]+(?P<q>["'])(?P<path>[^"']+)(?P=q)\s*$""")


@dataclass(frozen=True)
class Block:
    path: Path
    index: int  # 0-based among the file's python blocks
    line: int  # 1-based line of the opening fence
    code: str
    no_run: str | None  # the reason, when marked <!-- no-run: reason -->

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}#{self.index}-L{self.line}"


def _include_snippets(code: str) -> str:
    """Replace each `--8<-- "file"` line by the file's text (paths from the repo root)."""
    out: list[str] = []
    for line in code.splitlines():
        match = _SNIPPET.match(line)
        if match is None:
            out.append(line)
            continue
        included = (ROOT / match["path"]).read_text(encoding="utf-8").splitlines()
        # Section markers (`# --8<-- [start:name]`) are dropped from the output, as by
        # pymdownx.snippets.
        out.extend(match["indent"] + text for text in included if not _SECTION.search(text))
    return "\n".join(out) + "\n"


def collect(path: Path) -> list[Block]:
    """The ```python fenced blocks of one Markdown file (indented ones too)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        info = opening["info"].split()
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if info and info[0] in ("python", "py"):
            previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = _NO_RUN.match(previous)
            body = textwrap.dedent("\n".join(lines[i + 1 : end]))
            blocks.append(
                Block(
                    path=path,
                    index=len(blocks),
                    line=i + 1,
                    code=_include_snippets(body),
                    no_run=marker["reason"] if marker else None,
                )
            )
        i = end + 1
    return blocks


BLOCKS = [block for path in DOC_FILES for block in collect(path)]


@pytest_asyncio.fixture
async def fake_tavus(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTavus]:
    monkeypatch.syspath_prepend(str(ROOT))  # `from examples.aiohttp_app import ...`
    # A block may configure logging: restore the levels after it (setLevel clears caches).
    loggers = [logging.getLogger(name) for name in ("", "tavus_async")]
    levels = [logger.level for logger in loggers]
    try:
        async with FakeTavus(api_key=API_KEY, num_personas=0) as server:
            for number, (persona_id, name) in enumerate(EXAMPLE_PERSONAS.items()):
                persona = generate_persona(number)  # realistic: every layer filled in
                persona.update(persona_id=persona_id, persona_name=name)
                server.add_persona(persona)
            monkeypatch.setenv("TAVUS_API_KEY", API_KEY)
            monkeypatch.setenv("TAVUS_BASE_URL", server.base_url)
            yield server
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
async def test_block_runs(block: Block, fake_tavus: FakeTavus) -> None:
    code = compile(block.code, block.id, "exec")  # top-level await is a SyntaxError here
    if block.no_run is not None:
        # Marked not runnable here (with a reason): it must still compile, checked above.
        assert block.no_run, f"{block.id}: give a reason in <!-- no-run: reason -->"
        return
    namespace: dict[str, Any] = {"__name__": "docs_example"}  # `if __name__ == "__main__"` off
    exec(code, namespace)
    main = namespace.get("main")
    if main is not None:
        assert inspect.iscoroutinefunction(main), f"{block.id}: main must be `async def`"
        await main()
        return
    ran = await _run_tests(namespace, block.id)
    assert ran or not _defines_tests(namespace), block.id


def _defines_tests(namespace: dict[str, Any]) -> bool:
    return any(name.startswith("test_") for name in namespace)


async def _run_tests(namespace: dict[str, Any], block_id: str) -> int:
    """Await each `async def test_*` of a block as pytest would; return how many ran.

    Arguments are fixtures: `monkeypatch`, or a fixture the block itself defines (a function
    decorated with `pytest.fixture` / `pytest_asyncio.fixture`, generator or not).
    """
    fixtures: dict[str, Callable[..., Any]] = {
        name: obj.__wrapped__
        for name, obj in namespace.items()
        if type(obj).__name__ == "FixtureFunctionDefinition"
    }
    ran = 0
    for name, test in list(namespace.items()):
        if name.startswith("test_") and inspect.iscoroutinefunction(test):
            await _run_test(test, fixtures, f"{block_id}: {name}")
            ran += 1
    return ran


async def _run_test(
    test: Callable[..., Any], fixtures: dict[str, Callable[..., Any]], where: str
) -> None:
    async with AsyncExitStack() as stack:
        values: dict[str, Any] = {"monkeypatch": stack.enter_context(pytest.MonkeyPatch.context())}

        async def resolve(param: str) -> Any:
            if param in values:
                return values[param]
            func = fixtures.get(param)
            assert func is not None, f"{where} needs unknown fixture {param!r}"
            args = [await resolve(p) for p in inspect.signature(func).parameters]
            if inspect.isasyncgenfunction(func):
                value = await stack.enter_async_context(asynccontextmanager(func)(*args))
            elif inspect.isgeneratorfunction(func):
                value = stack.enter_context(contextmanager(func)(*args))
            else:
                value = func(*args)
                if inspect.isawaitable(value):
                    value = await value
            values[param] = value
            return value

        await test(*[await resolve(p) for p in inspect.signature(test).parameters])


def test_blocks_were_found() -> None:
    """Guard against a parser change silently collecting nothing."""
    assert {block.path.name for block in BLOCKS} >= {"README.md", "index.md", "web.md"}
    assert len(BLOCKS) >= 20


def test_no_run_is_rare_and_explained() -> None:
    skipped = [block for block in BLOCKS if block.no_run is not None]
    assert all(block.no_run for block in skipped), [b.id for b in skipped if not b.no_run]
    assert len(skipped) <= 3, [block.id for block in skipped]


def test_examples_define_main_rather_than_running_asyncio() -> None:
    """`asyncio.run(...)` at top level would clash with the test loop (and hide `main`)."""
    for block in BLOCKS:
        if block.no_run is not None:
            continue
        for node in ast.parse(block.code).body:
            text = ast.unparse(node)
            assert not text.startswith("asyncio.run("), f"{block.id}: guard it with __main__"


def test_missing_example_id_is_really_missing() -> None:
    assert MISSING_ID not in EXAMPLE_PERSONAS

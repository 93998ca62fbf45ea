"""The clients compared in the production scenarios, behind one small `Peer` interface.

- `tavus`: tavus-async with default settings (`get_many(..., return_exceptions=True)`);
  variants add constructor options (`rate_limit=R`, `hedge_after=s`).
- `handwritten`: what a competent engineer writes: one aiohttp session, a semaphore, msgspec,
  and tenacity retrying 429/5xx/connection errors, honouring `Retry-After`.
- `openai_style`: httpx + pydantic with openai-python's retry rules.
- `aiohttp_raw`: the floor (bytes only, no retries), for the CPU comparisons.

`bulk` returns how many ids succeeded and the failures by error type; `get` raises on failure.
Each peer calls `done()` once per finished id, so the runner can plot completions over time.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections import Counter
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import aiohttp
import msgspec
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from benchmarks.clients import API_KEY

__all__ = ["PEERS", "BulkOutcome", "Peer", "UnsupportedOption", "make_peer"]

_HEADERS: Final = {"x-api-key": API_KEY, "Accept": "application/json"}
_PATH: Final = "/v2/personas/"
_TIMEOUT_S: Final = 30.0

Done = Callable[[], object]


class UnsupportedOption(Exception):
    """The SDK on this branch does not accept a variant's constructor option."""


class BulkOutcome(NamedTuple):
    """Ids that succeeded, and the failed ones counted by error type."""

    ok: int
    failures: dict[str, int]


class Peer:
    """One client: `open` in the running loop, then `bulk` or `get`, then `close`."""

    async def open(self, base_url: str, concurrency: int, ssl_ctx: ssl.SSLContext | None) -> None:
        raise NotImplementedError

    async def bulk(self, ids: list[str], concurrency: int, done: Done) -> BulkOutcome:
        raise NotImplementedError

    async def get(self, persona_id: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def controller_limit(self) -> float | None:
        """The adaptive controller's setting right now (the pacer's rate), if any."""
        return None


async def _gather_bounded(
    fetch: Callable[[str], Any], ids: list[str], concurrency: int, done: Done
) -> BulkOutcome:
    """The usual job code: a semaphore around each call, `gather` over all ids."""
    sem = asyncio.Semaphore(concurrency)
    failures: Counter[str] = Counter()
    ok = 0

    async def one(pid: str) -> None:
        nonlocal ok
        async with sem:
            try:
                await fetch(pid)
                ok += 1
            except Exception as exc:
                failures[type(exc).__name__] += 1
            done()

    await asyncio.gather(*(one(pid) for pid in ids))
    return BulkOutcome(ok, dict(failures))


# --- tavus-async ------------------------------------------------------------------------------


class TavusPeer(Peer):
    """tavus-async, default settings plus the variant's constructor options."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._session: aiohttp.ClientSession | None = None
        self.gates: list[Any] = []

    async def open(self, base_url: str, concurrency: int, ssl_ctx: ssl.SSLContext | None) -> None:
        from tavus_async import AsyncTavus

        kwargs = dict(self._options)
        if ssl_ctx is not None:
            # No public way to pass a CA or an SSL context: bring a session that has one.
            connector = aiohttp.TCPConnector(limit=100, ssl=ssl_ctx)
            self._session = aiohttp.ClientSession(connector=connector)
            kwargs["session"] = self._session
        try:
            self._client = AsyncTavus(api_key=API_KEY, base_url=base_url, **kwargs)
        except TypeError as exc:  # e.g. `hedge_after=` before the SDK has it
            if self._session is not None:
                await self._session.close()
            raise UnsupportedOption(str(exc)) from None

    async def bulk(self, ids: list[str], concurrency: int, done: Done) -> BulkOutcome:
        results = await self._client.personas.get_many(
            ids,
            concurrency=concurrency,
            return_exceptions=True,
            on_progress=lambda _done, _total: done(),
        )
        failures = Counter(type(r).__name__ for r in results if isinstance(r, Exception))
        return BulkOutcome(len(results) - sum(failures.values()), dict(failures))

    async def get(self, persona_id: str) -> None:
        await self._client.personas.get(persona_id)

    async def close(self) -> None:
        await self._client.close()
        if self._session is not None:
            await self._session.close()

    def controller_limit(self) -> float | None:
        # Benchmark-only: see `probe_gates` in benchmarks.scenario_client.
        rate = getattr(self.gates[-1], "rate", None) if self.gates else None
        return rate if isinstance(rate, float) else None


# --- aiohttp + semaphore + msgspec + tenacity ------------------------------------------------


class _Persona(msgspec.Struct):
    persona_id: str
    persona_name: str | None = None
    system_prompt: str | None = None
    context: str | None = None
    default_replica_id: str | None = None


class _Envelope(msgspec.Struct):
    data: list[_Persona]


class RetryableStatus(Exception):
    """429 or 5xx, with the server's `Retry-After` in seconds when it sent a sane one."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


class StatusError(Exception):
    """Any other non-2xx status."""


def _seconds(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and 0 <= value <= 60 else None


class HandwrittenPeer(Peer):
    """One aiohttp session + semaphore + msgspec + tenacity (6 attempts, Retry-After first)."""

    attempts = 6

    async def open(self, base_url: str, concurrency: int, ssl_ctx: ssl.SSLContext | None) -> None:
        connector = aiohttp.TCPConnector(limit=concurrency, ssl=ssl_ctx if ssl_ctx else True)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=_HEADERS,
            timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S),
        )
        self._prefix = base_url + _PATH
        self._decode = msgspec.json.Decoder(_Envelope).decode
        backoff = wait_exponential_jitter(initial=0.2, max=8.0)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
                return exc.retry_after
            return backoff(state)

        self._retry_kwargs: dict[str, Any] = {
            "stop": stop_after_attempt(self.attempts),
            "wait": wait,
            "retry": retry_if_exception_type(
                (RetryableStatus, aiohttp.ClientError, asyncio.TimeoutError)
            ),
            "reraise": True,
        }

    async def _once(self, persona_id: str) -> _Persona:
        async with self._session.get(self._prefix + persona_id) as resp:
            body = await resp.read()
            if resp.status == 200:
                return self._decode(body).data[0]
            if resp.status == 429 or resp.status >= 500:
                raise RetryableStatus(resp.status, _seconds(resp.headers.get("Retry-After")))
            raise StatusError(resp.status)

    async def get(self, persona_id: str) -> None:
        async for attempt in AsyncRetrying(**self._retry_kwargs):
            with attempt:
                await self._once(persona_id)

    async def bulk(self, ids: list[str], concurrency: int, done: Done) -> BulkOutcome:
        return await _gather_bounded(self.get, ids, concurrency, done)

    async def close(self) -> None:
        await self._session.close()


# --- httpx + pydantic, openai-python's retry rules ------------------------------------------


class OpenAIStylePeer(Peer):
    """httpx + pydantic; retries as openai-python does (its `_base_client.py`).

    2 retries; wait 0.5 s doubling to 8 s, times a jitter in (0.75, 1]; a `retry-after-ms` /
    `Retry-After` in (0, 60] s is used instead; retried: 408, 409, 429, 5xx (or
    `x-should-retry: true`), connection errors and timeouts.
    """

    max_retries = 2

    async def open(self, base_url: str, concurrency: int, ssl_ctx: ssl.SSLContext | None) -> None:
        import httpx

        from benchmarks.pydantic_models import Envelope

        self._httpx = httpx
        self._validate = Envelope.model_validate_json
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=_HEADERS,
            limits=limits,
            timeout=_TIMEOUT_S,
            verify=ssl_ctx if ssl_ctx is not None else True,
        )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            requested = exc.retry_after if isinstance(exc, RetryableStatus) else None
            if requested is not None and 0 < requested <= 60:
                return requested
            delay = min(0.5 * 2.0 ** (state.attempt_number - 1), 8.0)
            return delay * (1 - 0.25 * random.random())

        self._retry_kwargs: dict[str, Any] = {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": wait,
            "retry": retry_if_exception_type((RetryableStatus, httpx.TransportError)),
            "reraise": True,
        }

    async def _once(self, persona_id: str) -> object:
        resp = await self._client.get(_PATH + persona_id)
        if resp.status_code == 200:
            return self._validate(resp.content).data
        should = resp.headers.get("x-should-retry")
        status = resp.status_code
        if should == "true" or (should != "false" and (status in (408, 409, 429) or status >= 500)):
            raise RetryableStatus(status, _openai_retry_after(resp.headers))
        raise StatusError(status)

    async def get(self, persona_id: str) -> None:
        async for attempt in AsyncRetrying(**self._retry_kwargs):
            with attempt:
                await self._once(persona_id)

    async def bulk(self, ids: list[str], concurrency: int, done: Done) -> BulkOutcome:
        return await _gather_bounded(self.get, ids, concurrency, done)

    async def close(self) -> None:
        await self._client.aclose()


def _openai_retry_after(headers: Any) -> float | None:
    """`retry-after-ms`, else `Retry-After` in seconds (openai also reads an HTTP-date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return float(raw_ms) / 1000
        except ValueError:
            pass
    try:
        raw = headers.get("retry-after")
        return float(raw) if raw is not None else None
    except ValueError:
        return None


# --- the floor --------------------------------------------------------------------------------


class AiohttpRawPeer(Peer):
    """Bare aiohttp, bytes only, workers on a shared iterator: the CPU floor."""

    async def open(self, base_url: str, concurrency: int, ssl_ctx: ssl.SSLContext | None) -> None:
        connector = aiohttp.TCPConnector(limit=concurrency, ssl=ssl_ctx if ssl_ctx else True)
        self._session = aiohttp.ClientSession(connector=connector, headers=_HEADERS)
        self._prefix = base_url + _PATH

    async def get(self, persona_id: str) -> None:
        async with self._session.get(self._prefix + persona_id) as resp:
            await resp.read()
            if resp.status != 200:
                raise StatusError(resp.status)

    async def bulk(self, ids: list[str], concurrency: int, done: Done) -> BulkOutcome:
        source = iter(ids)
        ok = 0

        async def worker() -> None:
            nonlocal ok
            for pid in source:
                await self.get(pid)
                ok += 1
                done()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return BulkOutcome(ok, {})

    async def close(self) -> None:
        await self._session.close()


#: Peer name -> (factory, label). Variants of tavus-async are added in the scenarios.
PEERS: Final[dict[str, tuple[Callable[..., Peer], str]]] = {
    "tavus": (TavusPeer, "tavus-async"),
    "handwritten": (HandwrittenPeer, "aiohttp + msgspec + tenacity (hand-written)"),
    "openai_style": (OpenAIStylePeer, "httpx + pydantic, openai-python retries"),
    "aiohttp_raw": (AiohttpRawPeer, "aiohttp, bytes only (floor)"),
}


def make_peer(name: str, options: dict[str, Any]) -> Peer:
    """A fresh, unopened peer; only tavus-async takes options."""
    factory, _ = PEERS[name]
    return factory(**options) if name == "tavus" else factory()

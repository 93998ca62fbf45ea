"""Bulk flow control: the pacer's decisions (pure), the retry accounting of a bulk call,
the limiter's one wake-up per slot, and a loopback server that paces with 429s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from support import eventually, sdk_tasks

from tavus_async import AsyncTavus, Persona, RateLimitError, RetryEvent, RetryPolicy
from tavus_async._limits import BulkFlow, Pacer, RateLimiter, _next_probe
from tavus_async._retry import BudgetConfig, RetryBudget, retrying
from tavus_async.errors import APIStatusError, error_for_status

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "sk-pacing-test-key"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# ------------------------------------------------------------------ Pacer (pure)


def send(pacer: Pacer, start: float, rate: float, seconds: float) -> list[float]:
    """Record sends at `rate` for `seconds` from `start`; return their times."""
    times = [start + i / rate for i in range(round(rate * seconds))]
    for t in times:
        pacer.on_sent(t)
    return times


def test_pacer_is_unpaced_until_a_429() -> None:
    pacer = Pacer()
    send(pacer, 0.0, 500, 1.0)
    assert pacer.rate is None
    assert pacer.interval(1.0) == 0.0


def test_first_429_paces_at_the_sends_the_server_accepted() -> None:
    pacer = Pacer()
    times = send(pacer, 0.0, 100, 0.5)  # 50 sends in the last second
    assert pacer.on_throttled(0.5, times[-1], retry_after=None)
    assert pacer.rate == pytest.approx(49)  # 50 sent, 1 refused


def test_429s_for_requests_sent_before_the_cut_do_not_cut_again() -> None:
    pacer = Pacer()
    times = send(pacer, 0.0, 100, 0.5)
    assert pacer.on_throttled(0.5, times[-1], None)
    rate = pacer.rate
    for t in times[-10:]:  # the rest of the same burst
        assert not pacer.on_throttled(0.51, t, None)
    assert pacer.rate == rate
    assert pacer.throttles == 11


def test_a_later_429_measures_the_accepted_rate() -> None:
    pacer = Pacer()
    first = send(pacer, 0.0, 300, 0.1)
    pacer.on_throttled(0.1, first[-1], None)
    # 300/s sent for a second, one in three refused: the server accepts 200/s. The
    # refusals come back together: the first cuts, the others were sent before that cut.
    times = send(pacer, 0.2, 300, 1.0)
    for t in times[::3]:
        pacer.on_throttled(1.2, t, None)
    assert pacer.throttles == 1 + len(times[::3])
    pacer.on_sent(1.25)
    assert pacer.on_throttled(1.3, 1.25, None)  # sent after the cut: measures
    assert pacer.rate is not None
    assert 190 <= pacer.rate <= 240  # about 200, or a plain cut when that is higher


def test_a_cut_never_undershoots_below_backoff_times_the_old_rate() -> None:
    pacer = Pacer()
    times = send(pacer, 0.0, 100, 1.0)
    pacer.on_throttled(1.0, times[-1], None)
    before = pacer.rate
    assert before is not None
    pacer.on_throttled(1.05, 1.02, None)  # too soon to measure: a plain cut
    assert pacer.rate == pytest.approx(before * Pacer.backoff)


@pytest.mark.parametrize("elapsed", [0.05, 0.5, 2.0])
def test_the_rate_grows_between_429s(elapsed: float) -> None:
    pacer = Pacer()
    times = send(pacer, 0.0, 100, 1.0)
    pacer.on_throttled(1.0, times[-1], None)
    start = pacer.interval(1.0)
    assert pacer.interval(1.0 + elapsed) < start


@pytest.mark.parametrize(
    ("probe", "ceiling", "measured", "expected"),
    [
        (Pacer.probe, None, 200.0, Pacer.probe),  # nothing measured before: probe as usual
        (Pacer.probe, 200.0, 198.0, Pacer.probe / 2),  # the same limit: probe half as fast
        (Pacer.probe, 200.0, 215.0, Pacer.probe / 2),  # within `same_limit` above it
        (Pacer.probe / 2, 200.0, 150.0, Pacer.probe / 4),  # a lower limit: halved again
        (Pacer.min_probe, 200.0, 200.0, Pacer.min_probe),  # never below the floor
        (Pacer.min_probe, 200.0, 260.0, Pacer.probe),  # the limit was raised: probe afresh
        (Pacer.probe / 2, 200.0, 0.0, Pacer.probe),  # nothing measured: probe afresh
    ],
)
def test_probing_slows_while_the_server_holds_its_limit(
    probe: float, ceiling: float | None, measured: float, expected: float
) -> None:
    assert _next_probe(probe, ceiling, measured) == pytest.approx(expected)


def probe_growth(pacer: Pacer, now: float) -> float:
    """How much the rate grows over the next second at the ceiling (no 429 in between)."""
    before = pacer.rate
    assert before is not None
    pacer.interval(now)
    pacer.interval(now + 1.0)
    assert pacer.rate is not None
    return pacer.rate / before


def test_a_server_holding_its_limit_is_probed_less_and_less_often() -> None:
    pacer = Pacer()
    first = send(pacer, 0.0, 300, 0.1)
    pacer.on_throttled(0.1, first[-1], None)  # the first cut
    growths = []
    now = 0.1
    for _ in range(4):  # the server keeps accepting 200/s: each cut measures about that
        times = send(pacer, now, 200, 1.0)
        now += 1.0
        assert pacer.on_throttled(now, times[-1], None)
        growths.append(probe_growth(pacer, now))
        now += 1.0
    assert growths[0] > growths[1] > growths[2]  # probing slowed at each cut
    assert growths[3] == pytest.approx(growths[2])  # down to the floor
    assert growths[3] > 1.0  # still probing: a raised limit is found


def test_never_spaced_further_than_retry_after_nor_below_the_floor() -> None:
    pacer = Pacer()
    pacer.on_sent(0.0)
    pacer.on_throttled(0.0, 0.0, retry_after=0.01)
    assert pacer.rate == Pacer.min_rate  # nothing was accepted
    assert pacer.interval(0.0) == pytest.approx(0.01)
    for i in range(1, 50):  # a server that refuses everything
        pacer.on_throttled(i * 1.0, i * 1.0 - 0.001, None)
    assert pacer.rate == Pacer.min_rate


# ------------------------------------------- retry accounting of a bulk call


def rate_limited() -> APIStatusError:
    error = error_for_status(429, b'{"message": "slow down"}', {"Retry-After": "5"})
    error.retry_after = 5.0
    return error


def unavailable() -> APIStatusError:
    return error_for_status(503, b'{"message": "busy"}', {})


async def run_call(
    flow: BulkFlow | None,
    failures: list[Callable[[], APIStatusError]],
    *,
    progress_between: bool,
    budget: RetryBudget | None = None,
    max_retries: int = 2,
    excuses: list[bool] | None = None,
    progress_for: int | None = None,
) -> tuple[int, BaseException | None, list[float]]:
    """Drive one call's tenacity loop over `failures` then a success; return attempts made,
    the error raised (if any) and the waits asked for (whether each only makes room for
    other ids goes to `excuses`)."""
    excuses = [] if excuses is None else excuses
    waits: list[float] = []

    async def sleep(seconds: float, makes_room: bool) -> None:
        waits.append(seconds)
        excuses.append(makes_room)

    policy = RetryPolicy(max_retries=max_retries, initial_backoff=0.5, jitter=False)
    loop = retrying(
        policy,
        "GET",
        elapsed=lambda: 0.0,
        budget=budget,
        closed=lambda: False,
        sleep=sleep,
        label="GET /v2/personas/x",
        flow=flow,
    )
    attempts = 0
    try:
        async for attempt in loop:
            with attempt:
                attempts += 1
                moved = progress_between and (progress_for is None or attempts <= progress_for)
                if flow is not None and moved:
                    flow.progress += 1  # other ids completed meanwhile
                if attempts <= len(failures):
                    raise failures[attempts - 1]()
    except APIStatusError as exc:
        return attempts, exc, waits
    return attempts, None, waits


async def test_429s_while_the_job_progresses_neither_count_nor_wait_nor_spend() -> None:
    budget = RetryBudget(BudgetConfig(capacity=3))
    attempts, error, waits = await run_call(
        BulkFlow(4), [rate_limited] * 10, progress_between=True, budget=budget
    )
    assert (attempts, error) == (11, None)  # far beyond max_retries=2: every id succeeds
    assert waits == [0.0] * 10  # the flow's pacer spaces them, not a Retry-After sleep
    assert budget.tokens == 3


async def test_server_errors_without_progress_back_off_exponentially() -> None:
    attempts, error, waits = await run_call(BulkFlow(4), [unavailable] * 5, progress_between=False)
    assert attempts == 3
    assert isinstance(error, APIStatusError)
    assert waits == [0.5, 1.0]


async def test_429s_without_progress_count_and_end_the_call() -> None:
    attempts, error, waits = await run_call(
        BulkFlow(4), [rate_limited] * 10, progress_between=False
    )
    assert attempts == 3
    assert isinstance(error, RateLimitError)
    assert waits == [0.0, 0.0]


async def test_server_errors_while_the_job_progresses_do_not_count_but_spend_budget() -> None:
    budget = RetryBudget(BudgetConfig(capacity=10))
    attempts, error, waits = await run_call(
        BulkFlow(4), [unavailable] * 5, progress_between=True, budget=budget
    )
    assert (attempts, error) == (6, None)
    assert budget.tokens == 5
    # The server is not down: the first failure is retried at once, repeats wait the first step.
    assert waits == [0.0] + [0.5] * 4


def unavailable_for_a_while() -> APIStatusError:
    error = error_for_status(503, b'{"message": "busy"}', {"Retry-After": "7"})
    error.retry_after = 7.0
    return error


@pytest.mark.parametrize(
    ("failure", "progress_between", "makes_room"),
    [
        (unavailable, True, True),  # excused: the wait only leaves the slot to other ids
        (unavailable, False, False),  # no progress: a backoff in full
        (unavailable_for_a_while, True, False),  # excused, but the server asked for the wait
    ],
)
async def test_the_wait_is_told_whether_it_only_makes_room_for_other_ids(
    failure: Callable[[], APIStatusError], progress_between: bool, makes_room: bool
) -> None:
    excuses: list[bool] = []
    await run_call(BulkFlow(4), [failure] * 2, progress_between=progress_between, excuses=excuses)
    assert excuses == [makes_room] * 2  # such a wait ends once the job has no id left to start


async def test_noise_before_an_outage_does_not_lengthen_its_backoff() -> None:
    """Four failures amid progress, then the job stalls: the backoff starts at its first
    step (numbered by the failures that count), not at the sixth."""
    attempts, error, waits = await run_call(
        BulkFlow(4), [unavailable] * 6, progress_between=True, max_retries=2, progress_for=4
    )
    assert waits == [0.0, 0.5, 0.5, 0.5, 0.5, 1.0]
    assert (attempts, error is None) == (7, True)


async def test_a_single_call_without_a_flow_counts_every_failure() -> None:
    attempts, error, waits = await run_call(None, [rate_limited] * 10, progress_between=True)
    assert attempts == 3
    assert isinstance(error, RateLimitError)
    assert waits == [5.0, 5.0]  # Retry-After honoured


async def test_the_bulk_flow_counts_progress_and_frees_slots_per_attempt() -> None:
    flow = BulkFlow(1)
    ticket = await flow.enter()
    blocked = asyncio.create_task(flow.enter())
    await asyncio.sleep(0)
    assert not blocked.done()  # the one slot is held for the attempt
    flow.exit(ticket, 503, None, False)  # a failed attempt frees it: its backoff holds none
    second = await blocked
    assert flow.progress == 0
    flow.exit(second, 408, None, False)  # an answer that is retried: no progress
    assert flow.progress == 0
    flow.exit(await flow.enter(), 404, None, True)  # a final answer: the job moves
    assert flow.progress == 1
    flow.exit(await flow.enter(), 429, 1.0, False)
    assert flow.rate is not None  # paced from the first 429 on
    assert flow.progress == 1


async def test_a_stopped_bulk_flow_lets_no_attempt_out() -> None:
    """After `stop(error)` every attempt raises a copy of it: one arriving later at once,
    one already waiting for a slot once it gets it (handing the slot back)."""
    flow = BulkFlow(1)
    ticket = await flow.enter()
    waiting = asyncio.create_task(flow.enter())
    await asyncio.sleep(0)
    refused = APIStatusError("Invalid access token", status_code=401)
    flow.stop(refused)
    flow.stop(APIStatusError("later", status_code=401))  # the first error is kept
    flow.exit(ticket, 401, None, True)
    for attempt in (waiting, asyncio.create_task(flow.enter())):
        with pytest.raises(APIStatusError) as info:
            await attempt
        assert info.value is not refused
        assert (info.value.status_code, info.value.message) == (401, "Invalid access token")
    assert flow.stopped is refused
    assert not flow._slots.locked()  # the waiter gave its slot back


# ----------------------------------------------- RateLimiter: one wake per slot


async def test_limiter_wakes_one_waiter_per_slot_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    timers = 0
    real_call_at = loop.call_at

    def call_at(when: float, callback: Callable[..., object], *args: Any) -> asyncio.TimerHandle:
        nonlocal timers
        timers += 1
        return real_call_at(when, callback, *args)

    monkeypatch.setattr(loop, "call_at", call_at)
    limiter = RateLimiter(2000)
    woken: list[int] = []
    resumed = 0

    async def waiter(i: int) -> None:
        nonlocal resumed
        await limiter.acquire()
        resumed += 1
        woken.append(i)

    waiters = 40
    await asyncio.gather(*(waiter(i) for i in range(waiters)))
    assert woken == list(range(waiters))  # FIFO
    assert resumed == waiters  # each waiter woke once, for its own slot
    assert timers <= waiters  # one timer serves the queue (at most one per slot)


async def test_limiter_catches_up_a_late_timer() -> None:
    limiter = RateLimiter(1000)  # 1 ms slots
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(10)]
    # Block the loop past several slots: the late timer lets out every waiter whose
    # ideal slot has passed, at once, instead of one per wake-up from now on.
    asyncio.get_running_loop().call_soon(time.sleep, 0.02)
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.sleep(0)
    assert sum(w.done() for w in waiters) >= 5
    await asyncio.gather(*waiters)


# --------------------------------------------- a server that paces with 429s


@pytest.fixture
async def bucket_server() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """A token bucket of 300/s, burst 5, answering 429 + Retry-After: 1 beyond it."""
    loop = asyncio.get_running_loop()
    state = {"tokens": 5.0, "at": loop.time()}
    counts = {"requests": 0, "throttled": 0}

    async def persona(request: web.Request) -> web.Response:
        counts["requests"] += 1
        now = loop.time()
        state["tokens"] = min(5.0, state["tokens"] + (now - state["at"]) * 300)
        state["at"] = now
        if state["tokens"] < 1:
            counts["throttled"] += 1
            return web.json_response(
                {"message": "slow down"}, status=429, headers={"Retry-After": "1"}
            )
        state["tokens"] -= 1
        pid = request.match_info["pid"]
        return web.json_response({"persona_id": pid, "persona_name": pid})

    app = web.Application()
    app.router.add_get("/v2/personas/{pid}", persona)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", counts
    finally:
        await runner.cleanup()


class FailsTwiceAmidProgress:
    """A server whose id `a` answers 503 twice, each time only once one more id completed
    than when `a` was sent (so the client counts progress since its previous failure: both
    are excused), and whose id `last` completes only once `a`'s retry was sent (an id is
    left to complete between the two failures)."""

    def __init__(self, a: str, last: str) -> None:
        self.a, self.last = a, last
        self.failures = 0
        self.done = 0
        self._waiters: list[tuple[int, asyncio.Event]] = []
        self._second_sent = asyncio.Event()

    def progress(self, finished: int, _total: int | None) -> None:
        """The bulk call's `on_progress`."""
        self.done = finished
        for count, event in self._waiters:
            if finished >= count:
                event.set()

    async def _until_done(self, count: int) -> None:
        event = asyncio.Event()
        self._waiters.append((count, event))
        if self.done >= count:
            event.set()
        await event.wait()

    async def handler(self, request: web.Request) -> web.StreamResponse:
        persona_id = request.path.rsplit("/", 1)[-1]
        if persona_id == self.a and self.failures < 2:
            self.failures += 1
            if self.failures == 2:
                self._second_sent.set()
            await self._until_done(self.done + 1)
            return web.json_response({"message": "busy"}, status=503)
        if persona_id == self.last:
            await self._second_sent.wait()
        return web.json_response({"persona_id": persona_id, "persona_name": persona_id})


@pytest.mark.parametrize("bulk", ["get_many", "iter_many"])
async def test_a_backoff_amid_progress_ends_once_every_id_has_started(
    app_server: Callable[[Handler], Awaitable[str]], bulk: str
) -> None:
    """`a` fails twice while other ids complete, so its second failure waits the first
    backoff step (an hour here). It only left its slot to other ids: once every id has
    started there is none left, and `a` is retried at once instead of an hour later."""
    a, *others, last = [f"p{i:011d}" for i in range(6)]
    rest = [*others, last]
    server = FailsTwiceAmidProgress(a, last)

    hour = RetryPolicy(initial_backoff=3600, max_backoff=3600, jitter=False, max_retries=2)
    base_url = await app_server(server.handler)
    async with AsyncTavus(api_key=KEY, base_url=base_url, retry=hour) as client:
        async with asyncio.timeout(10):  # a bound: the wait is an hour without the drain
            if bulk == "get_many":
                results = await client.personas.get_many(
                    [a, *rest], concurrency=2, return_exceptions=True, on_progress=server.progress
                )
            else:
                pairs = client.personas.iter_many(
                    [a, *rest], concurrency=2, on_progress=server.progress
                )
                results = [result async for _, result in pairs]
        assert not sdk_tasks()
    assert server.failures == 2
    fetched = [r.persona_id for r in results if isinstance(r, Persona)]
    assert sorted(fetched) == sorted([a, *rest])  # `a` last, for iter_many


async def test_a_retry_after_amid_progress_is_waited_out_after_every_id_has_started(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """`a` gets a 503 with `Retry-After: 7` while other ids complete. Every id then starts
    and completes: that ends a wait that only left the slot to other ids, not the one the
    server asked for. The policy's sleep runs to its end before `a` is sent again."""
    a, *rest = [f"p{i:011d}" for i in range(4)]
    arrivals: list[str] = []
    one_done = asyncio.Event()
    done = 0
    sleeping = asyncio.Event()
    release = asyncio.Event()
    waits: list[float] = []
    cut_short: list[float] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        persona_id = request.path.rsplit("/", 1)[-1]
        arrivals.append(persona_id)
        if persona_id == a and arrivals.count(a) == 1:
            await one_done.wait()  # the job progressed before the failure: excused
            return web.json_response({"message": "busy"}, status=503, headers={"Retry-After": "7"})
        return web.json_response({"persona_id": persona_id, "persona_name": persona_id})

    def progress(count: int, _total: int | None) -> None:
        nonlocal done
        done = count
        one_done.set()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        sleeping.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cut_short.append(seconds)
            raise

    policy = RetryPolicy(sleep=sleep)
    base_url = await app_server(handler)
    async with AsyncTavus(api_key=KEY, base_url=base_url, retry=policy) as client:
        async with asyncio.timeout(10):
            call = asyncio.ensure_future(
                client.personas.get_many(
                    [a, *rest], concurrency=2, return_exceptions=True, on_progress=progress
                )
            )
            await sleeping.wait()
            assert await eventually(lambda: done >= len(rest))  # every other id: drained
            for _ in range(10):  # the loop turns a drain takes to end a wait
                await asyncio.sleep(0)
            assert cut_short == []
            assert arrivals.count(a) == 1
            release.set()
            results = await call
        assert not sdk_tasks()
    assert waits == [7.0]
    assert arrivals.count(a) == 2
    assert all(isinstance(result, Persona) for result in results)


async def test_once_every_id_has_started_a_wait_that_made_room_is_none(
    app_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """`a` fails twice, each time after another id completed; by its second failure every
    id has started, so no id needs its slot and the retry is sent at once. The retry event
    (and the INFO line, and the policy's `sleep`) get that wait, 0 s, not a backoff step
    that does not happen."""
    a, b, c = [f"p{i:011d}" for i in range(3)]
    server = FailsTwiceAmidProgress(a, c)  # c completes between a's two failures

    waits: list[float] = []
    reported: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    def on_retry(event: RetryEvent) -> None:
        reported.append(event.wait)

    policy = RetryPolicy(initial_backoff=0.5, jitter=False, sleep=record)
    base_url = await app_server(server.handler)
    hooks = {"retry": [on_retry]}
    async with AsyncTavus(
        api_key=KEY, base_url=base_url, retry=policy, event_hooks=hooks
    ) as client:
        async with asyncio.timeout(10):
            results = await client.personas.get_many(
                [a, b, c], concurrency=2, return_exceptions=True, on_progress=server.progress
            )
    assert all(isinstance(result, Persona) for result in results)
    assert server.failures == 2
    assert reported == [0.0, 0.0]  # the first failure amid progress, then nothing to wait for
    assert waits == reported


async def test_a_server_pacing_with_429s_fails_no_id(
    bucket_server: tuple[str, dict[str, int]],
) -> None:
    base_url, counts = bucket_server
    ids = [f"p{i:011d}" for i in range(150)]
    async with AsyncTavus(api_key=KEY, base_url=base_url) as client:
        results = await client.personas.get_many(ids, concurrency=32, return_exceptions=True)
    assert [r.persona_id for r in results if isinstance(r, Persona)] == ids
    assert counts["throttled"] > 0  # the server did pace the job
    assert client.retry.budget is not None

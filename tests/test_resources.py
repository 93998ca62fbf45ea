"""`client.personas` and `client.pals`: list, create, patch, delete, and writes invalidating,
all through the public client against the stateful FakeTavus."""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import eventually, sdk_tasks

from tavus_async import (
    APIConnectionError,
    AsyncTavus,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    DecodeError,
    InternalServerError,
    InvalidIdError,
    InvalidPatchError,
    InvalidPersonaIdError,
    Layers,
    LLMLayer,
    NotFoundError,
    Page,
    Persona,
    RetryPolicy,
    TTLCache,
    UnprocessableEntityError,
    patch,
)
from tavus_async.testing import FakeTavus, Fault

pytestmark = pytest.mark.usefixtures("no_error_logs")

KEY = "sk-resources-test-key"
NUM = 25
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.002)


@pytest.fixture
async def server() -> AsyncIterator[FakeTavus]:
    async with FakeTavus(api_key=KEY, num_personas=NUM) as fake:
        yield fake


def client_for(server: FakeTavus, **options: Any) -> AsyncTavus:
    options.setdefault("retry", FAST)
    return AsyncTavus(api_key=KEY, base_url=server.base_url, **options)


def stub(index: int) -> dict[str, Any]:
    return {"persona_id": f"p{index:011d}", "persona_name": f"Stub {index}"}


def list_requests(server: FakeTavus, path: str = "/v2/personas") -> list[dict[str, str]]:
    return [r.query for r in server.requests if r.method == "GET" and r.path == path]


def script_pages(server: FakeTavus, *pages: dict[str, Any], path: str = "/v2/personas") -> None:
    """The next list requests answer these bodies, in order."""
    server.enqueue(*(Fault.http(200, page) for page in pages), method="GET", path=path)


# ---------------------------------------------------------------------- listing


async def test_list_walks_every_page_and_stops_at_total_count(server: FakeTavus) -> None:
    async with client_for(server) as client:
        ids = [p.persona_id async for p in client.personas.list(page_size=10)]
    assert ids == server.persona_ids
    # 25 personas in pages of 10: the third page reaches total_count, no fourth request.
    assert list_requests(server) == [
        {"page": "1", "limit": "10"},
        {"page": "2", "limit": "10"},
        {"page": "3", "limit": "10"},
    ]


async def test_list_stops_on_an_empty_page(server: FakeTavus) -> None:
    script_pages(server, {"data": [stub(0), stub(1)]}, {"data": []})
    async with client_for(server) as client:
        found = [p.persona_id async for p in client.personas.list(page_size=2)]
    assert found == [stub(0)["persona_id"], stub(1)["persona_id"]]
    assert len(list_requests(server)) == 2


async def test_list_stops_on_a_short_page_without_total_count(server: FakeTavus) -> None:
    script_pages(server, {"data": [stub(0), stub(1), stub(2)]}, {"data": [stub(3)]})
    async with client_for(server) as client:
        found = [p.persona_id async for p in client.personas.list(page_size=3)]
    assert len(found) == 4
    assert len(list_requests(server)) == 2


async def test_a_short_page_with_more_promised_reads_on_until_an_empty_page(
    server: FakeTavus,
) -> None:
    # A server capping `limit` sends short pages while total_count says more remain: the
    # listing goes on (stopping would drop personas) and ends on the empty page.
    script_pages(
        server,
        {"data": [stub(0), stub(1)], "total_count": 6},
        {"data": [stub(2), stub(3)], "total_count": 6},
        {"data": [], "total_count": 6},
    )
    async with client_for(server) as client:
        found = [p.persona_id async for p in client.personas.list(page_size=5)]
    assert found == [stub(i)["persona_id"] for i in range(4)]
    assert len(list_requests(server)) == 3


async def test_overlapping_pages_never_yield_an_id_twice(server: FakeTavus) -> None:
    script_pages(
        server,
        {"data": [stub(0), stub(1), stub(2)], "total_count": 5},
        {"data": [stub(2), stub(3), stub(4)], "total_count": 5},
    )
    async with client_for(server) as client:
        found = [p.persona_id async for p in client.personas.list(page_size=3)]
    assert found == [stub(i)["persona_id"] for i in range(5)]
    assert len(list_requests(server)) == 2  # five distinct ids: total_count reached


async def test_a_server_that_ignores_page_ends_the_listing(server: FakeTavus) -> None:
    same = {"data": [stub(0), stub(1)], "total_count": 50}
    script_pages(server, same, same, same, same)
    async with client_for(server) as client:
        found = [p.persona_id async for p in client.personas.list(page_size=2)]
    assert found == [stub(0)["persona_id"], stub(1)["persona_id"]]
    assert len(list_requests(server)) == 2  # the repeat page brought nothing new
    server.clear_faults()


async def test_list_filters_by_type_on_both_paths(server: FakeTavus) -> None:
    stock = {**stub(900), "persona_name": "Stock"}
    server.add_persona(stock, persona_type="system")
    async with client_for(server) as client:
        system = [p async for p in client.personas.list(persona_type="system")]
        pals = [p async for p in client.pals.list(pal_type="system")]
        users = [p async for p in client.pals.list(pal_type="user")]
    assert [p.persona_id for p in system] == [stock["persona_id"]]
    assert [p.pal_id for p in pals] == [stock["persona_id"]]
    assert pals[0].pal_name == "Stock"
    assert len(users) == NUM
    assert list_requests(server)[0]["persona_type"] == "system"
    assert list_requests(server, "/v2/pals")[0]["pal_type"] == "system"


async def test_list_page_returns_one_page(server: FakeTavus) -> None:
    async with client_for(server) as client:
        page = await client.pals.list_page(page=3, limit=10)
    assert isinstance(page, Page)
    assert (page.page, page.limit, page.total_count) == (3, 10, NUM)
    assert [p.persona_id for p in page.data] == server.persona_ids[20:]


async def test_a_list_answer_that_is_no_page_is_a_decode_error(server: FakeTavus) -> None:
    script_pages(server, {"items": []}, {"data": [{"persona_name": "no id"}]})
    async with client_for(server) as client:
        with pytest.raises(DecodeError, match="not a page of personas"):
            await client.personas.list_page()
        with pytest.raises(DecodeError, match="item 0 of the page"):
            await client.personas.list_page()


async def _run(call: Any, client: AsyncTavus) -> None:
    """Call and, for a coroutine (`list_page`), await: `list` raises when called."""
    result = call(client)
    if asyncio.iscoroutine(result):
        await result


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda c: c.personas.list(page_size=0), ValueError, "page_size"),
        (lambda c: c.personas.list(persona_type="robot"), ValueError, "persona_type"),
        (lambda c: c.pals.list(pal_type=1), TypeError, "pal_type"),
        (lambda c: c.personas.list_page(page=0), ValueError, "page"),
        (lambda c: c.pals.list_page(limit=True), TypeError, "limit"),
    ],
)
async def test_list_arguments_are_checked_before_any_io(
    server: FakeTavus, call: Any, error: type[Exception], match: str
) -> None:
    async with client_for(server) as client:
        with pytest.raises(error, match=match):
            await _run(call, client)
    assert server.request_count == 0


# ----------------------------------------------------------------------- create


async def test_create_sends_only_the_fields_given_and_returns_the_persona(
    server: FakeTavus,
) -> None:
    layers = Layers(llm=LLMLayer(model="tavus-llama", api_key="sk-llm-secret"))
    async with client_for(server) as client:
        created = await client.personas.create(
            persona_name="Coach",
            system_prompt="Be kind.",
            layers=layers,
            document_tags=["faq"],
            extra_body={"brand_new_field": {"on": True}, "context": "from extra"},
        )
    assert isinstance(created, Persona)
    assert created.persona_name == "Coach"
    assert created.created_at is not None
    sent = json.loads(server.requests[-1].body)
    assert sent == {
        "persona_name": "Coach",
        "system_prompt": "Be kind.",
        "document_tags": ["faq"],
        "layers": {"llm": {"model": "tavus-llama", "api_key": "sk-llm-secret"}},
        "brand_new_field": {"on": True},
        "context": "from extra",
    }
    assert server.requests[-1].headers["content-type"] == "application/json"
    stored = server.persona_json(created.persona_id)
    assert stored["brand_new_field"] == {"on": True}


async def test_create_takes_layers_as_a_dict(server: FakeTavus) -> None:
    async with client_for(server) as client:
        created = await client.pals.create(
            default_face_id="r123", pal_name="Pal", layers={"tts": {"tts_engine": "cartesia"}}
        )
        fetched = await client.pals.get(created.pal_id)
    assert created.pal_name == "Pal"
    assert fetched.default_face_id == "r123"
    assert fetched.layers is not None and fetched.layers.tts is not None
    assert fetched.layers.tts.tts_engine == "cartesia"
    assert json.loads(server.requests[0].body)["default_face_id"] == "r123"


async def test_pals_create_requires_default_face_id_before_any_io(server: FakeTavus) -> None:
    async with client_for(server) as client:
        with pytest.raises(ValueError, match="default_face_id"):
            await client.pals.create(default_face_id="", pal_name="x")
        with pytest.raises(TypeError, match="default_face_id"):
            await client.pals.create(pal_name="x")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="layers"):
            await client.personas.create(layers="llm")  # type: ignore[arg-type]
    assert server.request_count == 0


async def test_a_create_whose_answer_was_lost_is_not_sent_twice(server: FakeTavus) -> None:
    server.enqueue(Fault.lose_response(), method="POST")
    async with client_for(server) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.personas.create(persona_name="Once")
    assert caught.value.attempts == 1
    assert [r.method for r in server.requests] == ["POST"]


async def test_a_decode_error_reports_the_status_received(server: FakeTavus) -> None:
    server.enqueue(Fault.http(201, {"persona_name": "no id"}), method="POST")
    server.enqueue(Fault.http(203, ["not", "a", "persona"]), method="GET")
    async with client_for(server) as client:
        with pytest.raises(DecodeError) as created:
            await client.personas.create(persona_name="Bad answer")
        with pytest.raises(DecodeError) as fetched:
            await client.personas.get(server.persona_ids[0])
    assert created.value.status_code == 201
    assert fetched.value.status_code == 203


# ------------------------------------------------------------------------ patch


async def test_patch_applies_then_reports_no_change(server: FakeTavus) -> None:
    pid = server.persona_ids[0]
    ops = [{"op": "replace", "path": "/persona_name", "value": "Renamed"}]
    async with client_for(server) as client:
        assert await client.personas.patch(pid, ops) is True
        assert await client.personas.patch(pid, ops) is False  # 304: nothing changed
        assert (await client.personas.get(pid)).persona_name == "Renamed"
    assert json.loads(server.requests[0].body) == ops


async def test_patch_takes_typed_operations(server: FakeTavus) -> None:
    pid = server.persona_ids[1]
    ops = [
        patch.Add("/document_tags", ["a"]),
        patch.Test("/document_tags", ["a"]),
        patch.Copy(from_="/document_tags", path="/document_ids"),
        patch.Remove("/context"),
    ]
    async with client_for(server) as client:
        assert await client.personas.patch(pid, ops)
        persona = await client.personas.get(pid)
    assert persona.document_ids == ["a"] and persona.context is None
    assert json.loads(server.requests[0].body)[2] == {
        "op": "copy",
        "from": "/document_tags",
        "path": "/document_ids",
    }


@pytest.mark.parametrize(
    "ops",
    [
        [],
        {"op": "add", "path": "/x", "value": 1},
        [{"op": "frobnicate", "path": "/x"}],
        [{"op": "replace", "path": "persona_name", "value": "no slash"}],
        [{"op": "replace", "path": "/persona_name"}],
        [{"op": "move", "path": "/a"}],
    ],
)
async def test_an_invalid_patch_is_refused_before_any_io(server: FakeTavus, ops: Any) -> None:
    async with client_for(server) as client:
        with pytest.raises(InvalidPatchError):
            await client.personas.patch(server.persona_ids[0], ops)
        with pytest.raises(InvalidPersonaIdError):
            await client.pals.patch("../x", [{"op": "remove", "path": "/context"}])
    assert server.request_count == 0


async def test_a_patch_the_server_refuses_is_a_422(server: FakeTavus) -> None:
    async with client_for(server) as client:
        with pytest.raises(UnprocessableEntityError) as caught:
            await client.personas.patch(
                server.persona_ids[0], [{"op": "remove", "path": "/no_such_field"}]
            )
    assert caught.value.status_code == 422
    assert caught.value.message == "Invalid JSON patch format"


async def test_a_pal_with_maker_changes_conflicts_until_forced(server: FakeTavus) -> None:
    pid = server.persona_ids[2]
    server.set_draft(pid)
    ops = [patch.Replace("/pal_name", "Forced")]
    async with client_for(server) as client:
        with pytest.raises(ConflictError) as caught:
            await client.pals.patch(pid, ops)
        assert caught.value.status_code == 409
        assert "force=True" in str(caught.value)
        assert caught.value.body["conflict"] == "maker_changes"  # type: ignore[index]
        assert await client.pals.patch(pid, ops, force=True) is True
        assert (await client.pals.get(pid)).pal_name == "Forced"
    patches = [r for r in server.requests if r.method == "PATCH"]
    assert [r.query for r in patches] == [{}, {"force": "true"}]


async def test_patch_of_an_unknown_id_is_not_found(server: FakeTavus) -> None:
    async with client_for(server) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.pals.patch("pnosuch00000", [patch.Remove("/context")])
    assert isinstance(caught.value, BadRequestError) and caught.value.status_code == 400


# ----------------------------------------------------------------------- delete


async def test_delete_then_get_is_not_found(server: FakeTavus) -> None:
    pid = server.persona_ids[3]
    async with client_for(server) as client:
        await client.personas.delete(pid)
        with pytest.raises(InvalidIdError) as caught:
            await client.personas.get(pid)
        with pytest.raises(NotFoundError):  # a first attempt's not-found is raised
            await client.personas.delete(pid)
    assert caught.value.status_code == 400
    assert not server.has_persona(pid)


async def test_a_retried_delete_that_finds_nothing_succeeded(server: FakeTavus) -> None:
    pid = server.persona_ids[4]
    server.enqueue(Fault.lose_response(), method="DELETE")
    async with client_for(server) as client:
        await client.pals.delete(pid)  # attempt 1 deleted it, attempt 2 finds nothing
    deletes = [r for r in server.requests if r.method == "DELETE"]
    assert len(deletes) == 2
    assert not server.has_persona(pid)


# ------------------------------------------------------------------ invalidation


async def test_writes_invalidate_the_cache_on_both_paths(server: FakeTavus) -> None:
    pid = server.persona_ids[5]
    async with client_for(server, cache_ttl=60) as client:
        await client.personas.get(pid)
        await client.pals.get(pid)  # one cache for both paths
        assert server.request_count == 1
        await client.pals.patch(pid, [patch.Replace("/pal_name", "New")])
        assert (await client.personas.get(pid)).persona_name == "New"
        await client.personas.get(pid)
        assert server.request_count == 3  # get, patch, get; then a hit
        await client.personas.delete(pid)
        with pytest.raises(NotFoundError):
            await client.pals.get(pid)


async def test_a_failed_write_still_invalidates(server: FakeTavus) -> None:
    pid = server.persona_ids[6]
    server.enqueue(Fault.lose_response(), method="PATCH")  # applied, answer lost
    async with client_for(server, cache_ttl=60) as client:
        await client.personas.get(pid)
        with pytest.raises(APIConnectionError):
            await client.personas.patch(pid, [patch.Replace("/persona_name", "Maybe")])
        assert (await client.personas.get(pid)).persona_name == "Maybe"


@pytest.mark.parametrize("cached", [False, True])
async def test_a_get_after_a_write_never_joins_a_request_sent_before_it(
    server: FakeTavus, cached: bool
) -> None:
    pid = server.persona_ids[7]
    old = server.persona_json(pid)
    # The GET sent before the write: its answer (the old persona) is held back.
    held = Fault(200, old, delay=0.3) if cached else Fault.stall()
    server.enqueue(held, persona_id=pid, method="GET")
    options = {"cache_ttl": 60} if cached else {}
    async with client_for(server, **options) as client:
        before = asyncio.create_task(client.personas.get(pid))
        assert await eventually(lambda: server.request_count == 1)
        assert await client.personas.patch(pid, [patch.Replace("/persona_name", "After")])
        async with asyncio.timeout(5):  # joining the held request would hang or be stale
            after = await client.personas.get(pid)
        assert after.persona_name == "After"
        if cached:
            assert (await before).persona_name == old["persona_name"]
            # Its answer came after the write: it must not have replaced the fresh entry.
            assert (await client.personas.get(pid)).persona_name == "After"
            assert server.request_count == 3
        else:
            before.cancel()
            with pytest.raises(asyncio.CancelledError):
                await before
    assert not sdk_tasks()


# ---------------------------------------------------------------------- journey


@pytest.mark.parametrize("path", ["personas", "pals"])
async def test_create_get_list_patch_get_delete_get(server: FakeTavus, path: str) -> None:
    async with client_for(server, cache_ttl=60) as client:
        if path == "personas":
            resource: Any = client.personas
            created = await resource.create(persona_name="Journey", default_replica_id="r1")
            name = "/persona_name"
        else:
            resource = client.pals
            created = await resource.create(pal_name="Journey", default_face_id="r1")
            name = "/pal_name"
        pid = created.persona_id
        fetched = await resource.get(pid)
        assert (fetched.persona_name, fetched.default_replica_id) == ("Journey", "r1")
        listed = [p async for p in resource.list(page_size=7)]
        assert [p.persona_id for p in listed] == [*server.persona_ids, pid]
        assert await resource.patch(pid, [patch.Replace(name, "Journey 2")]) is True
        assert (await resource.get(pid)).persona_name == "Journey 2"
        await resource.delete(pid)
        with pytest.raises(NotFoundError):
            await resource.get(pid)
    paths = {r.path.split("/")[2] for r in server.requests}
    assert paths == {path}


# ------------------------------------------------------------- client wiring


class CountingLimiter:
    """A RateLimiterProtocol that counts acquisitions and has an aclose to (not) call."""

    def __init__(self) -> None:
        self.acquired = 0
        self.closed = False
        self.block = False
        self.waiting = False
        self.cancelled = False

    async def acquire(self) -> None:
        if self.block:
            self.waiting = True
            try:
                await asyncio.get_running_loop().create_future()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        self.acquired += 1

    async def aclose(self) -> None:
        self.closed = True


async def test_a_limiter_and_cache_passed_in_are_used_and_left_open(server: FakeTavus) -> None:
    limiter = CountingLimiter()
    cache = TTLCache(60, 10)
    pid = server.persona_ids[0]
    async with client_for(server, rate_limiter=limiter, cache=cache) as client:
        assert client.cache is cache and client.rate_limiter is limiter
        await client.personas.get(pid)
    async with client_for(server, cache=cache) as other:  # a second client shares the cache
        await other.personas.get(pid)
    assert server.request_count == 1
    assert limiter.acquired == 1
    assert not limiter.closed
    assert len(cache) == 1


async def test_close_ends_a_wait_for_the_limiter(server: FakeTavus) -> None:
    limiter = CountingLimiter()
    limiter.block = True
    client = client_for(server, rate_limiter=limiter)
    call = asyncio.create_task(client.personas.get(server.persona_ids[0]))
    assert await eventually(lambda: limiter.waiting)
    await client.close()
    with pytest.raises(ClientClosedError):
        await call
    assert limiter.cancelled
    assert server.request_count == 0


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"rate_limit": 5, "rate_limiter": CountingLimiter()}, ValueError, "not both"),
        ({"cache_ttl": 5, "cache": TTLCache(5)}, ValueError, "not both"),
        ({"cache_size": 5, "cache": TTLCache(5)}, ValueError, "not both"),
        ({"rate_limiter": object()}, TypeError, "RateLimiterProtocol"),
        ({"cache": {}}, TypeError, "CacheProtocol"),
        ({"rate_limit": 0}, ValueError, "rate_limit"),
        ({"cache_ttl": 1, "cache_size": 0}, ValueError, "cache_size"),
    ],
)
def test_store_arguments_are_checked(options: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        AsyncTavus(api_key=KEY, **options)


# ------------------------------------------------------------------------ secrets


def rendered(exc: BaseException) -> str:
    """The error and the SDK's frames below the test's own, with their local variables."""
    assert exc.__traceback__ is not None
    below = traceback.walk_tb(exc.__traceback__.tb_next)
    frames = traceback.StackSummary.extract(below, capture_locals=True)
    assert frames, "no SDK frame to look at"
    return "".join(frames.format()) + repr(exc) + str(exc)


async def test_credentials_sent_in_a_write_stay_out_of_a_traceback(server: FakeTavus) -> None:
    secret = "sk-llm-credential-0123456789"
    server.enqueue(Fault.http(500), Fault.http(500), method="POST")
    server.enqueue(Fault.http(500), method="PATCH")
    async with client_for(server) as client:
        with pytest.raises(InternalServerError) as as_model:
            await client.personas.create(layers=Layers(llm=LLMLayer(api_key=secret)))
        with pytest.raises(InternalServerError) as as_dict:
            await client.pals.create(
                default_face_id="r1", extra_body={"layers": {"tts": {"api_key": secret}}}
            )
        with pytest.raises(InternalServerError) as patched:
            await client.personas.patch(
                server.persona_ids[0], [patch.Replace("/layers/llm/api_key", secret)]
            )
    assert secret.encode() in server.requests[0].body  # it was sent
    for caught in (as_model, as_dict, patched):
        assert secret not in rendered(caught.value)

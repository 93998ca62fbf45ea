"""Paging: the pure stop rule, and iterate_pages over plain async fetch functions (no mocks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tavus_async._paging import Page, StopReason, iterate_pages, stop_reason

Fetch = Callable[[int, int], Awaitable[Page[str]]]


def page(size: int, *, total: int | None, limit: int = 10, number: int = 1) -> Page[str]:
    return Page(data=[f"p{i}" for i in range(size)], total_count=total, page=number, limit=limit)


@pytest.mark.parametrize(
    ("current", "seen", "new", "reason"),
    [
        (page(10, total=25), 10, 10, None),
        (page(10, total=25, number=2), 20, 10, None),
        (page(5, total=25, number=3), 25, 5, "total_count reached"),
        (page(10, total=20, number=2), 20, 10, "total_count reached"),
        (page(10, total=10), 10, 10, "total_count reached"),
        (page(10, total=5), 10, 10, "total_count reached"),  # more than announced
        (page(0, total=25, number=3), 20, 0, "empty page"),
        (page(0, total=0), 0, 0, "empty page"),
        (page(0, total=None), 0, 0, "empty page"),
        (page(10, total=25, number=2), 10, 0, "no new items"),  # the server ignored `page`
        (page(10, total=None, number=2), 10, 0, "no new items"),
        (page(10, total=25, number=2), 14, 4, None),  # overlapping pages, more to come
        (page(4, total=25), 4, 4, None),  # short, but total_count says more: capped limit
        (page(4, total=None), 4, 4, "short page"),
        (page(10, total=None), 10, 10, None),
        (page(12, total=None), 12, 12, None),  # longer than asked: not short
    ],
)
def test_stop_reason(current: Page[str], seen: int, new: int, reason: StopReason | None) -> None:
    assert stop_reason(current, seen=seen, new=new) == reason


class Server:
    """A list endpoint over `items`, recording the (page, limit) of each fetch."""

    def __init__(
        self,
        items: list[str],
        *,
        total: bool = True,
        cap: int | None = None,
        ignore_page: bool = False,
        extra_total: int = 0,
    ) -> None:
        self.items = items
        self.total = total
        self.cap = cap
        self.ignore_page = ignore_page
        self.extra_total = extra_total
        self.calls: list[tuple[int, int]] = []

    async def fetch(self, number: int, limit: int) -> Page[str]:
        self.calls.append((number, limit))
        served = min(limit, self.cap) if self.cap else limit
        start = 0 if self.ignore_page else (number - 1) * served
        total = len(self.items) + self.extra_total if self.total else None
        return Page(
            data=self.items[start : start + served], total_count=total, page=number, limit=limit
        )


def ids(count: int) -> list[str]:
    return [f"p{i:03d}" for i in range(count)]


async def collect(fetch: Fetch, page_size: int = 10) -> list[str]:
    return [item async for item in iterate_pages(fetch, page_size=page_size, id_of=str)]


@pytest.mark.parametrize(
    ("count", "total", "pages"),
    [
        (25, True, [1, 2, 3]),  # short last page, total reached
        (20, True, [1, 2]),  # total reached on a full page: no empty fetch
        (0, True, [1]),
        (25, False, [1, 2, 3]),  # short page
        (20, False, [1, 2, 3]),  # an empty page ends it
        (0, False, [1]),
        (10, True, [1]),
        (3, False, [1]),
    ],
)
async def test_every_item_once_and_no_extra_fetch(
    count: int, total: bool, pages: list[int]
) -> None:
    server = Server(ids(count), total=total)
    assert await collect(server.fetch) == ids(count)
    assert server.calls == [(number, 10) for number in pages]


async def test_a_server_that_ignores_page_ends_instead_of_looping() -> None:
    server = Server(ids(25), ignore_page=True)
    assert await collect(server.fetch) == ids(10)
    assert [number for number, _ in server.calls] == [1, 2]


async def test_overlapping_pages_never_yield_an_id_twice() -> None:
    items = ids(25)
    calls: list[int] = []

    async def fetch(number: int, limit: int) -> Page[str]:
        calls.append(number)
        # Something was inserted before page 2 was read: every later page starts one early.
        start = (number - 1) * limit - (1 if number > 1 else 0)
        return Page(data=items[start : start + limit], total_count=25, page=number, limit=limit)

    assert await collect(fetch) == items
    assert calls == [1, 2, 3]


async def test_duplicates_within_a_page_are_yielded_once() -> None:
    async def fetch(number: int, limit: int) -> Page[str]:
        data = ["a", "b", "a", "c"] if number == 1 else []
        return Page(data=data, total_count=None, page=number, limit=limit)

    assert await collect(fetch, page_size=4) == ["a", "b", "c"]


async def test_a_capped_limit_still_reaches_total_count() -> None:
    server = Server(ids(10), cap=4)
    assert await collect(server.fetch) == ids(10)
    assert server.calls == [(1, 10), (2, 10), (3, 10)]


async def test_a_stale_total_count_ends_on_the_empty_page() -> None:
    server = Server(ids(20), extra_total=5)
    assert await collect(server.fetch) == ids(20)
    assert [number for number, _ in server.calls] == [1, 2, 3]


async def test_items_come_lazily_page_by_page() -> None:
    server = Server(ids(25))
    iterator = iterate_pages(server.fetch, page_size=5, id_of=str)
    assert await anext(iterator) == "p000"
    assert server.calls == [(1, 5)]
    for _ in range(4):
        await anext(iterator)
    assert server.calls == [(1, 5)]
    assert await anext(iterator) == "p005"
    assert server.calls == [(1, 5), (2, 5)]
    await iterator.aclose()


async def test_id_of_decides_identity() -> None:
    async def fetch(number: int, limit: int) -> Page[dict[str, str]]:
        data = [{"id": "a", "v": "1"}, {"id": "a", "v": "2"}, {"id": "b", "v": "3"}]
        return Page(data=data if number == 1 else [], total_count=None, page=number, limit=limit)

    got = [item async for item in iterate_pages(fetch, page_size=3, id_of=lambda p: p["id"])]
    assert [item["v"] for item in got] == ["1", "3"]


async def test_a_fetch_error_propagates() -> None:
    async def fetch(number: int, limit: int) -> Page[str]:
        if number == 2:
            raise RuntimeError("page 2 failed")
        return Page(data=ids(limit), total_count=100, page=number, limit=limit)

    iterator = iterate_pages(fetch, page_size=10, id_of=str)
    assert [await anext(iterator) for _ in range(10)] == ids(10)
    with pytest.raises(RuntimeError, match="page 2 failed"):
        await anext(iterator)


@pytest.mark.parametrize("size", [0, -1])
async def test_page_size_must_be_positive(size: int) -> None:
    server = Server(ids(3))
    with pytest.raises(ValueError, match="page_size"):
        await collect(server.fetch, page_size=size)
    assert server.calls == []


def test_page_is_frozen() -> None:
    current = page(1, total=1)
    with pytest.raises(AttributeError):
        current.page = 2  # type: ignore[misc]

"""Paging over the API's `limit`/`page` lists: the pure stop rule and the iterator built on it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from typing import Any, Generic, Literal, TypeVar

import msgspec

__all__ = ["Page", "StopReason", "iterate_pages", "stop_reason"]

T = TypeVar("T")

StopReason = Literal["empty page", "no new items", "total_count reached", "short page"]


class Page(msgspec.Struct, Generic[T], frozen=True):
    """One page of a list: its items, the server's `total_count`, and the request's
    1-based `page` number and `limit`."""

    data: list[T]
    total_count: int | None
    page: int
    limit: int


def stop_reason(page: Page[Any], *, seen: int, new: int) -> StopReason | None:
    """Why listing ends after `page`, or None when the next page must be fetched.

    `seen` counts the distinct ids yielded so far (this page's included), `new` those this
    page added. A page with nothing new ends the listing, so a server that ignores `page`
    cannot make it loop. While `total_count` says more remain, a short page does not end
    it (the server may cap `limit`); the next page, empty, will.
    """
    if not page.data:
        return "empty page"
    if new == 0:
        return "no new items"
    if page.total_count is not None:
        return "total_count reached" if seen >= page.total_count else None
    if len(page.data) < page.limit:
        return "short page"
    return None


async def iterate_pages(
    fetch_page: Callable[[int, int], Awaitable[Page[T]]],
    *,
    page_size: int,
    id_of: Callable[[T], Hashable],
) -> AsyncGenerator[T, None]:
    """Yield the items of pages 1, 2, ... (`fetch_page(page, limit)`) until `stop_reason`
    says the list is done; an id already yielded is skipped (pages can overlap)."""
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    seen: set[Hashable] = set()
    number = 1
    while True:
        page = await fetch_page(number, page_size)
        fresh = []
        for item in page.data:
            key = id_of(item)
            if key not in seen:
                seen.add(key)
                fresh.append(item)
        for item in fresh:
            yield item
        if stop_reason(page, seen=len(seen), new=len(fresh)) is not None:
            return
        number += 1

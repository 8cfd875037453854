"""Relay connection plumbing shared by every list: building edges and page info from a Page."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from strawberry import relay

from api.pagination import Page

R = TypeVar("R")
N = TypeVar("N", bound=relay.Node)


def page_info(page: Page[R]) -> relay.PageInfo:
    return relay.PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.cursors[-1] if page.cursors else None,
    )


def edges(page: Page[R], to_node: Callable[[R], N]) -> list[relay.Edge[N]]:
    return [relay.Edge(cursor=c, node=to_node(r)) for c, r in zip(page.cursors, page.rows, strict=True)]

"""docs/segments.md runs: each of its GraphQL examples, on its worked example's five customers,
returns the customers written under it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.customer_filters import TEXT_FIELDS, TIME_FIELDS
from tests.conftest import Api
from tests.test_api_segments import add_five

DOC = Path(__file__).resolve().parent.parent / "docs" / "segments.md"
EXAMPLE = re.compile(r"```graphql\n(.*?)```\nResult: ([^\n]*)\n", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    found = EXAMPLE.findall(DOC.read_text())
    assert len(found) >= 8, "the examples of docs/segments.md are no longer found"
    return found


def names(data: dict[str, Any]) -> str:
    return ", ".join(sorted(e["node"]["name"] for e in data["customers"]["edges"]))


@pytest.mark.asyncio
async def test_every_example_of_the_segments_doc_returns_what_it_says(api: Api) -> None:
    await add_five(api)
    for query, result in examples():
        data = await api.data(query)
        if "createSegment" in data:
            payload = data["createSegment"]
            assert payload["userErrors"] == [], query
            count = int(re.fullmatch(r"\(a segment, (\d+) customers\)", result).group(1))  # type: ignore[union-attr]
            assert payload["segment"]["customerCount"] == count, query
        else:
            assert names(data) == result, query


def test_the_fields_the_doc_lists_are_those_a_comparison_takes() -> None:
    text = DOC.read_text()
    listed = re.search(r"- \*\*field\*\*: one of (.*?), or `attributes", text, re.DOTALL)
    assert listed is not None
    assert set(re.findall(r"`(\w+)`", listed.group(1))) == set(TEXT_FIELDS) | set(TIME_FIELDS)

"""No N+1: a page of customers with their newest interactions costs a fixed number of queries."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from api.interactions import NewInteraction, record_many
from plugins.manager import load_plugins
from tests.conftest import Api, new_customer, raw_id

pytestmark = pytest.mark.asyncio

PAGE = """
query($n: Int!) {
  customers(first: $n) {
    totalCount
    edges { node { id name tags interactions(first: 5) {
      totalCount
      edges { node { id kind occurredAt amount customer { name } } }
    } } }
  }
}
"""


class QueryCounter(logging.Handler):
    """Counts the SQL statements Tortoise sends (it logs each one on tortoise.db_client)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.statements.append(message)


@pytest.fixture
def sql_log() -> Iterator[QueryCounter]:
    """Every statement sent: the ORM's, and the compiled reads' (which skip the ORM)."""
    loggers = [logging.getLogger("tortoise.db_client"), logging.getLogger("jornada.sql")]
    counter = QueryCounter()
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(counter)
    yield counter
    for logger, level in zip(loggers, previous, strict=True):
        logger.removeHandler(counter)
        logger.setLevel(level)


async def seed(api: Api, customers: int, each: int) -> None:
    kinds = load_plugins(autoload=False).kinds
    start = datetime(2025, 1, 1, tzinfo=UTC)
    items = []
    for n in range(customers):
        customer = await new_customer(api, name=f"Cliente {n:03d}", tags=["a", "b"])
        for k in range(each):
            items.append(
                NewInteraction(
                    customer_id=raw_id(customer["id"]),
                    kind="site_visit",
                    occurred_at=start + timedelta(days=n + k),
                )
            )
    results = await record_many(api.workspace_id, items, kinds)
    assert all(not isinstance(r, list) for r in results)


async def count_for(api: Api, sql_log: QueryCounter, page: int) -> int:
    sql_log.statements.clear()
    data = await api.data(PAGE, {"n": page})
    assert len(data["customers"]["edges"]) == page
    assert all(len(e["node"]["interactions"]["edges"]) == 5 for e in data["customers"]["edges"])
    return len(sql_log.statements)


async def test_query_count_does_not_grow_with_the_page(api: Api, sql_log: QueryCounter) -> None:
    await seed(api, customers=100, each=7)
    small = await count_for(api, sql_log, 5)
    large = await count_for(api, sql_log, 100)
    assert large == small, sql_log.statements
    # auth, page, total, interactions page, interaction totals, customers of interactions
    assert large <= 6, sql_log.statements


CONTEXT_TABLES = re.compile(r'\b(?:FROM|JOIN)\s+"?(?:api_key|workspace|workspace_model)"?\s', re.IGNORECASE)


async def test_a_compiled_page_is_one_statement_with_the_key_check(api: Api, sql_log: QueryCounter) -> None:
    await seed(api, customers=20, each=7)
    assert await count_for(api, sql_log, 20) == 1, sql_log.statements


async def test_a_metrics_request_reads_its_context_in_one_statement(api: Api, sql_log: QueryCounter) -> None:
    """Key, workspace, models and the distribution: one round trip (it was four).

    The compiled read path answers ``metrics { stageDistribution }`` in the very
    statement that reads the key, so nothing else reaches the database.
    """
    await seed(api, customers=3, each=2)
    sql_log.statements.clear()
    data = await api.data("{ metrics { stageDistribution { stage { key } count } } }")
    assert sum(s["count"] for s in data["metrics"]["stageDistribution"]) == 3
    context = [s for s in sql_log.statements if CONTEXT_TABLES.search(s)]
    assert len(context) == 1, sql_log.statements
    assert len(sql_log.statements) == 1, sql_log.statements


async def test_a_metrics_request_strawberry_answers_reads_its_context_once(api: Api, sql_log: QueryCounter) -> None:
    """A period sends metrics to Strawberry: the context is still one statement."""
    await seed(api, customers=3, each=2)
    sql_log.statements.clear()
    query = '{ metrics(period: {start: "2000-01-01T00:00:00Z"}) { stageDistribution { count } } }'
    data = await api.data(query)
    assert sum(s["count"] for s in data["metrics"]["stageDistribution"]) == 3
    context = [s for s in sql_log.statements if CONTEXT_TABLES.search(s)]
    assert len(context) == 1, sql_log.statements
    assert len(sql_log.statements) == 2, sql_log.statements  # and the distribution itself


async def test_the_health_of_a_page_of_customers_is_one_statement(api: Api, sql_log: QueryCounter) -> None:
    for n in range(6):
        await new_customer(api, name=f"C{n}")
    query = "{ customers(first: 6) { edges { node { health { score } reengagement { worthWinningBack } } } } }"
    sql_log.statements.clear()
    data = await api.data(query)
    assert len(data["customers"]["edges"]) == 6
    assert all(e["node"]["health"]["score"] is not None for e in data["customers"]["edges"])
    scores = [s for s in sql_log.statements if "support_ticket_opened" in s]
    assert len(scores) == 1, scores  # one statement scores all six, for both fields

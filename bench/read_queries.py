"""The read-path benchmark's two reads, each as a GraphQL query and as ONE hand-written SQL
statement per database (the anchor), with what both must agree on.

1. `page`: the 50 newest customers, each with its 5 newest interactions (1,287 fields).
2. `board`: the 50 newest customers with their stage, their last 10 moves and their 3 newest
   interactions, through aliases and a fragment.
3. `stages`: the stage distribution of `metrics` (not compiled: what it measures is the context
   and the Python around one aggregate).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

CUSTOMERS_PAGE = 50
INTERACTIONS_PAGE = 5
MOVES = 10
RECENT = 3
MODEL = "funnel"  # the generated workspace's primary model

View = list[tuple[Any, ...]]  # what both sides must agree on, customer by customer


@dataclass(frozen=True)
class ReadCase:
    name: str
    graphql: str
    postgres_sql: str  # parameters: $1 workspace, $2 customers, $3 per customer (, $4 the model)
    sqlite_sql: str  # the same, as ?1 ...
    graphql_view: Callable[[dict[str, Any]], View]
    raw_view: Callable[[list[Any]], View]

    def params(self, workspace_id: int) -> tuple[Any, ...]:
        if self.name == "page":
            return (workspace_id, CUSTOMERS_PAGE, INTERACTIONS_PAGE)
        if self.name == "stages":
            return (workspace_id, MODEL)
        return (workspace_id, CUSTOMERS_PAGE, MOVES, MODEL)


def node_id(global_id: str) -> int:
    padded = global_id + "=" * (-len(global_id) % 4)
    return int(base64.b64decode(padded).decode().partition(":")[2])


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _money(value: Any) -> Decimal | None:
    return None if value is None else value if isinstance(value, Decimal) else Decimal(str(value))


# --- 1. page -------------------------------------------------------------------------------------

PAGE_QUERY = (
    f"{{ customers(first: {CUSTOMERS_PAGE}) {{ edges {{ node {{ id name email "
    f"interactions(first: {INTERACTIONS_PAGE}) {{ edges {{ node {{ id kind occurredAt amount }} }} }} "
    "} } } }"
)
# Newest customers (created_at DESC, id DESC, as the API's default order) and, per customer, its
# newest interactions (occurred_at DESC, id DESC).
PAGE_POSTGRES = """
SELECT c.id, c.name, c.email, i.id AS interaction_id, i.kind, i.occurred_at, i.amount
FROM (
    SELECT id, name, email, created_at FROM customer
    WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
) c
LEFT JOIN LATERAL (
    SELECT id, kind, occurred_at, amount FROM interaction
    WHERE workspace_id = $1 AND customer_id = c.id
    ORDER BY occurred_at DESC, id DESC LIMIT $3
) i ON TRUE
ORDER BY c.created_at DESC, c.id DESC, i.occurred_at DESC, i.id DESC
"""
PAGE_SQLITE = """
WITH c AS (
    SELECT id, name, email, created_at FROM customer
    WHERE workspace_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2
)
SELECT c.id, c.name, c.email, i.id AS interaction_id, i.kind, i.occurred_at, i.amount
FROM c LEFT JOIN interaction i ON i.id IN (
    SELECT x.id FROM interaction x
    WHERE x.workspace_id = ?1 AND x.customer_id = c.id
    ORDER BY x.occurred_at DESC, x.id DESC LIMIT ?3
)
ORDER BY c.created_at DESC, c.id DESC, i.occurred_at DESC, i.id DESC
"""


def page_graphql_view(body: dict[str, Any]) -> View:
    out: View = []
    for edge in body["data"]["customers"]["edges"]:
        node = edge["node"]
        items = [
            (node_id(n["id"]), n["kind"], _time(n["occurredAt"]), _money(n["amount"]))
            for n in (e["node"] for e in node["interactions"]["edges"])
        ]
        out.append((node_id(node["id"]), node["name"], node["email"], items))
    return out


def page_raw_view(rows: list[Any]) -> View:
    """Rows of the raw query (customer columns repeated per interaction) grouped per customer."""
    out: View = []
    for row in rows:
        cid, name, email, iid, kind, occurred_at, amount = tuple(row)
        if not out or out[-1][0] != cid:
            out.append((cid, name, email, []))
        if iid is not None:
            out[-1][3].append((iid, kind, _time(occurred_at), _money(amount)))
    return out


# --- 2. board ------------------------------------------------------------------------------------

BOARD_QUERY = (
    f"query Board {{ board: customers(first: {CUSTOMERS_PAGE}) {{ edges {{ node {{ ...Who "
    'now: stage { stage { key label(locale: "pt-BR") } enteredAt } '
    f"moves: history(last: {MOVES}) {{ edges {{ node {{ from {{ key }} to {{ key }} occurredAt rule }} }} }} "
    f"recent: interactions(first: {RECENT}) {{ edges {{ node {{ kind occurredAt }} }} }} }} }} }} }} "
    "fragment Who on Customer { id name email }"
)
BOARD_POSTGRES = f"""
SELECT c.id, c.name, c.email, a.stage, a.entered_at,
    ARRAY(
        SELECT ROW(t.from_stage, t.to_stage, t.occurred_at, t.rule) FROM (
            SELECT from_stage, to_stage, occurred_at, rule, id FROM stage_transition
            WHERE workspace_id = $1 AND customer_id = c.id AND model_key = $4 AND NOT archived
            ORDER BY occurred_at DESC, id DESC LIMIT $3
        ) t ORDER BY t.occurred_at, t.id
    ) AS moves,
    ARRAY(
        SELECT ROW(i.kind, i.occurred_at) FROM interaction i WHERE i.workspace_id = $1 AND i.customer_id = c.id
        ORDER BY i.occurred_at DESC, i.id DESC LIMIT {RECENT}
    ) AS recent
FROM (
    SELECT id, name, email, created_at FROM customer
    WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
) c
LEFT JOIN stage_assignment a ON a.workspace_id = $1 AND a.customer_id = c.id AND a.model_key = $4
ORDER BY c.created_at DESC, c.id DESC
"""
BOARD_SQLITE = f"""
SELECT c.id, c.name, c.email, a.stage, a.entered_at,
    (SELECT json_group_array(json_array(from_stage, to_stage, occurred_at, rule)) FROM (
        SELECT * FROM (
            SELECT from_stage, to_stage, occurred_at, rule, id FROM stage_transition
            WHERE workspace_id = ?1 AND customer_id = c.id AND model_key = ?4 AND NOT archived
            ORDER BY occurred_at DESC, id DESC LIMIT ?3
        ) ORDER BY occurred_at, id
    )) AS moves,
    (SELECT json_group_array(json_array(kind, occurred_at)) FROM (
        SELECT kind, occurred_at FROM interaction WHERE workspace_id = ?1 AND customer_id = c.id
        ORDER BY occurred_at DESC, id DESC LIMIT {RECENT}
    )) AS recent
FROM (
    SELECT id, name, email, created_at FROM customer
    WHERE workspace_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2
) c
LEFT JOIN stage_assignment a ON a.workspace_id = ?1 AND a.customer_id = c.id AND a.model_key = ?4
ORDER BY c.created_at DESC, c.id DESC
"""


def board_graphql_view(body: dict[str, Any]) -> View:
    out: View = []
    for edge in body["data"]["board"]["edges"]:
        node = edge["node"]
        moves = [
            (m["from"]["key"] if m["from"] else None, m["to"]["key"], _time(m["occurredAt"]), m["rule"])
            for m in (e["node"] for e in node["moves"]["edges"])
        ]
        recent = [(n["kind"], _time(n["occurredAt"])) for n in (e["node"] for e in node["recent"]["edges"])]
        stage = (node["now"]["stage"]["key"], _time(node["now"]["enteredAt"]))
        out.append((node_id(node["id"]), node["name"], node["email"], stage, moves, recent))
    return out


def _items(value: Any) -> list[tuple[Any, ...]]:
    """asyncpg's array of records, or SQLite's JSON array of arrays."""
    return [tuple(x) for x in (json.loads(value) if isinstance(value, str) else value or [])]


def board_raw_view(rows: list[Any]) -> View:
    out: View = []
    for row in rows:
        cid, name, email, stage, entered_at, moves, recent = tuple(row)
        moves_view = [(f, t, _time(when), rule) for f, t, when, rule in _items(moves)]
        recent_view = [(kind, _time(when)) for kind, when in _items(recent)]
        out.append((cid, name, email, (stage, _time(entered_at)), moves_view, recent_view))
    return out


# --- 3. stages -----------------------------------------------------------------------------------

STAGES_QUERY = "{ metrics { stageDistribution { stage { key } count share } } }"
STAGES_POSTGRES = (
    "SELECT stage, count(*) AS n FROM stage_assignment WHERE workspace_id = $1 AND model_key = $2 GROUP BY stage"
)
STAGES_SQLITE = (
    "SELECT stage, count(*) AS n FROM stage_assignment WHERE workspace_id = ?1 AND model_key = ?2 GROUP BY stage"
)


def stages_graphql_view(body: dict[str, Any]) -> View:
    found = body["data"]["metrics"]["stageDistribution"]
    return sorted((s["stage"]["key"], s["count"]) for s in found if s["count"])


def stages_raw_view(rows: list[Any]) -> View:
    return sorted((stage, int(n)) for stage, n in (tuple(r) for r in rows))


CASES = (
    ReadCase("page", PAGE_QUERY, PAGE_POSTGRES, PAGE_SQLITE, page_graphql_view, page_raw_view),
    ReadCase("board", BOARD_QUERY, BOARD_POSTGRES, BOARD_SQLITE, board_graphql_view, board_raw_view),
    ReadCase("stages", STAGES_QUERY, STAGES_POSTGRES, STAGES_SQLITE, stages_graphql_view, stages_raw_view),
)

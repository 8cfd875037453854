"""Recommendations from past purchases: item-to-item co-occurrence over `properties.product` of
purchases, ranked by lift, in one SQL statement (definitions: docs/metrics.md, "Recommendations").

For a customer u who bought the products O, over every *other* customer who bought anything
(N of them; u is left out of every count, so its own purchases are not evidence for itself):

    co(X, Y)   = other customers who bought both X and Y
    lift(X, Y) = co(X, Y) · N / (buyers(X) · buyers(Y))
    score(Y)   = the highest lift(X, Y) over X in O      (based on that X)
    support(Y) = other customers who bought Y and at least one product of O

A product of O is never suggested, and a product no other customer bought together with one of
O (support 0) is not either: without co-purchase evidence there is nothing to go on.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.db import Params, connection, dialect_of, fetch

MAX_SUGGESTIONS = 50


@dataclass(frozen=True, slots=True)
class Suggestion:
    product: str
    score: float  # the lift
    support: int
    based_on: str  # the product of the customer's that gives the lift


def _product(p: Params) -> tuple[str, str]:
    """The product of a purchase, and the condition that it is a non-empty text."""
    if p.dialect == "postgres":
        return "(i.properties ->> 'product')", "jsonb_typeof(i.properties -> 'product') = 'string'"
    return "json_extract(i.properties, '$.product')", "json_type(i.properties, '$.product') = 'text'"


async def recommendations(workspace_id: int, customer_id: int, first: int) -> list[Suggestion]:
    conn = connection()
    p = Params(dialect_of(conn), reusable=True)
    product, is_text = _product(p)
    ws, me = p(workspace_id), p(customer_id)
    real = "::float8" if p.dialect == "postgres" else " * 1.0"  # (no integer division)
    sql = f"""
WITH bought AS (
    SELECT DISTINCT i.customer_id AS cid, {product} AS product FROM interaction i
    WHERE i.workspace_id = {ws} AND i.kind = 'purchase' AND {is_text} AND {product} <> ''
),
mine AS (SELECT product FROM bought WHERE cid = {me}),
others AS (SELECT cid, product FROM bought WHERE cid <> {me}),
total AS (SELECT COUNT(DISTINCT cid) AS n FROM others),
buyers AS (SELECT product, COUNT(*) AS n FROM others GROUP BY product),
owners AS (SELECT DISTINCT o.cid FROM others o WHERE o.product IN (SELECT product FROM mine)),
pairs AS (
    SELECT x.product AS owned, y.product AS candidate, COUNT(*) AS co
    FROM others x JOIN others y ON y.cid = x.cid
    WHERE x.product IN (SELECT product FROM mine) AND y.product NOT IN (SELECT product FROM mine)
    GROUP BY x.product, y.product
),
support AS (
    SELECT y.product AS candidate, COUNT(*) AS n FROM others y JOIN owners w ON w.cid = y.cid
    WHERE y.product NOT IN (SELECT product FROM mine) GROUP BY y.product
),
lifted AS (
    SELECT pr.candidate, pr.owned, pr.co{real} * t.n / (bx.n * by_.n) AS lift,
        ROW_NUMBER() OVER (PARTITION BY pr.candidate ORDER BY pr.co{real} * t.n / (bx.n * by_.n) DESC, pr.owned) AS r
    FROM pairs pr CROSS JOIN total t
    JOIN buyers bx ON bx.product = pr.owned JOIN buyers by_ ON by_.product = pr.candidate
)
SELECT l.candidate AS product, l.owned AS based_on, l.lift AS lift, s.n AS support
FROM lifted l JOIN support s ON s.candidate = l.candidate
WHERE l.r = 1
ORDER BY l.lift DESC, s.n DESC, l.candidate
LIMIT {p(max(0, min(first, MAX_SUGGESTIONS)))}
"""
    rows = await fetch(sql, p, conn)
    return [Suggestion(r["product"], round(float(r["lift"]), 6), int(r["support"]), r["based_on"]) for r in rows]

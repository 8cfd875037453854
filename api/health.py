"""The health score of customers: 0 to 100, a weighted mean of five parts, computed in SQL from
the interactions (event time) and the value model's P(alive), so that it can be shown, filtered,
ordered and summed up in the metrics alike. Definitions: docs/metrics.md, "Health score".

Parts, each from 0 to 1 (null when unknown, and then left out of the mean):
- `alive`: P(alive) of the value model where it has a prediction for the customer; else recency,
  1 − days since the latest interaction (or the creation, without one) ÷ 365, at least 0;
- `nps`: the latest NPS answer ÷ 10;
- `csat`: (the latest CSAT answer − 1) ÷ 4;
- `openTickets`: 1 ÷ (1 + open tickets), open = opened − resolved (at least 0): 1 with none open;
- `renewals`: renewals ÷ (renewals + cancellations); unknown without either.
score = 100 × Σ weight × value ÷ Σ weight, over the known parts; rounded to 0.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from api.db import Params, connection, dialect_of, fetch, utc
from api.errors import InputInvalid, Problem
from api.models import Workspace
from api.sqlfn import days_between

RECENCY_DAYS = 365
PARTS = ("alive", "nps", "csat", "openTickets", "renewals")


@dataclass(frozen=True)
class HealthWeights:
    """A workspace's weights of the parts (any non-negative numbers, some above 0)."""

    alive: float = 0.35
    nps: float = 0.2
    csat: float = 0.15
    open_tickets: float = 0.15
    renewals: float = 0.15

    def by_part(self) -> dict[str, float]:
        return dict(zip(PARTS, (getattr(self, f.name) for f in fields(self)), strict=True))

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> HealthWeights:
        if not stored:
            return cls()
        return cls(**{f.name: float(stored.get(f.name, getattr(cls(), f.name))) for f in fields(cls)})


def checked_weights(given: dict[str, float]) -> HealthWeights:
    """Weights from the API's input (names as in PARTS); InputInvalid naming a bad one."""
    merged = HealthWeights().by_part() | given
    problems = [
        Problem(("healthWeights", k), "INVALID_WEIGHT", "A weight is a number from 0 to 1000.")
        for k, w in given.items()
        if not 0 <= w <= 1000
    ]
    if not problems and sum(merged.values()) <= 0:
        problems.append(Problem(("healthWeights",), "INVALID_WEIGHT", "At least one weight must be above 0."))
    if problems:
        raise InputInvalid(problems)
    values = list(merged[p] for p in PARTS)
    return HealthWeights(*values)


async def workspace_weights(workspace_id: int) -> HealthWeights:
    rows = await Workspace.filter(id=workspace_id).values_list("health_weights", flat=True)
    return HealthWeights.of(rows[0] if rows else None)  # type: ignore[arg-type]


async def set_weights(workspace_id: int, weights: HealthWeights) -> None:
    stored = {f.name: getattr(weights, f.name) for f in fields(weights)}
    await Workspace.filter(id=workspace_id).update(health_weights=stored)


def _greatest(dialect: str, a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if dialect == "postgres" else f"MAX({a}, {b})"


SCORED = ("nps_response", "csat_response")
COUNTED = ("support_ticket_opened", "support_ticket_resolved", "renewal", "subscription_cancelled")


def _activity_sql(ws: int, one: str, dialect: str) -> tuple[str, str | None]:
    """Per customer, the counts of the kinds health reads and the latest NPS and CSAT scores:
    `a` (customer_id, opened, resolved, renewals, cancels, and on PostgreSQL nps, csat), and on
    SQLite a second subquery `s` (customer_id, nps, csat). Only those six kinds are read, through
    the (workspace, kind) index: a tenth of the interactions, not all of them."""
    counts = (
        "SUM(CASE WHEN i.kind = 'support_ticket_opened' THEN 1 ELSE 0 END) AS opened, "
        "SUM(CASE WHEN i.kind = 'support_ticket_resolved' THEN 1 ELSE 0 END) AS resolved, "
        "SUM(CASE WHEN i.kind = 'renewal' THEN 1 ELSE 0 END) AS renewals, "
        "SUM(CASE WHEN i.kind = 'subscription_cancelled' THEN 1 ELSE 0 END) AS cancels"
    )
    if dialect == "postgres":  # one pass: the latest scores as ordered aggregates
        latest = ", ".join(
            f"(array_agg(i.score ORDER BY i.occurred_at DESC, i.id DESC) FILTER (WHERE i.kind = '{kind}' "
            f"AND i.score IS NOT NULL))[1] AS {name}"
            for kind, name in zip(SCORED, ("nps", "csat"), strict=True)
        )
        kinds = ", ".join(f"'{k}'" for k in COUNTED + SCORED)
        sql = (
            f"SELECT i.customer_id, {counts}, {latest} FROM interaction i WHERE i.workspace_id = {ws}{one} "
            f"AND i.kind IN ({kinds}) GROUP BY i.customer_id"
        )
        return sql, None
    kinds = ", ".join(f"'{k}'" for k in COUNTED)
    activity = (
        f"SELECT i.customer_id, {counts} FROM interaction i WHERE i.workspace_id = {ws}{one} "
        f"AND i.kind IN ({kinds}) GROUP BY i.customer_id"
    )
    latest_sql = (
        "SELECT x.customer_id, MAX(CASE WHEN x.kind = 'nps_response' THEN x.score END) AS nps, "
        "MAX(CASE WHEN x.kind = 'csat_response' THEN x.score END) AS csat FROM (SELECT i.customer_id, i.kind, "
        "i.score, ROW_NUMBER() OVER (PARTITION BY i.customer_id, i.kind ORDER BY i.occurred_at DESC, i.id DESC) AS r "
        f"FROM interaction i WHERE i.workspace_id = {ws}{one} AND i.kind IN ('nps_response', 'csat_response') "
        "AND i.score IS NOT NULL) x WHERE x.r = 1 GROUP BY x.customer_id"
    )
    return activity, latest_sql


def health_sql(
    workspace_id: int,
    weights: HealthWeights,
    now: datetime,
    dialect: str,
    customer_ids: Sequence[int] | None = None,
) -> str:
    """A subquery with, per customer of the workspace (or just `customer_ids`), `customer_id`, each
    part's value (`alive`, `alive_source` 'pAlive' or 'recency', `nps`, `csat`, `open_tickets`,
    `renewals`) and `score`.

    It holds no placeholders: its values (ids, weights, the time) are numbers and a time made
    here, written as literals, so that it can sit anywhere in a statement whatever the order in
    which the statement's own parameters are bound."""
    ws = int(workspace_id)
    listed = ", ".join(str(int(i)) for i in customer_ids or ()) or "NULL"
    one = f" AND i.customer_id IN ({listed})" if customer_ids is not None else ""
    activity, latest = _activity_sql(ws, one, dialect)
    sc = "a" if latest is None else "s"  # where the latest scores are
    moment = utc(now).isoformat()
    at = f"'{moment}'::timestamptz" if dialect == "postgres" else f"'{moment}'"
    f8 = "::float8" if dialect == "postgres" else ""  # (float arithmetic: the parts are ratios)
    # (the latest interaction per customer through the (customer, time) index, and only for the
    # customers without a P(alive): COALESCE does not evaluate it for the others)
    last_at = "(SELECT MAX(l.occurred_at) FROM interaction l WHERE l.customer_id = c.id)"
    since = days_between(Params(dialect), f"COALESCE({last_at}, c.created_at)", at)
    recency = _greatest(dialect, f"0.0{f8}", f"1.0{f8} - ({since}){f8} / {RECENCY_DAYS}.0")
    open_tickets = _greatest(dialect, "0", "COALESCE(a.opened, 0) - COALESCE(a.resolved, 0)")
    parts = (
        f"SELECT c.id AS customer_id, COALESCE(v.p_alive, {recency}) AS alive, "
        "CASE WHEN v.p_alive IS NULL THEN 'recency' ELSE 'pAlive' END AS alive_source, "
        f"{sc}.nps / 10.0{f8} AS nps, ({sc}.csat - 1) / 4.0{f8} AS csat, "
        f"1.0{f8} / (1 + {open_tickets}) AS open_tickets, "
        "CASE WHEN COALESCE(a.renewals, 0) + COALESCE(a.cancels, 0) > 0 "
        f"THEN a.renewals * 1.0{f8} / (a.renewals + a.cancels) END AS renewals "
        f"FROM customer c LEFT JOIN ({activity}) a ON a.customer_id = c.id "
        + (f"LEFT JOIN ({latest}) s ON s.customer_id = c.id " if latest else "")
        + f"LEFT JOIN customer_value v ON v.customer_id = c.id AND v.workspace_id = {ws} "
        f"WHERE c.workspace_id = {ws}" + (f" AND c.id IN ({listed})" if customer_ids is not None else "")
    )
    w = weights.by_part()
    columns = {"alive": "alive", "nps": "nps", "csat": "csat", "openTickets": "open_tickets", "renewals": "renewals"}
    known = [(repr(float(w[k])) + f8, col) for k, col in columns.items() if w[k] > 0]
    numerator = " + ".join(f"{weight} * COALESCE(h.{col}, 0)" for weight, col in known)
    denominator = " + ".join(f"(CASE WHEN h.{col} IS NULL THEN 0 ELSE {weight} END)" for weight, col in known)
    mean = f"100.0 * ({numerator}) / NULLIF({denominator}, 0)"
    score = f"ROUND(CAST({mean} AS NUMERIC), 1)" if dialect == "postgres" else f"ROUND({mean}, 1)"
    # (OFFSET 0 keeps PostgreSQL from flattening the parts into the score, which would compute
    # each of them twice: once in the sum, once in the weights' sum)
    fence = " OFFSET 0" if dialect == "postgres" else ""
    return f"SELECT h.*, {score} AS score FROM ({parts}{fence}) h"


@dataclass(frozen=True)
class Health:
    score: float | None
    alive_source: str
    parts: dict[str, float | None]  # by PARTS
    weights: HealthWeights


async def customers_health(
    workspace_id: int, customer_ids: Sequence[int], weights: HealthWeights, now: datetime
) -> dict[int, Health]:
    """The health of these customers (of this workspace), in one statement."""
    conn = connection()
    p = Params(dialect_of(conn))
    rows = await fetch(health_sql(workspace_id, weights, now, p.dialect, customer_ids), p, conn)

    def part(r: Any, name: str) -> float | None:
        value = r[name]
        return None if value is None else round(float(value), 6)

    found = {}
    for r in rows:
        parts = {"alive": part(r, "alive"), "nps": part(r, "nps"), "csat": part(r, "csat")}
        parts |= {"openTickets": part(r, "open_tickets"), "renewals": part(r, "renewals")}
        score = None if r["score"] is None else float(r["score"])
        found[int(r["customer_id"])] = Health(score, str(r["alive_source"]), parts, weights)
    return found


# --- conditions on customers (CustomerFilter.computed) --------------------------------------


@dataclass(frozen=True)
class HealthRange:
    """The health score is in [at_least, below) (either bound may be left out)."""

    weights: HealthWeights
    now: datetime
    below: float | None = None
    at_least: float | None = None

    def condition(self, workspace_id: int, p: Params) -> str:
        bounds = []
        if self.below is not None:
            bounds.append(f"h.score < {p(self.below)}")
        if self.at_least is not None:
            bounds.append(f"h.score >= {p(self.at_least)}")
        where = " AND ".join(bounds) or "h.score IS NOT NULL"
        scores = health_sql(workspace_id, self.weights, self.now, p.dialect)
        return f"c.id IN (SELECT h.customer_id FROM ({scores}) h WHERE {where})"


PAYING = ("purchase", "renewal", "subscription_started")


@dataclass(frozen=True)
class Reengage:
    """Worth winning back now: a customer who has paid (a purchase, renewal or subscription)
    whose P(alive) is below `p_alive_below` or whose health is below `health_below`."""

    weights: HealthWeights
    now: datetime
    p_alive_below: float = 0.5
    health_below: float = 40.0

    def condition(self, workspace_id: int, p: Params) -> str:
        paid = (
            f"EXISTS (SELECT 1 FROM interaction i WHERE i.customer_id = c.id AND i.workspace_id = {p(workspace_id)} "
            f"AND i.kind IN ({', '.join(repr(k) for k in PAYING)}))"
        )
        scores = health_sql(workspace_id, self.weights, self.now, p.dialect)
        slipping = f"(h.alive_source = 'pAlive' AND h.alive < {p(self.p_alive_below)})"
        at_risk = (
            f"c.id IN (SELECT h.customer_id FROM ({scores}) h WHERE {slipping} OR h.score < {p(self.health_below)})"
        )
        return f"({paid} AND {at_risk})"


# --- the distribution, for the metrics ------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    customers: int  # with a score
    mean: float | None
    median: float | None
    buckets: list[int]  # customers scoring [0, 10), [10, 20), ..., [90, 100]


async def distribution(
    workspace_id: int, weights: HealthWeights, now: datetime, segment_ids: str, p: Params
) -> Distribution:
    """The health scores of the segment's customers now (`segment_ids`: a subquery of their ids,
    '' for the whole workspace, with its placeholders in `p`)."""
    scores = health_sql(workspace_id, weights, now, p.dialect)
    within = f" AND h.customer_id IN ({segment_ids})" if segment_ids else ""
    # (float8 on PostgreSQL: the scores have one decimal; sorted and summed as floats, not numerics)
    score = "h.score::float8" if p.dialect == "postgres" else "h.score"
    scored = f"SELECT {score} AS score FROM ({scores}) h WHERE h.score IS NOT NULL{within}"
    bucket = "CASE WHEN s.score >= 100 THEN 9 ELSE CAST(s.score / 10 AS INTEGER) END"
    if p.dialect == "postgres":
        bucket = "LEAST(FLOOR(s.score / 10), 9)::int"
    conn = connection()
    if p.dialect == "postgres":  # one pass: the buckets, the total and the median together
        # MATERIALIZED: flattened, the score's expression would be computed again for each of
        # the twelve aggregates that read it (2.7 s instead of 1 s at 100k customers).
        counts = ", ".join(f"COUNT(*) FILTER (WHERE s.b = {b}) AS b{b}" for b in range(10))
        sql = (
            f"WITH x AS MATERIALIZED ({scored}), s AS (SELECT x.score, {bucket.replace('s.score', 'x.score')} AS b "
            "FROM x) SELECT COUNT(*) AS n, SUM(s.score) AS total, percentile_cont(0.5) WITHIN GROUP "
            f"(ORDER BY s.score) AS median, {counts} FROM s"
        )
        row = (await fetch(sql, p, conn))[0]
        n, found = int(row["n"]), [int(row[f"b{b}"]) for b in range(10)]
        if not n:
            return Distribution(0, None, None, found)
        return Distribution(n, round(float(row["total"]) / n, 1), round(float(row["median"]), 2), found)
    rows = await fetch(
        f"SELECT {bucket} AS b, COUNT(*) AS n, SUM(s.score) AS total FROM ({scored}) s GROUP BY 1", p, conn
    )
    buckets = [0] * 10
    total = 0.0
    for r in rows:
        buckets[int(r["b"])] = int(r["n"])
        total += float(r["total"])
    n = sum(buckets)
    if not n:
        return Distribution(0, None, None, buckets)
    middle = await fetch(
        f"SELECT s.score FROM ({scored}) s ORDER BY s.score LIMIT {2 - n % 2} OFFSET {(n - 1) // 2}", p, conn
    )
    median = sum(float(r["score"]) for r in middle) / len(middle)
    return Distribution(n, round(total / n, 1), round(median, 2), buckets)

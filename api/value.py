"""Customer value: revenue so far, and predictions from BG/NBD and Gamma-Gamma models fitted on
the workspace's purchase history. The per-customer RFM summary is computed in SQL; the fit is
stored per workspace and refreshed when asked or when stale, never on a request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from tortoise.transactions import in_transaction

from api import clv, value_fit
from api.bulk import insert_rows, refresh_statistics
from api.db import Params, as_date, as_datetime, connection, dialect_of, fetch, local_date_sql, utc, zone
from api.errors import InputInvalid, Problem
from api.models import CustomerValue, ValueModel, Workspace

PAYMENT_KINDS = ("purchase", "renewal")
DEFAULT_HORIZON_WEEKS = 52
DEFAULT_ANNUAL_DISCOUNT = 0.10
STALE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class ValueModelRecord:
    calibration_end: date
    horizon_weeks: int
    annual_discount_rate: float
    params: dict[str, Any]
    customers: int
    repeat_customers: int
    error: str | None
    fitted_at: datetime  # when the fit was last attempted (a failed one too)
    status: str = value_fit.OK
    reasons: tuple[str, ...] = ()

    @property
    def fitted(self) -> datetime | None:
        """When the models were fitted: none after a failed fit."""
        return None if self.status == value_fit.FAILED else self.fitted_at

    def _data(self, name: str) -> int:
        found = self.params.get("data")
        return int(found.get(name, 0)) if isinstance(found, dict) else 0

    @property
    def spend_customers(self) -> int:
        """Customers with a positive mean repeat spend: the Gamma-Gamma's data."""
        return self._data("spend_customers")

    @property
    def repeat_purchases(self) -> int:
        return self._data("repeat_purchases")


@dataclass(frozen=True)
class CustomerValueRecord:
    customer_id: int
    frequency: int
    recency_weeks: float
    age_weeks: float
    monetary: float
    p_alive: float | None
    expected_purchases: float | None
    expected_spend: float | None
    predicted_clv: float | None


async def rfm_summary(workspace_id: int, calibration_end: date, timezone: str = "UTC") -> clv.RFM[int]:
    """Per customer, from purchases and renewals up to `calibration_end` (inclusive): same-day
    payments merged (days of the workspace's `timezone`), weeks from the first one, the first not
    a repeat."""
    conn = connection()
    p = Params(dialect_of(conn), reusable=True)
    amount = "i.amount" if p.dialect == "postgres" else "CAST(i.amount AS REAL)"
    end = datetime.combine(calibration_end + timedelta(days=1), datetime.min.time(), tzinfo=zone(timezone))
    day = await local_date_sql(conn, p, "i.occurred_at", timezone)
    sql = (
        f"WITH d AS (SELECT i.customer_id, {day} AS day, SUM(COALESCE({amount}, 0)) AS total "
        f"FROM interaction i WHERE i.workspace_id = {p(workspace_id)} AND i.kind IN ({p.many(list(PAYMENT_KINDS))}) "
        f"AND i.occurred_at < {p(utc(end))} GROUP BY i.customer_id, {day}), "
        "r AS (SELECT customer_id, day, total, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day) AS rn FROM d) "
        "SELECT customer_id, COUNT(*) - 1 AS frequency, MIN(day) AS first_day, MAX(day) AS last_day, "
        "SUM(CASE WHEN rn > 1 THEN total ELSE 0 END) AS repeat_total FROM r GROUP BY customer_id ORDER BY customer_id"
    )
    rows = await fetch(sql, p, conn)
    first = np.array([(as_date(r["first_day"]) - calibration_end).days for r in rows], dtype=np.float64)
    last = np.array([(as_date(r["last_day"]) - calibration_end).days for r in rows], dtype=np.float64)
    frequency = np.array([int(r["frequency"]) for r in rows], dtype=np.float64)
    repeat_total = np.array([float(r["repeat_total"] or 0) for r in rows], dtype=np.float64)
    monetary = np.divide(repeat_total, frequency, out=np.zeros_like(repeat_total), where=frequency > 0)
    return clv.RFM(
        customers=tuple(int(r["customer_id"]) for r in rows),
        frequency=frequency,
        recency=(last - first) / 7.0,
        T=-first / 7.0,
        monetary=monetary,
    )


def _weekly(annual: float) -> float:
    return float((1.0 + annual) ** (1.0 / 52.0) - 1.0)


async def refresh(
    workspace_id: int,
    calibration_end: date | None = None,
    horizon_weeks: int = DEFAULT_HORIZON_WEEKS,
    annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT,
    now: datetime | None = None,
) -> ValueModelRecord:
    """Fit the models on the purchase history and store them with every customer's predictions.
    Too little history (no repeat purchase) is stored as an error, not raised."""
    moment = now or datetime.now(UTC)
    workspace = await Workspace.get(id=workspace_id)
    end = calibration_end or moment.astimezone(zone(workspace.timezone)).date()
    _check(horizon_weeks, annual_discount_rate)
    rfm = await rfm_summary(workspace_id, end, workspace.timezone)
    margin = float(workspace.gross_margin)
    found_fit = value_fit.fit(rfm, horizon_weeks, _weekly(annual_discount_rate), margin)
    error = found_fit.reasons[0] if found_fit.status == value_fit.FAILED else None
    params = {**found_fit.params, "data": found_fit.data}
    async with in_transaction():
        await _one_refit_at_a_time(workspace_id)
        await ValueModel.filter(workspace_id=workspace_id).delete()
        await ValueModel.create(
            workspace_id=workspace_id,
            calibration_end=end,
            horizon_weeks=horizon_weeks,
            annual_discount_rate=annual_discount_rate,
            params=params,
            customers=found_fit.data["customers"],
            repeat_customers=found_fit.data["repeat_customers"],
            error=error,
            fitted_at=moment,
            status=found_fit.status,
            reasons=found_fit.reasons,
        )
        await CustomerValue.filter(workspace_id=workspace_id).delete()
        rows = _value_rows(workspace_id, rfm, found_fit.predictions, moment)
        await insert_rows(
            connection(),
            "customer_value",
            (
                "workspace_id",
                "customer_id",
                "frequency",
                "recency_weeks",
                "age_weeks",
                "monetary",
                "p_alive",
                "expected_purchases",
                "expected_spend",
                "predicted_clv",
                "computed_at",
            ),
            rows,
        )
    # Every prediction was just rewritten: without fresh statistics the planner estimates the
    # table from its last sample, or from none (258 rows for 51,516 at 100k customers, still so
    # 50 minutes after a fit here), when it plans the health, re-engagement and value-at-risk
    # reads that join it.
    await refresh_statistics(connection(), ("customer_value",))
    found = await get_model(workspace_id)
    assert found is not None
    return found


# pg_advisory_xact_lock's first key: this lock's namespace (the second is the workspace id).
REFIT_LOCK = 712026


async def _one_refit_at_a_time(workspace_id: int) -> None:
    """Two workers refitting one workspace at once would both insert its value model (a unique
    violation on PostgreSQL): the second waits for the first's commit, then replaces its fit.
    SQLite runs one write transaction at a time already."""
    conn = connection()
    if dialect_of(conn) == "postgres":
        await conn.execute_query("SELECT pg_advisory_xact_lock($1, $2)", [REFIT_LOCK, workspace_id])


def _value_rows(
    workspace_id: int, rfm: clv.RFM[int], predictions: value_fit.Predictions | None, moment: datetime
) -> list[tuple[Any, ...]]:
    def at(values: np.ndarray | None, n: int) -> float | None:
        if values is None or not np.isfinite(values[n]):
            return None  # not fitted, or no finite value (unknown, never a made-up number)
        return float(values[n])

    rows = []
    for n, cid in enumerate(rfm.customers):
        predicted = [at(v, n) for v in predictions] if predictions is not None else [None] * 4
        summary = (int(rfm.frequency[n]), float(rfm.recency[n]), float(rfm.T[n]), float(rfm.monetary[n]))
        rows.append((workspace_id, cid, *summary, *predicted, moment))
    return rows


def _check(horizon_weeks: int, annual_discount_rate: float) -> None:
    problems = []
    if not 1 <= horizon_weeks <= 520:
        problems.append(Problem(("horizonWeeks",), "INVALID_HORIZON", "From 1 to 520 weeks."))
    if not 0 <= annual_discount_rate < 1:
        problems.append(Problem(("annualDiscountRate",), "INVALID_RATE", "From 0 (no discount) to below 1."))
    if problems:
        raise InputInvalid(problems)


async def get_model(workspace_id: int) -> ValueModelRecord | None:
    rows = await ValueModel.filter(workspace_id=workspace_id).values(
        "calibration_end",
        "horizon_weeks",
        "annual_discount_rate",
        "params",
        "customers",
        "repeat_customers",
        "error",
        "fitted_at",
        "status",
        "reasons",
    )
    if not rows:
        return None
    r = rows[0]
    return ValueModelRecord(
        as_date(r["calibration_end"]),
        r["horizon_weeks"],
        r["annual_discount_rate"],
        r["params"],
        r["customers"],
        r["repeat_customers"],
        r["error"],
        as_datetime(r["fitted_at"]),
        r["status"],
        tuple(r["reasons"] or ()),
    )


async def customer_values(workspace_id: int, ids: Sequence[int]) -> dict[int, CustomerValueRecord]:
    if not ids:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        "SELECT customer_id, frequency, recency_weeks, age_weeks, monetary, p_alive, expected_purchases, "
        f"expected_spend, predicted_clv FROM customer_value WHERE workspace_id = {p(workspace_id)} "
        f"AND {p.among('customer_id', sorted(set(ids)))}"
    )
    return {r["customer_id"]: CustomerValueRecord(**r) for r in await fetch(sql, p, conn)}


async def stale_workspaces(now: datetime, limit: int = 10) -> list[int]:
    """Workspaces with purchases whose value model is missing or older than STALE_AFTER."""
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        "SELECT w.id FROM workspace w LEFT JOIN value_model v ON v.workspace_id = w.id "
        f"WHERE (v.id IS NULL OR v.fitted_at < {p(now - STALE_AFTER)}) AND EXISTS (SELECT 1 FROM interaction i "
        f"WHERE i.workspace_id = w.id AND i.kind = {p('purchase')}) ORDER BY w.id LIMIT {p(limit)}"
    )
    return [int(r["id"]) for r in await fetch(sql, p, conn)]


@dataclass(frozen=True)
class ValueSummary:
    customers: int
    mean_p_alive: float | None
    mean_predicted_clv: float | None
    total_predicted_clv: float | None


async def summary(workspace_id: int, segment: Callable[[Params], str] | None = None) -> ValueSummary:
    """Aggregates of the stored predictions; `segment` renders a subquery of customer ids."""
    conn = connection()
    # Numbered placeholders: the segment's are rendered first but come later in the text (with
    # SQLite's plain `?` its values were bound to the wrong places, and the count was 0).
    p = Params(dialect_of(conn), reusable=True)
    segment_sql = segment(p) if segment else ""
    in_segment = f" AND v.customer_id IN ({segment_sql})" if segment_sql else ""
    sql = (
        "SELECT COUNT(v.predicted_clv) AS n, AVG(v.p_alive) AS alive, AVG(v.predicted_clv) AS mean_clv, "
        f"SUM(v.predicted_clv) AS total_clv FROM customer_value v WHERE v.workspace_id = {p(workspace_id)}{in_segment}"
    )
    r = (await fetch(sql, p, conn))[0]

    def num(x: Any) -> float | None:
        return None if x is None else float(x)

    return ValueSummary(int(r["n"] or 0), num(r["alive"]), num(r["mean_clv"]), num(r["total_clv"]))

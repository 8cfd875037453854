"""Event time in the lifecycle benchmark (`bench.lifecycle`, steps 3 to 5): interactions that arrive late.

An interaction dated before what is already known of its customer makes `record_many` rebuild that
customer from its whole history (`api.rebuild`; which interactions count as late is
`api.lifecycle.Lifecycle.apply`'s to say); one on time is folded onto the current position. Here:

- `Ingestion`/`ingestions`: the ingestion steps (in order, with late items, without rules), and
  `ingest_header`/`ingest_row`: their columns in the final table;
- `by_time` and `make_late`: a live feed (items in time order) and the same feed with a share of
  its items, spread evenly over the batches, dated well before the customers' known history;
- `RebuildCounter`: how many customers the live path really sent to the rebuild, counted by
  wrapping the name `api.lifecycle` calls (measuring only; nothing else changes), and
  `superseded_since`: the moves the late path superseded (stored rows, counted in SQL);
- `single_late`: one late interaction for a customer with a long history, timed call by call.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from api import lifecycle as lifecycle_module
from api.customers import create_customer
from api.db import Params, connection, dialect_of, fetch, utc
from api.interactions import NewInteraction, Recorded, record_many
from api.lifecycle import Lifecycle
from api.rebuild import RebuildOutcome
from bench.generate import DEFAULT_END, KIND_MIX, _interaction
from bench.measuring import Measurement, cpu_cell
from plugins.types import InteractionKind

LATE_SPAN = timedelta(days=365)  # a late item is dated DEFAULT_END minus up to this
SINGLE_CUSTOMERS = 20
SINGLE_HISTORY = 200
SINGLE_AGE = timedelta(days=365)  # the fresh customers were created this long ago
SINGLE_TARGET_MS = 20.0

Rebuilder = Callable[..., Awaitable[RebuildOutcome]]


@dataclass(frozen=True)
class Ingestion:
    """One ingestion step of `bench.lifecycle`: which items, in which order, with or without rules."""

    label: str  # the items' seed and idempotency keys; the profile's name
    title: str
    rules: bool
    in_order: bool
    window_end_days: float  # the items' window ends this many days ago
    late_share: float = 0.0


def ingestions(late_share: float, window: timedelta) -> list[Ingestion]:
    """Steps 3 and 4: in order (over the `window` before the last one), with late items (over the
    last `window`, after step 3's), and the baseline without rules (random times, last `window`)."""
    out = [Ingestion("ingest", "in order, with rule evaluation", True, True, window / timedelta(days=1))]
    if late_share:
        title = f"in order with {late_share:.0%} late, with rule evaluation"
        out.append(Ingestion("ingest-late", title, True, True, 0.0, late_share))
    title = "WITHOUT rule evaluation (baseline: lifecycle=None; random times, not sorted)"
    out.append(Ingestion("ingest-norules", title, False, False, 0.0))
    return out


@dataclass(frozen=True)
class IngestRun:
    """What one ingestion step measured: its batches and the step's own figures."""

    measurement: Measurement
    figures: dict[str, Any]

    @property
    def rate(self) -> float:
        return int(self.figures["created"]) / self.measurement.seconds


def rebuilt_text(figures: Mapping[str, Any]) -> str:
    """Rebuilds (a customer once per batch it was late in), distinct customers, superseded moves."""
    if figures["rebuilt"] is None:
        rebuilt = "customers rebuilt: unknown (api.lifecycle.rebuild_customers not found)"
    else:
        rebuilt = f"customer rebuilds {figures['rebuilt']:,} ({figures['rebuilt_customers']:,} distinct customers)"
    return (
        f"{rebuilt}; moves superseded {figures['superseded']:,}, of {figures['changed_customers']:,} customers "
        "(what the late path changed)"
    )


def ingest_header(late_share: float) -> tuple[str, ...]:
    """The columns of steps 3 to 5 in the final table (`ingest_row`)."""
    late = f"{late_share:.0%} late int/s"
    return (
        "database",
        "in order int/s",
        "p50 ms",
        "p99 ms",
        "rebuilt",
        "CPU py+db s",
        late,
        "p50 ms",
        "p99 ms",
        "rebuilt",
        "CPU py+db s",
        "no-rules int/s",
        "single late p50 ms",
        "p90 ms",
        "max ms",
    )


def _ingest_cells(run: IngestRun | None, rules: bool) -> tuple[str, ...]:
    if run is None:
        return ("-",) * (5 if rules else 1)
    if not rules:
        return (f"{run.rate:,.0f}",)
    m, f = run.measurement, run.figures
    rebuilt = "?" if f["rebuilt"] is None else f"{f['rebuilt']:,}"
    return f"{run.rate:,.0f}", f"{m.p50:.1f}", f"{m.p99:.1f}", rebuilt, cpu_cell(f)


def ingest_row(dialect: str, ingests: Mapping[str, IngestRun], single: Measurement | None) -> tuple[str, ...]:
    worst: tuple[str, ...] = ("-",) * 3
    if single is not None:
        worst = f"{single.p50:.1f}", f"{single.percentile(90):.1f}", f"{max(single.latencies_ms):.1f}"
    return (
        dialect,
        *_ingest_cells(ingests.get("ingest"), True),
        *_ingest_cells(ingests.get("ingest-late"), True),
        *_ingest_cells(ingests.get("ingest-norules"), False),
        *worst,
    )


def share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be in [0, 1]")
    return value


def at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("must be at least 2")
    return value


def by_time(items: Sequence[NewInteraction]) -> list[NewInteraction]:
    """A live feed: the items in the order they occurred (stable for equal times)."""
    return sorted(items, key=lambda i: i.occurred_at)


def make_late(
    items: Sequence[NewInteraction], share: float, batch: int, rng: random.Random
) -> tuple[list[NewInteraction], list[int]]:
    """In every batch of `batch` items, `share` of them (picked at random) dated instead at
    DEFAULT_END minus 0..LATE_SPAN: before the generated history's end, so before what is known of
    almost every customer (its moves are dated up to the priming). They keep their place in the
    feed. Returns the items and the indexes of the late ones."""
    out = list(items)
    late: list[int] = []
    for offset in range(0, len(out), batch):
        size = min(batch, len(out) - offset)
        for n in sorted(rng.sample(range(size), round(size * share))):
            out[offset + n] = replace(out[offset + n], occurred_at=DEFAULT_END - LATE_SPAN * rng.random())
            late.append(offset + n)
    return out, late


class RebuildCounter:
    """Customers sent to the rebuild by `Lifecycle.apply` while this is entered: `rebuilds` counts
    each customer once per call (a customer late in two batches is rebuilt twice), `customers` the
    distinct ones. `available` is False when `api.lifecycle` no longer calls `rebuild_customers` by
    that name (then nothing is counted, and the figures are reported as unknown)."""

    def __init__(self) -> None:
        self.rebuilds = 0
        self.customers: set[int] = set()
        self.original: Rebuilder | None = None

    @property
    def available(self) -> bool:
        return self.original is not None

    async def _counting(
        self, workspace_id: int, tracked: Any, customer_ids: Sequence[int], *args: Any, **kwargs: Any
    ) -> RebuildOutcome:
        assert self.original is not None
        self.rebuilds += len(set(customer_ids))
        self.customers.update(customer_ids)
        return await self.original(workspace_id, tracked, customer_ids, *args, **kwargs)

    def __enter__(self) -> RebuildCounter:
        # setattr, not an assignment: mypy would hold the wrapper to the function's exact type
        self.original = getattr(lifecycle_module, "rebuild_customers", None)
        if self.original is not None:
            setattr(lifecycle_module, "rebuild_customers", self._counting)  # noqa: B010
        return self

    def __exit__(self, *exc: object) -> None:
        if self.original is not None:
            setattr(lifecycle_module, "rebuild_customers", self.original)  # noqa: B010

    def figure(self) -> int | None:
        """Rebuilds (customer x call), None when not counted."""
        return self.rebuilds if self.available else None

    def distinct(self) -> int | None:
        return len(self.customers) if self.available else None


async def superseded_since(workspace_id: int, since: datetime) -> tuple[int, int]:
    """(moves, customers) superseded at or after `since` in the workspace: what rebuilds changed."""
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        "SELECT COUNT(*) AS moves, COUNT(DISTINCT customer_id) AS customers FROM stage_transition "
        f"WHERE workspace_id = {p(workspace_id)} AND superseded_at >= {p(utc(since))}"
    )
    (row,) = await fetch(sql, p, conn)
    return int(row["moves"]), int(row["customers"])


def generated(
    rng: random.Random, n: int, customer_id: int, start: datetime, end: datetime, kind: str, key: str | None = None
) -> NewInteraction:
    """One interaction of the generator's values for `kind`, at a random time in [start, end)."""
    row = _interaction(rng, n, 0, start, end, kind)
    return NewInteraction(
        customer_id=customer_id,
        kind=row.kind,
        occurred_at=row.occurred_at,
        channel=row.channel,
        amount=row.amount,
        score=row.score,
        properties=row.properties,
        idempotency_key=key,
    )


def _new(rng: random.Random, n: int, customer_id: int, start: datetime, end: datetime) -> NewInteraction:
    """One interaction of the generator's kind mix and values, at a random time in [start, end)."""
    kinds = list(KIND_MIX)
    kind = rng.choices(kinds, weights=[KIND_MIX[k][0] for k in kinds])[0]
    return generated(rng, n, customer_id, start, end, kind)


@dataclass
class SingleLate:
    latencies_ms: list[float] = field(default_factory=list)
    customers: int = 0
    history: int = 0  # interactions per customer before the late one
    setup_seconds: float = 0.0
    setup_rebuilt: int | None = 0  # customers rebuilt while recording the histories (should be 0)
    rebuilt: int | None = 0  # customers rebuilt by the timed calls (should be all of them)
    transitions: int = 0  # moves the timed calls returned
    superseded: int = 0  # moves they superseded


async def single_late(
    workspace_id: int,
    lifecycle: Lifecycle,
    kinds: Mapping[str, InteractionKind],
    customers: int,
    history: int,
    batch: int,
    seed: int,
) -> SingleLate:
    """`customers` fresh customers (plus one first, untimed, to warm up the late path), created
    SINGLE_AGE ago as they would have been then (rules applied up to their creation, `now=`), each
    given `history` interactions in time order (record_many in batches of `batch`, all customers
    interleaved, the clock `now=` following the feed: nothing is late); then, per customer, ONE
    timed `record_many` of one interaction dated in the middle of its history."""
    rng = random.Random(f"{seed}-single-late")
    now = datetime.now(UTC)
    born = now - SINGLE_AGE
    ids = []
    for n in range(customers + 1):
        saved = await create_customer(
            workspace_id, {"name": f"Bench late customer {n + 1}", "created_at": born}, now=born, lifecycle=lifecycle
        )
        ids.append(saved.customer.id)
    out = SingleLate(customers=customers, history=history)
    feed = by_time([_new(rng, n, cid, born, now) for cid in ids for n in range(history)])
    started = time.perf_counter()
    with RebuildCounter() as setup:
        for offset in range(0, len(feed), batch):
            chunk = feed[offset : offset + batch]
            results = await record_many(workspace_id, chunk, kinds, now=chunk[-1].occurred_at, lifecycle=lifecycle)
            if not all(isinstance(r, Recorded) and r.created for r in results):
                raise RuntimeError(f"single late: a history item was not stored: {results}")
    out.setup_seconds = time.perf_counter() - started
    out.setup_rebuilt = setup.figure()
    times: dict[int, list[datetime]] = {cid: [] for cid in ids}
    for item in feed:
        assert item.customer_id is not None
        times[item.customer_id].append(item.occurred_at)

    def late(n: int, cid: int) -> NewInteraction:
        own = times[cid]
        before, after = own[len(own) // 2 - 1], own[len(own) // 2]
        return replace(_new(rng, n, cid, born, now), occurred_at=before + (after - before) / 2)

    warm_up, *measured = ids
    await record_many(workspace_id, [late(0, warm_up)], kinds, lifecycle=lifecycle)
    since = datetime.now(UTC)
    with RebuildCounter() as timed:
        for n, cid in enumerate(measured, start=1):
            item = late(n, cid)
            begun = time.perf_counter()
            (result,) = await record_many(workspace_id, [item], kinds, lifecycle=lifecycle)
            out.latencies_ms.append((time.perf_counter() - begun) * 1000)
            if not isinstance(result, Recorded) or not result.created:
                raise RuntimeError(f"single late: the late interaction was not stored: {result}")
            out.transitions += len(result.transitions)
    out.rebuilt = timed.figure()
    out.superseded = (await superseded_since(workspace_id, since))[0]
    return out


def single_late_line(result: Mapping[str, Any], p50: float, p90: float, worst: float) -> str:
    rebuilt = "unknown" if result["rebuilt"] is None else f"{result['rebuilt']}"
    setup = "unknown" if result["setup_rebuilt"] is None else f"{result['setup_rebuilt']}"
    verdict = "within" if worst <= SINGLE_TARGET_MS else "OVER"
    return (
        f"single late: one interaction dated in the middle of a {result['history']}-interaction history, one "
        f"record_many call each for {result['customers']} fresh customers: p50 {p50:.1f} ms, p90 {p90:.1f} ms, "
        f"max {worst:.1f} ms ({verdict} the {SINGLE_TARGET_MS:.0f} ms target at max); customers rebuilt {rebuilt} "
        f"of {result['customers']}, {result['superseded']} moves superseded, {result['transitions']} moves "
        f"returned; set-up {result['setup_seconds']:.1f}s, customers rebuilt during it {setup}"
    )

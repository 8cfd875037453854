"""Insights benchmark (issue 13): each new figure timed on the generated workspace, aim < 1 s on
PostgreSQL at 100k customers / 1M interactions.

It generates the seeded data set of `bench.generate` into a throwaway database, places every
customer in the primary model (`funnel`) and fits the value model (P(alive), predicted CLV), or
reuses a database you name (`--database-url`, already prepared: nothing is written to it but the
saved segment, which is removed again). Then it times, best of `--repeat` after a warm-up, through
the services the API calls:

- a saved segment's live count (an OR of a tag and a comparison, a NOT, an attribute range);
- "CLV and churn by industry" and "CAC and CLV:CAC by channel": the groups and each group's
  historic CLV and churn (or CAC) — everything the one GraphQL query computes;
- the cohort-month breakdown's groups;
- touchpoint attribution into `customer` (90 days, by kind);
- the health distribution of the workspace, and the first page ordered by health;
- the re-engagement list's first page by value at risk;
- recommendations for 20 customers who bought something (the slowest of them is the figure).

    python -m bench.insights                                  # PostgreSQL, 100k / 1M
    python -m bench.insights --customers 10000 --interactions 100000
    python -m bench.insights --keep prof            # generate into database "prof" and keep it
    python -m bench.insights --database-url postgres://postgres@127.0.0.1:5432/prof
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tortoise.context import TortoiseContext

from api import metrics as m
from api import metrics_attribution, metrics_groups, value
from api.customer_filters import Comparison, CustomerFilter, Op
from api.customers import count_customers, list_customers
from api.db import Params, connection, dialect_of, fetch
from api.health import HealthWeights, Reengage, distribution
from api.metrics_batch import GroupBatch
from api.metrics_scope import new_params, segment_ids
from api.pagination import ASC, DESC, PageRequest
from api.recommendations import recommendations
from api.settings import Settings
from bench.generate import DEFAULT_END, DEFAULT_SEED, generate
from bench.lifecycle import Spec, in_subprocess
from bench.measuring import non_negative, positive, python_speed
from bench.metrics import bench_scope, calibration_end
from bench.read_server import create_database, default_postgres_url, postgres_database, with_database
from bench.running import run_bench
from plugins.manager import load_plugins

TARGET_MS = 1000.0


def say(message: str = "") -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Figure:
    name: str
    ms: float
    detail: str


async def best(repeat: int, work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    result = await work()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await work()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), result


async def by_group(
    scope: m.Scope, field: str, metrics: Callable[[GroupBatch, str | None], Awaitable[Any]]
) -> list[Any]:
    """The groups and each one's metrics as the API answers them: one batch for all groups, the
    groups and their fields resolved concurrently (as graphql-core gathers a list's items and
    sibling async fields)."""
    found = await metrics_groups.groups(scope, metrics_groups.GroupBy(field))
    batch = GroupBatch.of(found)
    answers = await asyncio.gather(*(metrics(batch, g.key) for g in found.groups))
    return [(g.label, g.customers, a) for g, a in zip(found.groups, answers, strict=True)]


async def clv_and_churn(batch: GroupBatch, key: str | None) -> tuple[Any, Any]:
    clv, flow = await asyncio.gather(batch.historic_clv(key), batch.flow(key))
    return clv.value, flow.churn_rate


async def cac_and_ratio(batch: GroupBatch, key: str | None) -> tuple[Any, Any]:
    a, h = await asyncio.gather(batch.acquisition(key), batch.historic_clv(key))
    cac = a.total_spend / a.total_acquired if a.spend and a.total_acquired else None
    return cac, (h.value / cac if h.value is not None and cac else None)


async def buyers(workspace_id: int, n: int) -> list[int]:
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT DISTINCT i.customer_id AS id FROM interaction i WHERE i.workspace_id = {p(workspace_id)} "
        f"AND i.kind = 'purchase' ORDER BY i.customer_id LIMIT {p(n)}"
    )
    return [int(r["id"]) for r in await fetch(sql, p, conn)]


async def figures(workspace_id: int, repeat: int) -> list[Figure]:
    registry = load_plugins(autoload=False)
    model = registry.model("funnel")
    assert model is not None
    scope = bench_scope(workspace_id, model)
    weights, now = HealthWeights(), DEFAULT_END
    out: list[Figure] = []

    async def timed(name: str, work: Callable[[], Awaitable[Any]], describe: Callable[[Any], str]) -> None:
        ms, result = await best(repeat, work)
        out.append(Figure(name, ms, describe(result)))
        say(f"  {name}: {ms:,.0f} ms ({describe(result)})")

    segment = CustomerFilter(
        any_of=(CustomerFilter(tag="vip"), CustomerFilter(where=(Comparison("industry", Op.EQ, ("varejo",)),))),
        negated=CustomerFilter(acquisition_channel="instagram"),
        where=(Comparison("createdAt", Op.GTE, (datetime(2024, 1, 1, tzinfo=UTC),)),),
    )
    await timed("segment count (or/not/where)", lambda: count_customers(workspace_id, segment), lambda n: f"{n:,}")
    await timed(
        "CLV and churn by industry",
        lambda: by_group(scope, "industry", clv_and_churn),
        lambda rows: f"{len(rows)} groups",
    )
    await timed(
        "CAC and CLV:CAC by channel",
        lambda: by_group(scope, "acquisitionChannel", cac_and_ratio),
        lambda rows: f"{len(rows)} groups",
    )
    await timed(
        "cohort-month groups",
        lambda: metrics_groups.groups(scope, metrics_groups.GroupBy("cohortMonth")),
        lambda g: f"{len(g.groups)} months",
    )
    await timed(
        "attribution into customer (90 days, by kind)",
        lambda: metrics_attribution.attribution(scope, "customer", 90, "KIND"),
        lambda a: f"{a.conversions:,} conversions, {len(a.touchpoints)} touchpoints",
    )

    async def health_distribution() -> Any:
        p = new_params()
        return await distribution(workspace_id, weights, now, segment_ids(scope, p), p)

    await timed("health distribution", health_distribution, lambda d: f"{d.customers:,} scored, median {d.median}")
    first = PageRequest(first=50)
    await timed(
        "first 50 by health",
        lambda: list_customers(workspace_id, CustomerFilter(), [("HEALTH", ASC)], first, health=(weights, now)),
        lambda page: f"{len(page.rows)} rows",
    )
    reengage = CustomerFilter(computed=(Reengage(weights, now),))
    await timed(
        "re-engagement list, first 50 by value at risk",
        lambda: list_customers(workspace_id, reengage, [("VALUE_AT_RISK", DESC)], first),
        lambda page: f"{len(page.rows)} rows",
    )
    await timed("re-engagement count", lambda: count_customers(workspace_id, reengage), lambda n: f"{n:,}")
    sample = await buyers(workspace_id, 20)
    slowest = 0.0
    for customer in sample:

        async def suggest(customer: int = customer) -> Any:
            return await recommendations(workspace_id, customer, 5)

        ms, _ = await best(max(1, repeat - 1), suggest)
        slowest = max(slowest, ms)
    out.append(Figure("recommendations (slowest of 20 buyers)", slowest, f"{len(sample)} customers"))
    say(f"  recommendations (slowest of 20 buyers): {slowest:,.0f} ms")
    return out


def table(found: list[Figure], title: str) -> str:
    width = max(len(f.name) for f in found)
    lines = [title, "", f"{'figure'.ljust(width)} | {'ms':>8} | aim < 1 s | detail", "-" * (width + 40)]
    for f in found:
        verdict = "ok" if f.ms < TARGET_MS else "OVER"
        lines.append(f"{f.name.ljust(width)} | {f.ms:>8,.0f} | {verdict:>9} | {f.detail}")
    return "\n".join(lines)


async def on(url: str, workspace_id: int, repeat: int, title: str) -> None:
    before = python_speed()
    async with TortoiseContext() as ctx:
        await ctx.init(config=Settings(database_url=url).tortoise_config())
        found = await figures(workspace_id, repeat)
    speed = f"machine speed: a 10M-step Python loop in {before:.2f}s before, {python_speed():.2f}s after"
    say("")
    say(table(found, f"{title}; {speed}"))


async def prepared(url: str, customers: int, interactions: int, seed: int) -> int:
    made = await generate(url, customers, interactions, seed)
    say(f"  generated in {made.build_seconds + made.insert_seconds:.0f}s; placing customers in the funnel model...")
    placed = await in_subprocess(Spec(task="prime", url=url, workspace_id=made.workspace_id))
    say(f"  {placed['transitions']:,} moves; fitting the value model...")
    async with TortoiseContext() as ctx:
        await ctx.init(config=Settings(database_url=url).tortoise_config())
        registry = load_plugins(autoload=False)
        model = registry.model("funnel")
        assert model is not None
        scope = replace(bench_scope(made.workspace_id, model))
        fit = await value.refresh(made.workspace_id, calibration_end(scope).date(), now=scope.now)
        say(f"  value model: {'fitted' if not fit.error else fit.error}")
    return made.workspace_id


async def run(args: argparse.Namespace) -> None:
    title = f"{args.customers:,} customers, {args.interactions:,} interactions (seed {args.seed}), PostgreSQL"
    if args.database_url:
        await on(args.database_url, args.workspace, args.repeat, f"{args.database_url}, workspace {args.workspace}")
        return
    if args.keep:
        url = with_database(args.postgres_url, args.keep)
        await create_database(args.postgres_url, args.keep)
        say(f"generating {args.customers:,} customers, {args.interactions:,} interactions into {url} (kept)...")
        workspace_id = await prepared(url, args.customers, args.interactions, args.seed)
        await on(url, workspace_id, args.repeat, title)
        say(f"kept: python -m bench.insights --database-url {url} --workspace {workspace_id}")
        return
    async with postgres_database(args.postgres_url) as target:
        say(f"generating {args.customers:,} customers, {args.interactions:,} interactions...")
        workspace_id = await prepared(target.url, args.customers, args.interactions, args.seed)
        await on(target.url, workspace_id, args.repeat, title)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.insights", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--customers", type=positive, default=100_000)
    parser.add_argument("--interactions", type=non_negative, default=1_000_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=positive, default=3, help="best of this many runs per figure")
    parser.add_argument("--postgres-url", default=default_postgres_url())
    parser.add_argument("--database-url", help="time on this prepared database instead of generating one")
    parser.add_argument("--workspace", type=positive, default=1, help="with --database-url: the workspace")
    parser.add_argument("--keep", metavar="NAME", help="generate into a new database NAME and keep it (for profiling)")
    args = parser.parse_args(argv)
    return run_bench(lambda: run(args), "interrupted: bench data removed")


if __name__ == "__main__":
    raise SystemExit(main())

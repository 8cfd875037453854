"""Lifecycle benchmark: full replay of every history into a model, and bulk ingestion with rules.

For each database it generates a seeded data set (`bench.generate`: customers and interactions
bulk-loaded WITHOUT the lifecycle engine) twice in one database, as two workspaces: the full size
and a small one (`--small-fraction` of it, 10% by default). Then each step runs in a FRESH
subprocess, so that its peak RSS (a high-water mark; see `MemoryProbe`) belongs to that step:

1. PRIME the full workspace (set-up, timed but not a target). The generator leaves no facts,
   stage assignments or transitions; production builds them as each customer is created and each
   interaction recorded. Here every customer's history is replayed from scratch through the
   tracked model(s) (`replay_customer`, as `switch` by REPLAY does) and its facts folded (as the
   live path does, one interaction at a time), then written with the lifecycle store's own
   functions. Without this, rule evaluation during ingestion would start every customer from
   empty facts in the initial stage. (`track`/`switch` do not write facts either.)
2. REPLAY: `api.lifecycle_admin.track(lifecycle, workspace, "lifespan", dry_run=...)`, first as a
   dry run (no writes), then for real (assignments and transitions written in one transaction),
   on the small and on the full workspace: seconds, interactions/s, transitions written, peak RSS
   during the call and its growth. The replay streams customers in batches, so peak memory should
   not grow with the data: compare the two sizes.
3. INGEST in order: `api.interactions.record_many(workspace, items, kinds, lifecycle=lifecycle)` in
   batches of NEW interactions (the generator's kind mix and values, spread over existing customers
   with the same skewed activity, every other one with an idempotency key), one batch after the
   other, sorted by `occurred_at` as a live feed arrives: interactions/s and p50/p99 batch latency.
   They occurred within 3 days ending 3 days ago (`INGEST_WINDOW`), after what is known of the
   customers (history up to `bench.generate.DEFAULT_END`, time-based moves dated when they fell
   due, months later), so each is folded onto the current position (the fast path; the customers
   rebuilt anyway are counted, as in step 4). Rules run for every tracked model: the primary one
   (`funnel`) and the one step 2 started tracking.
4. INGEST with late items: a fresh feed the same way (other idempotency keys), over the 3 days
   ending now (after step 3's), where `--late-share` (10%) of each batch's items, picked with the
   seeded rng, are dated instead at DEFAULT_END minus 0..365 days: before the known history of
   almost every customer, so each such customer is rebuilt from its whole history (`api.rebuild`)
   in that batch. Also: how many items were late, how many customers the live path really rebuilt
   (`bench.lifecycle_late.RebuildCounter`) and how many of them had moves superseded. Then the
   ingestion of step 3 runs again (random times over the last 3 days, not sorted) with
   `lifecycle=None`, as a baseline without rules.
5. SINGLE LATE: `--single-late` (20) fresh customers of the full workspace, created a year ago
   (`api.customers.create_customer`), given `--single-history` (200) interactions each in time
   order (`record_many` in batches, the clock following the feed); then ONE `record_many` call per
   customer with one interaction dated in the middle of its history: p50, p90 and max ms of that
   call (one more customer first, untimed, warms the late path up). See `bench.lifecycle_late`.

Every timed step also reports where its wall time went (`CpuProbe`): CPU seconds of the Python
process, of the PostgreSQL backends serving it, and of other processes on the machine, so that a
run on a busy machine can still be read.

    python -m bench.lifecycle                                  # both databases, 100k / 1M / 100k
    python -m bench.lifecycle --database postgres --customers 10000 --interactions 100000 --ingest 20000
    python -m bench.lifecycle --database postgres --profile-dir /tmp/prof   # cProfile each step
    python -m bench.lifecycle --database postgres --profile-dir /tmp/prof --py-spy /path/to/py-spy

`--profile-dir` runs replay and ingestion under cProfile (figures then include its overhead) and
prints the top functions; with `--py-spy BIN` they are sampled by py-spy instead (non-blocking,
much less overhead; py-spy is not a dependency: e.g. `pip install --target /tmp/pyspy py-spy`).
`Lifecycle` is built without a publisher: NOTIFY and plugin hooks after commit are not measured.
PostgreSQL is reached as in `bench.read_path` (a `bench_*` database made and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import math
import os
import platform
import pstats
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

from api import lifecycle_store as store
from api.db import Params, connection, dialect_of, fetch
from api.interactions import NewInteraction, Recorded, record_many
from api.lifecycle import RULE, Lifecycle, event_of, replay_customer
from api.lifecycle_admin import Rebuild, track
from api.lifecycle_store import interaction_histories
from api.model_batches import customer_batches
from api.runtime import tune_gc
from api.settings import Settings, default_replay_workers
from bench.generate import DEFAULT_SEED, KIND_MIX, Generated, generate
from bench.lifecycle_late import (
    SINGLE_CUSTOMERS,
    SINGLE_HISTORY,
    SINGLE_TARGET_MS,
    Ingestion,
    IngestRun,
    RebuildCounter,
    at_least_two,
    by_time,
    generated,
    ingest_header,
    ingest_row,
    ingestions,
    make_late,
    rebuilt_text,
    share,
    single_late,
    single_late_line,
    superseded_since,
)
from bench.measuring import Measurement, cpu_cell, non_negative, positive, python_speed
from bench.read_server import (
    Target,
    default_postgres_url,
    postgres_database,
    postgres_reachable,
    sqlite_database,
)
from bench.running import run_bench
from plugins.facts import FactsState
from plugins.manager import load_plugins
from plugins.types import InteractionKind

ROOT = Path(__file__).resolve().parent.parent
WORKER = "_worker"  # argv[1] of a step's subprocess
DEFAULT_MODEL = "lifespan"
INGEST_WINDOW = timedelta(days=3)
TOP = 20


def say(message: str) -> None:
    print(message, flush=True)


def _status_mb(name: str) -> float:
    """A `VmRSS`/`VmHWM` line of /proc/self/status (Linux), in MB; NaN elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_s() -> float:
    """CPU seconds every core of the machine spent busy since boot (Linux /proc/stat); NaN elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return math.nan
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10]) if len(fields) > 9 else 0  # already counted in user and nice
    return (sum(fields) - idle - guest) / CLOCK_TICKS


def _process_cpu_s(pid: int) -> float:
    """utime + stime of another process (Linux /proc/<pid>/stat); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children_cpu_s() -> float:
    """CPU seconds of this process's ended children (the replay's workers, once they are joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _backend_pids() -> list[int]:
    """The PostgreSQL server processes serving this database (on this machine), for their CPU time."""
    conn = connection()
    if dialect_of(conn) != "postgres":
        return []  # SQLite runs in this process: its time is in the process's own
    sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
    return [int(r["pid"]) for r in await fetch(sql, Params("postgres"), conn)]


class CpuProbe:
    """Where the wall time of a call went: CPU of this process (all threads, so SQLite's too), of the
    PostgreSQL backends serving it, and of everything else on the machine (other processes competing
    for the cores: a busy neighbour makes the wall time longer than the work)."""

    async def start(self) -> None:
        self.backends = {pid: _process_cpu_s(pid) for pid in await _backend_pids()}
        self.machine = _machine_busy_s()
        self.own = time.process_time()
        self.workers = _children_cpu_s()

    async def stop(self) -> None:
        self.own = time.process_time() - self.own
        self.workers = _children_cpu_s() - self.workers
        self.machine = _machine_busy_s() - self.machine
        pids = set(self.backends) | set(await _backend_pids())
        self.db = sum(_process_cpu_s(pid) - self.backends.get(pid, 0.0) for pid in pids)

    def figures(self) -> dict[str, float]:
        return {
            "cpu_own_s": self.own,
            "cpu_db_s": self.db,
            "cpu_workers_s": self.workers,
            "cpu_other_s": max(self.machine - self.own - self.db - self.workers, 0.0),
            "load_1min": os.getloadavg()[0],
        }


def cpu_line(result: dict[str, Any]) -> str:
    return (
        f"CPU: Python {result['cpu_own_s']:.1f}s, its replay workers {result['cpu_workers_s']:.1f}s, "
        f"PostgreSQL backends {result['cpu_db_s']:.1f}s, other processes "
        f"{result['cpu_other_s']:.1f}s (load {result['load_1min']:.1f} on {os.cpu_count()} CPUs)"
    )


class MemoryProbe:
    """The peak RSS of this process during a call, and how much it grew over the RSS before it.

    `ru_maxrss` is a high-water mark over the process's whole life and, on Linux, it is inherited
    over fork and exec: a step started by a parent that once held the generated data set reports
    the parent's peak. So the kernel's per-address-space mark, VmHWM, is reset just before the
    call (`5` into /proc/self/clear_refs) and read after it; ru_maxrss is kept for reference."""

    def __enter__(self) -> MemoryProbe:
        self.maxrss_before = _maxrss_mb()
        self.rss_before = _status_mb("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = _status_mb("VmHWM") if self.reset else _maxrss_mb()
        self.maxrss_after = _maxrss_mb()
        self.rss_after = _status_mb("VmRSS")

    def figures(self) -> dict[str, float]:
        return {
            "rss_before_mb": self.rss_before,
            "rss_peak_mb": self.peak,
            "rss_after_mb": self.rss_after,
            "maxrss_before_mb": self.maxrss_before,
            "maxrss_after_mb": self.maxrss_after,
        }


# --- the steps, each run in a subprocess of its own ---------------------------------------------


@dataclass
class Spec:
    """What one subprocess does."""

    task: str  # prime | replay | ingest | single_late
    url: str
    workspace_id: int
    model: str = DEFAULT_MODEL
    dry_run: bool = False
    ingest: int = 0
    batch: int = 1000
    seed: int = DEFAULT_SEED
    rules: bool = True  # ingestion with `lifecycle=` (False: the baseline without rule evaluation)
    label: str = "ingest"  # the items' seed and idempotency keys
    in_order: bool = False  # items sorted by occurred_at, as a live feed arrives
    window_end_days: float = 0.0  # the items occurred within INGEST_WINDOW ending this many days ago
    late_share: float = 0.0  # this share of each batch dated well before the customers' history
    customers: int = SINGLE_CUSTOMERS  # single_late: fresh customers
    history: int = SINGLE_HISTORY  # single_late: interactions each before the late one
    profile: str | None = None  # a cProfile output file
    replay_workers: int = 0  # replay: processes computing the rules (api/batch_pool.py)


async def _settle(dialect: str) -> None:
    """Fresh statistics after a big write, as autovacuum would have them (untimed)."""
    conn = connection()
    if dialect == "postgres":
        await conn.execute_script("VACUUM (ANALYZE) customer_facts, stage_assignment, stage_transition, interaction")
    else:
        await conn.execute_script("ANALYZE")


async def step_prime(spec: Spec) -> dict[str, Any]:
    """Facts, assignments and transitions of the primary model, as production would have them."""
    lifecycle = Lifecycle(load_plugins(autoload=False))
    conn = connection()
    p = Params(dialect_of(conn))
    sql = f"SELECT DISTINCT model_key FROM stage_assignment WHERE workspace_id = {p(spec.workspace_id)}"
    placed = {r["model_key"] for r in await fetch(sql, p, conn)}
    models = [t for t in await lifecycle.tracked(spec.workspace_id) if t.key not in placed]
    now = datetime.now(UTC)
    customers = interactions = transitions = 0
    started = time.perf_counter()
    async with in_transaction():
        async for batch in customer_batches(spec.workspace_id):
            histories = await interaction_histories(spec.workspace_id, [c.id for c in batch])
            facts: dict[int, FactsState] = {}
            positions = {}
            moves = []
            for c in batch:
                history = histories.get(c.id, [])
                state = FactsState()
                for record in history:
                    state.fold(event_of(record))
                facts[c.id] = state
                for t in models:
                    position, made = replay_customer(t, c, history, now, RULE)
                    positions[(c.id, t.key)] = position
                    moves += made
                interactions += len(history)
            await store.save_facts(spec.workspace_id, facts, now)
            await store.save_positions(spec.workspace_id, positions, now)
            await store.insert_transitions(moves)
            customers += len(batch)
            transitions += len(moves)
    seconds = time.perf_counter() - started
    await _settle(p.dialect)
    return {
        "models": [t.key for t in models],
        "customers": customers,
        "interactions": interactions,
        "transitions": transitions,
        "seconds": seconds,
    }


async def timed_replay(lifecycle: Lifecycle, spec: Spec) -> Rebuild:
    """The measured call (py-spy's report counts the samples under this frame)."""
    return await track(lifecycle, spec.workspace_id, spec.model, dry_run=spec.dry_run)


async def step_replay(spec: Spec) -> dict[str, Any]:
    lifecycle = Lifecycle(load_plugins(autoload=False), replay_workers=spec.replay_workers)
    cpu = CpuProbe()
    await cpu.start()
    with MemoryProbe() as memory:
        profiler = _start_profiler(spec)
        started = time.perf_counter()
        rebuilt = await timed_replay(lifecycle, spec)
        seconds = time.perf_counter() - started
        _stop_profiler(profiler, spec)
    await cpu.stop()
    if not spec.dry_run:
        await _settle(dialect_of(connection()))
    return {
        "seconds": seconds,
        "customers": sum(rebuilt.distribution.values()),
        "transitions": rebuilt.transitions_written,
        "distribution": dict(rebuilt.distribution),
        **memory.figures(),
        **cpu.figures(),
    }


async def _customer_ids(workspace_id: int) -> list[int]:
    conn = connection()
    p = Params(dialect_of(conn))
    sql = f"SELECT id FROM customer WHERE workspace_id = {p(workspace_id)} ORDER BY id"
    return [int(r["id"]) for r in await fetch(sql, p, conn)]


def ingest_items(customer_ids: Sequence[int], count: int, seed: int, end: datetime, label: str) -> list[NewInteraction]:
    """`count` new interactions: the generator's kind mix and values, over existing customers with
    skewed activity, occurred within INGEST_WINDOW before `end`, an idempotency key on every other
    one. In random order of time."""

    rng = random.Random(f"{seed}-{label}")
    activity = [rng.lognormvariate(0.0, 1.0) for _ in customer_ids]
    owners = rng.choices(customer_ids, weights=activity, k=count)
    kinds = list(KIND_MIX)
    picked = rng.choices(kinds, weights=[KIND_MIX[k][0] for k in kinds], k=count)
    start = end - INGEST_WINDOW
    items: list[NewInteraction] = []
    for n, (owner, kind) in enumerate(zip(owners, picked, strict=True)):
        key = f"bench-{label}-{seed}-{n + 1:08d}" if n % 2 == 0 else None
        items.append(generated(rng, n, owner, start, end, kind, key))
    return items


@dataclass
class Ingested:
    created: int = 0
    invalid: int = 0
    transitions: int = 0
    latencies_ms: list[float] = field(default_factory=list)


async def timed_ingest(
    lifecycle: Lifecycle | None, kinds: Mapping[str, InteractionKind], items: Sequence[NewInteraction], spec: Spec
) -> Ingested:
    """The measured calls, one batch after the other (py-spy's report counts the samples under this frame)."""
    out = Ingested()
    for offset in range(0, len(items), spec.batch):
        chunk = items[offset : offset + spec.batch]
        started = time.perf_counter()
        results = await record_many(spec.workspace_id, chunk, kinds, lifecycle=lifecycle)
        out.latencies_ms.append((time.perf_counter() - started) * 1000)
        for r in results:
            if isinstance(r, Recorded):
                out.created += r.created
                out.transitions += len(r.transitions)
            else:
                out.invalid += 1
    return out


async def step_ingest(spec: Spec) -> dict[str, Any]:
    registry = load_plugins(autoload=False)
    lifecycle = Lifecycle(registry)
    tracked = [t.key for t in await lifecycle.tracked(spec.workspace_id)] if spec.rules else []
    end = datetime.now(UTC) - timedelta(days=spec.window_end_days)
    items = ingest_items(await _customer_ids(spec.workspace_id), spec.ingest, spec.seed, end, spec.label)
    if spec.in_order:
        items = by_time(items)
    late: list[int] = []
    if spec.late_share:
        items, late = make_late(items, spec.late_share, spec.batch, random.Random(f"{spec.seed}-{spec.label}-late"))
    since = datetime.now(UTC)
    cpu = CpuProbe()
    await cpu.start()
    with MemoryProbe() as memory, RebuildCounter() as rebuilds:
        profiler = _start_profiler(spec)
        started = time.perf_counter()
        done = await timed_ingest(lifecycle if spec.rules else None, registry.kinds, items, spec)
        seconds = time.perf_counter() - started
        _stop_profiler(profiler, spec)
    await cpu.stop()
    superseded, changed = await superseded_since(spec.workspace_id, since)
    return {
        "seconds": seconds,
        "items": len(items),
        "created": done.created,
        "invalid": done.invalid,
        "transitions": done.transitions,
        "tracked": tracked,
        "latencies_ms": done.latencies_ms,
        "late_items": len(late),
        "late_customers": len({items[n].customer_id for n in late}),
        "late_pairs": len({(n // spec.batch, items[n].customer_id) for n in late}),
        "rebuilt": rebuilds.figure(),
        "rebuilt_customers": rebuilds.distinct(),
        "superseded": superseded,
        "changed_customers": changed,
        **memory.figures(),
        **cpu.figures(),
    }


async def step_single_late(spec: Spec) -> dict[str, Any]:
    registry = load_plugins(autoload=False)
    lifecycle = Lifecycle(registry)
    done = await single_late(
        spec.workspace_id, lifecycle, registry.kinds, spec.customers, spec.history, spec.batch, spec.seed
    )
    return asdict(done)


def _start_profiler(spec: Spec) -> cProfile.Profile | None:
    if spec.profile is None:
        return None
    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _stop_profiler(profiler: cProfile.Profile | None, spec: Spec) -> None:
    if profiler is not None and spec.profile is not None:
        profiler.disable()
        profiler.dump_stats(spec.profile)


STEPS = {"prime": step_prime, "replay": step_replay, "ingest": step_ingest, "single_late": step_single_late}


async def run_step(spec: Spec) -> dict[str, Any]:
    async with TortoiseContext() as ctx:
        await ctx.init(config=Settings(database_url=spec.url).tortoise_config())
        tune_gc()  # as the server does at start-up
        return await STEPS[spec.task](spec)


def worker_main(raw: str) -> int:
    spec = Spec(**json.loads(raw))
    result = asyncio.run(run_step(spec))
    print(json.dumps(result), flush=True)
    return 0


async def in_subprocess(spec: Spec, py_spy: tuple[str, Path] | None = None) -> dict[str, Any]:
    """Run one step in a fresh Python process and return what it printed (its last line, JSON)."""
    command = [sys.executable, "-m", "bench.lifecycle", WORKER, json.dumps(spec.__dict__)]
    if py_spy is not None:
        binary, output = py_spy
        command = [
            binary,
            "record",
            "--function",
            "--nonblocking",
            "--rate",
            str(PYSPY_RATE),
            "--format",
            "raw",
            "-o",
            str(output),
            "--",
            *command,
        ]
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await process.communicate()
    except asyncio.CancelledError:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"the {spec.task} step exited with {process.returncode}")
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the {spec.task} step printed no result:\n{out.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- one database -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    customers: int
    interactions: int
    ingest: int
    batch: int
    small_fraction: float
    seed: int
    model: str
    profile_dir: Path | None
    py_spy: str | None
    late_share: float = 0.1
    single_late: int = SINGLE_CUSTOMERS
    single_history: int = SINGLE_HISTORY
    replay_workers: int = 0


@dataclass(frozen=True)
class Replay:
    label: str
    customers: int
    interactions: int
    dry_run: bool
    seconds: float
    transitions: int
    rss_before_mb: float
    rss_peak_mb: float

    @property
    def rate(self) -> float:
        return self.interactions / self.seconds if self.seconds else math.inf

    @property
    def growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_before_mb


@dataclass
class Outcome:
    dialect: str
    small: Generated
    full: Generated
    replays: list[Replay] = field(default_factory=list)
    ingests: dict[str, IngestRun] = field(default_factory=dict)  # Ingestion.label -> what it measured
    single: Measurement | None = None  # the single late interactions, one call each
    cpu: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> CpuProbe figures

    def replay(self, size: str, dry_run: bool) -> Replay:
        return next(r for r in self.replays if r.label == size and r.dry_run == dry_run)


def _profile_path(options: Options, dialect: str, name: str, suffix: str) -> Path | None:
    if options.profile_dir is None:
        return None
    return options.profile_dir / f"{dialect}-{name}.{suffix}"


async def _profiled_step(spec: Spec, options: Options, dialect: str, name: str) -> dict[str, Any]:
    """A timed step, under cProfile or py-spy when asked; prints the profile's top functions."""
    cprof = _profile_path(options, dialect, name, "prof") if options.py_spy is None else None
    spy = _profile_path(options, dialect, name, "pyspy.txt") if options.py_spy is not None else None
    if cprof is not None:
        spec.profile = str(cprof)
    result = await in_subprocess(spec, (options.py_spy, spy) if options.py_spy and spy else None)
    if cprof is not None:
        say(cprofile_report(cprof, f"cProfile, {dialect} {name}"))
    if spy is not None:
        say(pyspy_report(spy, f"py-spy, {dialect} {name}", result["seconds"]))
    return result


async def bench_one(target: Target, options: Options) -> Outcome:
    d = target.dialect
    small_customers = max(1, round(options.customers * options.small_fraction))
    small_interactions = round(options.interactions * options.small_fraction)
    sizes = (
        ("small", small_customers, small_interactions, True),
        ("full", options.customers, options.interactions, False),
    )
    made: dict[str, Generated] = {}
    for label, customers, interactions, migrate in sizes:
        say(f"[{d}] generating the {label} workspace: {customers:,} customers, {interactions:,} interactions...")
        made[label] = await generate(
            target.url,
            customers,
            interactions,
            options.seed,
            migrate=migrate,
            workspace_name=f"Bench lifecycle {label} (seed {options.seed})",
        )
        g = made[label]
        say(
            f"[{d}]   workspace {g.workspace_id}, digest {g.digest}: built in {g.build_seconds:.1f}s, "
            f"written in {g.insert_seconds:.1f}s"
        )
    outcome = Outcome(d, made["small"], made["full"])

    # Only the full workspace is ingested into: the small one serves the replay's memory figure.
    for label in ("full",):
        g = made[label]
        primed = await in_subprocess(Spec("prime", target.url, g.workspace_id))
        say(
            f"[{d}] prime {label}: {primed['customers']:,} customers' facts and {primed['models']} stages "
            f"from {primed['interactions']:,} interactions, {primed['transitions']:,} transitions "
            f"in {primed['seconds']:.1f}s"
        )

    for label in ("small", "full"):
        g = made[label]
        for dry_run in (True, False):
            mode = "dry run" if dry_run else "replay"
            spec = Spec(
                "replay",
                target.url,
                g.workspace_id,
                model=options.model,
                dry_run=dry_run,
                replay_workers=options.replay_workers,
            )
            result = await _profiled_step(spec, options, d, f"{mode.replace(' ', '-')}-{label}")
            r = Replay(
                label,
                g.customers,
                g.interactions,
                dry_run,
                result["seconds"],
                result["transitions"],
                result["rss_before_mb"],
                result["rss_peak_mb"],
            )
            outcome.replays.append(r)
            outcome.cpu[f"{'dry' if dry_run else 'replay'}-{label}"] = result
            if result["customers"] != g.customers:
                raise RuntimeError(f"{mode} placed {result['customers']} customers, expected {g.customers}")
            say(
                f"[{d}] {mode} ({options.model}, {label}): {r.customers:,} customers, {r.interactions:,} "
                f"interactions, {r.transitions:,} transitions written in {r.seconds:.2f}s = {r.rate:,.0f} "
                f"interactions/s; peak RSS during the call {r.rss_peak_mb:.0f} MB ({r.growth_mb:+.1f} MB over the "
                f"{r.rss_before_mb:.0f} MB before it; {result['rss_after_mb']:.0f} MB after; ru_maxrss "
                f"{result['maxrss_before_mb']:.0f} -> {result['maxrss_after_mb']:.0f} MB)"
            )
            say(f"[{d}]   {cpu_line(result)}")
            if not dry_run:
                stages = ", ".join(f"{k} {v:,}" for k, v in Counter(result["distribution"]).most_common())
                say(f"[{d}]   stages: {stages}")

    if options.ingest:
        for step in ingestions(options.late_share, INGEST_WINDOW):
            outcome.ingests[step.label] = await ingest_step(target, options, made["full"], step)
    if options.single_late:
        outcome.single = await single_late_step(target, options, made["full"])
    return outcome


async def ingest_step(target: Target, options: Options, g: Generated, step: Ingestion) -> IngestRun:
    d = target.dialect
    say(f"[{d}] ingesting {options.ingest:,} new interactions in batches of {options.batch}, {step.title}...")
    spec = Spec(
        "ingest",
        target.url,
        g.workspace_id,
        ingest=options.ingest,
        batch=options.batch,
        seed=options.seed,
        rules=step.rules,
        label=step.label,
        in_order=step.in_order,
        window_end_days=step.window_end_days,
        late_share=step.late_share,
    )
    result = await _profiled_step(spec, options, d, step.label)
    if result["invalid"] or result["created"] != result["items"]:
        raise RuntimeError(f"ingestion stored {result['created']} of {result['items']} ({result['invalid']} invalid)")
    latencies = result["latencies_ms"]
    m = Measurement("record_many", len(latencies), 1, result["seconds"], latencies)
    growth = result["rss_peak_mb"] - result["rss_before_mb"]
    done = IngestRun(m, result)
    name = {"ingest": "in order", "ingest-late": f"with {step.late_share:.0%} late"}.get(step.label, "(no rules)")
    say(
        f"[{d}] ingest {name}: {result['created']:,} interactions in {m.requests} batches, {m.seconds:.2f}s = "
        f"{done.rate:,.0f} interactions/s; batch p50 {m.p50:.1f} ms, p99 {m.p99:.1f} ms, mean {m.mean:.1f} ms; "
        f"{result['transitions']:,} moves; rules of {result['tracked']}; peak RSS {result['rss_peak_mb']:.0f} MB "
        f"({growth:+.1f} MB)"
    )
    if step.rules:
        late = f"late items {result['late_items']:,} of {result['items']:,}"
        if result["late_items"]:
            late += f" (of {result['late_customers']:,} customers; {result['late_pairs']:,} customer x batch)"
        say(f"[{d}]   {late}; {rebuilt_text(result)}")
    say(f"[{d}]   {cpu_line(result)}")
    return done


async def single_late_step(target: Target, options: Options, g: Generated) -> Measurement:
    d = target.dialect
    say(
        f"[{d}] single late: {options.single_late} fresh customers with {options.single_history} interactions "
        "each, then one late interaction each..."
    )
    spec = Spec(
        "single_late",
        target.url,
        g.workspace_id,
        batch=options.batch,
        seed=options.seed,
        customers=options.single_late,
        history=options.single_history,
    )
    result = await in_subprocess(spec)
    latencies = result["latencies_ms"]
    m = Measurement("record_many", len(latencies), 1, sum(latencies) / 1000, latencies)
    say(f"[{d}] {single_late_line(result, m.p50, m.percentile(90), max(latencies))}")
    return m


# --- profiles ---------------------------------------------------------------------------------


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    path = Path(filename)
    try:
        short = str(path.relative_to(ROOT))
    except ValueError:
        parts = path.parts
        short = "/".join(parts[parts.index("site-packages") + 1 :]) if "site-packages" in parts else path.name
    return f"{short}:{line}({name})"


def cprofile_report(path: Path, title: str, top: int = TOP) -> str:
    """Top functions by own time and project functions by cumulative time, as % of the total."""
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in stats.values()) or 1.0
    lines = [f"--- {title}: {total:.2f}s profiled; top {top} by own time ---"]
    by_own = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for key, (_, calls, tt, ct, _) in by_own:
        lines.append(f"{100 * tt / total:6.1f}% own {tt:7.2f}s  cum {ct:7.2f}s  {calls:>10,} calls  {_where(key)}")
    lines.append(f"--- {title}: project functions by cumulative time (coroutines: time running, not awaiting) ---")
    ours = [(k, v) for k, v in stats.items() if k[0].startswith(str(ROOT)) and "/bench/" not in k[0]]
    for key, (_, calls, tt, ct, _) in sorted(ours, key=lambda kv: kv[1][3], reverse=True)[:top]:
        lines.append(f"{100 * ct / total:6.1f}% cum {ct:7.2f}s  own {tt:7.2f}s  {calls:>10,} calls  {_where(key)}")
    return "\n".join(lines)


PYSPY_RATE = 250  # samples per second


def pyspy_report(path: Path, title: str, seconds: float, top: int = TOP) -> str:
    """py-spy's collapsed stacks, only those under the measured call (`timed_*`), as shares of its
    wall time (seconds x rate): the rest of that time the process sat in the event loop waiting on
    the database (`--idle` samples cannot be told apart from the set-up's, so they are left out)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    active = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or not any(f.startswith("timed_") for f in frames):
            continue
        n = int(count)
        active += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    wall = max(seconds * PYSPY_RATE, 1.0)
    busy = max(active, 1)
    lines = [
        f"--- {title}: {seconds:.1f}s measured; Python busy under it {100 * active / wall:.0f}% of the time, "
        "the rest waiting (database, I/O, other processes); shares: of the busy samples (of the wall time) ---"
    ]
    for frame, n in own.most_common(top):
        lines.append(f"{100 * n / busy:6.1f}% ({100 * n / wall:4.1f}%) own   {frame}")
    lines.append(f"--- {title}: inclusive (frames under every sample left out) ---")
    for frame, n in [(f, n) for f, n in inclusive.most_common() if n < active][: top * 2]:
        lines.append(f"{100 * n / busy:6.1f}% ({100 * n / wall:4.1f}%) incl  {frame}")
    return "\n".join(lines)


# --- reporting --------------------------------------------------------------------------------


def _grid(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[n]) for r in rows)) for n, h in enumerate(header)]

    def line(cells: tuple[str, ...]) -> str:
        return " | ".join(
            c.ljust(w) if n == 0 else c.rjust(w) for n, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(header), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)]


def table(outcomes: list[Outcome], options: Options, speed_before: float) -> str:
    header = (
        "database",
        "replay s",
        "replay int/s",
        "CPU py+db s",
        "dry run s",
        "dry int/s",
        "transitions",
        "peak RSS MB 10%",
        "peak RSS MB 100%",
    )
    rows: list[tuple[str, ...]] = []
    for o in outcomes:
        full, dry = o.replay("full", False), o.replay("full", True)
        small = o.replay("small", False)
        rows.append(
            (
                o.dialect,
                f"{full.seconds:.1f}",
                f"{full.rate:,.0f}",
                cpu_cell(o.cpu["replay-full"]),
                f"{dry.seconds:.1f}",
                f"{dry.rate:,.0f}",
                f"{full.transitions:,}",
                f"{small.rss_peak_mb:.0f} ({small.growth_mb:+.0f})",
                f"{full.rss_peak_mb:.0f} ({full.growth_mb:+.0f})",
            )
        )
    ingest_rows = [ingest_row(o.dialect, o.ingests, o.single) for o in outcomes]
    late = f"{options.late_share:.0%}"
    o0 = outcomes[0]
    title = (
        f"lifecycle: replay of '{options.model}' over {o0.full.customers:,} customers / "
        f"{o0.full.interactions:,} interactions (10% size: {o0.small.customers:,} / {o0.small.interactions:,}); "
        f"ingestion of {options.ingest:,} interactions in batches of {options.batch} with rule evaluation; "
        f"{options.single_late} single late interactions after {options.single_history} each; "
        f"seed {options.seed}; {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{options.replay_workers} replay workers; machine speed: a 10M-step Python loop in {speed_before:.2f}s "
        f"before, {python_speed():.2f}s after"
    )
    notes = [
        "peak RSS: VmHWM of a fresh process during the (real) replay, the mark reset just before it (in brackets:",
        "its growth over the RSS before the call); 10% = the small workspace.",
        f"in order: a live feed, items sorted by time; {late} late: a fresh feed, {late} of each batch dated up to a",
        "year before the generated history's end; rebuilt: customers the live path rebuilt from their whole history",
        "(once per batch they were late in; ? = not counted). no-rules: random times, lifecycle=None, to show what",
        "rule evaluation costs. single late: one record_many call of one interaction dated in the middle of a fresh",
        "customer's history.",
        "CPU py+db: CPU seconds of the Python process and of the PostgreSQL backends during the call (SQLite's are",
        "in the Python figure), with its replay workers' between them (w); when their sum is well under the wall",
        "time x 1, the call waited (I/O, commits, or other processes on the cores).",
        "Targets: full replay of 1M interactions <= 30 s (with flat memory); ingestion with rule evaluation",
        f">= 10,000 interactions/s on PostgreSQL, in order and with {late} late; a single late interaction for a",
        f"customer with {SINGLE_HISTORY} interactions <= {SINGLE_TARGET_MS:.0f} ms.",
    ]
    if options.profile_dir is not None or options.py_spy is not None:
        notes.append("PROFILED RUN: replay and ingestion figures include the profiler's overhead.")
    out = [title, "", *_grid(header, rows), "", *_grid(ingest_header(options.late_share), ingest_rows), "", *notes]
    if o0.full.interactions and o0.full.interactions != 1_000_000:
        out.append("")
        out.append("EXTRAPOLATION to 1,000,000 interactions (linear in interactions, from the full run; not measured):")
        for o in outcomes:
            full, dry = o.replay("full", False), o.replay("full", True)
            factor = 1_000_000 / o.full.interactions
            out.append(f"  {o.dialect}: replay ~{full.seconds * factor:.0f} s, dry run ~{dry.seconds * factor:.0f} s")
    return "\n".join(out)


# --- main -------------------------------------------------------------------------------------


async def choose_targets(choice: str, postgres_url: str) -> list[str]:
    if choice == "both":
        return ["postgres", "sqlite"]
    if choice == "postgres" and not await postgres_reachable(postgres_url):
        raise SystemExit(f"PostgreSQL is not reachable at {postgres_url}")
    return [choice]


async def run(args: argparse.Namespace) -> list[Outcome]:
    speed_before = python_speed()
    options = Options(
        customers=args.customers,
        interactions=args.interactions,
        ingest=args.ingest,
        batch=args.batch,
        small_fraction=args.small_fraction,
        seed=args.seed,
        model=args.model,
        profile_dir=args.profile_dir,
        py_spy=args.py_spy,
        late_share=args.late_share,
        single_late=args.single_late,
        single_history=args.single_history,
        replay_workers=args.replay_workers,
    )
    if options.py_spy is not None and options.profile_dir is None:
        raise SystemExit("--py-spy needs --profile-dir for its output")
    if options.profile_dir is not None:
        options.profile_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    for dialect in await choose_targets(args.database, args.postgres_url):
        database = postgres_database(args.postgres_url) if dialect == "postgres" else sqlite_database()
        async with database as target:
            outcomes.append(await bench_one(target, options))
    say("")
    say(table(outcomes, options, speed_before))
    return outcomes


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("must be in (0, 1]")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lifecycle",
        description=(__doc__ or "").split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--database", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--customers", type=positive, default=100_000, help="customers to generate")
    parser.add_argument("--interactions", type=non_negative, default=1_000_000, help="interactions to generate")
    parser.add_argument("--ingest", type=non_negative, default=100_000, help="new interactions to record")
    parser.add_argument("--batch", type=positive, default=1000, help="interactions per record_many call")
    parser.add_argument(
        "--small-fraction", type=fraction, default=0.1, help="size of the second workspace, for peak memory"
    )
    parser.add_argument(
        "--late-share", type=share, default=0.1, help="share of each batch dated late in step 4 (0: no step 4)"
    )
    parser.add_argument(
        "--single-late", type=non_negative, default=SINGLE_CUSTOMERS, help="fresh customers for step 5 (0: none)"
    )
    parser.add_argument(
        "--single-history", type=at_least_two, default=SINGLE_HISTORY, help="interactions of each before the late one"
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model to start tracking by replay")
    parser.add_argument(
        "--replay-workers",
        type=non_negative,
        default=default_replay_workers(),
        help="processes the replay computes its rules in (JORNADA_REPLAY_WORKERS; 0: in the benchmark's own)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same data")
    parser.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
        help="a database of a server where this user may CREATE DATABASE",
    )
    parser.add_argument("--profile-dir", type=Path, default=None, help="profile replay and ingestion, files here")
    parser.add_argument("--py-spy", default=None, help="a py-spy binary: sample with it instead of cProfile")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [WORKER]:
        return worker_main(argv[1])
    args = build_parser().parse_args(argv)
    return run_bench(lambda: run(args), "interrupted: bench data removed")


if __name__ == "__main__":
    raise SystemExit(main())

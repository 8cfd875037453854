"""Timing calls for the benchmarks: throughput and latency percentiles at a fixed concurrency,
and the argument types their command lines share."""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any


def python_speed() -> float:
    """Seconds this machine takes for a fixed pure-Python loop (10M additions), printed beside a
    benchmark's figures so that runs on machines (or days) of different speed can be compared:
    the figures scale roughly with it."""
    started = time.perf_counter()
    total = 0
    for n in range(10_000_000):
        total += n
    return time.perf_counter() - started


def cpu_cell(figures: Mapping[str, Any]) -> str:
    """A step's CPU seconds for a table cell: the Python process, its replay workers' (w, when it
    had any) and the PostgreSQL backends', as bench.lifecycle's CpuProbe measured them."""
    workers = f"+{figures['cpu_workers_s']:.1f}w" if figures["cpu_workers_s"] else ""
    return f"{figures['cpu_own_s']:.1f}{workers}+{figures['cpu_db_s']:.1f}"


@dataclass(frozen=True)
class Measurement:
    """R timed calls at concurrency C: throughput and latency percentiles (milliseconds)."""

    label: str
    requests: int
    concurrency: int
    seconds: float
    latencies_ms: list[float]
    cpu_ms: float = 0.0  # CPU per request of the side measured: the server process, or this client
    client_cpu_ms: float = 0.0  # CPU per request of this process, the client (the anchor: = cpu_ms)
    db_cpu_ms: float = 0.0  # CPU per request of the PostgreSQL backends (0 on SQLite: in-process)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile."""
        ordered = sorted(self.latencies_ms)
        rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
        return ordered[rank - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def mean(self) -> float:
        return sum(self.latencies_ms) / len(self.latencies_ms)


Call = Callable[[int], Awaitable[object]]  # one request; the argument is the worker's number


async def run_load(label: str, call: Call, requests: int, concurrency: int, warmup: int) -> Measurement:
    """`warmup` untimed calls, then `requests` timed calls shared by `concurrency` workers."""

    async def drive(total: int, latencies: list[float] | None) -> None:
        remaining = total

        async def worker(n: int) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await call(n)
                if latencies is not None:
                    latencies.append((time.perf_counter() - started) * 1000)

        async with asyncio.TaskGroup() as group:
            for n in range(min(concurrency, max(total, 1))):
                group.create_task(worker(n))

    await drive(warmup, None)
    latencies: list[float] = []
    started = time.perf_counter()
    await drive(requests, latencies)
    return Measurement(label, requests, concurrency, time.perf_counter() - started, latencies)


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value

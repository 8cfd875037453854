"""CSV import benchmark: rows/s and peak memory of `jornada import interactions` at two sizes.

For each size it makes a fresh database (a SQLite file by default), a workspace, imports a
customers file, then times `jornada import interactions` on a generated file of that many rows
(a mix of kinds, half of them without an idempotency key so the derived keys are exercised),
then a re-run of the same file (everything already present) and `jornada export interactions`.
Each is a real subprocess; its peak RSS comes from the kernel (wait4). A flat peak RSS across
sizes shows that memory does not grow with the file. Not part of the test suite.

    python -m bench.csv_import                        # 50,000 and 200,000 rows on SQLite
    python -m bench.csv_import --sizes 20000 100000 --customers 2000
    python -m bench.csv_import --database-url postgres://postgres@127.0.0.1:5432/bench_csv  # an empty db
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

JORNADA = Path(sys.executable).with_name("jornada")
KINDS = ("site_visit", "email_opened", "email_clicked", "purchase", "nps_response", "support_ticket_opened")


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    stdout: str


def run(url: str, *args: str) -> Measured:
    """Run `jornada ARGS` and measure its wall time and peak resident memory."""
    env = {**os.environ, "JORNADA_DATABASE_URL": url, "JORNADA_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([str(JORNADA), *args], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"jornada {' '.join(args)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, stdout)  # ru_maxrss is in KiB on Linux


def write_customers(path: Path, count: int) -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "name", "email", "tags", "created_at", "attr.plan"])
        for n in range(count):
            created = start + timedelta(minutes=n)
            w.writerow([f"c-{n}", f"Customer {n}", f"c{n}@example.com", "bench", created.isoformat(), "basic"])


def write_interactions(path: Path, rows: int, customers: int, seed: int = 7) -> None:
    """`rows` interactions in time order over the last 700 days, streamed to the file."""
    rng = random.Random(seed)
    end = datetime.now(UTC) - timedelta(days=1)
    start = end - timedelta(days=700)
    step = (end - start) / rows
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_external_id", "kind", "occurred_at", "channel", "amount", "score", "idempotency_key"])
        for n in range(rows):
            kind = rng.choice(KINDS)
            amount = f"{rng.randint(100, 99999) / 100:.2f}" if kind == "purchase" else ""
            score = str(rng.randint(0, 10)) if kind == "nps_response" else ""
            key = f"ev-{n}" if n % 2 else ""  # half keyed by the source, half derived from the content
            at = (start + step * n).replace(microsecond=0)
            w.writerow([f"c-{rng.randrange(customers)}", kind, at.isoformat(), "web", amount, score, key])


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:>9,.0f} rows/s"


def bench_size(base_url: str | None, workdir: Path, rows: int, customers: int) -> dict[str, float]:
    url = base_url or f"sqlite://{workdir / f'bench-{rows}.sqlite3'}"
    created = run(url, "workspace", "create", f"Bench {rows}", "--json")
    ws = str(json.loads(created.stdout)["workspaceId"])
    customers_csv, interactions_csv = workdir / f"customers-{rows}.csv", workdir / f"interactions-{rows}.csv"
    write_customers(customers_csv, customers)
    write_interactions(interactions_csv, rows, customers)
    size_mb = interactions_csv.stat().st_size / 1e6

    c = run(url, "import", "customers", str(customers_csv), "--workspace", ws)
    first = run(url, "import", "interactions", str(interactions_csv), "--workspace", ws)
    again = run(url, "import", "interactions", str(interactions_csv), "--workspace", ws)
    exported = run(url, "export", "interactions", "--workspace", ws, "--output", str(workdir / "export.csv"))
    print(f"\n{rows:,} interaction rows ({size_mb:.1f} MB), {customers:,} customers")
    print(f"  import customers     {rate(customers, c.seconds)}  peak RSS {c.peak_rss_mb:6.1f} MB  {c.stdout.strip()}")
    print(
        f"  import interactions  {rate(rows, first.seconds)}  peak RSS {first.peak_rss_mb:6.1f} MB  "
        f"{first.stdout.strip()}"
    )
    print(
        f"  same file again      {rate(rows, again.seconds)}  peak RSS {again.peak_rss_mb:6.1f} MB  "
        f"{again.stdout.strip()}"
    )
    print(f"  export interactions  {rate(rows, exported.seconds)}  peak RSS {exported.peak_rss_mb:6.1f} MB")
    return {"rows": rows, "rss": first.peak_rss_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--database-url", help="an empty, dedicated database (default: a new SQLite file per size)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jornada-csv-bench-") as tmp:
        results = [bench_size(args.database_url, Path(tmp), n, args.customers) for n in sorted(args.sizes)]
    if len(results) > 1:
        small, large = results[0], results[-1]
        growth = large["rss"] - small["rss"]
        print(
            f"\npeak RSS of the import: {small['rss']:.1f} MB at {small['rows']:,.0f} rows, "
            f"{large['rss']:.1f} MB at {large['rows']:,.0f} rows ({growth:+.1f} MB for "
            f"{large['rows'] / small['rows']:.0f}x the rows)"
        )


if __name__ == "__main__":
    main()

"""Acceptance: the CDNOW sample imported through `jornada import`, calibrated to 1997-09-30,
reproduces the published BG/NBD and Gamma-Gamma parameters (Fader, Hardie & Lee) within 1%."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from tests.cli_helpers import jornada, ok, served

pytestmark = pytest.mark.asyncio

CDNOW = Path(__file__).parent / "fixtures" / "cdnow" / "CDNOW_sample.txt"
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "gamma": 15.44}
REFRESH = """mutation { refreshValueModel(input: {calibrationEnd: "1997-09-30"}) {
  valueModel { customers repeatCustomers error bgnbd { r alpha a b logLikelihood } gammaGamma { p q gamma } }
  userErrors { field code message } } }"""


def _csv_files(tmp_path: Path) -> tuple[Path, Path]:
    """The sample as Jornada's import format: one customer per CDNOW id, created on its first
    purchase day, and one purchase row per line (same-day rows are kept apart; the model merges them)."""
    rows = [line.split() for line in CDNOW.read_text().splitlines() if line.strip()]
    first: dict[str, date] = {}
    by_day: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for master, _sample, day, _cds, dollars in rows:
        when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
        first[master] = min(first.get(master, when), when)
        by_day[master].append((when.isoformat(), dollars))
    customers = tmp_path / "customers.csv"
    with customers.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["external_id", "name", "created_at"])
        out.writerows([m, f"CDNOW {m}", f"{d.isoformat()}T00:00:00Z"] for m, d in first.items())
    purchases = tmp_path / "purchases.csv"
    with purchases.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["customer_external_id", "kind", "occurred_at", "amount"])
        out.writerows([m, "purchase", f"{d}T12:00:00Z", dollars] for m, days in by_day.items() for d, dollars in days)
    return customers, purchases


async def test_cdnow_reproduces_the_published_parameters(e2e_database_url: str, tmp_path: Path) -> None:
    url = e2e_database_url  # a new SQLite file, or a new PostgreSQL database in the PostgreSQL run
    created = ok(await jornada(url, "workspace", "create", "CDNOW", "--currency", "USD", "--json", cwd=tmp_path)).json()
    customers, purchases = _csv_files(tmp_path)
    ws = str(created["workspaceId"])
    assert (
        "stored 2357,"
        in ok(await jornada(url, "import", "customers", str(customers), "--workspace", ws, cwd=tmp_path)).stdout
    )
    assert (
        "stored 6919,"
        in ok(await jornada(url, "import", "interactions", str(purchases), "--workspace", ws, cwd=tmp_path)).stdout
    )
    async with served(url) as client:
        response = await client.post(
            "/graphql", json={"query": REFRESH}, headers={"Authorization": f"Bearer {created['apiKey']}"}
        )
    payload = response.json()["data"]["refreshValueModel"]
    assert payload["userErrors"] == []
    model = payload["valueModel"]
    assert model["error"] is None
    assert model["customers"] == 2357
    assert model["repeatCustomers"] == 946
    fitted = {**model["bgnbd"], **model["gammaGamma"]}
    for name, published in PUBLISHED.items():
        assert fitted[name] == pytest.approx(published, rel=0.01), name
    assert model["bgnbd"]["logLikelihood"] == pytest.approx(-9582.4, abs=0.1)

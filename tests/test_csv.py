"""`jornada import` / `jornada export` of CSV files: real processes on a temporary SQLite file, as
a user runs them (they stay on SQLite when JORNADA_TEST_DATABASE=postgres, like test_cli.py),
then the results read back through the app in-process. The last tests drive the same services
in-process on the suite's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api import csv_export, csv_import
from api.db import Params, connection, dialect_of, fetch
from api.events import live_lifecycle
from api.models import Customer
from api.settings import Settings
from plugins.hookspecs import hookimpl
from plugins.manager import build_registry, get_plugin_manager
from plugins.types import StageChange
from tests.cli_helpers import Run, jornada, ok, served
from tests.conftest import Api
from tests.csv_helpers import run_import, source
from tests.test_api_health import store_prediction

pytestmark = pytest.mark.asyncio


CUSTOMERS_QUERY = """
{
  customers(first: 100, orderBy: [{field: CREATED_AT, direction: ASC}]) {
    totalCount
    edges { node {
      externalId name email phone company jobTitle industry acquisitionChannel tags attributes createdAt
      address { line1 line2 city region postalCode country }
      socialProfiles { network url handle }
      stage { stage { key } enteredAt }
      history(first: 50) { edges { node { from { key } to { key } occurredAt cause } } }
      interactions(first: 50) {
        totalCount
        edges { node { kind occurredAt channel amount score properties idempotencyKey } }
      }
    } }
  }
}
"""


def failed_lines(run: Run) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.startswith("line ")]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'csv.sqlite3'}"


@dataclass(frozen=True)
class Workspace:
    id: int
    key: str


async def new_workspace(url: str, cwd: Path, name: str = "Padaria") -> Workspace:
    created = json.loads(ok(await jornada(url, "workspace", "create", name, "--json", cwd=cwd)).stdout)
    return Workspace(created["workspaceId"], created["apiKey"])


async def customers_of(url: str, ws: Workspace) -> dict[str, dict[str, Any]]:
    """Every customer of the workspace by external id, read through the API."""
    async with served(url) as client:
        response = await client.post(
            "/graphql", json={"query": CUSTOMERS_QUERY}, headers={"Authorization": f"Bearer {ws.key}"}
        )
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return {e["node"]["externalId"]: e["node"] for e in body["data"]["customers"]["edges"]}


CUSTOMER_ROWS = [
    ["external_id", "name", "email", "phone", "tags", "address_city", "address_country", "created_at", "attr.plan"],
    ["c-1", "Ana Souza", "ana@padaria.com.br", "+55 11 91234-5678", "vip;early", "São Paulo", "br", "", "gold"],
    ["c-2", "Bruno", "not-an-email", "", "", "", "", "", ""],
    ["c-3", "Carla Dias", "", "", "", "", "", "2023-03-01T09:30:00-03:00", ""],
    ["c-4", "Davi", "", "123", "", "", "", "yesterday", ""],
]


async def test_customers_bad_lines_are_reported_good_ones_stored_and_a_rerun_stores_nothing(
    db_url: str, tmp_path: Path
) -> None:
    ws = await new_workspace(db_url, tmp_path)
    # Written with a byte-order mark, as spreadsheets often do: it is not part of the first column.
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_ROWS, encoding="utf-8-sig")

    run = await jornada(db_url, "import", "customers", str(path), "--workspace", str(ws.id), cwd=tmp_path)
    assert run.status == 1, run
    assert run.stdout.strip() == "stored 2, already present 0, failed 2"
    assert failed_lines(run) == [
        "line 3: email: 'not-an-email' is not a valid email address.",
        "line 5: phone: '123' is not a valid phone number: use 8 to 15 digits, optionally with a leading + and "
        "country code (e.g. +55 11 91234-5678).",
        "line 5: created_at: 'yesterday' is not an ISO 8601 date and time from 1900 to 2200 "
        "(e.g. 2024-05-01T14:30:00-03:00).",
    ]
    assert "\r" not in run.stderr  # no progress line when stderr is not a terminal

    again = await jornada(db_url, "import", "customers", str(path), "--workspace", str(ws.id), cwd=tmp_path)
    assert again.status == 1, again
    assert again.stdout.strip() == "stored 0, already present 2, failed 2"

    found = await customers_of(db_url, ws)
    assert sorted(found) == ["c-1", "c-3"]
    ana = found["c-1"]
    assert ana["name"] == "Ana Souza"
    assert ana["phone"] == "+5511912345678"
    assert ana["tags"] == ["vip", "early"]
    assert ana["attributes"] == {"plan": "gold"}
    assert ana["address"] == {
        "line1": None,
        "line2": None,
        "city": "São Paulo",
        "region": None,
        "postalCode": None,
        "country": "BR",
    }
    # created_at given: it is the customer's creation time, and its first stage starts then.
    carla = found["c-3"]
    assert datetime.fromisoformat(carla["createdAt"]) == datetime(2023, 3, 1, 12, 30, tzinfo=UTC)
    assert carla["attributes"] == {}
    first = carla["history"]["edges"][0]["node"]
    assert first["from"] is None
    assert first["to"]["key"] == "prospect"
    assert datetime.fromisoformat(first["occurredAt"]) == datetime(2023, 3, 1, 12, 30, tzinfo=UTC)


async def test_interactions_import_applies_the_lifecycle_and_is_idempotent(db_url: str, tmp_path: Path) -> None:
    ws = await new_workspace(db_url, tmp_path)
    customers = write_csv(tmp_path / "c.csv", [["external_id", "name"], ["c-1", "Ana"], ["c-2", "Bruno"]])
    ok(await jornada(db_url, "import", "customers", str(customers), "--workspace", str(ws.id), cwd=tmp_path))
    day = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0).isoformat()
    path = write_csv(
        tmp_path / "interactions.csv",
        [
            [
                "customer_external_id",
                "kind",
                "occurred_at",
                "channel",
                "amount",
                "score",
                "idempotency_key",
                "prop.sku",
            ],
            ["c-1", "purchase", day, "store", "199.90", "", "", "pão-42"],
            ["c-1", "teleport", day, "", "", "", "", ""],
            ["c-2", "purchase", day, "", "-5", "", "", ""],
            ["c-9", "site_visit", day, "", "", "", "", ""],
            ["c-2", "email_opened", day, "email", "", "", "", ""],
            ["c-2", "email_opened", day, "email", "", "", "", ""],
            ["c-2", "nps_response", day, "", "", "9", "survey-7", ""],
        ],
    )
    args = ("import", "interactions", str(path), "--workspace", str(ws.id))

    run = await jornada(db_url, *args, cwd=tmp_path)
    assert run.status == 1, run
    assert run.stdout.strip() == "stored 4, already present 0, failed 3"
    assert failed_lines(run) == [
        "line 3: kind: Unknown interaction kind 'teleport'; see `interactionKinds`.",
        "line 4: amount: Must not be negative, got -5.",
        "line 5: customer_external_id: No customer with the external id 'c-9' in this workspace.",
    ]

    again = await jornada(db_url, *args, "--json", cwd=tmp_path)
    assert again.status == 1, again
    summary = json.loads(again.stdout)
    assert summary["stored"] == 0
    assert summary["alreadyPresent"] == 4
    assert summary["failed"] == 3
    assert [(e["line"], e["field"]) for e in summary["errors"]] == [
        (3, "kind"),
        (4, "amount"),
        (5, "customer_external_id"),
    ]

    found = await customers_of(db_url, ws)
    ana, bruno = found["c-1"], found["c-2"]
    # The purchase moved Ana through the funnel as a live interaction would.
    assert ana["stage"]["stage"]["key"] == "customer"
    [purchase] = [e["node"] for e in ana["interactions"]["edges"]]
    assert purchase["amount"] == "199.9000"
    assert purchase["channel"] == "store"
    assert purchase["properties"] == {"sku": "pão-42"}
    assert purchase["idempotencyKey"].startswith("csv:")
    # Two identical rows are two interactions (and the re-run stored neither again).
    kinds = sorted(e["node"]["kind"] for e in bruno["interactions"]["edges"])
    assert kinds == ["email_opened", "email_opened", "nps_response"]
    keys = {e["node"]["idempotencyKey"] for e in bruno["interactions"]["edges"]}
    assert len(keys) == 3
    assert "survey-7" in keys


async def test_export_then_import_into_another_workspace_round_trips(db_url: str, tmp_path: Path) -> None:
    source, target = await new_workspace(db_url, tmp_path, "Matriz"), await new_workspace(db_url, tmp_path, "Filial")
    customers = write_csv(
        tmp_path / "c.csv",
        [
            [
                "external_id",
                "name",
                "email",
                "company",
                "job_title",
                "industry",
                "acquisition_channel",
                "tags",
                "address_line1",
                "address_postal_code",
                "address_country",
                "social_profiles",
                "created_at",
                "attr.plan",
                "attr.seats",
            ],
            [
                "c-1",
                'Ana "Aninha" Souza',
                "ana@x.com.br",
                "Padaria, Ltda",
                "CEO",
                "food",
                "ads",
                "vip;b2b",
                "Rua A, 1\nfundos",
                "01000-000",
                "BR",
                '[{"network": "linkedin", "url": "https://linkedin.com/in/ana"}]',
                "2022-05-01T08:00:00+00:00",
                "gold",
                "12",
            ],
            ["c-2", "Bruno", "", "", "", "", "", "", "", "", "", "", "2023-01-01T00:00:00.250000+00:00", "", ""],
        ],
    )
    interactions = write_csv(
        tmp_path / "i.csv",
        [
            ["customer_external_id", "kind", "occurred_at", "amount", "score", "idempotency_key", "prop.sku"],
            ["c-1", "demo_requested", "2022-06-01T10:00:00Z", "", "", "", ""],
            ["c-1", "purchase", "2022-06-10T10:00:00-03:00", "1234.5678", "", "order-1", "x;y"],
            ["c-2", "nps_response", "2023-02-01T10:00:00Z", "", "10", "", ""],
            ["c-2", "purchase", "2023-02-02T10:00:00Z", "10", "", "", ""],
            ["c-2", "purchase", "2023-02-02T10:00:00Z", "10", "", "", ""],
        ],
    )
    ws = ("--workspace", str(source.id))
    ok(await jornada(db_url, "import", "customers", str(customers), *ws, cwd=tmp_path))
    ok(await jornada(db_url, "import", "interactions", str(interactions), *ws, cwd=tmp_path))

    exported_c = tmp_path / "export-c.csv"
    done = ok(await jornada(db_url, "export", "customers", *ws, "--output", str(exported_c), cwd=tmp_path))
    assert done.stdout == ""
    assert "exported 2 customers" in done.stderr
    exported_i = ok(await jornada(db_url, "export", "interactions", *ws, cwd=tmp_path)).stdout  # stdout by default
    assert exported_i.count("\n") == 6  # the header and five interactions
    path_i = tmp_path / "export-i.csv"
    path_i.write_text(exported_i, encoding="utf-8")

    into = ("--workspace", str(target.id))
    assert ok(await jornada(db_url, "import", "customers", str(exported_c), *into, cwd=tmp_path)).stdout.strip() == (
        "stored 2, already present 0, failed 0"
    )
    assert ok(await jornada(db_url, "import", "interactions", str(path_i), *into, cwd=tmp_path)).stdout.strip() == (
        "stored 5, already present 0, failed 0"
    )

    # The copy exports to exactly the same files, and reads back the same through the API.
    again_c = ok(await jornada(db_url, "export", "customers", *into, cwd=tmp_path)).stdout
    again_i = ok(await jornada(db_url, "export", "interactions", *into, cwd=tmp_path)).stdout
    assert again_c == exported_c.read_text(encoding="utf-8")
    assert again_i == exported_i
    original, copy = await customers_of(db_url, source), await customers_of(db_url, target)
    assert copy == original
    assert original["c-1"]["address"]["line1"] == "Rua A, 1\nfundos"
    assert original["c-1"]["attributes"] == {"plan": "gold", "seats": "12"}
    assert original["c-1"]["socialProfiles"] == [
        {"network": "linkedin", "url": "https://linkedin.com/in/ana", "handle": None}
    ]
    assert original["c-2"]["interactions"]["totalCount"] == 3


async def test_usage_errors_exit_2_and_store_nothing(db_url: str, tmp_path: Path) -> None:
    ws = await new_workspace(db_url, tmp_path)
    bad = write_csv(
        tmp_path / "bad.csv", [["external_id", "name", "e_mail", "attr.plan"], ["c-1", "Ana", "a@b.co", ""]]
    )
    run = await jornada(db_url, "import", "customers", str(bad), "--workspace", str(ws.id), cwd=tmp_path)
    assert run.status == 2, run
    assert "unknown column 'e_mail'" in run.stderr
    assert run.stdout == ""

    no_id = write_csv(tmp_path / "no_id.csv", [["name"], ["Ana"]])
    run = await jornada(db_url, "import", "customers", str(no_id), "--workspace", str(ws.id), cwd=tmp_path)
    assert run.status == 2, run
    assert "missing required column external_id" in run.stderr

    run = await jornada(db_url, "import", "interactions", "nowhere.csv", "--workspace", str(ws.id), cwd=tmp_path)
    assert run.status == 2, run
    assert "nowhere.csv: no such file" in run.stderr

    good = write_csv(tmp_path / "good.csv", [["external_id"], ["c-1"]])
    run = await jornada(db_url, "import", "customers", str(good), "--workspace", "4242", cwd=tmp_path)
    assert run.status == 2, run
    assert "no workspace with id 4242" in run.stderr
    run = await jornada(db_url, "export", "customers", "--workspace", "4242", cwd=tmp_path)
    assert run.status == 2, run
    assert "Traceback" not in run.stderr
    assert await customers_of(db_url, ws) == {}


async def test_rebuild_gives_history_imported_after_the_customer_its_historical_stages(
    db_url: str, tmp_path: Path
) -> None:
    ws = await new_workspace(db_url, tmp_path)
    # The customer is created today, its history is older and comes out of time order: the
    # import alone gives the journey the history describes (event time), as a replay would.
    ok(await jornada(db_url, "import", "customers", str(write_csv(tmp_path / "c.csv", [["external_id"], ["c-1"]])),
                     "--workspace", str(ws.id), cwd=tmp_path))  # fmt: skip
    bought = (datetime.now(UTC) - timedelta(days=300)).replace(microsecond=0)
    demo = bought - timedelta(days=100)
    path = write_csv(
        tmp_path / "i.csv",
        [  # out of time order
            ["customer_external_id", "kind", "occurred_at", "amount"],
            ["c-1", "purchase", bought.isoformat(), "10"],
            ["c-1", "demo_requested", demo.isoformat(), ""],
        ],
    )
    args = ("import", "interactions", str(path), "--workspace", str(ws.id))
    ok(await jornada(db_url, *args, cwd=tmp_path))
    live = (await customers_of(db_url, ws))["c-1"]
    expected = [("prospect", "RULE"), ("lead", "RULE"), ("lost", "RULE"), ("customer", "RULE"), ("churned", "RULE")]
    assert [(h["node"]["to"]["key"], h["node"]["cause"]) for h in live["history"]["edges"]] == expected

    # A rebuild finds the journey already right and writes nothing.
    run = ok(await jornada(db_url, *args, "--rebuild", cwd=tmp_path))
    assert run.stdout.splitlines() == [
        "stored 0, already present 2, failed 0",
        "rebuilt funnel: 1 customers, 0 transitions",
    ]
    rebuilt = (await customers_of(db_url, ws))["c-1"]
    # Churned 180 days (churn_after_days) after the purchase, as if recorded live back then.
    assert rebuilt["stage"]["stage"]["key"] == "churned"
    assert datetime.fromisoformat(rebuilt["stage"]["enteredAt"]) == bought + timedelta(days=180)
    history = [e["node"] for e in rebuilt["history"]["edges"]]
    assert [(h["to"]["key"], h["cause"]) for h in history] == expected
    assert datetime.fromisoformat(history[0]["occurredAt"]) == demo


# --- in-process, on the suite's database -------------------------------------------------------


async def export(api: Api, what: str) -> str:
    out = io.StringIO(newline="")
    await csv_export.write_csv(what, api.workspace_id, out)
    return out.getvalue()


async def test_services_number_lines_as_a_spreadsheet_and_round_trip_across_pages(
    api: Api, other_api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = (
        "external_id,name,email,attr.note\n"
        'c-1,"Ana\nSouza",ana@x.com,"a, b"\n'  # one record over two physical lines
        "c-2,Bruno,bad-email,\n"  # line 3, as a spreadsheet shows it
        "\n"  # an empty row is skipped, still counted
        "c-3,Carla,,,extra\n"  # line 5: one field too many
        "c-4,Davi,,\n"
    )
    report, printed = await run_import(api, settings, "customers", customers)
    assert (report.stored, report.already_present, report.failed) == (2, 0, 2)
    assert printed.splitlines() == [
        "line 3: email: 'bad-email' is not a valid email address.",
        "line 5: row: has 5 fields; the header has 4.",
    ]
    assert report.errors[0].to_json() == {
        "line": 3,
        "field": "email",
        "message": "'bad-email' is not a valid email address.",
    }

    base = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    # Times equal in pairs, not in file order: the export's keyset pages cross both kinds of ties.
    rows = [f"c-{n % 2 * 3 + 1},site_visit,{(base - timedelta(minutes=n // 2)).isoformat()}," for n in range(5)]
    rows.append(f"c-1,purchase,{base.isoformat()},7.5")
    interactions = "customer_external_id,kind,occurred_at,amount\n" + "\n".join(rows) + "\n"
    report, printed = await run_import(api, settings, "interactions", interactions)
    assert (report.stored, report.already_present, report.failed) == (6, 0, 0), printed
    report, _ = await run_import(api, settings, "interactions", interactions)
    assert (report.stored, report.already_present, report.failed) == (0, 6, 0)

    data = await api.data('{ customers(filter: {text: "ana"}) { edges { node { stage { stage { key } } } } } }')
    assert data["customers"]["edges"][0]["node"]["stage"]["stage"]["key"] == "customer"

    monkeypatch.setattr(csv_export, "PAGE", 2)  # several keyset pages of each
    exported_c, exported_i = await export(api, "customers"), await export(api, "interactions")
    assert exported_c.splitlines()[0] == ",".join([*csv_import.CUSTOMER_CSV_COLUMNS, "attr.note"])
    assert len(exported_i.splitlines()) == 7
    times = [row[2] for row in csv.reader(io.StringIO(exported_i))][1:]
    assert times == sorted(times, key=datetime.fromisoformat)  # in time order, ready to import
    report, printed = await run_import(other_api, settings, "customers", exported_c)
    assert (report.stored, report.failed) == (2, 0), printed
    report, printed = await run_import(other_api, settings, "interactions", exported_i)
    assert (report.stored, report.failed) == (6, 0), printed
    assert await export(other_api, "customers") == exported_c
    assert await export(other_api, "interactions") == exported_i


async def test_a_header_is_checked_before_any_row_is_read() -> None:
    with pytest.raises(csv_import.UsageError, match=r"unknown columns 'kindd', 'when'"):
        source("interactions", "customer_external_id,kindd,occurred_at,when\nc-1,x,y,z\n")
    with pytest.raises(csv_import.UsageError, match="missing required column occurred_at"):
        source("interactions", "customer_external_id,kind\n")
    with pytest.raises(csv_import.UsageError, match="'name' appears twice"):
        source("customers", "external_id,name,Name\n")
    with pytest.raises(csv_import.UsageError, match="empty"):
        source("customers", "")


class Listener:
    """A partner plugin that remembers the moves it is told about."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str, str, bool]] = []

    @hookimpl
    def on_stage_changed(self, change: StageChange) -> None:
        self.seen.append((change.model_key, change.from_stage, change.to_stage, change.cause, change.correction))


async def test_plugins_are_told_of_imported_moves_as_of_live_ones(api: Api, settings: Settings) -> None:
    listener = Listener()
    pm, problems, infos = get_plugin_manager(autoload=False, extra=[("listener", listener)])
    lifecycle = live_lifecycle(settings, build_registry(pm, problems, infos))
    when = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for what, text in (
        ("customers", "external_id\nc-1\n"),
        ("interactions", f"customer_external_id,kind,occurred_at,amount\nc-1,purchase,{when},10\n"),
    ):
        report = csv_import.Report(io.StringIO())
        await csv_import.run_import(source(what, text), api.workspace_id, lifecycle, report)
        assert report.stored == 1
    # The purchase predates the customer's creation: its journey is rebuilt from the purchase, and
    # the plugin is told of the corrected moves, flagged as corrections.
    assert listener.seen == [
        ("funnel", None, "prospect", "RULE", False),
        ("funnel", None, "prospect", "RULE", True),
        ("funnel", "prospect", "customer", "RULE", True),
    ]


async def _planner_row_estimate(table: str) -> int | None:
    """What the query planner believes `table` holds (PostgreSQL's reltuples, SQLite's sqlite_stat1)."""
    conn = connection()
    p = Params(dialect_of(conn))
    if p.dialect == "postgres":
        rows = await fetch(f"SELECT reltuples FROM pg_class WHERE relname = {p(table)}", p, conn)
        return int(rows[0]["reltuples"]) if rows and rows[0]["reltuples"] >= 0 else None
    found = await fetch("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'", p, conn)
    if not found:
        return None
    rows = await fetch(f"SELECT stat FROM sqlite_stat1 WHERE tbl = {p(table)}", p, conn)
    return max(int(r["stat"].split()[0]) for r in rows) if rows else None


async def test_an_import_refreshes_the_planner_statistics_of_the_tables_it_filled(api: Api, settings: Settings) -> None:
    customers = "external_id,name\n" + "".join(f"c-{n},Customer {n}\n" for n in range(40))
    report, _ = await run_import(api, settings, "customers", customers)
    assert report.stored == 40
    base = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    rows = [f"c-{n % 40},site_visit,{(base + timedelta(minutes=n)).isoformat()}," for n in range(300)]
    report, printed = await run_import(
        api, settings, "interactions", "customer_external_id,kind,occurred_at,amount\n" + "\n".join(rows) + "\n"
    )
    assert report.stored == 300, printed
    # Right after the import the planner knows the tables' sizes (ANALYZE ran), instead of the
    # estimate of an empty table that made the first metrics query after a big import take 30 s.
    stored = await fetch("SELECT COUNT(*) AS n FROM interaction", Params(dialect_of(connection())))
    assert await _planner_row_estimate("interaction") == int(stored[0]["n"])
    assert await _planner_row_estimate("customer") == 40


async def test_export_of_a_saved_segment_writes_its_customers_and_their_interactions(
    db_url: str, tmp_path: Path
) -> None:
    ws = await new_workspace(db_url, tmp_path)
    rows = [
        ["external_id", "name", "industry", "attr.employees"],
        ["c-1", "Ana", "retail", "12"],
        ["c-2", "Bruno", "software", "250"],
        ["c-3", "Carla", "software", "8"],
    ]
    flags = ("--workspace", str(ws.id))
    ok(await jornada(db_url, "import", "customers", str(write_csv(tmp_path / "c.csv", rows)), *flags, cwd=tmp_path))
    moves = [
        ["customer_external_id", "kind", "occurred_at"],
        *([f"c-{n}", "form_submitted", f"2026-01-0{n}T10:00:00Z"] for n in (1, 2, 3)),
    ]
    ok(await jornada(db_url, "import", "interactions", str(write_csv(tmp_path / "i.csv", moves)), *flags, cwd=tmp_path))
    # (CSV cells are texts: attr.employees is "12", compared as text)
    big = {"where": [{"field": "attributes.employees", "op": "IN", "values": ["12", "250"]}]}
    async with served(db_url) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": 'mutation($f: CustomerFilter!) { createSegment(input: {key: "big", name: "Big", filter: $f}) '
                "{ segment { customerCount } userErrors { code } } }",
                "variables": {"f": big},
            },
            headers={"Authorization": f"Bearer {ws.key}"},
        )
    assert response.json()["data"]["createSegment"] == {"segment": {"customerCount": 2}, "userErrors": []}
    exported = ok(await jornada(db_url, "export", "customers", *flags, "--segment", "big", cwd=tmp_path))
    assert [line.split(",")[0] for line in exported.stdout.splitlines()[1:]] == ["c-1", "c-2"]
    assert "exported 2 customers" in exported.stderr
    interactions = ok(await jornada(db_url, "export", "interactions", *flags, "--segment", "big", cwd=tmp_path))
    assert [line.split(",")[0] for line in interactions.stdout.splitlines()[1:]] == ["c-1", "c-2"]
    unknown = await jornada(db_url, "export", "customers", *flags, "--segment", "nope", cwd=tmp_path)
    assert unknown.status == 2
    assert "This workspace has no segment 'nope'." in unknown.stderr


async def test_export_of_the_reengagement_list_most_value_at_risk_first(db_url: str, tmp_path: Path) -> None:
    ws = await new_workspace(db_url, tmp_path)
    flags = ("--workspace", str(ws.id))
    rows = [["external_id", "name", "email"], *([f"c-{n}", f"C{n}", f"c{n}@x.com"] for n in (1, 2, 3))]
    ok(await jornada(db_url, "import", "customers", str(write_csv(tmp_path / "c.csv", rows)), *flags, cwd=tmp_path))
    buys = [["customer_external_id", "kind", "occurred_at", "amount"]]
    buys += [[f"c-{n}", "purchase", "2026-01-05T10:00:00Z", "50"] for n in (1, 2, 3)]
    ok(await jornada(db_url, "import", "interactions", str(write_csv(tmp_path / "i.csv", buys)), *flags, cwd=tmp_path))
    async with served(db_url) as client:
        for external_id, p_alive, clv in (("c-1", 0.4, 500.0), ("c-2", 0.1, 900.0), ("c-3", 0.95, 5000.0)):
            customer = await Customer.get(workspace_id=ws.id, external_id=external_id)
            await store_prediction(ws.id, customer.id, p_alive, clv)
        query = (
            'mutation { createSegment(input: {key: "winback", name: "Win back", filter: {reengage: {}}}) '
            "{ userErrors { code } } }"
        )
        response = await client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {ws.key}"})
        assert response.json()["data"]["createSegment"]["userErrors"] == []
    exported = ok(
        await jornada(
            db_url, "export", "customers", *flags, "--segment", "winback", "--order", "value-at-risk", cwd=tmp_path
        )
    )
    # at risk: c-2 900 × 0.9 = 810, c-1 500 × 0.6 = 300; c-3 (P(alive) 0.95, healthy) is not in the list
    assert [line.split(",")[0] for line in exported.stdout.splitlines()[1:]] == ["c-2", "c-1"]

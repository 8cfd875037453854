"""CSV as Brazilian spreadsheets write it: `;`-separated (Excel's default in pt-BR) with decimal
commas, detected or chosen by a flag; a hint when the header looks like one joined column; and a
progress line that says how much of the file is done and how long is left."""

from __future__ import annotations

import io
import time
from decimal import Decimal
from pathlib import Path

import pytest

from api import csv_import
from api.csv_source import COMMA, POINT, UsageError, open_source, parse_amount
from api.events import live_lifecycle
from api.settings import Settings
from plugins.manager import load_plugins
from tests.conftest import Api

pytestmark = pytest.mark.asyncio

CUSTOMERS = 'external_id;name;tags\nc-1;Ana Souza;"vip;café"\nc-2;Bruno;\n'
INTERACTIONS = (
    "customer_external_id;kind;occurred_at;amount\n"
    "c-1;purchase;2026-05-01T10:00:00-03:00;1.234,50\n"
    "c-1;purchase;2026-05-02T10:00:00-03:00;99,9\n"
    "c-2;purchase;2026-05-03T10:00:00-03:00;12\n"
)


async def imported(api: Api, settings: Settings, what: str, path: Path, **options: str) -> csv_import.Report:
    out = io.StringIO()
    report = csv_import.Report(out, keep_errors=True)
    lifecycle = live_lifecycle(settings, load_plugins(autoload=False))
    with open_source(what, str(path), **options) as source:
        await csv_import.run_import(source, api.workspace_id, lifecycle, report)
    return report


async def amounts(api: Api) -> list[Decimal]:
    data = await api.data("{ interactions(first: 100) { edges { node { amount } } } }")
    return sorted(Decimal(e["node"]["amount"]) for e in data["interactions"]["edges"])


async def test_an_excel_pt_br_file_is_read_without_flags(api: Api, settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(CUSTOMERS, encoding="utf-8")
    (tmp_path / "i.csv").write_text(INTERACTIONS, encoding="utf-8")
    customers = await imported(api, settings, "customers", tmp_path / "c.csv")
    assert (customers.stored, customers.failed) == (2, 0), customers.errors
    found = await api.data("{ customers(orderBy: [{field: NAME, direction: ASC}]) { edges { node { name tags } } } }")
    assert [e["node"] for e in found["customers"]["edges"]] == [
        {"name": "Ana Souza", "tags": ["vip", "café"]},
        {"name": "Bruno", "tags": []},
    ]
    interactions = await imported(api, settings, "interactions", tmp_path / "i.csv")
    assert (interactions.stored, interactions.failed) == (3, 0), interactions.errors
    assert await amounts(api) == [Decimal("12"), Decimal("99.9"), Decimal("1234.50")]


async def test_the_decimal_flag_decides_for_a_comma_separated_file(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "c.csv").write_text("external_id\nc-1\n", encoding="utf-8")
    await imported(api, settings, "customers", tmp_path / "c.csv")
    rows = 'customer_external_id,kind,occurred_at,amount\nc-1,purchase,2026-05-01T10:00:00Z,"1.234"\n'
    (tmp_path / "i.csv").write_text(rows, encoding="utf-8")
    report = await imported(api, settings, "interactions", tmp_path / "i.csv", decimal="comma")
    assert report.stored == 1
    assert await amounts(api) == [Decimal("1234")]  # a thousands point, as the flag says


async def test_an_amount_in_the_other_convention_is_a_clear_error(api: Api, settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("external_id\nc-1\n", encoding="utf-8")
    await imported(api, settings, "customers", tmp_path / "c.csv")
    rows = 'customer_external_id,kind,occurred_at,amount\nc-1,purchase,2026-05-01T10:00:00Z,"1.234,50"\n'
    (tmp_path / "i.csv").write_text(rows, encoding="utf-8")
    report = await imported(api, settings, "interactions", tmp_path / "i.csv")
    assert report.stored == 0
    [error] = report.errors
    assert error.field == "amount"
    assert "--decimal comma" in error.message


@pytest.mark.parametrize(
    ("raw", "decimal", "expected"),
    [
        ("1234.56", POINT, Decimal("1234.56")),
        ("1,234.56", POINT, Decimal("1234.56")),
        ("-7", POINT, Decimal("-7")),
        ("1.234,56", COMMA, Decimal("1234.56")),
        ("1234,5", COMMA, Decimal("1234.5")),
        ("1 234,50", COMMA, Decimal("1234.50")),
        ("1.234.567", COMMA, Decimal("1234567")),
        ("1,23,4", POINT, None),
        ("12,34.5", POINT, None),
        ("1.23,4", COMMA, None),
        ("NaN", POINT, None),
        ("Infinity", COMMA, None),
        ("R$ 10", COMMA, None),
    ],
)
async def test_amounts_parse_by_their_convention(raw: str, decimal: str, expected: Decimal | None) -> None:
    assert parse_amount(raw, decimal) == expected


async def test_a_header_read_as_one_joined_column_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "i.csv").write_text(INTERACTIONS, encoding="utf-8")
    with pytest.raises(UsageError, match=r"hint: the header is one column holding ';'.*--delimiter ';'"):
        open_source("interactions", str(tmp_path / "i.csv"), delimiter=",")


async def test_the_progress_line_shows_the_share_of_the_file_and_the_time_left(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "c.csv").write_text("external_id\n" + "".join(f"c-{n}\n" for n in range(3000)), encoding="utf-8")
    terminal = io.StringIO()
    report = csv_import.Report(terminal, progress=True)
    lifecycle = live_lifecycle(settings, load_plugins(autoload=False))
    with open_source("customers", str(tmp_path / "c.csv")) as source:
        assert source.size == (tmp_path / "c.csv").stat().st_size
        await csv_import.run_import(source, api.workspace_id, lifecycle, report, batch_size=500)
    drawn = [line.strip() for line in terminal.getvalue().split("\r") if line.strip()]
    size_kb = round((tmp_path / "c.csv").stat().st_size / 1000)
    assert drawn[-1].startswith(f"100% of {size_kb} kB  3,000 rows")
    assert "left" not in drawn[-1]
    assert report.stored == 3000


async def test_midway_the_progress_line_estimates_the_time_left() -> None:
    terminal = io.StringIO()
    report = csv_import.Report(terminal, progress=True)
    read = 0
    report.follow(4_000_000, lambda: read)
    report.begin(time.monotonic() - 30)  # 30 s into the file
    read = 1_000_000
    report.advance(5000, force=True)
    assert terminal.getvalue().strip() == "25% of 4.0 MB  5,000 rows  167 rows/s  1 min 30 s left"

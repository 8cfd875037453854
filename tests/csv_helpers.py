"""Running the CSV import in-process, as `jornada import` does, for tests that feed it text."""

from __future__ import annotations

import io

from api import csv_import
from api.events import live_lifecycle
from api.settings import Settings
from plugins.manager import load_plugins
from tests.conftest import Api


def source(what: str, text: str) -> csv_import.CsvSource:
    return csv_import.CsvSource(what, io.StringIO(text, newline=""), "test.csv")


async def run_import(api: Api, settings: Settings, what: str, text: str) -> tuple[csv_import.Report, str]:
    out = io.StringIO()
    report = csv_import.Report(out, keep_errors=True)
    lifecycle = live_lifecycle(settings, load_plugins(autoload=False))
    await csv_import.run_import(source(what, text), api.workspace_id, lifecycle, report)
    return report, out.getvalue()

"""`make test` says what it is doing: tests/run-suites reports each suite's progress while the
suites run, not only their reports at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_run_suites_prints_progress_per_suite_while_running() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("JORNADA_TEST_POSTGRES_URL", "JORNADA_TEST_DATABASE")}
    env["BIN"] = str(Path(sys.executable).parent)
    run = subprocess.run(
        [str(ROOT / "tests" / "run-suites"), "tests/test_settings.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    collected = re.search(r"^\[sqlite\] (\d+) tests collected$", run.stderr, re.MULTILINE)
    assert collected, run.stderr
    total = int(collected.group(1))
    assert total > 0
    assert re.search(rf"^\[sqlite\] {total}/{total} tests \(100%\), 0 failed, \d+ s$", run.stderr, re.MULTILINE)
    assert "=== SQLite ===" in run.stdout
    assert f"{total} passed" in run.stdout

"""The public plugin API is exactly what partners are told to import, and imports nothing of the host."""

from __future__ import annotations

import subprocess
import sys

import plugins

EXPECTED = {
    "Check", "Criterion", "CriterionResult", "CustomerFacts", "Evaluation", "FactsState", "InteractionFact",
    "InteractionKind", "LifecycleModel", "Move", "Param", "Position", "Stage", "StageCategory", "StageChange",
    "Transition", "catch_up", "evaluate", "fire", "hookimpl", "next_check", "on_interaction", "wait_until",
}  # fmt: skip


def test_all_is_exactly_the_documented_api_and_every_name_exists() -> None:
    assert set(plugins.__all__) == EXPECTED
    assert len(plugins.__all__) == len(EXPECTED)
    missing = [name for name in plugins.__all__ if not hasattr(plugins, name)]
    assert missing == []


def test_importing_the_contract_loads_nothing_of_the_service() -> None:
    code = (
        "import sys, plugins, plugins.manager; "
        "host = {'api', 'schema', 'stages', 'tortoise', 'strawberry'}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in host))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""docs/metrics.md against the product: every metric the API answers is defined there, every
worked example names a test that exists (and so reproduces it), and nothing a user reads points
to files users do not have."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from schema.build import build_schema

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "metrics.md"


def metrics_fields() -> list[str]:
    schema = build_schema()
    found = schema._schema.type_map["Metrics"]
    return list(found.fields)  # type: ignore[attr-defined]


def test_every_metric_of_the_api_has_its_definition_in_docs_metrics_md() -> None:
    text = DOC.read_text()
    headings = set(re.findall(r"^### `(\w+)`", text, flags=re.MULTILINE))
    # `model` and `period` are what every metric is about: "The rules every metric follows".
    missing = [f for f in metrics_fields() if f not in headings and f not in ("model", "period")]
    assert missing == [], f"docs/metrics.md defines no {missing}"
    assert "## The rules every metric follows" in text


def test_every_worked_example_names_a_test_that_exists() -> None:
    references = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", DOC.read_text())
    assert len(references) >= 15
    for path, name in references:
        file = ROOT / path
        assert file.exists(), path
        if name:
            tree = ast.parse(file.read_text())
            defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            assert name in defined, f"{path} has no test {name}"


def test_what_users_read_points_to_docs_not_to_files_they_do_not_have() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/metrics.md" in readme
    schema_text = (ROOT / "schema" / "schema.graphql").read_text()
    assert "docs/metrics.md" in schema_text
    for text in (readme, schema_text, *(p.read_text() for p in (ROOT / "docs").glob("*.md"))):
        assert "shared/" not in text
        assert "METRICS.md" not in text

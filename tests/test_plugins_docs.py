"""docs/plugins.md against the code: the documented hook signatures are the hookspecs', every
hookspec has a docstring and is exercised by a test, and the data classes' fields are the ones
the reference lists."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from plugins import hookspecs, types

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).resolve().parent

# A documented or declared hook: its parameters as (name, annotation) and its return annotation.
Signature = tuple[tuple[tuple[str, str], ...], str]


def section(text: str, title: str) -> str:
    """The body of the `## title` section of a Markdown text (up to the next `## ` heading)."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert found, f"docs/plugins.md has no '## {title}' section"
    return found.group(1)


def subsections(body: str) -> dict[str, str]:
    """`### `Name`` subsections of a section, by name."""
    parts = re.split(r"^### `([^`]+)`\n", body, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _normal(annotation: str) -> str:
    """An annotation written the way `ast.unparse` writes it (spacing, quotes)."""
    return ast.unparse(ast.parse(annotation, mode="eval").body)


def documented_hooks() -> dict[str, Signature]:
    body = section(DOC.read_text(), "Hook reference")
    blocks = re.findall(r"```python\n(.*?)```", body, re.DOTALL)
    hooks: dict[str, Signature] = {}
    for line in (line for block in blocks for line in block.splitlines() if line.startswith("def ")):
        function = ast.parse(line.rstrip(":") + ": ...").body[0]
        assert isinstance(function, ast.FunctionDef), line
        assert function.name not in hooks, f"{function.name} is documented twice"
        params = tuple((a.arg, ast.unparse(a.annotation) if a.annotation else "") for a in function.args.args)
        returns = ast.unparse(function.returns) if function.returns else ""
        hooks[function.name] = (params, returns)
    return hooks


def declared_hooks() -> dict[str, Signature]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    hooks: dict[str, Signature] = {}
    for name, function in vars(hookspecs).items():
        if inspect.isfunction(function) and hasattr(function, marker):
            signature = inspect.signature(function)  # annotations are strings (postponed evaluation)
            params = tuple(
                (p.name, _normal(p.annotation) if p.annotation is not inspect.Parameter.empty else "")
                for p in signature.parameters.values()
            )
            returns = signature.return_annotation
            hooks[name] = (params, _normal(returns) if returns is not inspect.Signature.empty else "")
    return hooks


def test_there_are_hookspecs_to_document() -> None:
    assert {"register_lifecycle_models", "register_interaction_kinds", "on_stage_changed"} <= set(declared_hooks())


def test_the_documented_hook_signatures_are_the_hookspecs() -> None:
    documented, declared = documented_hooks(), declared_hooks()
    assert sorted(documented) == sorted(declared), "hooks documented vs declared in plugins/hookspecs.py"
    for name, signature in declared.items():
        assert documented[name] == signature, f"docs/plugins.md documents {name} differently"


def test_every_hook_has_a_subsection_with_its_meaning() -> None:
    subs = subsections(section(DOC.read_text(), "Hook reference"))
    for name in declared_hooks():
        assert name in subs, f"no '### `{name}`' in the hook reference"
        prose = re.sub(r"```.*?```", "", subs[name], flags=re.DOTALL).strip()
        assert len(prose.split()) >= 20, f"the meaning of {name} is missing"


@pytest.mark.parametrize("name", sorted(declared_hooks()))
def test_every_hookspec_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name))
    assert doc, f"{name} has no docstring"
    assert len(doc.split()) >= 10


@pytest.mark.parametrize("name", sorted(declared_hooks()))
def test_every_hookspec_is_exercised_by_a_test(name: str) -> None:
    here = Path(__file__).name
    users = [p.name for p in TESTS.glob("*.py") if p.name != here and name in p.read_text()]
    assert users, f"no test in tests/ mentions the hook {name}"


DATA_CLASSES = [
    types.LifecycleModel,
    types.Stage,
    types.Transition,
    types.Param,
    types.InteractionKind,
    types.CustomerFacts,
    types.InteractionFact,
    types.Check,
    types.StageChange,
]


@pytest.mark.parametrize("cls", DATA_CLASSES, ids=lambda c: c.__name__)
def test_the_data_class_reference_lists_the_fields(cls: type) -> None:
    subs = subsections(section(DOC.read_text(), "Data classes reference"))
    assert cls.__name__ in subs, f"no '### `{cls.__name__}`' in the data classes reference"
    listed = re.findall(r"^\| `(\w+)` \|", subs[cls.__name__], re.MULTILINE)
    assert listed == [f.name for f in dataclasses.fields(cls)]


def test_the_stage_categories_are_all_listed() -> None:
    subs = subsections(section(DOC.read_text(), "Data classes reference"))
    listed = re.findall(r"`([A-Z]+)`", subs["StageCategory"])
    assert listed == [c.value for c in types.StageCategory]


BUILTIN_MODELS = ["funnel", "three-phase", "lifespan", "five-phase"]
CATEGORY_LETTERS = {"PROSPECT": "P", "CUSTOMER": "C", "CHURNED": "X", "LOST": "L"}


@pytest.mark.parametrize("key", BUILTIN_MODELS)
def test_docs_models_describes_every_stage_rule_and_parameter_of_the_built_in_models(key: str) -> None:
    from plugins.manager import load_plugins

    model = load_plugins(autoload=False).model(key)
    assert model is not None
    text = (ROOT / "docs" / "models.md").read_text()
    found = re.search(rf"^## `{re.escape(key)}` .*?(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert found, f"docs/models.md has no section for {key}"
    body = found.group(0)
    for stage in model.stages:
        row = f"| `{stage.key}` | {CATEGORY_LETTERS[stage.category.value]}"
        assert row in body, f"{key}: no row for stage {stage.key}"
        assert f"| {stage.labels['en']} | {stage.labels['pt-BR']} |" in body, f"{key}: labels of {stage.key}"
    for transition in model.transitions:
        assert f"| `{transition.name}` |" in body, f"{key}: rule {transition.name}"
    for param in model.params:
        assert f"`{param.name}`" in body, f"{key}: parameter {param.name}"

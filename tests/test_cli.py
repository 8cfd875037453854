"""The `jornada` command line as a user runs it: real processes on a temporary SQLite file.

The keys a command prints are then presented to the app, opened in-process on the same file, to
prove they really authenticate. These are CLI tests, so they stay on SQLite even when
JORNADA_TEST_DATABASE=postgres.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from api.workspaces import count_workspaces
from tests.cli_helpers import jornada, ok, served

pytestmark = pytest.mark.asyncio

VIEWER = "{ viewer { role workspace { name } } }"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'cli.sqlite3'}"


async def viewer(client: httpx2.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]["viewer"]
    return data


async def test_workspace_create_prints_one_json_object_with_a_working_admin_key(db_url: str, tmp_path: Path) -> None:
    migrated = ok(await jornada(db_url, "migrate", cwd=tmp_path))
    assert "migrated" in migrated.stdout

    run = ok(
        await jornada(db_url, "workspace", "create", "Padaria Central", "--currency", "BRL", "--json", cwd=tmp_path)
    )
    created = run.json()
    assert isinstance(created["workspaceId"], int)
    assert isinstance(created["apiKey"], str)
    assert created["apiKey"]
    assert created["name"] == "Padaria Central"
    assert created["currency"] == "BRL"
    assert created["role"] == "ADMIN"

    async with served(db_url) as client:
        assert await viewer(client, created["apiKey"]) == {
            "role": "ADMIN",
            "workspace": {"name": "Padaria Central"},
        }
        # The printed key is the credential: a slightly different one is refused.
        refused = await client.post(
            "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {created['apiKey']}x"}
        )
        assert refused.status_code == 401


async def test_apikey_create_gives_a_key_with_the_requested_role(db_url: str, tmp_path: Path) -> None:
    ok(await jornada(db_url, "migrate", cwd=tmp_path))
    workspace = ok(await jornada(db_url, "workspace", "create", "Padaria Central", "--json", cwd=tmp_path)).json()
    ws_id = workspace["workspaceId"]

    run = ok(
        await jornada(db_url, "apikey", "create", "--workspace", str(ws_id), "--role", "VIEWER", "--json", cwd=tmp_path)
    )
    key = run.json()
    assert key["workspaceId"] == ws_id
    assert key["role"] == "VIEWER"
    assert isinstance(key["apiKey"], str)
    assert key["apiKey"] != workspace["apiKey"]

    async with served(db_url) as client:
        assert await viewer(client, key["apiKey"]) == {
            "role": "VIEWER",
            "workspace": {"name": "Padaria Central"},
        }


async def test_apikey_create_for_a_missing_workspace_exits_2_with_a_message(db_url: str, tmp_path: Path) -> None:
    ok(await jornada(db_url, "migrate", cwd=tmp_path))
    run = await jornada(db_url, "apikey", "create", "--workspace", "4242", "--role", "VIEWER", "--json", cwd=tmp_path)
    assert run.status == 2, run
    assert run.stdout == ""
    assert "4242" in run.stderr
    assert "workspace" in run.stderr.lower()
    assert "Traceback" not in run.stderr


async def test_invalid_currency_exits_2_naming_the_field_and_creates_nothing(db_url: str, tmp_path: Path) -> None:
    ok(await jornada(db_url, "migrate", cwd=tmp_path))
    run = await jornada(db_url, "workspace", "create", "Padaria Central", "--currency", "REAIS", "--json", cwd=tmp_path)
    assert run.status == 2, run
    assert run.stdout == ""
    assert "currency" in run.stderr
    assert "REAIS" in run.stderr
    assert f"nothing was stored (database: {tmp_path / 'cli.sqlite3'})" in run.stderr
    assert "Traceback" not in run.stderr

    async with served(db_url) as _:
        assert await count_workspaces() == 0


async def test_bootstrap_creates_a_workspace_only_when_there_is_none(db_url: str, tmp_path: Path) -> None:
    ok(await jornada(db_url, "migrate", cwd=tmp_path))

    first = ok(await jornada(db_url, "bootstrap", "--name", "Padaria Central", cwd=tmp_path))
    found = re.search(r"Bearer (\S+)", first.stdout)
    assert found, first.stdout
    key = found.group(1)

    second = ok(await jornada(db_url, "bootstrap", "--name", "Another one", cwd=tmp_path))
    assert "already exists" in second.stdout
    assert "Bearer" not in second.stdout
    assert key not in second.stdout

    async with served(db_url) as client:
        assert await count_workspaces() == 1
        assert await viewer(client, key) == {"role": "ADMIN", "workspace": {"name": "Padaria Central"}}


async def test_bootstrap_creates_nothing_when_a_workspace_was_made_by_hand(db_url: str, tmp_path: Path) -> None:
    ok(await jornada(db_url, "migrate", cwd=tmp_path))
    ok(await jornada(db_url, "workspace", "create", "Padaria Central", "--json", cwd=tmp_path))

    run = ok(await jornada(db_url, "bootstrap", cwd=tmp_path))
    assert "already exists" in run.stdout
    assert "Bearer" not in run.stdout

    async with served(db_url) as _:
        assert await count_workspaces() == 1


async def test_plugins_lists_the_built_in_models_and_plugins_as_json(db_url: str, tmp_path: Path) -> None:
    data = ok(await jornada(db_url, "plugins", "--json", cwd=tmp_path)).json()
    keys = {m["key"] for m in data["models"]}
    assert {"funnel", "three-phase", "lifespan", "five-phase"} <= keys
    funnel = next(m for m in data["models"] if m["key"] == "funnel")
    assert funnel["distribution"] == "jornada"
    assert funnel["plugin"] == "stages.funnel"
    assert all(p["hooks"] for p in data["plugins"])
    text = ok(await jornada(db_url, "plugins", cwd=tmp_path)).stdout
    assert "funnel" in text
    assert "rejected plugins" in text


async def test_workspace_create_takes_the_primary_model_and_refuses_an_unknown_one(db_url: str, tmp_path: Path) -> None:
    created = ok(await jornada(db_url, "workspace", "create", "Loja", "--model", "lifespan", "--json", cwd=tmp_path))
    async with served(db_url) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { workspace { primaryModel { key } } } }"},
            headers={"Authorization": f"Bearer {created.json()['apiKey']}"},
        )
        assert response.json()["data"]["viewer"]["workspace"]["primaryModel"]["key"] == "lifespan"
    wrong = await jornada(db_url, "workspace", "create", "Loja 2", "--model", "nope", cwd=tmp_path)
    assert wrong.status == 2
    assert "model" in wrong.stderr
    assert "nope" in wrong.stderr


async def test_tick_applies_a_churn_that_fell_due(db_url: str, tmp_path: Path) -> None:
    key = ok(await jornada(db_url, "workspace", "create", "Loja", "--json", cwd=tmp_path)).json()["apiKey"]
    due_in = 1.5
    bought = datetime.now(UTC) - timedelta(days=180) + timedelta(seconds=due_in)
    async with served(db_url) as client:
        headers = {"Authorization": f"Bearer {key}"}
        made = await client.post(
            "/graphql",
            json={"query": 'mutation { createCustomer(input: {name: "Ana"}) { customer { id } } }'},
            headers=headers,
        )
        cid = made.json()["data"]["createCustomer"]["customer"]["id"]
        record = """mutation($id: ID!, $at: DateTime!) { recordInteraction(input: {customerId: $id, kind: "purchase",
            amount: "10", occurredAt: $at}) { interaction { id } userErrors { code } } }"""
        await client.post(
            "/graphql", json={"query": record, "variables": {"id": cid, "at": bought.isoformat()}}, headers=headers
        )
    await asyncio.sleep(due_in + 0.5)
    run = ok(await jornada(db_url, "tick", cwd=tmp_path))
    assert run.stdout.strip() == "checked 1 customers, 1 moves"
    again = ok(await jornada(db_url, "tick", cwd=tmp_path))
    assert again.stdout.strip() == "checked 0 customers, 0 moves"


async def test_fit_reports_the_status_the_reasons_and_the_data(db_url: str, tmp_path: Path) -> None:
    ok(await jornada(db_url, "migrate", cwd=tmp_path))
    ws_id = ok(await jornada(db_url, "workspace", "create", "Loja", "--json", cwd=tmp_path)).json()["workspaceId"]
    interactions = tmp_path / "i.csv"
    interactions.write_text(
        "customer_external_id,kind,occurred_at,amount\n"
        "a,purchase,2024-01-05T10:00:00Z,10\nb,purchase,2024-02-05T10:00:00Z,20\n"
    )
    customers = tmp_path / "c.csv"
    customers.write_text("external_id,name\na,Ana\nb,Bruno\n")
    ok(await jornada(db_url, "import", "customers", str(customers), "--workspace", str(ws_id), cwd=tmp_path))
    ok(await jornada(db_url, "import", "interactions", str(interactions), "--workspace", str(ws_id), cwd=tmp_path))
    run = ok(await jornada(db_url, "fit", "--workspace", str(ws_id), "--json", cwd=tmp_path))
    fitted = run.json()
    # No repeat purchase: the fit failed, and says why; the data it had are reported.
    assert (fitted["status"], fitted["customers"], fitted["repeatCustomers"], fitted["bgnbd"]) == ("FAILED", 2, 0, None)
    assert fitted["reasons"] == [fitted["error"]]
    assert "repeat purchase" in fitted["error"]
    text = ok(await jornada(db_url, "fit", "--workspace", str(ws_id), cwd=tmp_path)).stdout
    assert text.startswith("FAILED: fitted on 2 customers (0 with repeat purchases")
    assert "- No customer has a repeat purchase yet" in text


async def test_an_operator_lists_workspaces_and_keys_and_revokes_a_key(db_url: str, tmp_path: Path) -> None:
    ws = ok(await jornada(db_url, "workspace", "create", "Padaria Central", "--json", cwd=tmp_path)).json()
    ws_id = str(ws["workspaceId"])
    viewer_key = ok(await jornada(db_url, "apikey", "create", "--workspace", ws_id, "--role", "VIEWER",
                                  "--name", "painel", "--json", cwd=tmp_path)).json()  # fmt: skip

    other = ok(await jornada(db_url, "workspace", "create", "Outra Loja", "--json", cwd=tmp_path)).json()
    (tmp_path / "c.csv").write_text("external_id\nc-1\nc-2\n", encoding="utf-8")
    ok(await jornada(db_url, "import", "customers", str(tmp_path / "c.csv"), "--workspace", ws_id, cwd=tmp_path))

    listed = ok(await jornada(db_url, "workspace", "list", "--json", cwd=tmp_path)).json()
    assert listed["database"] == str(tmp_path / "cli.sqlite3")
    assert [(w["workspaceId"], w["name"], w["customers"], w["activeKeys"]) for w in listed["workspaces"]] == [
        (ws["workspaceId"], "Padaria Central", 2, 2),
        (other["workspaceId"], "Outra Loja", 0, 1),
    ]
    keys = ok(await jornada(db_url, "apikey", "list", "--workspace", ws_id, "--json", cwd=tmp_path)).json()
    assert [(k["role"], k["name"], k["revokedAt"]) for k in keys["apiKeys"]] == [
        ("ADMIN", "admin", None),
        ("VIEWER", "painel", None),
    ]
    assert all(k["prefix"] and k["prefix"] not in (ws["apiKey"], viewer_key["apiKey"]) for k in keys["apiKeys"])
    text = ok(await jornada(db_url, "apikey", "list", "--workspace", ws_id, cwd=tmp_path)).stdout
    assert ws["apiKey"] not in text
    assert viewer_key["apiKey"] not in text

    revoked = ok(await jornada(db_url, "apikey", "revoke", str(viewer_key["apiKeyId"]), "--workspace", ws_id,
                               cwd=tmp_path))  # fmt: skip
    assert "revoked" in revoked.stdout
    again = await jornada(db_url, "apikey", "revoke", str(viewer_key["apiKeyId"]), "--workspace", ws_id, cwd=tmp_path)
    assert again.status == 2
    assert "already revoked" in again.stderr
    async with served(db_url) as client:
        refused = await client.post(
            "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {viewer_key['apiKey']}"}
        )
        assert refused.status_code == 401
        assert await viewer(client, ws["apiKey"]) == {"role": "ADMIN", "workspace": {"name": "Padaria Central"}}


async def test_run_from_another_folder_the_cli_says_which_database_instead_of_making_an_empty_one(
    tmp_path: Path,
) -> None:
    home, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    relative = "sqlite://jornada.sqlite3"  # the default: relative to the current folder
    ok(await jornada(relative, "workspace", "create", "Padaria Central", cwd=home))
    for args in (("workspace", "list"), ("apikey", "list", "--workspace", "1"), ("export", "customers",
                 "--workspace", "1"), ("fit", "--workspace", "1")):  # fmt: skip
        run = await jornada(relative, *args, cwd=elsewhere)
        assert run.status == 2, (args, run)
        assert str(elsewhere / "jornada.sqlite3") in run.stderr, args
        assert "Traceback" not in run.stderr
    assert not (elsewhere / "jornada.sqlite3").exists()
    missing = await jornada(relative, "apikey", "list", "--workspace", "7", cwd=home)
    assert missing.status == 2
    assert "no workspace with id 7" in missing.stderr
    assert str(home / "jornada.sqlite3") in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fit", "--workspace", "1", "--calibration-end", "01/06/2026"), "YYYY-MM-DD"),
        (("fit", "--workspace", "1", "--discount", "nan"), "below 1"),
        (("fit", "--workspace", "0"), "at least 1"),
        (("demo", "--customers", "-3"), "at least 1"),
        (("demo", "--customers", "ten"), "not a whole number"),
        (("serve", "--port", "-1"), "at least 1"),
    ],
)
async def test_bad_arguments_are_clear_errors_not_tracebacks(
    db_url: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    run = await jornada(db_url, *args, cwd=tmp_path)
    assert run.status == 2, run
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "cli.sqlite3").exists()  # refused before anything opened the database

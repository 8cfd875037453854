"""In a real browser (Debian's Chromium, driven by Playwright) against a real `jornada serve`:
GraphiQL works with no request leaving 127.0.0.1, and a page on another origin can call the API
when its origin is allowed (CORS), and cannot when it is not. Screenshots go to
build/screenshots/ (set JORNADA_SCREENSHOTS to put them elsewhere)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Request, Route, async_playwright

from tests.servers import JORNADA, create_workspace_with_cli, free_port, running_server

pytestmark = pytest.mark.asyncio

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("JORNADA_SCREENSHOTS", Path(__file__).resolve().parents[1] / "build" / "screenshots"))


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def other_origin() -> Iterator[int]:
    """A tiny web server on another port: the origin of a frontend page (http://localhost:PORT)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>frontend</title><p>A frontend on another origin.</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def test_graphiql_runs_a_query_with_no_request_leaving_the_machine(
    browser: Browser, e2e_database_url: str, tmp_path: Path, shots: Path
) -> None:
    with running_server(e2e_database_url, tmp_path) as base_url:
        key = (await create_workspace_with_cli(e2e_database_url, tmp_path))["apiKey"]
        page = await browser.new_page()
        requested: list[str] = []
        left: list[str] = []

        async def guard(route: Route, request: Request) -> None:
            requested.append(request.url)
            host = urlsplit(request.url).hostname
            if request.url.startswith("data:") or host == "127.0.0.1":
                await route.continue_()
            else:
                left.append(request.url)
                await route.abort()

        await page.route("**/*", guard)
        headers = json.dumps({"Authorization": f"Bearer {key}"})
        await page.goto(f"{base_url}/graphql?q={quote('{ viewer { role } }')}&headers={quote(headers)}")
        await page.wait_for_selector(".graphiql-execute-button", timeout=20_000)
        assert await page.locator("#jornada-graphiql-missing").count() == 0
        await page.click(".graphiql-execute-button")
        await page.wait_for_function("document.body.innerText.includes('\"ADMIN\"')", timeout=20_000)
        await page.screenshot(path=str(shots / "graphiql.png"))
    assert left == []
    assert any("/graphiql-assets/graphiql-3.8.3-graphiql.min.js" in url for url in requested)
    assert any(url.endswith("/graphql") for url in requested)


async def test_a_page_on_an_allowed_origin_calls_the_api_and_another_origin_cannot(
    browser: Browser, e2e_database_url: str, tmp_path: Path, other_origin: int, shots: Path
) -> None:
    allowed = f"http://localhost:{other_origin}"
    with running_server(e2e_database_url, tmp_path, extra_env={"JORNADA_ALLOWED_ORIGINS": allowed}) as base_url:
        key = (await create_workspace_with_cli(e2e_database_url, tmp_path))["apiKey"]
        call = """async ([url, key]) => {
            try {
                const r = await fetch(url, {method: "POST", body: JSON.stringify({query: "{ viewer { role } }"}),
                    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"}});
                return {status: r.status, body: await r.json()};
            } catch (e) { return {error: String(e)}; }
        }"""
        page = await browser.new_page()
        await page.goto(allowed)
        answered = await page.evaluate(call, [f"{base_url}/graphql", key])
        assert answered == {"status": 200, "body": {"data": {"viewer": {"role": "ADMIN"}}}}
        await page.screenshot(path=str(shots / "cors-frontend.png"))

        # The same page served from another origin (127.0.0.1 is not localhost to a browser).
        stranger = await browser.new_page()
        await stranger.goto(f"http://127.0.0.1:{other_origin}")
        refused = await stranger.evaluate(call, [f"{base_url}/graphql", key])
        assert refused == {"error": "TypeError: Failed to fetch"}


def demo_key(database_url: str, cwd: Path) -> str:
    """`jornada demo` (60 customers) on the server's database, as an operator runs it."""
    env = {**os.environ, "JORNADA_DATABASE_URL": database_url}
    done = subprocess.run(
        [str(JORNADA), "demo", "--customers", "60", "--json"], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=300, check=True,
    )  # fmt: skip
    key: str = json.loads(done.stdout)["apiKey"]
    return key


async def api(base_url: str, key: str, query: str, variables: dict[str, object] | None = None) -> dict[str, Any]:
    async with httpx2.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers={"Authorization": f"Bearer {key}"}
        )
    body: dict[str, Any] = response.json()
    return body


async def until(page: Page, script: str, seconds: float = 20) -> None:
    """Wait until `script` is true in the page. (Playwright's wait_for_function evaluates a string,
    which the console's Content-Security-Policy forbids; evaluate goes through DevTools.)"""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await page.evaluate(script):
        assert asyncio.get_running_loop().time() < deadline, f"never true: {script}"
        await asyncio.sleep(0.1)


SHOWN = "Array.from(document.querySelectorAll('#funnel .num')).map(e => [e.dataset.stage, e.firstChild.textContent])"


async def funnel_of(base_url: str, key: str, mode: str, period: dict[str, str] | None = None) -> list[list[str]]:
    query = (
        "query($m: FunnelMode!, $p: PeriodInput) { metrics(period: $p) { funnel(mode: $m) { stage { key } count } } }"
    )
    found = await api(base_url, key, query, {"m": mode, "p": period})
    return [[s["stage"]["key"], f"{s['count']:,}"] for s in found["data"]["metrics"]["funnel"]]


async def test_an_admin_signs_in_reads_the_funnel_in_each_mode_and_revokes_a_key(
    browser: Browser, e2e_database_url: str, tmp_path: Path, shots: Path
) -> None:
    key = await asyncio.to_thread(demo_key, e2e_database_url, tmp_path)
    with running_server(e2e_database_url, tmp_path) as base_url:
        context = await browser.new_context(locale="en-US")
        page = await context.new_page()
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.goto(f"{base_url}/admin")
        await page.fill("#key", key)
        await page.click("#login-form button")
        await page.wait_for_selector("#funnel .num")
        assert await page.evaluate(SHOWN) == await funnel_of(base_url, key, "CUMULATIVE")
        await page.screenshot(path=str(shots / "admin-funnel-cumulative.png"), full_page=True)
        for mode in ("STRICT", "ANY"):
            expected = await funnel_of(base_url, key, mode)
            await page.check(f'input[name="mode"][value="{mode}"]')
            await until(page, f"JSON.stringify({SHOWN}) === {json.dumps(json.dumps(expected, separators=(',', ':')))}")
        # Another period, picked by day on the workspace's calendar.
        await page.fill("#period-start", "2026-03-01")
        await page.fill("#period-end", "2026-03-31")
        await page.click("#period-form button")
        march = {"start": "2026-03-01T00:00:00", "end": "2026-04-01T00:00:00"}
        wanted = json.dumps(json.dumps(await funnel_of(base_url, key, "ANY", march), separators=(",", ":")))
        await until(page, f"JSON.stringify({SHOWN}) === {wanted}")
        await page.fill("#period-end", "2026-02-01")
        await page.click("#period-form button")
        await until(page, "document.querySelector('#funnel-error').textContent.includes('end after it starts')")
        shown = await page.locator("#distribution .num").count()
        stages = await api(base_url, key, "{ metrics { stageDistribution { count } } }")
        assert shown == len(stages["data"]["metrics"]["stageDistribution"])

        await page.select_option("#locale", "pt-BR")
        await until(page, "document.querySelector('#view-funnel h2').textContent.startsWith('Funil')")
        await page.screenshot(path=str(shots / "admin-funnel-pt-br.png"), full_page=True)

        await page.click('nav button[data-view="keys"]')
        await page.fill("#key-name", "painel da loja")
        await page.select_option("#key-role", "VIEWER")
        await page.click("#key-form button")
        await page.wait_for_selector("#new-key:not([hidden])")
        secret = (await page.text_content("#new-key-secret")) or ""
        viewer = await api(base_url, secret, "{ viewer { role } }")
        assert viewer["data"] == {"viewer": {"role": "VIEWER"}}
        row = page.locator("#keys tbody tr", has_text="painel da loja")
        await row.locator("button.revoke").click()
        await page.wait_for_selector("#keys tbody tr.revoked")
        assert await page.is_hidden("#new-key")  # the secret shown before is gone with its key
        assert "(a chave desta sessão)" in (await page.text_content("#keys tbody tr:first-child") or "")
        await page.screenshot(path=str(shots / "admin-keys.png"), full_page=True)
        async with httpx2.AsyncClient(base_url=base_url) as client:
            refused = await client.post("/graphql", json={"query": "{ viewer { role } }"},
                                        headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
        assert refused.status_code == 401

        # Parameters: a value out of range is refused naming the parameter; a good one is saved.
        await page.select_option("#locale", "en")
        await page.click('nav button[data-view="models"]')
        funnel = page.locator('form.model[data-model="funnel"]')
        await funnel.locator('input[name="mql_score"]').fill("-5")
        await funnel.locator('button[type="submit"]').click()
        error = funnel.locator('.param[data-param="mql_score"] .error')
        await until(page, "document.querySelector('.param[data-param=\"mql_score\"] .error').textContent !== ''")
        assert "mql_score" in (await error.text_content() or "")
        await funnel.locator('input[name="mql_score"]').fill("35")
        await funnel.locator('button[type="submit"]').click()
        await until(page, "document.querySelector('form.model[data-model=\"funnel\"] p.ok').textContent === 'Saved.'")
        tracked = await api(base_url, key, "{ viewer { workspace { models { model { key } params } } } }")
        params = {m["model"]["key"]: m["params"] for m in tracked["data"]["viewer"]["workspace"]["models"]}
        assert params["funnel"]["mql_score"] == 35

        # The switch: a preview first (distribution before and after, customers and where they go),
        # then applied; the live view shows a move as it happens.
        await page.select_option("#switch-model", "lifespan")
        await page.click("#switch-form button")
        await page.wait_for_selector("#preview:not([hidden])")
        assert await page.locator("#sample tbody tr").count() == 10
        assert await page.locator("#after .num").count() > 0
        await page.screenshot(path=str(shots / "admin-switch-preview.png"), full_page=True)
        before = await api(base_url, key, "{ viewer { workspace { primaryModel { key } } } }")
        assert before["data"]["viewer"]["workspace"]["primaryModel"]["key"] == "funnel"  # a preview writes nothing
        await page.click("#apply-switch")
        await until(page, "document.querySelector('#switch-done').textContent.includes('primary model')")
        after = await api(base_url, key, "{ viewer { workspace { primaryModel { key } } } }")
        assert after["data"]["viewer"]["workspace"]["primaryModel"]["key"] == "lifespan"

        await page.click('nav button[data-view="live"]')
        await until(page, "document.querySelector('#live-status').textContent === '(connected)'")
        made = await api(
            base_url, key, 'mutation { createCustomer(input: {name: "Nova Cliente"}) { customer { id } } }'
        )
        assert made["data"]["createCustomer"]["customer"]["id"]
        await until(page, "document.querySelector('#live tbody').textContent.includes('Nova Cliente')")
        await page.screenshot(path=str(shots / "admin-live.png"), full_page=True)

        # A key of another role is turned away with the reason.
        other = await browser.new_page()
        await other.goto(f"{base_url}/admin")
        viewer_key = await api(base_url, key, 'mutation { createApiKey(input: {name: "v", role: VIEWER}) { key } }')
        await other.fill("#key", viewer_key["data"]["createApiKey"]["key"])
        await other.click("#login-form button")
        await until(other, "document.querySelector('#login-error').textContent.includes('ADMIN')")
        assert await other.is_hidden("#console")

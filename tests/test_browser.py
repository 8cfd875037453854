"""In a real browser (Debian's Chromium, driven by Playwright) against a real `jornada serve`:
GraphiQL works with no request leaving 127.0.0.1, and a page on another origin can call the API
when its origin is allowed (CORS), and cannot when it is not. Screenshots go to
build/screenshots/ (set JORNADA_SCREENSHOTS to put them elsewhere)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Request, Route, async_playwright

from tests.servers import create_workspace_with_cli, free_port, running_server

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
        assert await page.locator("#jornada-cdn-note").count() == 0
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

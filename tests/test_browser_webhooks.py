"""The admin console's Webhooks view in a real browser against a real `jornada serve` and a real
receiver: an admin adds an endpoint (the secret shown once), sees a failed attempt and its
retry, redelivers, sends a test event and disables the endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.servers import create_workspace_with_cli, e2e_database_url, running_server
from tests.test_browser import api, browser, shots, until
from tests.webhook_receiver import receiver

__all__ = ["browser", "e2e_database_url", "shots"]  # fixtures

pytestmark = pytest.mark.asyncio

SETTINGS = {"JORNADA_WEBHOOKS_ALLOW_PRIVATE": "true", "JORNADA_WEBHOOKS_TIMEOUT": "2", "JORNADA_TICK_INTERVAL": "0"}
ROWS = "Array.from(document.querySelectorAll('tr.delivery')).map(r => r.textContent)"


async def open_webhooks(page: Page) -> None:
    await page.click('nav button[data-view="webhooks"]')
    await page.wait_for_selector("#view-webhooks:not([hidden])")


async def test_an_admin_manages_an_endpoint_and_sees_its_deliveries(
    browser: Browser, e2e_database_url: str, tmp_path: Path, shots: Path
) -> None:
    with running_server(e2e_database_url, tmp_path, extra_env=SETTINGS) as base_url, receiver() as hooks:
        key = (await create_workspace_with_cli(e2e_database_url, tmp_path))["apiKey"]
        page = await (await browser.new_context(locale="en-US")).new_page()
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.goto(f"{base_url}/admin")
        await page.fill("#key", key)
        await page.click("#login-form button")
        await page.wait_for_selector("#funnel")
        await open_webhooks(page)
        await until(page, "document.querySelector('#hooks').textContent.includes('No endpoints yet.')")

        # A URL that is not http(s) is refused with the reason, nothing is made.
        await page.fill("#hook-url", "ftp://files.example.com/in")
        await page.click("#hook-form button[type=submit]")
        await until(page, "document.querySelector('#hook-error').textContent.includes('http')")
        assert await page.is_hidden("#new-hook")

        await page.fill("#hook-url", hooks.url)
        await page.fill("#hook-description", "CRM da loja")
        await page.uncheck('input[value="stage.changed"]')
        await page.check('input[value="customer.created"]')
        await page.click("#hook-form button[type=submit]")
        await page.wait_for_selector("#new-hook:not([hidden])")
        secret = (await page.text_content("#new-hook-secret")) or ""
        assert secret.startswith("whsec_")
        hooks.secrets.append(secret)
        await page.wait_for_selector(".endpoint")
        assert "customer.created" in (await page.text_content(".endpoint") or "")

        # The receiver fails once: the console shows the attempt, then the retry that landed.
        hooks.fail_next = 1
        made = await api(base_url, key, 'mutation { createCustomer(input: {name: "Ana"}) { customer { id } } }')
        assert made["data"]["createCustomer"]["customer"]["id"]
        await asyncio.to_thread(lambda: _wait(lambda: len(hooks.raw) >= 1))
        await open_webhooks(page)
        await until(page, f"{ROWS}.some(t => t.includes('pending') && t.includes('500'))")
        await page.screenshot(path=str(shots / "admin-webhooks-failing.png"), full_page=True)
        await asyncio.to_thread(hooks.wait_for, 1, 15)
        await open_webhooks(page)
        await until(page, f"{ROWS}.some(t => t.includes('delivered') && t.includes('204'))")

        await page.click("tr.delivery button")  # redeliver: the same webhook-id again
        await asyncio.to_thread(lambda: _wait(lambda: len(hooks.received) >= 2))
        assert hooks.received[0].message_id == hooks.received[1].message_id

        await page.click('button[data-action="send_test"]')
        await until(page, "document.querySelector('#hook-done').textContent.includes('test event')")
        await asyncio.to_thread(lambda: _wait(lambda: "webhook.test" in hooks.types()))
        await open_webhooks(page)
        await until(page, f"{ROWS}.some(t => t.includes('webhook.test') && t.includes('delivered'))")
        await page.screenshot(path=str(shots / "admin-webhooks.png"), full_page=True)

        await page.click('button[data-action="disable"]')
        await until(page, "document.querySelector('.endpoint .badge').textContent.includes('Disabled by an admin')")
        listed = await api(base_url, key, "{ viewer { workspace { webhookEndpoints { enabled } } } }")
        assert listed["data"]["viewer"]["workspace"]["webhookEndpoints"] == [{"enabled": False}]
        assert hooks.rejected == []


def _wait(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the receiver never got it"
        time.sleep(0.05)

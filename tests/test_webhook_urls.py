"""Which URLs may receive webhooks: http(s) only and, unless JORNADA_WEBHOOKS_ALLOW_PRIVATE is
set, no private, loopback or link-local host (a server must not be made to call its own
network)."""

from __future__ import annotations

import pytest

from api.errors import InputInvalid
from api.webhooks import check_url
from tests.conftest import Api
from tests.webhook_helpers import CREATE

REFUSED = [
    ("http://127.0.0.1:8000/hooks", "URL_NOT_ALLOWED"),
    ("http://localhost/hooks", "URL_NOT_ALLOWED"),
    ("http://api.localhost/hooks", "URL_NOT_ALLOWED"),
    ("http://10.1.2.3/hooks", "URL_NOT_ALLOWED"),
    ("https://192.168.0.10/hooks", "URL_NOT_ALLOWED"),
    ("http://169.254.169.254/latest/meta-data", "URL_NOT_ALLOWED"),
    ("http://[::1]/hooks", "URL_NOT_ALLOWED"),
    ("http://[::ffff:127.0.0.1]/hooks", "URL_NOT_ALLOWED"),
    ("http://0.0.0.0/", "URL_NOT_ALLOWED"),
    ("ftp://example.com/hooks", "INVALID_URL"),
    ("javascript:alert(1)", "INVALID_URL"),
    ("example.com/hooks", "INVALID_URL"),
    ("https:///hooks", "INVALID_URL"),
    ("https://exa mple.com/", "INVALID_URL"),
    ("https://example.com:99999/", "INVALID_URL"),
    ("https://[::1/", "INVALID_URL"),
    ("", "REQUIRED"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("url", "code"), REFUSED)
async def test_a_url_is_refused_with_the_reason(api: Api, url: str, code: str) -> None:
    data = await api.data(CREATE, {"input": {"url": url, "events": ["stage.changed"]}})
    payload = data["createWebhookEndpoint"]
    assert payload["endpoint"] is None
    assert payload["secret"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["url"], code)]
    assert payload["userErrors"][0]["message"]


@pytest.mark.asyncio
async def test_a_public_url_is_taken(api: Api) -> None:
    data = await api.data(
        CREATE, {"input": {"url": "https://hooks.example.com/jornada?x=1", "events": ["stage.changed"]}}
    )
    payload = data["createWebhookEndpoint"]
    assert payload["userErrors"] == []
    assert payload["endpoint"]["url"] == "https://hooks.example.com/jornada?x=1"
    assert payload["secret"].startswith("whsec_")


@pytest.mark.asyncio
async def test_unknown_or_no_events_are_refused(api: Api) -> None:
    for events, code in (([], "REQUIRED"), (["stage.changed", "deal.won"], "UNKNOWN_EVENT")):
        data = await api.data(CREATE, {"input": {"url": "https://hooks.example.com/", "events": events}})
        errors = data["createWebhookEndpoint"]["userErrors"]
        assert [(e["field"], e["code"]) for e in errors] == [(["events"], code)]


def test_private_hosts_pass_when_allowed() -> None:
    assert check_url("http://127.0.0.1:9000/hooks", allow_private=True) == "http://127.0.0.1:9000/hooks"
    with pytest.raises(InputInvalid):
        check_url("ftp://127.0.0.1/", allow_private=True)

"""GraphiQL's files are Jornada's own: pinned by version, checked by hash, served from its
origin; without them the page says how to install them, and loads nothing. (The browser test in
test_browser.py runs a query in it with no request leaving 127.0.0.1.)"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx2
import pytest

from api import graphiql

pytestmark = pytest.mark.asyncio


async def test_the_page_loads_every_file_from_this_server(http: httpx2.AsyncClient) -> None:
    assert graphiql.installed(), "run `make install`: it fetches GraphiQL's files"
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "https://" not in page.text
    assert "jornada-cdn-note" not in page.text
    for asset in graphiql.ASSETS:
        url = f"{graphiql.ROUTE}/{asset.name}"
        assert f'"{url}"' in page.text, asset
        served = await http.get(url)
        assert served.status_code == 200
        assert graphiql.integrity_of(served.content) == asset.integrity
        assert served.headers["content-type"].startswith("text/css" if url.endswith(".css") else "text/javascript")
        assert "immutable" in served.headers["cache-control"]


async def test_an_unknown_file_is_a_json_404(http: httpx2.AsyncClient) -> None:
    for name in ("nope.js", "..%2F..%2Fsettings.py", "react-18.2.0-react.development.js"):
        response = await http.get(f"{graphiql.ROUTE}/{name}")
        assert response.status_code == 404
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_missing_or_altered_file_means_a_page_saying_how_to_install_and_nothing_from_elsewhere(
    tmp_path: Path,
) -> None:
    assert not graphiql.installed(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(graphiql.ASSET_DIR, copy)
    assert graphiql.installed(copy)
    altered = copy / graphiql.ASSETS[0].name
    altered.write_bytes(altered.read_bytes() + b"\n// changed")
    graphiql.installed.cache_clear()
    assert not graphiql.installed(copy)
    page = graphiql.page(local=False)
    assert 'id="jornada-graphiql-missing"' in page
    assert "make install" in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    assert "<link" not in page


async def test_the_installed_page_names_only_this_servers_files() -> None:
    page = graphiql.page(local=True)
    # (An XML namespace such as the favicon's `http://www.w3.org/2000/svg` names, never loads.)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "https://" not in page
    assert all(f"{graphiql.ROUTE}/{asset.name}" in page for asset in graphiql.ASSETS)

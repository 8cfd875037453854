"""GraphiQL served by Jornada itself, so the page works without internet.

Strawberry's GraphiQL page names seven files (React, ReactDOM, js-cookie, GraphiQL's script and
style, the explorer plugin's script and style) on a public CDN. `make install` runs
`python -m api.graphiql`, which downloads each package's tarball from the npm registry, pinned by
version, and keeps the one file the page needs if its SHA-384 is the one pinned here (the same
hash the page's `integrity` attribute carries). The server then serves them under
`/graphiql-assets/` and rewrites the page to use them. When they are absent (an install without
network), `/graphql` in a browser answers a short page that says so and how to install them: it
never loads anything from elsewhere (no internet here, nor on many users' networks).

Nothing is fetched at run time.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import re
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.http.ides import get_graphql_ide_html

from api.errors import error_body

ASSET_DIR = Path(__file__).with_name("static") / "graphiql"
ROUTE = "/graphiql-assets"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    path: str  # inside the package
    integrity: str  # sha384-..., as in the page

    @property
    def name(self) -> str:
        """The file's name here: package, version and file (no folders to traverse)."""
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}-{Path(self.path).name}"

    @property
    def ide_url(self) -> re.Pattern[str]:
        """The file's address in Strawberry's page (any host, this package, version and path)."""
        return re.compile(rf"https://[^\"'\s]+/{re.escape(f'{self.package}@{self.version}/{self.path}')}")

    @property
    def tarball_url(self) -> str:
        base = self.package.split("/")[-1]
        return f"{REGISTRY}/{self.package}/-/{base}-{self.version}.tgz"


ASSETS = (
    Asset("react", "18.2.0", "umd/react.production.min.js",
          "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8"),
    Asset("react-dom", "18.2.0", "umd/react-dom.production.min.js",
          "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh"),
    Asset("js-cookie", "3.0.5", "dist/js.cookie.min.js",
          "sha384-/vxhYfM1LENRhdpZ8dwEsQn/X4VhpbEZSiU4m/FwR+PVpzar4fkEOw8FP9Y+OfQN"),
    Asset("graphiql", "3.8.3", "graphiql.min.css",
          "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM"),
    Asset("@graphiql/plugin-explorer", "1.0.2", "dist/style.css",
          "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi"),
    Asset("graphiql", "3.8.3", "graphiql.min.js",
          "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie"),
    Asset("@graphiql/plugin-explorer", "1.0.2", "dist/index.umd.js",
          "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9"),
)  # fmt: skip
BY_NAME = {a.name: a for a in ASSETS}
MISSING_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Jornada: GraphiQL not installed</title>'
    '</head><body style="font:15px sans-serif;margin:2em;max-width:40em">'
    '<h1 id="jornada-graphiql-missing">GraphiQL is not installed on this server</h1>'
    "<p>Its files are served by Jornada itself, never from the internet. Run <code>make install</code> once "
    "with access to the npm registry (it downloads seven pinned files into <code>api/static/graphiql</code>), "
    "then restart the server.</p><p>The API itself works: send GraphQL requests to <code>POST /graphql</code>.</p>"
    "</body></html>"
)


def integrity_of(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@functools.cache
def installed(folder: Path = ASSET_DIR) -> bool:
    """Every file is there with its pinned hash (checked once per process: 4 MB to hash)."""
    for asset in ASSETS:
        path = folder / asset.name
        if not path.is_file() or integrity_of(path.read_bytes()) != asset.integrity:
            return False
    return True


def page(local: bool) -> str:
    """Strawberry's GraphiQL page, its files taken from this server when `local`; else a page
    saying how to install them."""
    if not local:
        return MISSING_PAGE
    html = get_graphql_ide_html("graphiql")
    for asset in ASSETS:
        html = asset.ide_url.sub(f"{ROUTE}/{asset.name}", html)
    return html


async def serve_asset(request: Request) -> Response:
    asset = BY_NAME.get(request.path_params["name"])
    path = ASSET_DIR / asset.name if asset else None
    if asset is None or path is None or not path.is_file():
        return JSONResponse(error_body("No such GraphiQL file here.", "NOT_FOUND"), status_code=404)
    media = "text/css" if asset.path.endswith(".css") else "text/javascript"
    # The name holds the version: the file never changes, so browsers may keep it.
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return Response(path.read_bytes(), media_type=f"{media}; charset=utf-8", headers=headers)


def fetch(folder: Path = ASSET_DIR, timeout: float = 30) -> list[str]:
    """Download the pinned files into `folder`; the problems, one line each (empty: all there)."""
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    tarballs: dict[str, bytes] = {}
    for asset in ASSETS:
        target = folder / asset.name
        if target.is_file() and integrity_of(target.read_bytes()) == asset.integrity:
            continue
        try:
            if asset.tarball_url not in tarballs:
                with urllib.request.urlopen(asset.tarball_url, timeout=timeout) as response:
                    tarballs[asset.tarball_url] = response.read()
            with tarfile.open(fileobj=io.BytesIO(tarballs[asset.tarball_url]), mode="r:gz") as tar:
                member = tar.extractfile(f"package/{asset.path}")
                data = member.read() if member else b""
        except (OSError, tarfile.TarError, KeyError) as exc:
            problems.append(f"{asset.package}@{asset.version}/{asset.path}: {exc}")
            continue
        if integrity_of(data) != asset.integrity:
            problems.append(f"{asset.package}@{asset.version}/{asset.path}: its hash is not the pinned one")
            continue
        target.write_bytes(data)
    return problems


def main() -> int:
    problems = fetch()
    if problems:
        print("GraphiQL's files could not all be installed (the page will say so; the API works):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
    else:
        print(f"GraphiQL's {len(ASSETS)} files are installed in {ASSET_DIR} (served by Jornada)")
    return 0  # never fails an install: the API works, and the page says what is missing


if __name__ == "__main__":
    raise SystemExit(main())

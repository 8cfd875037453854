"""The admin console at /admin: a page, a script and a style sheet of Jornada's own (no
third-party assets; the Content-Security-Policy allows only this origin) that use the public
GraphQL API with the ADMIN key the admin signs in with."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.errors import error_body

FOLDER = Path(__file__).with_name("admin_static")
FILES = {
    "": ("index.html", "text/html"),
    "admin.js": ("admin.js", "text/javascript"),
    "webhooks.js": ("webhooks.js", "text/javascript"),
    "admin.css": ("admin.css", "text/css"),
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


async def admin_file(request: Request) -> Response:
    found = FILES.get(request.path_params.get("file", ""))
    if found is None:
        return JSONResponse(error_body("No such file in the admin console.", "NOT_FOUND"), status_code=404)
    name, media = found
    return Response((FOLDER / name).read_bytes(), media_type=f"{media}; charset=utf-8", headers=HEADERS)

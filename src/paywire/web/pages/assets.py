"""The pages' stylesheet, script and icon, served from the package (no build step, no CDN).
`/favicon.ico` answers the icon too, for browsers that ask for it before reading a page.
`page_file` is how every file of the pages is served (the account's and admin's stylesheets too)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import Response

from paywire.web.pages.errors import PageError
from paywire.web.pages.routing import page_router

ASSETS = {
    "pages.css": "text/css; charset=utf-8",
    "pages.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
router = page_router()


@cache
def _page_file(path: str) -> bytes:
    return resources.files("paywire.web").joinpath(f"templates/pages/{path}").read_bytes()


def page_file(path: str, media_type: str) -> Response:
    """A file of the pages (`templates/pages/{path}`, read once), for browsers to keep five minutes."""
    response = Response(_page_file(path), media_type=media_type)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@router.get("/static/pages/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise PageError(404, "Not found", "There is no such file.")
    return page_file(f"assets/{name}", ASSETS[name])


@router.get("/favicon.ico")
def favicon() -> Response:
    return asset("favicon.svg")

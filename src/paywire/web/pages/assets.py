"""The pages' stylesheet and script, served from the package (no build step, no CDN)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import Response

from paywire.web.pages.errors import PageError
from paywire.web.pages.routing import page_router

ASSETS = {"pages.css": "text/css; charset=utf-8", "pages.js": "text/javascript; charset=utf-8"}
router = page_router()


@cache
def _asset(name: str) -> bytes:
    return resources.files("paywire.web").joinpath(f"templates/pages/assets/{name}").read_bytes()


@router.get("/static/pages/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise PageError(404, "Not found", "There is no such file.")
    response = Response(_asset(name), media_type=ASSETS[name])
    response.headers["Cache-Control"] = "public, max-age=300"
    return response

"""The pages' files as served: the shared assets and each page's own stylesheet through one
`page_file`, from the package, with the same media type and browser cache."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import pytest
from fastapi import Response

from paywire.web.pages import account, admin, assets
from paywire.web.pages.errors import PageError


def packaged(path: str) -> bytes:
    return resources.files("paywire.web").joinpath(f"templates/pages/{path}").read_bytes()


@pytest.mark.parametrize(
    ("response", "path", "media_type"),
    [
        (lambda: assets.asset("pages.css"), "assets/pages.css", "text/css; charset=utf-8"),
        (lambda: assets.asset("pages.js"), "assets/pages.js", "text/javascript; charset=utf-8"),
        (assets.favicon, "assets/favicon.svg", "image/svg+xml"),
        (account.stylesheet, "account.css", "text/css; charset=utf-8"),
        (admin.stylesheet, "admin.css", "text/css; charset=utf-8"),
    ],
)
def test_each_file_is_served_from_the_package_for_browsers_to_keep(
    response: Callable[[], Response], path: str, media_type: str
) -> None:
    served = response()

    assert served.body == packaged(path) != b""
    assert served.media_type == media_type
    assert served.headers["Cache-Control"] == "public, max-age=300"


def test_an_unknown_asset_is_not_found() -> None:
    with pytest.raises(PageError) as refused:
        assets.asset("../account.css")
    assert refused.value.status_code == 404

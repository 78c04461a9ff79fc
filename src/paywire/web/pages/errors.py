"""A page's refusal: a status and a sentence for the person in front of it.

`PageError` is an HTTPException, so it is at least the right status wherever it is raised;
under `PageRoute` (paywire.web.pages.routing) it is rendered as the `error.html` page.
"""

from __future__ import annotations

from fastapi import HTTPException


class PageError(HTTPException):
    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(status_code=status_code, detail=message)
        self.title = title
        self.message = message

"""The dev inbox, `/dev/mail`: every notice the product would have sent, in dev mode only.

`paywire dev` sends mail to a folder (`PAYWIRE_EMAIL_BACKEND=dev`, `PAYWIRE_DEV_MAIL_DIR`,
`paywire.reactions.email.DevMailbox`); these pages read it: the list (newest first, with the
notice and the attempt), one message with its headers and its HTML in a sandboxed frame
(`/dev/mail/{id}/html`), and its plain-text part (`/dev/mail/{id}/text`). The router exists in
dev mode only: elsewhere these addresses are 404s.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from html import escape
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from paywire.web.context import Context

NAME = re.compile(r"^[0-9]+-[0-9a-f]{24}$")
STYLE = (
    "body{font-family:sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#18181b}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #d4d4d8}"
    "iframe{width:100%;height:40rem;border:1px solid #d4d4d8}dt{font-weight:bold}a{color:#3730a3}"
)
# The list and message pages: no script; the message's own HTML only in a sandboxed frame.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; frame-ancestors 'none'"
    ),
}
MAIL_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; frame-ancestors 'self'",
}


@dataclass(frozen=True)
class Kept:
    name: str
    message: EmailMessage

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        return str(body.get_content()) if body is not None else ""

    def header(self, name: str) -> str:
        return str(self.message.get(name, ""))


def kept_mail(folder: Path) -> list[Kept]:
    """The messages in the folder, newest first."""
    if not folder.is_dir():
        return []
    found = [path for path in folder.glob("*.eml") if NAME.match(path.stem)]
    found.sort(key=lambda path: int(path.stem.split("-", 1)[0]), reverse=True)
    return [_read(path) for path in found]


def _read(path: Path) -> Kept:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return Kept(path.stem, message)


def _one(folder: Path, name: str) -> Kept:
    path = folder / f"{name}.eml"
    if not NAME.match(name) or not path.is_file():
        raise HTTPException(404)
    return _read(path)


def _page(title: str, body: str) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


def build_dev_mail_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/dev/mail")
    def inbox(context: Context) -> Response:
        rows = []
        for kept in kept_mail(context.settings.dev_mail_dir):
            attempt = kept.header("X-Paywire-Attempt")
            rows.append(
                f"<tr><td>{escape(kept.header('Date'))}</td><td>{escape(kept.header('To'))}</td>"
                f'<td><a href="/dev/mail/{kept.name}">{escape(kept.header("Subject"))}</a></td>'
                f"<td>{escape(kept.header('X-Paywire-Notice'))}</td><td>{escape(attempt)}</td></tr>"
            )
        table = (
            "<table><thead><tr><th scope='col'>Date</th><th scope='col'>To</th><th scope='col'>Subject</th>"
            "<th scope='col'>Notice</th><th scope='col'>Attempt</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            if rows
            else "<p>No mail yet: every notice paywire sends in dev mode lands here.</p>"
        )
        intro = f"<p>{len(rows)} message{'s' if len(rows) != 1 else ''}, newest first (dev mode only).</p>"
        return _page("Dev inbox", f"<h1>Dev inbox</h1>{intro}{table}")

    @router.get("/dev/mail/{name}")
    def message(context: Context, name: str) -> Response:
        kept = _one(context.settings.dev_mail_dir, name)
        fields = "".join(
            f"<dt>{label}</dt><dd>{escape(kept.header(label))}</dd>"
            for label in ("Subject", "From", "To", "Date", "Message-ID", "X-Paywire-Notice", "X-Paywire-Attempt")
            if kept.header(label)
        )
        body = (
            f'<p><a href="/dev/mail">← Dev inbox</a></p><h1>{escape(kept.header("Subject"))}</h1><dl>{fields}</dl>'
            f'<p><a href="/dev/mail/{name}/text">Plain-text part</a></p>'
            f'<iframe title="The HTML part" sandbox="" src="/dev/mail/{name}/html"></iframe>'
        )
        return _page(kept.header("Subject") or "Message", body)

    @router.get("/dev/mail/{name}/html")
    def html_part(context: Context, name: str) -> Response:
        return HTMLResponse(_one(context.settings.dev_mail_dir, name).part("html"), headers=MAIL_HEADERS)

    @router.get("/dev/mail/{name}/text")
    def text_part(context: Context, name: str) -> Response:
        return PlainTextResponse(_one(context.settings.dev_mail_dir, name).part("plain"), headers=MAIL_HEADERS)

    return router

"""The access log (`access_log`): a user's sign-ins, uses of the product and checkouts, each
with the address and browser it came from, kept as evidence that what they paid for was used
(a dispute's draft, `paywire.billing.evidence`).

A use is noted at most once an hour per user, database and process (their billing read, their account
page), so a busy product costs the log one write per active user an hour. The address is the
connection's (behind a proxy: run uvicorn with `--proxy-headers` and `--forwarded-allow-ips`).
"""

from __future__ import annotations

import logging
import threading
import time

from fastapi import Request

from paywire.context import PaywireContext
from paywire.db.repositories import access_log

USE_EVERY_SECONDS = 3600.0
MAX_REMEMBERED = 100_000
log = logging.getLogger("paywire.web")
_lock = threading.Lock()
_used_at: dict[tuple[str, str], float] = {}  # (database, user) -> when noted


def note_access(context: PaywireContext, request: Request, user_id: str, kind: str, detail: str | None = None) -> None:
    """Write one record (blocking). A failure is logged, never the request's."""
    ip = request.client.host if request.client else None
    try:
        with context.sessions() as session:
            access_log.add(
                session,
                user_id=user_id,
                kind=kind,
                ip=ip,
                user_agent=request.headers.get("user-agent"),
                detail=detail,
            )
            session.commit()
    except Exception:
        log.exception("the access log could not note %s's %s", user_id, kind)


def note_use(context: PaywireContext, request: Request, user_id: str) -> None:
    """A use of the product, at most once an hour per user in this process (blocking)."""
    now = time.monotonic()
    key = (context.settings.database_url, user_id)
    with _lock:
        if now - _used_at.get(key, float("-inf")) < USE_EVERY_SECONDS:
            return
        if len(_used_at) >= MAX_REMEMBERED:
            _used_at.clear()
        _used_at[key] = now
    note_access(context, request, user_id, "use", request.url.path)

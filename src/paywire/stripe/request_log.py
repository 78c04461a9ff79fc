"""A log of every request paywire sends to Stripe (PAYWIRE_STRIPE_REQUEST_LOG), to check the
request budget from paywire's side: one JSON line per request, written when its answer came,
by every process of the deployment that names the same file.

    {"sent": 1764979200.012, "slot": 1764979200.0, "priority": "mirror", "method": "GET",
     "path": "/v1/invoices/in_123", "status": 200, "seconds": 0.014}

`sent`: the Unix time it left (after its slot); `slot`: the slot the budget gave it (null:
no budget, or a meter event, which Stripe limits apart); `status` 0: no answer (the
connection failed). The path only: never the query string (a search names an email) nor a
header (the key). Each line is one append (`O_APPEND`), so processes sharing the file do
not tear each other's lines. A line that cannot be written (a full disk) is said once in the
process's log, and never fails the request.
"""

from __future__ import annotations

import logging
import os
import threading

import orjson

from paywire.stripe.budget import current_priority

log = logging.getLogger("paywire.stripe")


class RequestLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._failed = False  # said once per process

    def write(self, *, sent: float, slot: float | None, method: str, path: str, status: int, seconds: float) -> None:
        line = {
            "sent": round(sent, 6),
            "slot": None if slot is None else round(slot, 6),
            "priority": current_priority().label,
            "method": method,
            "path": path,
            "status": status,
            "seconds": round(seconds, 6),
        }
        try:
            os.write(self._fd, orjson.dumps(line) + b"\n")
        except OSError as exc:  # a full disk never fails the request it describes
            if not self._failed:
                log.warning("could not write to the Stripe request log %s: %s", self.path, exc.strerror)
            self._failed = True


_LOGS: dict[str, RequestLog] = {}
_LOCK = threading.Lock()


def request_log_at(path: str | None) -> RequestLog | None:
    """The process's log at `path` (one open file however many clients write to it)."""
    if not path:
        return None
    with _LOCK:
        found = _LOGS.get(path)
        if found is None:
            found = _LOGS[path] = RequestLog(path)
        return found

"""How paywire's processes log: one format, set up once per process.

Libraries paywire uses log a line at INFO for every request or migration step (the Stripe
SDK, Alembic, httpx); that is noise in a command's output, so they speak at WARNING unless
PAYWIRE_LOG_LEVEL=debug asks for everything.

`PAYWIRE_LOG_FORMAT=json` writes one JSON object per line (python-json-logger): `time`,
`level`, `logger`, `message`, and whatever a line passes as `extra=` (the worker's line per
event carries `event_id`, `event_type`, `object_id`, `outcome`, `attempt`, `duration_ms`).

Whatever the format, every line goes through `Redact` first: Stripe keys and webhook
secrets, bearer tokens, card numbers and email addresses never reach the log as they were
(an address keeps its first letter and its domain: `a…@example.com`).
"""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FORMATS = ("text", "json")
CHATTY_LIBRARIES = ("alembic", "stripe", "httpx", "httpcore", "urllib3")

SECRETS = re.compile(r"\b(sk|rk|pk)_(test|live)_[A-Za-z0-9_]{4,}|\bwhsec_[A-Za-z0-9_+/=]{4,}")
TOKENS = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# 13 to 19 digits, alone or in groups of four: the shapes of a card number.
CARDS = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?![\d.])")
EMAILS = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
# The attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """`text` with secrets, tokens, card numbers and email addresses masked."""
    text = SECRETS.sub(lambda m: m.group(0)[:8] + "…", text)
    text = TOKENS.sub("eyJ…", text)
    text = CARDS.sub(_card, text)
    return EMAILS.sub(r"\1…@\2", text)


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "card …" + digits[-4:] if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _luhn(digits: str) -> bool:
    """Card numbers pass the Luhn check (most other long numbers do not)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


class Redact(logging.Filter):
    """Masks what must never be logged, in the message and in the `extra=` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args or not isinstance(record.msg, str) or _needs_redacting(record.msg):
            record.msg = redact(record.getMessage())
            record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def _needs_redacting(text: str) -> bool:
    return redact(text) != text


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(
            LOG_FORMAT,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    return logging.Formatter(LOG_FORMAT)


def configure(level: str, fmt: str = "text") -> None:
    """Log at `level` to stderr in `fmt` (`text` or `json`), every line redacted."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}")
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(Redact())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    quiet = level.upper() != "DEBUG"
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.DEBUG)

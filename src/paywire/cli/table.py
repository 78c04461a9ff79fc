"""Plain-text tables and values for the commands' output."""

from __future__ import annotations

from datetime import UTC, datetime

ERROR_WIDTH = 60


def when(moment: datetime | int | None) -> str:
    """A time as `YYYY-MM-DD HH:MM:SS` (UTC); `-` for none."""
    if moment is None:
        return "-"
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def short(text: str | None, width: int = ERROR_WIDTH) -> str:
    """One line of at most `width` characters."""
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"

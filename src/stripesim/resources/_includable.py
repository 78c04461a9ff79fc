"""Stripe's "includable" fields: present only when asked for with `expand[]`.

`coupon.applies_to` and `currency_options` are such fields. The generic expander only
replaces ids already in an object, so a handler that returns such an object consumes
the matching `expand[]` entries itself and adds the field.
"""

from __future__ import annotations

from typing import Any

from stripesim.routes import Ctx
from stripesim.state import Record


def take(ctx: Ctx, fields: tuple[str, ...], *, in_list: bool = False) -> set[str]:
    """Remove the includable `fields` from `ctx.expand` and return those that were asked for."""
    prefix = "data." if in_list else ""
    wanted = {f for f in fields if prefix + f in ctx.expand}
    ctx.expand[:] = [e for e in ctx.expand if e.removeprefix(prefix) not in wanted]
    return wanted


def include(record: Record, wanted: set[str], private: dict[str, str]) -> Record:
    """A copy of `record` with each wanted field filled from its private key."""
    if not wanted:
        return record
    shown: dict[str, Any] = dict(record)
    for name in wanted:
        shown[name] = record.get(private[name])
    return shown

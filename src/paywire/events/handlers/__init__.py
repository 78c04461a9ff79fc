"""One module per Stripe event type paywire handles, named after it
(`invoice.payment_failed` → `invoice_payment_failed.py`). Each says in one screen what it
re-reads, which facts it records and which reactions follow, and declares `EVENT_TYPE` and
`HANDLER`. This registry finds them all; an event type with no module is recorded by the
worker as `ignored` and counted (`paywire_webhooks_unhandled_total`).
"""

from __future__ import annotations

import importlib
import pkgutil

from paywire.events.handling import EventHandler


def _discover() -> dict[str, EventHandler]:
    found: dict[str, EventHandler] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        event_type: str = module.EVENT_TYPE
        if event_type.replace(".", "_") != module_info.name:
            raise RuntimeError(f"{module.__name__} handles {event_type}: a module is named after its event type")
        found[event_type] = module.HANDLER
    return found


HANDLERS: dict[str, EventHandler] = _discover()


def handler_for(event_type: str) -> EventHandler | None:
    return HANDLERS.get(event_type)

"""Local usage against Stripe's: a meter's event summary for the period, compared with what
the table says Stripe was sent. A difference is reported (`drift`), never smoothed over.

Events in flight blur the comparison: the summary is read at t0, so it must hold at least
what was marked sent before t0 and at most everything recorded so far that may have reached
Stripe (sent, or still pending: on its way, or sent just before a sender died and not yet
marked); outside those bounds is drift.
Summaries take minute-aligned bounds, so both sides count the period widened to whole minutes.
Answers are kept per user, meter and period for PAYWIRE_USAGE_RECONCILE_INTERVAL seconds (0:
never asked), so showing usage does not ask Stripe on every request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.db.models import utcnow
from paywire.stripe import StripeError, StripeGateway
from paywire.stripe.metering import iso
from paywire.usage import store
from paywire.usage.accounts import UsageAccount
from paywire.usage.allowance import MeterUsage


@dataclass(frozen=True)
class Reconciled:
    used: int | None  # Stripe's aggregation for the period (None: Stripe did not answer)
    drift: int | None  # Stripe's figure less what was sent (0: in line)
    checked_at: str
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"used": self.used, "drift": self.drift, "checked_at": self.checked_at, "error": self.error}


class Reconciler:
    def __init__(self, gateway: StripeGateway, catalog: Catalog, interval: float) -> None:
        self.gateway = gateway
        self.catalog = catalog
        self.interval = interval
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str, int], tuple[float, Reconciled]] = {}
        self._meter_ids: dict[str, str] = {}

    def check(self, session: Session, account: UsageAccount, usage: MeterUsage) -> Reconciled | None:
        if self.interval <= 0 or account.customer_id is None:
            return None
        key = (account.user_id, usage.meter, usage.period_start)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and time.monotonic() - kept[0] < self.interval:
            return kept[1]
        found = self._reconcile(session, account, usage)
        with self._lock:
            if len(self._kept) > 100_000:
                self._kept.clear()
            self._kept[key] = (time.monotonic(), found)
        return found

    def _reconcile(self, session: Session, account: UsageAccount, usage: MeterUsage) -> Reconciled:
        started = utcnow()
        start = usage.period_start - usage.period_start % 60
        end = usage.period_end + (-usage.period_end) % 60
        meter = self.catalog.meter_for_event(usage.meter)
        try:
            meter_id = self._meter_id(usage.meter)
            if meter_id is None or meter is None:
                return Reconciled(None, None, iso(started.timestamp()), "the meter is not in Stripe")
            value = self.gateway.metering.usage(
                meter_id=meter_id, customer_id=str(account.customer_id), start=start, end=end
            )
        except StripeError as exc:
            return Reconciled(None, None, iso(started.timestamp()), f"Stripe did not answer: {exc.message}")
        sent = store.totals(
            session, account.user_id, usage.meter, start, end, formula=meter.formula, sent_before=started
        )
        stripe_used = int(value) if value == value.to_integral_value() else int(value.quantize(Decimal(1)))
        drift = 0
        if stripe_used > sent.sent + sent.pending:
            drift = stripe_used - sent.sent - sent.pending
        elif stripe_used < sent.sent_before:
            drift = stripe_used - sent.sent_before
        return Reconciled(stripe_used, drift, iso(started.timestamp()))

    def _meter_id(self, event_name: str) -> str | None:
        if event_name not in self._meter_ids:
            for meter in self.gateway.metering.list_meters():
                if meter.get("status") == "active":
                    self._meter_ids[str(meter["event_name"])] = str(meter["id"])
        return self._meter_ids.get(event_name)

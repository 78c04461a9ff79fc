"""What paywire asks of Stripe's Billing Meters, in billing words (`gateway.metering`).

Meters and their metered prices (for `paywire catalog push`), usage sent one event a request
(`/v1/billing/meter_events`, checked while the request waits) or a batch of up to 100 on the
high-throughput stream (`/v2/billing/meter_event_stream`, with a session's token, checked
afterwards: what Stripe refuses there comes back as thin events, read through the SDK's v2
events), corrections (`meter_event_adjustments`), and usage read back (event summaries).

Every event carries its `identifier`: Stripe keeps each one for at least 24 hours and drops
(v1: refuses with a 400 on `identifier`) an event it has already seen, so resending an event
after a crash never counts it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import stripe

from paywire.stripe.client import ApiClient, Params, plain
from paywire.stripe.errors import StripeError, StripeRejected, StripeUnavailable

# The stream takes at most this many events a request.
STREAM_BATCH = 100
# Thin event types that report usage Stripe refused after accepting it on the stream.
ERROR_REPORT_TYPES = ("v1.billing.meter.error_report_triggered", "v1.billing.meter.no_meter_found")


class MeterSessionExpired(StripeError):
    """The stream's session token has expired: open a new session and send again."""


@dataclass(frozen=True)
class MeterEvent:
    """One usage event as Stripe takes it."""

    event_name: str
    identifier: str
    timestamp: int
    payload: dict[str, str]

    def stream_form(self) -> dict[str, Any]:
        return {
            "event_name": self.event_name,
            "identifier": self.identifier,
            "timestamp": iso(self.timestamp),
            "payload": self.payload,
        }


@dataclass(frozen=True)
class StreamSession:
    token: str
    expires_at: float  # unix seconds


def iso(unix: float) -> str:
    """A time as the v2 API writes it: ISO 8601, UTC."""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(raw: str) -> float:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


class Metering:
    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._v1 = api.sdk.v1
        self._v2 = api.sdk.v2

    def list_meters(self) -> list[dict[str, Any]]:
        """Every meter of the account, active and inactive."""
        return self._api.list_all(self._v1.billing.meters.list, {"limit": 100})

    def create_meter(
        self,
        *,
        display_name: str,
        event_name: str,
        formula: str,
        customer_key: str,
        value_key: str,
        idempotency_key: str,
    ) -> dict[str, Any]:
        params: Params = {
            "display_name": display_name,
            "event_name": event_name,
            "default_aggregation": {"formula": formula},
            "customer_mapping": {"event_payload_key": customer_key, "type": "by_id"},
            "value_settings": {"event_payload_key": value_key},
        }
        return self._api.create(self._v1.billing.meters.create, params, idempotency_key)

    def rename_meter(self, meter_id: str, display_name: str) -> dict[str, Any]:
        params: Any = {"display_name": display_name}
        return plain(self._api.call(lambda: self._v1.billing.meters.update(meter_id, params=params)))

    def create_metered_price(
        self,
        *,
        product_id: str,
        lookup_key: str,
        currency: str,
        interval: str,
        meter_id: str,
        unit_amount_decimal: str | None,
        tiers: Sequence[tuple[int | None, str]],
        metadata: dict[str, str],
        transfer_lookup_key: bool,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """A metered price on a meter: per unit, or graduated `tiers` of (up_to, unit amount)."""
        params: Params = {
            "product": product_id,
            "currency": currency,
            "lookup_key": lookup_key,
            "metadata": metadata,
            "recurring": {"interval": interval, "usage_type": "metered", "meter": meter_id},
        }
        if tiers:
            params["billing_scheme"] = "tiered"
            params["tiers_mode"] = "graduated"
            params["tiers"] = [
                {"up_to": "inf" if up_to is None else up_to, "unit_amount_decimal": amount} for up_to, amount in tiers
            ]
        else:
            params["unit_amount_decimal"] = unit_amount_decimal
        if transfer_lookup_key:
            params["transfer_lookup_key"] = True
        return self._api.create(self._v1.prices.create, params, idempotency_key)

    def retrieve_price(self, price_id: str) -> dict[str, Any]:
        """A price with its tiers (Stripe includes them only when asked)."""
        return self._api.get_json("prices", price_id, ("tiers",))

    def send(self, event: MeterEvent) -> bool:
        """Send one event (`/v1/billing/meter_events`); False if Stripe already had its
        identifier. `StripeRejected` when Stripe refuses the event itself."""
        params: Any = {
            "event_name": event.event_name,
            "identifier": event.identifier,
            "timestamp": event.timestamp,
            "payload": event.payload,
        }
        try:
            self._api.call(lambda: self._v1.billing.meter_events.create(params=params))
        except StripeRejected as exc:
            if exc.param == "identifier":
                return False  # sent before (a resend after a crash): Stripe counts it once
            raise
        return True

    def open_session(self) -> StreamSession:
        """A meter event session: the stream's key for 15 minutes."""
        found = plain(self._api.call(lambda: self._v2.billing.meter_event_session.create()))
        return StreamSession(str(found["authentication_token"]), parse_iso(str(found["expires_at"])))

    def stream(self, session: StreamSession, events: Sequence[MeterEvent]) -> None:
        """Send up to `STREAM_BATCH` events on the stream. Stripe checks them afterwards:
        a refused one is reported as a thin event (`error_reports`); a seen identifier is
        dropped. `MeterSessionExpired` when the session's token is no longer valid."""
        if len(events) > STREAM_BATCH:
            raise ValueError(f"at most {STREAM_BATCH} events a request")
        params: Any = {"events": [e.stream_form() for e in events]}
        options: Any = {"api_key": session.token}
        try:
            self._api.call(lambda: self._v2.billing.meter_event_stream.create(params=params, options=options))
        except StripeError as exc:
            if isinstance(exc.__cause__, stripe.TemporarySessionExpiredError):
                raise MeterSessionExpired("the meter event session has expired") from exc
            raise

    def cancel(self, *, event_name: str, identifier: str, idempotency_key: str) -> None:
        """Cancel an event Stripe received (within its 24 hours); one Stripe never had is
        nothing to cancel."""
        params: Params = {"event_name": event_name, "type": "cancel", "cancel": {"identifier": identifier}}
        try:
            self._api.create(self._v1.billing.meter_event_adjustments.create, params, idempotency_key)
        except StripeRejected as exc:
            if exc.param != "cancel[identifier]" or "no meter event" not in exc.message.lower():
                raise

    def usage(self, *, meter_id: str, customer_id: str, start: int, end: int) -> Decimal:
        """The customer's usage on the meter over [start, end), as Stripe aggregates it
        (event summaries want minute-aligned bounds: the start is rounded down, the end up)."""
        start_minute = start - start % 60
        end_minute = end + (-end) % 60
        params: Params = {"customer": customer_id, "start_time": start_minute, "end_time": end_minute}
        page = self._api.call(lambda: self._v1.billing.meters.event_summaries.list(meter_id, params=cast(Any, params)))
        return sum((Decimal(str(s.aggregated_value)) for s in page.data), Decimal(0))

    def error_reports(self, *, created_after: str | None = None) -> list[dict[str, Any]]:
        """Thin events reporting refused usage, oldest first, fetched whole through the v2
        events API (created after `created_after`, an ISO time, if given)."""
        params: Params = {"types": list(ERROR_REPORT_TYPES), "limit": 100}
        if created_after:
            params["created"] = {"gt": created_after}
        try:
            page = self._api.call(lambda: self._v2.core.events.list(params=cast(Any, params)))
            found = [plain(event) for event in page.auto_paging_iter()]
        except stripe.StripeError as exc:  # raised while paging, outside `call`
            raise StripeUnavailable("Stripe failed while listing events") from exc
        found.sort(key=lambda e: (parse_iso(str(e["created"])), str(e["id"])))
        return found

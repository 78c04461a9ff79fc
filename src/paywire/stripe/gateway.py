"""`StripeGateway`: what paywire asks of Stripe, in billing words.

Every call goes through `ApiClient` (`paywire.stripe.client`): the pinned API version,
timeouts, retries and typed errors live there. Here: which request each operation is, with
an idempotency key from the caller's business operation and `metadata.user_id` on what is
created for a user. Results are plain dicts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, cast

from paywire.config import Settings, require_stripe_key
from paywire.stripe.budget_store import budget_for
from paywire.stripe.client import PINNED_API_VERSION, ApiClient, Params, plain
from paywire.stripe.connect import Connect
from paywire.stripe.disputes import Disputes
from paywire.stripe.errors import StripeMisconfigured, StripeNotFound, StripeRejected
from paywire.stripe.metering import Metering
from paywire.stripe.objects import RETRIEVALS, Kind
from paywire.stripe.payments import Payments
from paywire.stripe.request_log import request_log_at

# Stripe accepts at most 10 lookup keys per list request.
LOOKUP_KEYS_PER_REQUEST = 10


class StripeGateway:
    def __init__(self, api_key: str, **options: Any) -> None:
        """`options`: how requests are made (`ApiClient`: api_base, timeout, retries, …)."""
        self._api = ApiClient(api_key, **options)
        self._v1 = self._api.sdk.v1
        self.livemode = self._api.livemode
        # Billing Meters: meters, metered prices, usage events (paywire.stripe.metering).
        self.metering = Metering(self._api)
        # Connect: sellers' accounts, transfers, fees, payouts (paywire.stripe.connect).
        self.connect = Connect(self._api)
        # Refunds, and what a refund or a dispute asks about a payment (paywire.stripe.payments).
        self.payments = Payments(self._api)
        # Disputes' evidence, files and acceptance (paywire.stripe.disputes).
        self.disputes = Disputes(self._api)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> StripeGateway:
        options: dict[str, Any] = {
            "api_base": settings.stripe_api_base,
            "timeout": settings.stripe_timeout,
            "max_network_retries": settings.stripe_max_network_retries,
            "rate_limit_retries": settings.stripe_rate_limit_retries,
            "rate_limit_backoff": settings.stripe_rate_limit_backoff,
            # Every process of the deployment draws on one budget (paywire.stripe.budget).
            "budget": budget_for(settings),
            "request_log": request_log_at(settings.stripe_request_log),
        }
        options.update(overrides)
        return cls(require_stripe_key(settings), **options)

    def retrieve(self, kind: Kind, object_id: str) -> dict[str, Any]:
        """One object, read whole as `kind` is always read (`paywire.stripe.objects`: a
        subscription or an invoice comes with its test clock expanded)."""
        how = RETRIEVALS[kind]
        if how.test_mode_only:
            self._refuse_in_livemode(f"{kind}s")
        return self._api.get_json(how.path, object_id, how.expand)

    def create_customer(
        self,
        *,
        user_id: str,
        email: str | None,
        idempotency_key: str,
        test_clock: str | None = None,
    ) -> dict[str, Any]:
        params: Params = {"metadata": {"user_id": user_id}}
        if email:
            params["email"] = email
        if test_clock:
            params["test_clock"] = test_clock
        return self._api.create(self._v1.customers.create, params, idempotency_key)

    def find_customers_of_user(self, user_id: str) -> list[dict[str, Any]]:
        """Customers tagged with this user id (Stripe's search lags writes by up to a minute,
        so this is a repair tool, not the way to find a customer just created)."""
        escaped = user_id.replace("\\", "\\\\").replace("'", "\\'")
        query = f"metadata['user_id']:'{escaped}'"
        result = self._api.call(lambda: self._v1.customers.search(params={"query": query, "limit": 100}))
        return [plain(c) for c in result.data]

    def create_checkout_session(self, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        """A Checkout Session as `paywire.billing.checkout_sessions` describes it."""
        return self._api.create(self._v1.checkout.sessions.create, params, idempotency_key)

    def list_open_checkout_sessions(self, customer_id: str) -> list[dict[str, Any]]:
        params: Params = {"customer": customer_id, "status": "open", "limit": 100}
        return self._api.list_all(self._v1.checkout.sessions.list, params)

    def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> None:
        """Close an open session so it can no longer be paid; one completed or expired
        meanwhile is left as it is."""
        options: Any = {"idempotency_key": idempotency_key}
        with contextlib.suppress(StripeRejected):
            self._api.call(lambda: self._v1.checkout.sessions.expire(session_id, options=options))

    def create_portal_session(
        self,
        *,
        customer_id: str,
        return_url: str,
        idempotency_key: str,
        configuration: str | None = None,
        flow_data: Params | None = None,
    ) -> dict[str, Any]:
        # Portal sessions carry no metadata in Stripe's API; they are short-lived links.
        params: Params = {"customer": customer_id, "return_url": return_url}
        if configuration:
            params["configuration"] = configuration
        if flow_data:
            params["flow_data"] = flow_data
        return self._api.create(self._v1.billing_portal.sessions.create, params, idempotency_key)

    def list_portal_configurations(self) -> list[dict[str, Any]]:
        params: Params = {"limit": 100, "expand": ["data.features.subscription_update.products"]}
        return self._api.list_all(self._v1.billing_portal.configurations.list, params)

    def create_portal_configuration(self, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        return self._api.create(self._v1.billing_portal.configurations.create, params, idempotency_key)

    def update_portal_configuration(self, configuration_id: str, params: Params) -> dict[str, Any]:
        # Updating to the same values twice is harmless: no idempotency key needed to be safe.
        return plain(
            self._api.call(
                lambda: self._v1.billing_portal.configurations.update(configuration_id, params=cast(Any, params))
            )
        )

    def retrieve_subscription_discounts(self, subscription_id: str) -> list[Any]:
        """The subscription's discounts, expanded (a mirror read shows their ids only)."""
        found = self._api.get_json("subscriptions", subscription_id, ("discounts",))
        return list(found.get("discounts") or [])

    def list_subscriptions_of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        params: Params = {"customer": customer_id, "status": "all", "limit": 100}
        return self._api.list_all(self._v1.subscriptions.list, params)

    def list_cards_of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        """The cards saved on the customer, newest first (for showing the card on file:
        brand, last four digits and expiry are all paywire ever reads of them)."""
        params: Params = {"customer": customer_id, "type": "card", "limit": 100}
        return self._api.list_all(self._v1.payment_methods.list, params)

    def list_events_page(
        self,
        *,
        created_gte: int,
        created_lt: int | None = None,
        starting_after: str | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of `/v1/events` created in [created_gte, created_lt), newest first, and
        whether more follow."""
        created: Params = {"gte": created_gte}
        if created_lt is not None:
            created["lt"] = created_lt
        params: Params = {"created": created, "limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        return self._api.page(self._v1.events.list, params)

    def create_test_clock(self, *, frozen_time: int, name: str, idempotency_key: str) -> dict[str, Any]:
        """A test clock (test mode only) a new customer will live on."""
        self._refuse_in_livemode("test clocks")
        params: Params = {"frozen_time": frozen_time, "name": name[:300]}
        return self._api.create(self._v1.test_helpers.test_clocks.create, params, idempotency_key)

    def advance_test_clock(self, clock_id: str, *, frozen_time: int) -> dict[str, Any]:
        """Move a test clock forward; Stripe works through it (status `advancing`, then `ready`)."""
        self._refuse_in_livemode("test clocks")
        params: Params = {"frozen_time": frozen_time}
        return plain(
            self._api.call(lambda: self._v1.test_helpers.test_clocks.advance(clock_id, params=cast(Any, params)))
        )

    def list_customers_page(
        self, *, starting_after: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], bool]:
        params: Params = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        return self._api.page_json("customers", params)

    def list_subscriptions_page(
        self, *, starting_after: str | None = None, limit: int = 100, expand: Sequence[str] = ()
    ) -> tuple[list[dict[str, Any]], bool]:
        """Subscriptions of every status (canceled ones too); `expand` names fields of one
        subscription (`items.data.price`), applied to each."""
        params: Params = {"status": "all", "limit": limit}
        if expand:
            params["expand"] = [f"data.{field}" for field in expand]
        if starting_after:
            params["starting_after"] = starting_after
        return self._api.page_json("subscriptions", params)

    def list_prices(self) -> list[dict[str, Any]]:
        """Every price of the account, archived ones too (the revenue ledger's backfill reads
        what old invoice lines were billed at)."""
        return self._api.list_all(self._v1.prices.list, {"limit": 100})

    def list_invoices_page(
        self, *, starting_after: str | None = None, limit: int = 100, expand: Sequence[str] = ()
    ) -> tuple[list[dict[str, Any]], bool]:
        """`expand` names fields of one invoice (`test_clock`), applied to each."""
        params: Params = {"limit": limit}
        if expand:
            params["expand"] = [f"data.{field}" for field in expand]
        if starting_after:
            params["starting_after"] = starting_after
        return self._api.page_json("invoices", params)

    def update_subscription(self, subscription_id: str, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(
            self._api.call(
                lambda: self._v1.subscriptions.update(
                    subscription_id, params=cast(Any, params), options=cast(Any, options)
                )
            )
        )

    def cancel_subscription(
        self, subscription_id: str, *, prorate: bool, invoice_now: bool, idempotency_key: str
    ) -> dict[str, Any]:
        """End the subscription now; `prorate` leaves a credit for the unused time."""
        params: Any = {"prorate": prorate, "invoice_now": invoice_now}
        options: Any = {"idempotency_key": idempotency_key}
        return plain(
            self._api.call(lambda: self._v1.subscriptions.cancel(subscription_id, params=params, options=options))
        )

    def pause_subscription(self, subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
        options: Any = {"idempotency_key": idempotency_key}
        return plain(self._api.call(lambda: self._v1.subscriptions.pause(subscription_id, options=options)))

    def unpause_subscription(self, subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
        """Unpause (Stripe's `resume`): a new billing cycle starts now and is charged."""
        params: Any = {"billing_cycle_anchor": {"type": "now"}}
        options: Any = {"idempotency_key": idempotency_key}
        return plain(
            self._api.call(lambda: self._v1.subscriptions.resume(subscription_id, params=params, options=options))
        )

    def preview_invoice(self, params: Params) -> dict[str, Any]:
        """`invoices.create_preview`: what an invoice would be; nothing is created."""
        return plain(self._api.call(lambda: self._v1.invoices.create_preview(params=cast(Any, params))))

    def create_schedule_from_subscription(self, subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
        params: Params = {"from_subscription": subscription_id}
        return self._api.create(self._v1.subscription_schedules.create, params, idempotency_key)

    def update_schedule(self, schedule_id: str, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        options: Any = {"idempotency_key": idempotency_key}
        return plain(
            self._api.call(
                lambda: self._v1.subscription_schedules.update(schedule_id, params=cast(Any, params), options=options)
            )
        )

    def release_schedule(self, schedule_id: str, *, idempotency_key: str) -> dict[str, Any]:
        """Detach the schedule: the subscription keeps its current items, later phases are dropped."""
        options: Any = {"idempotency_key": idempotency_key}
        return plain(self._api.call(lambda: self._v1.subscription_schedules.release(schedule_id, options=options)))

    def find_promotion_codes(self, code: str) -> list[dict[str, Any]]:
        """Every promotion code with this customer-facing text (active or not)."""
        params: Params = {"code": code, "limit": 100}
        return self._api.list_all(self._v1.promotion_codes.list, params)

    def retrieve_coupon(self, coupon_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        params: Any = {"expand": list(expand)} if expand else {}
        return plain(self._api.call(lambda: self._v1.coupons.retrieve(coupon_id, params)))

    def list_pending_invoice_items(self, customer_id: str) -> list[dict[str, Any]]:
        params: Params = {"customer": customer_id, "pending": True, "limit": 100}
        return self._api.list_all(self._v1.invoice_items.list, params)

    def delete_invoice_item(self, item_id: str) -> None:
        # Already gone is what was wanted.
        with contextlib.suppress(StripeNotFound):
            self._api.call(lambda: self._v1.invoice_items.delete(item_id))

    def list_invoices_of_subscription(self, subscription_id: str, *, status: str | None = None) -> list[dict[str, Any]]:
        params: Params = {"subscription": subscription_id, "limit": 100}
        if status:
            params["status"] = status
        return self._api.list_all(self._v1.invoices.list, params)

    def list_invoice_payments(self, invoice_id: str, *, expand: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The invoice's payments; `expand` names fields of one payment (`payment.payment_intent`)."""
        params: Params = {"invoice": invoice_id, "limit": 100}
        if expand:
            params["expand"] = [f"data.{field}" for field in expand]
        return self._api.list_all(self._v1.invoice_payments.list, params)

    def list_refunds_of_payment(self, payment_intent_id: str) -> list[dict[str, Any]]:
        params: Params = {"payment_intent": payment_intent_id, "limit": 100}
        return self._api.list_all(self._v1.refunds.list, params)

    def create_refund(
        self, *, payment_intent_id: str, amount: int, user_id: str, reason: str, idempotency_key: str
    ) -> dict[str, Any]:
        params: Params = {
            "payment_intent": payment_intent_id,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": {"user_id": user_id, "paywire_reason": reason},
        }
        return self._api.create(self._v1.refunds.create, params, idempotency_key)

    def list_prices_by_lookup_keys(self, lookup_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The price currently holding each lookup key (inactive ones too), product expanded."""
        keys = sorted(set(lookup_keys))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), LOOKUP_KEYS_PER_REQUEST):
            chunk = keys[start : start + LOOKUP_KEYS_PER_REQUEST]
            params: Params = {"lookup_keys": chunk, "limit": 100, "expand": ["data.product"]}
            for price in self._api.list_all(self._v1.prices.list, params):
                if price.get("lookup_key"):
                    found[price["lookup_key"]] = price
        return found

    def retrieve_product(self, product_id: str) -> dict[str, Any] | None:
        try:
            return plain(self._api.call(lambda: self._v1.products.retrieve(product_id)))
        except StripeNotFound:
            return None

    def create_product(
        self,
        *,
        product_id: str,
        name: str,
        description: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> dict[str, Any]:
        params: Params = {"id": product_id, "name": name, "metadata": metadata}
        if description:
            params["description"] = description
        return self._api.create(self._v1.products.create, params, idempotency_key)

    def update_product(self, product_id: str, changes: Params) -> dict[str, Any]:
        return plain(self._api.call(lambda: self._v1.products.update(product_id, params=cast(Any, changes))))

    def create_price(
        self,
        *,
        product_id: str,
        lookup_key: str,
        unit_amount: int,
        currency: str,
        interval: str | None,
        metadata: dict[str, str],
        transfer_lookup_key: bool,
        idempotency_key: str,
    ) -> dict[str, Any]:
        params: Params = {
            "product": product_id,
            "unit_amount": unit_amount,
            "currency": currency,
            "lookup_key": lookup_key,
            "metadata": metadata,
        }
        if interval:
            params["recurring"] = {"interval": interval}
        if transfer_lookup_key:
            params["transfer_lookup_key"] = True
        return self._api.create(self._v1.prices.create, params, idempotency_key)

    def update_price(self, price_id: str, changes: Params) -> dict[str, Any]:
        return plain(self._api.call(lambda: self._v1.prices.update(price_id, params=cast(Any, changes))))

    def create_webhook_endpoint(
        self, *, url: str, events: Sequence[str], description: str, idempotency_key: str, connect: bool = False
    ) -> dict[str, Any]:
        """The result carries `secret`, shown by Stripe only at creation. `connect`: an endpoint
        for the events of connected accounts."""
        params: Params = {
            "url": url,
            "enabled_events": list(events),
            "description": description,
            "api_version": PINNED_API_VERSION,
        }
        if connect:
            params["connect"] = True
        return self._api.create(self._v1.webhook_endpoints.create, params, idempotency_key)

    def list_webhook_endpoints(self) -> list[dict[str, Any]]:
        return self._api.list_all(self._v1.webhook_endpoints.list, {"limit": 100})

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        self._api.call(lambda: self._v1.webhook_endpoints.delete(endpoint_id))

    def _refuse_in_livemode(self, what: str) -> None:
        if self.livemode:
            raise StripeMisconfigured(f"{what} exist in test mode only")

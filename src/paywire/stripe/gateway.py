"""`StripeGateway`: one `StripeClient`, spoken to in billing words.

Everything paywire asks of Stripe goes through here, so the rules live in one place:
the pinned API version, an explicit timeout, network retries by the SDK, backoff on 429
(which the SDK never retries), idempotency keys from the caller's business operation,
`metadata.user_id` on what is created for a user, and typed errors instead of the SDK's.
Results are plain dicts (`StripeObject` is not a dict), so nothing outside sees SDK types.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import quote

import stripe

from paywire.config import Settings, require_stripe_key
from paywire.metrics import STRIPE_API_ERRORS
from paywire.stripe.errors import (
    CardDeclined,
    StripeError,
    StripeIdempotencyConflict,
    StripeMisconfigured,
    StripeNotFound,
    StripeRejected,
    StripeUnavailable,
    WebhookSignatureInvalid,
)

log = logging.getLogger("paywire.stripe")

PINNED_API_VERSION = "2026-10-28.endive"
if stripe.api_version != PINNED_API_VERSION:  # pragma: no cover - guards an SDK upgrade
    raise RuntimeError(
        f"paywire is written against Stripe API {PINNED_API_VERSION}; the installed SDK pins "
        f"{stripe.api_version}. Review the API changelog before changing the pin."
    )

# Stripe accepts at most 10 lookup keys per list request.
LOOKUP_KEYS_PER_REQUEST = 10
RATE_LIMIT_BACKOFF_CAP = 20.0

T = TypeVar("T")
Params = dict[str, Any]


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as a plain, JSON-ready dict: decimal fields (`unit_amount_decimal`,
    which the SDK parses into `Decimal`) go back to the strings Stripe sent."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(recursive=True, for_json=True)
    return dict(obj)


def http_client(api_base: str, timeout: float) -> stripe.RequestsClient:
    """The SDK's requests-based client, with what requests would look up in the environment
    on every request looked up once: the proxy for `api_base` (HTTPS_PROXY, NO_PROXY, …),
    which never changes while the process runs. Per request, those lookups (proxy variables,
    ~/.netrc) were a fifth of a re-read's CPU. The SDK verifies TLS against its own CA
    bundle either way, and authenticates with a Bearer header (a ~/.netrc entry for Stripe's
    host would otherwise replace it)."""
    import requests
    from requests.utils import get_environ_proxies

    session = requests.Session()
    session.trust_env = False
    found = get_environ_proxies(api_base)
    proxy = {scheme: found[scheme] for scheme in ("http", "https") if found.get(scheme)}
    return stripe.RequestsClient(timeout=timeout, session=session, proxy=cast(Any, proxy) or None)


class StripeGateway:
    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = 30.0,
        max_network_retries: int = 2,
        rate_limit_retries: int = 4,
        rate_limit_backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.livemode = api_key.startswith(("sk_live_", "rk_live_"))
        self._rate_limit_retries = rate_limit_retries
        self._rate_limit_backoff = rate_limit_backoff
        self._sleep = sleep
        self._client = stripe.StripeClient(
            api_key,
            stripe_version=PINNED_API_VERSION,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=http_client(api_base or stripe.DEFAULT_API_BASE, timeout),
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> StripeGateway:
        options: dict[str, Any] = {
            "api_base": settings.stripe_api_base,
            "timeout": settings.stripe_timeout,
            "max_network_retries": settings.stripe_max_network_retries,
            "rate_limit_retries": settings.stripe_rate_limit_retries,
            "rate_limit_backoff": settings.stripe_rate_limit_backoff,
        }
        options.update(overrides)
        return cls(require_stripe_key(settings), **options)

    # ----- customers --------------------------------------------------------------------
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
        return self._create(self._client.v1.customers.create, params, idempotency_key)

    def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        return self._retrieve("customers", customer_id)

    def find_customers_of_user(self, user_id: str) -> list[dict[str, Any]]:
        """Customers tagged with this user id (Stripe's search lags writes by up to a minute,
        so this is a repair tool, not the way to find a customer just created)."""
        escaped = user_id.replace("\\", "\\\\").replace("'", "\\'")
        query = f"metadata['user_id']:'{escaped}'"
        result = self._call(lambda: self._client.v1.customers.search(params={"query": query, "limit": 100}))
        return [plain(c) for c in result.data]

    # ----- checkout and portal ----------------------------------------------------------
    def create_subscription_checkout(
        self,
        *,
        user_id: str,
        customer_id: str,
        price_id: str,
        quantity: int,
        plan: str,
        interval: str,
        trial_days: int,
        automatic_tax: bool,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        tax_id_collection: bool = False,
    ) -> dict[str, Any]:
        params = subscription_checkout_params(
            user_id=user_id,
            customer_id=customer_id,
            price_id=price_id,
            quantity=quantity,
            plan=plan,
            interval=interval,
            trial_days=trial_days,
            automatic_tax=automatic_tax,
            tax_id_collection=tax_id_collection,
            success_url=success_url,
            cancel_url=cancel_url,
        )
        return self._create(self._client.v1.checkout.sessions.create, params, idempotency_key)

    def create_purchase_checkout(
        self,
        *,
        user_id: str,
        customer_id: str,
        price_id: str,
        product: str,
        automatic_tax: bool,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        tax_id_collection: bool = False,
    ) -> dict[str, Any]:
        params = purchase_checkout_params(
            user_id=user_id,
            customer_id=customer_id,
            price_id=price_id,
            product=product,
            automatic_tax=automatic_tax,
            tax_id_collection=tax_id_collection,
            success_url=success_url,
            cancel_url=cancel_url,
        )
        return self._create(self._client.v1.checkout.sessions.create, params, idempotency_key)

    def list_open_checkout_sessions(self, customer_id: str) -> list[dict[str, Any]]:
        params: Params = {"customer": customer_id, "status": "open", "limit": 100}
        return self._list_all(self._client.v1.checkout.sessions.list, params)

    def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> None:
        """Close an open session so it can no longer be paid; one completed or expired
        meanwhile is left as it is."""
        options: Any = {"idempotency_key": idempotency_key}
        with contextlib.suppress(StripeRejected):
            self._call(lambda: self._client.v1.checkout.sessions.expire(session_id, options=options))

    def retrieve_checkout_session(self, session_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        return self._retrieve("checkout/sessions", session_id, expand)

    def create_portal_session(
        self, *, customer_id: str, return_url: str, idempotency_key: str, configuration: str | None = None
    ) -> dict[str, Any]:
        # Portal sessions carry no metadata in Stripe's API; they are short-lived links.
        params: Params = {"customer": customer_id, "return_url": return_url}
        if configuration:
            params["configuration"] = configuration
        return self._create(self._client.v1.billing_portal.sessions.create, params, idempotency_key)

    def list_portal_configurations(self) -> list[dict[str, Any]]:
        params: Params = {"limit": 100, "expand": ["data.features.subscription_update.products"]}
        return self._list_all(self._client.v1.billing_portal.configurations.list, params)

    def create_portal_configuration(self, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        return self._create(self._client.v1.billing_portal.configurations.create, params, idempotency_key)

    def update_portal_configuration(self, configuration_id: str, params: Params) -> dict[str, Any]:
        # Updating to the same values twice is harmless: no idempotency key needed to be safe.
        return plain(
            self._call(
                lambda: self._client.v1.billing_portal.configurations.update(configuration_id, params=cast(Any, params))
            )
        )

    # ----- subscriptions, invoices, payments (the mirror re-reads these) ----------------
    def retrieve_subscription(self, subscription_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        return self._retrieve("subscriptions", subscription_id, expand)

    def list_subscriptions_of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        params: Params = {"customer": customer_id, "status": "all", "limit": 100}
        return self._list_all(self._client.v1.subscriptions.list, params)

    def retrieve_invoice(self, invoice_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        return self._retrieve("invoices", invoice_id, expand)

    def retrieve_payment_intent(self, payment_intent_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        return self._retrieve("payment_intents", payment_intent_id, expand)

    def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        return self._retrieve("charges", charge_id)

    def retrieve_event(self, event_id: str) -> dict[str, Any]:
        return plain(self._call(lambda: self._client.v1.events.retrieve(event_id)))

    def list_events(self, *, created_after: int | None = None, types: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Events Stripe still keeps (30 days), oldest first: the way to recover missed ones."""
        params: Params = {"limit": 100}
        if created_after is not None:
            params["created"] = {"gt": created_after}
        if types:
            params["types"] = list(types)
        return list(reversed(self._list_all(self._client.v1.events.list, params)))

    # ----- lists for recovery and sync: one page per call, so callers checkpoint between pages
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
        return self._page(self._client.v1.events.list, params)

    def list_customers_page(
        self, *, starting_after: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], bool]:
        params: Params = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        return self._page(self._client.v1.customers.list, params)

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
        return self._page(self._client.v1.subscriptions.list, params)

    def list_invoices_page(
        self, *, starting_after: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], bool]:
        params: Params = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        return self._page(self._client.v1.invoices.list, params)

    # ----- subscription lifecycle (changes, cancel, pause, discounts, refunds) ---------
    def update_subscription(self, subscription_id: str, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(
            self._call(
                lambda: self._client.v1.subscriptions.update(
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
            self._call(lambda: self._client.v1.subscriptions.cancel(subscription_id, params=params, options=options))
        )

    def pause_subscription(self, subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
        options: Any = {"idempotency_key": idempotency_key}
        return plain(self._call(lambda: self._client.v1.subscriptions.pause(subscription_id, options=options)))

    def resume_subscription(self, subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
        """Resume a paused subscription: a new billing cycle starts now and is charged."""
        params: Any = {"billing_cycle_anchor": {"type": "now"}}
        options: Any = {"idempotency_key": idempotency_key}
        return plain(
            self._call(lambda: self._client.v1.subscriptions.resume(subscription_id, params=params, options=options))
        )

    def preview_invoice(self, params: Params) -> dict[str, Any]:
        """`invoices.create_preview`: what an invoice would be; nothing is created."""
        return plain(self._call(lambda: self._client.v1.invoices.create_preview(params=cast(Any, params))))

    def retrieve_schedule(self, schedule_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        return self._retrieve("subscription_schedules", schedule_id, expand)

    def create_schedule_from_subscription(self, subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
        params: Params = {"from_subscription": subscription_id}
        return self._create(self._client.v1.subscription_schedules.create, params, idempotency_key)

    def update_schedule(self, schedule_id: str, params: Params, *, idempotency_key: str) -> dict[str, Any]:
        options: Any = {"idempotency_key": idempotency_key}
        return plain(
            self._call(
                lambda: self._client.v1.subscription_schedules.update(
                    schedule_id, params=cast(Any, params), options=options
                )
            )
        )

    def release_schedule(self, schedule_id: str, *, idempotency_key: str) -> dict[str, Any]:
        """Detach the schedule: the subscription keeps its current items, later phases are dropped."""
        options: Any = {"idempotency_key": idempotency_key}
        return plain(self._call(lambda: self._client.v1.subscription_schedules.release(schedule_id, options=options)))

    def find_promotion_codes(self, code: str) -> list[dict[str, Any]]:
        """Every promotion code with this customer-facing text (active or not)."""
        params: Params = {"code": code, "limit": 100}
        return self._list_all(self._client.v1.promotion_codes.list, params)

    def retrieve_coupon(self, coupon_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
        params: Any = {"expand": list(expand)} if expand else {}
        return plain(self._call(lambda: self._client.v1.coupons.retrieve(coupon_id, params)))

    def list_pending_invoice_items(self, customer_id: str) -> list[dict[str, Any]]:
        params: Params = {"customer": customer_id, "pending": True, "limit": 100}
        return self._list_all(self._client.v1.invoice_items.list, params)

    def delete_invoice_item(self, item_id: str) -> None:
        # Already gone is what was wanted.
        with contextlib.suppress(StripeNotFound):
            self._call(lambda: self._client.v1.invoice_items.delete(item_id))

    def list_invoices_of_subscription(self, subscription_id: str, *, status: str | None = None) -> list[dict[str, Any]]:
        params: Params = {"subscription": subscription_id, "limit": 100}
        if status:
            params["status"] = status
        return self._list_all(self._client.v1.invoices.list, params)

    def list_invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        params: Params = {"invoice": invoice_id, "limit": 100}
        return self._list_all(self._client.v1.invoice_payments.list, params)

    def list_refunds_of_payment(self, payment_intent_id: str) -> list[dict[str, Any]]:
        params: Params = {"payment_intent": payment_intent_id, "limit": 100}
        return self._list_all(self._client.v1.refunds.list, params)

    def create_refund(
        self, *, payment_intent_id: str, amount: int, user_id: str, reason: str, idempotency_key: str
    ) -> dict[str, Any]:
        params: Params = {
            "payment_intent": payment_intent_id,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": {"user_id": user_id, "paywire_reason": reason},
        }
        return self._create(self._client.v1.refunds.create, params, idempotency_key)

    # ----- catalog ----------------------------------------------------------------------
    def list_prices_by_lookup_keys(self, lookup_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The price currently holding each lookup key (inactive ones too), product expanded."""
        keys = sorted(set(lookup_keys))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), LOOKUP_KEYS_PER_REQUEST):
            chunk = keys[start : start + LOOKUP_KEYS_PER_REQUEST]
            params: Params = {"lookup_keys": chunk, "limit": 100, "expand": ["data.product"]}
            for price in self._list_all(self._client.v1.prices.list, params):
                if price.get("lookup_key"):
                    found[price["lookup_key"]] = price
        return found

    def retrieve_product(self, product_id: str) -> dict[str, Any] | None:
        try:
            return plain(self._call(lambda: self._client.v1.products.retrieve(product_id)))
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
        return self._create(self._client.v1.products.create, params, idempotency_key)

    def update_product(self, product_id: str, changes: Params) -> dict[str, Any]:
        return plain(self._call(lambda: self._client.v1.products.update(product_id, params=cast(Any, changes))))

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
        return self._create(self._client.v1.prices.create, params, idempotency_key)

    def update_price(self, price_id: str, changes: Params) -> dict[str, Any]:
        return plain(self._call(lambda: self._client.v1.prices.update(price_id, params=cast(Any, changes))))

    # ----- webhook endpoints and test clocks (setup and test mode) ----------------------
    def create_webhook_endpoint(
        self, *, url: str, events: Sequence[str], description: str, idempotency_key: str
    ) -> dict[str, Any]:
        """The result carries `secret`, shown by Stripe only at creation."""
        params: Params = {
            "url": url,
            "enabled_events": list(events),
            "description": description,
            "api_version": PINNED_API_VERSION,
        }
        return self._create(self._client.v1.webhook_endpoints.create, params, idempotency_key)

    def list_webhook_endpoints(self) -> list[dict[str, Any]]:
        return self._list_all(self._client.v1.webhook_endpoints.list, {"limit": 100})

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        self._call(lambda: self._client.v1.webhook_endpoints.delete(endpoint_id))

    def create_test_clock(self, *, frozen_time: int, name: str) -> dict[str, Any]:
        self._refuse_in_livemode("test clocks")
        params: Any = {"frozen_time": frozen_time, "name": name}
        return plain(self._call(lambda: self._client.v1.test_helpers.test_clocks.create(params=params)))

    def retrieve_test_clock(self, clock_id: str) -> dict[str, Any]:
        self._refuse_in_livemode("test clocks")
        return self._retrieve("test_helpers/test_clocks", clock_id)

    # ----- webhooks ---------------------------------------------------------------------
    def verify_webhook(self, payload: bytes, signature_header: str | None, secrets: Sequence[str]) -> dict[str, Any]:
        """Verify with the SDK against each configured secret (several during rotation);
        raises `WebhookSignatureInvalid` when none matches or the timestamp is stale."""
        return verify_webhook(payload, signature_header, secrets)

    # ----- plumbing ---------------------------------------------------------------------
    def _refuse_in_livemode(self, what: str) -> None:
        if self.livemode:
            raise StripeMisconfigured(f"{what} exist in test mode only")

    def _create(self, method: Callable[..., Any], params: Params, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(self._call(lambda: method(params=params, options=options)))

    def _list_all(self, method: Callable[..., Any], params: Params) -> list[dict[str, Any]]:
        page = self._call(lambda: method(params=params))
        items = [plain(x) for x in page.data]
        while page.has_more and page.data:
            cursor = {**params, "starting_after": page.data[-1].id}
            page = self._call(lambda c=cursor: method(params=c))  # type: ignore[misc]
            items.extend(plain(x) for x in page.data)
        return items

    def _page(self, method: Callable[..., Any], params: Params) -> tuple[list[dict[str, Any]], bool]:
        page = self._call(lambda: method(params=params))
        return [plain(x) for x in page.data], bool(page.has_more)

    def _retrieve(self, resource: str, object_id: str, expand: Sequence[str] = ()) -> dict[str, Any]:
        """GET one object as the plain JSON Stripe sent. Through the same client (key, pinned
        version, network retries, errors) as every call, but without building StripeObjects
        only to turn them back into dicts: the events worker re-reads on every event, and
        that round trip through the SDK's object model cost about half its CPU per read."""
        path = f"/v1/{resource}/{quote(object_id, safe='')}"
        params: Params = {"expand": list(expand)} if expand else {}
        response = self._call(lambda: self._client.raw_request("get", path, **params))
        found: dict[str, Any] = json.loads(response.body)
        return found

    def _call(self, request: Callable[[], T]) -> T:
        """Run one SDK call: back off on 429 (same idempotency key, so a retry is safe),
        count every error, translate it into a paywire error."""
        attempt = 0
        while True:
            try:
                return request()
            except stripe.RateLimitError as exc:
                STRIPE_API_ERRORS.labels(type="rate_limit").inc()
                if attempt >= self._rate_limit_retries:
                    raise StripeUnavailable("Stripe kept rate limiting the request", request_id=exc.request_id) from exc
                delay = self._backoff_delay(attempt, exc)
                log.warning("stripe rate limited; retry %d in %.2fs", attempt + 1, delay)
                self._sleep(delay)
                attempt += 1
            except stripe.StripeError as exc:
                raise translate(exc) from exc

    def _backoff_delay(self, attempt: int, exc: stripe.StripeError) -> float:
        retry_after = (exc.headers or {}).get("retry-after") if exc.headers else None
        if retry_after:
            try:
                return min(RATE_LIMIT_BACKOFF_CAP, max(0.0, float(retry_after)))
            except ValueError:
                pass
        base = min(RATE_LIMIT_BACKOFF_CAP, self._rate_limit_backoff * (2**attempt))
        return base * (0.5 + random.random() / 2)  # jitter: racers spread out


def translate(exc: stripe.StripeError) -> StripeError:
    """The paywire error for an SDK error (and count it)."""
    request_id = exc.request_id
    if isinstance(exc, stripe.CardError):
        STRIPE_API_ERRORS.labels(type="card_error").inc()
        error = exc.error
        return CardDeclined(
            exc.user_message or str(exc),
            code=exc.code,
            decline_code=getattr(error, "decline_code", None) if error else None,
            request_id=request_id,
        )
    if isinstance(exc, stripe.IdempotencyError):
        STRIPE_API_ERRORS.labels(type="idempotency_error").inc()
        return StripeIdempotencyConflict(exc.user_message or str(exc), request_id=request_id)
    if isinstance(exc, stripe.InvalidRequestError):
        message = exc.user_message or str(exc)
        if exc.code == "resource_missing" or exc.http_status == 404:
            STRIPE_API_ERRORS.labels(type="not_found").inc()
            return StripeNotFound(message, param=exc.param, code=exc.code, request_id=request_id)
        STRIPE_API_ERRORS.labels(type="invalid_request").inc()
        return StripeRejected(message, param=exc.param, code=exc.code, request_id=request_id)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        STRIPE_API_ERRORS.labels(type="authentication").inc()
        return StripeMisconfigured("Stripe refused the API key", request_id=request_id)
    if isinstance(exc, stripe.APIConnectionError):
        STRIPE_API_ERRORS.labels(type="connection").inc()
        return StripeUnavailable("Stripe could not be reached", request_id=request_id)
    if isinstance(exc, stripe.RateLimitError):
        STRIPE_API_ERRORS.labels(type="rate_limit").inc()
        return StripeUnavailable("Stripe is rate limiting requests", request_id=request_id)
    STRIPE_API_ERRORS.labels(type="api_error").inc()
    return StripeUnavailable(f"Stripe failed ({exc.http_status or 'no status'})", request_id=request_id)


def verify_webhook(
    payload: bytes, signature_header: str | None, secrets: Sequence[str], tolerance: int = 300
) -> dict[str, Any]:
    """The verified event as a plain dict. Raises `WebhookSignatureInvalid` (with a
    `reason`), or `ValueError` when the signature is valid but the body is not a JSON event."""
    if not signature_header or not secrets:
        raise WebhookSignatureInvalid("missing signature", reason="missing")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        # Stripe signs UTF-8 JSON; the SDK cannot even check anything else.
        raise WebhookSignatureInvalid("body is not UTF-8", reason="forged") from None
    for secret in secrets:
        try:
            event = stripe.Webhook.construct_event(payload, signature_header, secret, tolerance)
        except stripe.SignatureVerificationError:
            continue
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # Genuinely signed, but not JSON or not an object: the SDK fails while parsing.
            raise ValueError("the signed body is not a Stripe event") from exc
        verified = plain(event)
        if not isinstance(verified.get("id"), str) or not isinstance(verified.get("type"), str):
            raise ValueError("the signed body is not a Stripe event")
        return verified
    raise WebhookSignatureInvalid(
        "no configured secret matched", reason=_rejection_reason(payload, signature_header, secrets)
    )


def _rejection_reason(payload: bytes, signature_header: str, secrets: Sequence[str]) -> str:
    """Why verification failed, told apart with the SDK itself: a signature that verifies
    without the time check was genuine but is too old (a replay, or a badly late clock)."""
    if "t=" not in signature_header or "v1=" not in signature_header:
        return "malformed_header"
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, signature_header, secret, None)
        except stripe.SignatureVerificationError:
            continue
        return "stale"
    return "forged"


def subscription_checkout_params(
    *,
    user_id: str,
    customer_id: str,
    price_id: str,
    quantity: int,
    plan: str,
    interval: str,
    trial_days: int,
    automatic_tax: bool,
    success_url: str,
    cancel_url: str,
    tax_id_collection: bool = False,
) -> Params:
    """Checkout in subscription mode. The subscription exists only after payment, so the
    metadata rides on `subscription_data` to be found on the subscription itself."""
    metadata = {"user_id": user_id, "plan": plan, "interval": interval}
    subscription_data: Params = {"metadata": metadata}
    if trial_days > 0:
        subscription_data["trial_period_days"] = trial_days
    params: Params = {
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": user_id,
        "line_items": [{"price": price_id, "quantity": quantity}],
        "allow_promotion_codes": True,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": {**metadata, "quantity": str(quantity)},
        "subscription_data": subscription_data,
    }
    _add_tax(params, automatic_tax, tax_id_collection)
    return params


def purchase_checkout_params(
    *,
    user_id: str,
    customer_id: str,
    price_id: str,
    product: str,
    automatic_tax: bool,
    success_url: str,
    cancel_url: str,
    tax_id_collection: bool = False,
) -> Params:
    """Checkout in payment mode for a one-time product (the pass)."""
    metadata = {"user_id": user_id, "product": product}
    params: Params = {
        "mode": "payment",
        "customer": customer_id,
        "client_reference_id": user_id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "allow_promotion_codes": True,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }
    _add_tax(params, automatic_tax, tax_id_collection)
    return params


def _add_tax(params: Params, automatic_tax: bool, tax_id_collection: bool = False) -> None:
    if automatic_tax:
        params["automatic_tax"] = {"enabled": True}
        # Tax needs an address; Checkout collects it and saves it on the existing customer.
        params["customer_update"] = {"address": "auto", "name": "auto"}
    if tax_id_collection:
        params["tax_id_collection"] = {"enabled": True}
        # A tax id belongs with the business name it was issued to, saved on the customer.
        params["customer_update"] = {**params.get("customer_update", {}), "name": "auto"}

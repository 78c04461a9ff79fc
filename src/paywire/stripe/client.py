"""How every request reaches Stripe: one `StripeClient`, its rules, and its errors.

The pinned API version, an explicit timeout, network retries by the SDK, backoff on 429
(which the SDK never retries by itself), and typed paywire errors instead of the SDK's.
Results are plain dicts (`StripeObject` is not a dict), so nothing above sees SDK types.

With a request budget (`paywire.stripe.budget`), every HTTP request the SDK sends, its own
retries included, first waits for a slot at the caller's priority, and a 429 slows the
whole deployment down instead of only this call. With a request log
(`paywire.stripe.request_log`), each request is written to it as it left.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlsplit

import orjson
import requests
import stripe
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from paywire.metrics import STRIPE_API_ERRORS
from paywire.stripe.budget import RequestBudget
from paywire.stripe.errors import (
    CardDeclined,
    StripeError,
    StripeIdempotencyConflict,
    StripeMisconfigured,
    StripeNotFound,
    StripeRejected,
    StripeUnavailable,
)
from paywire.stripe.request_log import RequestLog

log = logging.getLogger("paywire.stripe")

PINNED_API_VERSION = "2026-10-28.endive"
if stripe.api_version != PINNED_API_VERSION:  # pragma: no cover - guards an SDK upgrade
    raise RuntimeError(
        f"paywire is written against Stripe API {PINNED_API_VERSION}; the installed SDK pins "
        f"{stripe.api_version}. Review the API changelog before changing the pin."
    )

RATE_LIMIT_BACKOFF_CAP = 20.0

T = TypeVar("T")
Params = dict[str, Any]


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as a plain, JSON-ready dict: decimal fields (`unit_amount_decimal`,
    which the SDK parses into `Decimal`) go back to the strings Stripe sent."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(recursive=True, for_json=True)
    return dict(obj)


# Meter events have limits of their own at Stripe (1,000 `meter_events` calls a second, 10,000
# stream requests), apart from the API's: they do not draw on the budget (the usage sender
# paces them itself, PAYWIRE_USAGE_RATE_LIMIT).
METER_EVENT_PATHS = ("/v1/billing/meter_events", "/v2/billing/meter_event_stream")


class StripeAdapter(HTTPAdapter):
    """requests' transport to Stripe's address, where each request is seen as it leaves (the
    SDK's retries too): it first waits for its slot in the budget (meter events excepted,
    `METER_EVENT_PATHS`), as close to the wire as it can, so that the slot's spacing holds
    for what Stripe receives; a 429 to a request that drew on it is reported to the budget
    (one to a meter event is the usage sender's to handle); and, with a request log
    (PAYWIRE_STRIPE_REQUEST_LOG), the request is written to it."""

    def __init__(self, budget: RequestBudget | None, request_log: RequestLog | None) -> None:
        super().__init__()
        self.budget = budget
        self.request_log = request_log

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        path = urlsplit(request.url or "").path
        budget = None if path.endswith(METER_EVENT_PATHS) else self.budget  # meter events: limits of their own
        slot = budget.acquire() if budget is not None else None
        sent = time.time()
        status = 0  # no answer: the connection failed
        try:
            response = super().send(request, *args, **kwargs)
            status = response.status_code
        finally:
            if self.request_log is not None:
                self.request_log.write(
                    sent=sent,
                    slot=slot,
                    method=request.method or "",
                    path=path,
                    status=status,
                    seconds=time.time() - sent,
                )
        if status == 429 and budget is not None:
            budget.rate_limited(retry_after=retry_after_seconds(response.headers))
        return response


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Stripe's Retry-After (seconds), if it sent one."""
    raw = (headers or {}).get("retry-after")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def http_client(
    api_base: str, timeout: float, budget: RequestBudget | None = None, request_log: RequestLog | None = None
) -> stripe.RequestsClient:
    """The SDK's requests-based client, with what requests would look up in the environment
    on every request looked up once: the proxy for `api_base` (HTTPS_PROXY, NO_PROXY, …),
    which never changes while the process runs: per request, those lookups (proxy variables,
    ~/.netrc) were a large part of a re-read's CPU. The SDK verifies TLS against its own CA
    bundle either way, and authenticates with a Bearer header (a ~/.netrc entry for Stripe's
    host would otherwise replace it). With a budget or a request log, requests leave through
    `StripeAdapter`."""
    session = requests.Session()
    session.trust_env = False
    if budget is not None or request_log is not None:
        adapter = StripeAdapter(budget, request_log)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    found = get_environ_proxies(api_base)
    proxy = {scheme: found[scheme] for scheme in ("http", "https") if found.get(scheme)}
    return stripe.RequestsClient(timeout=timeout, session=session, proxy=cast(Any, proxy) or None)


class ApiClient:
    """The SDK client and the way each call through it is made (`call`), plus the shapes of
    call every resource shares: create with an idempotency key, list all pages, one page,
    get one object as raw JSON. `budget`: the deployment's request budget (none: requests
    leave at once); `request_log`: where each request is written (none: nowhere)."""

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
        budget: RequestBudget | None = None,
        request_log: RequestLog | None = None,
    ) -> None:
        self.livemode = api_key.startswith(("sk_live_", "rk_live_"))
        self.budget = budget
        self._rate_limit_retries = rate_limit_retries
        self._rate_limit_backoff = rate_limit_backoff
        self._sleep = sleep
        self.sdk = stripe.StripeClient(
            api_key,
            stripe_version=PINNED_API_VERSION,
            # A local Stripe (stripesim) serves the meter event stream and file uploads on the
            # same address.
            base_addresses={"api": api_base, "meter_events": api_base, "files": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=http_client(api_base or stripe.DEFAULT_API_BASE, timeout, budget, request_log),
        )

    def call(self, request: Callable[[], T]) -> T:
        """Run one SDK call: back off on 429 (same idempotency key, so a retry is safe),
        count every error, translate it into a paywire error. With a budget, the 429 has
        already slowed everyone down, and the retry waits for its slot like any request;
        one Stripe says not to retry (`Stripe-Should-Retry: false`) is not retried."""
        attempt = 0
        while True:
            try:
                return request()
            except stripe.RateLimitError as exc:
                STRIPE_API_ERRORS.labels(type="rate_limit").inc()
                refused = (exc.headers or {}).get("stripe-should-retry") == "false"
                if attempt >= self._rate_limit_retries or refused:
                    raise StripeUnavailable("Stripe kept rate limiting the request", request_id=exc.request_id) from exc
                if self.budget is None:
                    delay = self._backoff_delay(attempt, exc)
                    log.warning("stripe rate limited; retry %d in %.2fs", attempt + 1, delay)
                    self._sleep(delay)
                else:
                    log.warning("stripe rate limited; retry %d when the budget allows", attempt + 1)
                attempt += 1
            except stripe.StripeError as exc:
                raise translate(exc) from exc

    def create(self, method: Callable[..., Any], params: Params, idempotency_key: str) -> dict[str, Any]:
        options = {"idempotency_key": idempotency_key}
        return plain(self.call(lambda: method(params=params, options=options)))

    def list_all(self, method: Callable[..., Any], params: Params) -> list[dict[str, Any]]:
        page = self.call(lambda: method(params=params))
        items = [plain(x) for x in page.data]
        while page.has_more and page.data:
            cursor = {**params, "starting_after": page.data[-1].id}
            page = self.call(lambda c=cursor: method(params=c))  # type: ignore[misc]
            items.extend(plain(x) for x in page.data)
        return items

    def page(self, method: Callable[..., Any], params: Params) -> tuple[list[dict[str, Any]], bool]:
        page = self.call(lambda: method(params=params))
        return [plain(x) for x in page.data], bool(page.has_more)

    def page_json(self, path: str, params: Params) -> tuple[list[dict[str, Any]], bool]:
        """GET one page of a list (`/v1/{path}`) as the plain JSON Stripe sent, as `get_json`
        does for one object: `paywire sync` reads pages of a hundred expanded objects, and
        building StripeObjects of them only to turn them back into dicts cost more CPU than
        writing them to the mirror. Parsed by orjson (a page of 100 subscriptions: ~1 ms
        against ~5 ms for `json`)."""
        response = self.call(lambda: self.sdk.raw_request("get", f"/v1/{path}", **params))
        found: dict[str, Any] = orjson.loads(response.body)
        return list(found.get("data") or []), bool(found.get("has_more"))

    def get_json(self, path: str, object_id: str, expand: Sequence[str] = ()) -> dict[str, Any]:
        """GET one object as the plain JSON Stripe sent. Through the same client (key, pinned
        version, network retries, errors) as every call, but without building StripeObjects
        only to turn them back into dicts: the events worker re-reads on every event, and that
        round trip through the SDK's object model was most of its CPU per read."""
        url = f"/v1/{path}/{quote(object_id, safe='')}"
        params: Params = {"expand": list(expand)} if expand else {}
        response = self.call(lambda: self.sdk.raw_request("get", url, **params))
        found: dict[str, Any] = orjson.loads(response.body)
        return found

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
    """The paywire error for an SDK error (and count it). One paywire raised on the way out
    (`StripeAdapter`: the budget's `BudgetExhausted`), which the SDK wraps as a connection
    error, is itself: no request left."""
    if isinstance(exc, stripe.APIConnectionError) and isinstance(exc.__cause__, StripeError):
        return exc.__cause__
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

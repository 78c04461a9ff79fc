"""`paywire doctor`'s checks, against the running configuration, the database and the Stripe
account: the 8 health signals (scored out of 8: below 5, stop and fix), the security
checklist, and the go-live checklist by priority (P0 must pass before live mode).

Stripe's own settings that its API does not show (the retry schedule, the emails Stripe sends)
are judged from what they leave behind (invoices retried) and say so.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from paywire.catalog import Catalog
from paywire.catalog.portal import find_configuration
from paywire.catalog.sync import check as check_catalog
from paywire.config import DEV_AUTH_SECRET, DEV_ENV_FILE, LOCAL_HOSTS, Settings
from paywire.db.migrate import is_current
from paywire.db.models import Invoice
from paywire.doctor.checks import FAIL, PASS, WARN, Check, Diagnosis, judged
from paywire.events.connect_appliers import CONNECT_EVENT_TYPES
from paywire.events.handlers import HANDLERS
from paywire.events.receiver import PATH as WEBHOOK_PATH
from paywire.stripe import PINNED_API_VERSION, StripeError, StripeGateway

# Gateway calls that would do something twice if retried without a key; updates to absolute
# values (a product's name, a portal's features) and deletes are idempotent by nature.
NEEDS_A_KEY = (
    "create_",
    "cancel_",
    "pause_",
    "unpause_",
    "expire_",
    "release_",
    "update_subscription",
    "update_schedule",
)
ALERT_GROUPS = ("paywire-payments", "paywire-webhooks", "paywire-operations")
TOO_GENEROUS_PER_MINUTE = 600


@dataclass
class Inputs:
    """What the checks look at, gathered once (each Stripe list read once)."""

    settings: Settings
    catalog: Catalog
    gateway: StripeGateway
    session: Session
    env_file: Path
    fetch: Callable[[str], Any]  # GET a URL and return its JSON (Prometheus)


def webhook_url(settings: Settings) -> str:
    return settings.app_link(WEBHOOK_PATH)


def diagnose(inputs: Inputs) -> Diagnosis:
    settings = inputs.settings
    found = Diagnosis("live" if settings.livemode else "test", settings.app_url)
    endpoint = _endpoint_check(inputs)
    portal = _portal_check(inputs)
    alerting = _alerting_check(inputs)
    found.signals = [
        endpoint,
        _idempotency_check(settings),
        portal,
        _tax_check(settings),
        _dunning_check(inputs),
        judged(
            "PCI SAQ A attested",
            settings.pci_saq_a_attested,
            "card data only ever in Stripe's Checkout and portal"
            + ("; attested" if settings.pci_saq_a_attested else "; not attested in the settings"),
            "complete SAQ A (Stripe's Dashboard: Settings → Compliance), then PAYWIRE_PCI_SAQ_A_ATTESTED=true",
            otherwise=FAIL if settings.livemode else WARN,
        ),
        _live_mode_check(inputs),
        alerting,
    ]
    found.security = _security(inputs)
    found.go_live = _go_live(inputs, endpoint, portal, alerting, found.security)
    return found


def _endpoint_check(inputs: Inputs) -> Check:
    name = "webhook endpoint"
    wanted = webhook_url(inputs.settings)
    try:
        endpoints = inputs.gateway.list_webhook_endpoints()
    except StripeError as exc:
        return Check(name, FAIL, f"could not list webhook endpoints: {exc.message}", "check STRIPE_SECRET_KEY")
    fix = (
        f"add an endpoint for {wanted} (API version {PINNED_API_VERSION}, every event paywire handles) "
        "and set STRIPE_WEBHOOK_SECRET to its signing secret"
    )
    mine = [e for e in endpoints if e.get("url") == wanted]
    if not mine:
        return Check(name, FAIL, f"no endpoint for {wanted} ({len(endpoints)} other endpoint(s))", fix)
    endpoint = next((e for e in mine if e.get("status", "enabled") == "enabled"), mine[0])
    if endpoint.get("status", "enabled") != "enabled":
        return Check(name, FAIL, f"{endpoint['id']} for {wanted} is disabled", "enable it in Stripe's Dashboard")
    enabled = set(endpoint.get("enabled_events") or [])
    # Events of sellers' connected accounts come from the Connect endpoint, not this one.
    missing = sorted(set(HANDLERS) - CONNECT_EVENT_TYPES - enabled) if "*" not in enabled else []
    version = endpoint.get("api_version")
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} event type(s) paywire handles: {', '.join(missing[:5])}")
    if version not in (PINNED_API_VERSION, None):
        problems.append(f"API version {version}, not the pinned {PINNED_API_VERSION}")
    if not inputs.settings.stripe_webhook_secrets:
        problems.append("STRIPE_WEBHOOK_SECRET is not set")
    events = "every event" if "*" in enabled else f"{len(enabled)} event types"
    detail = f"{endpoint['id']} → {wanted}, {events}, API {version or 'the account default'}"
    if problems:
        return Check(
            name,
            FAIL if missing or not inputs.settings.stripe_webhook_secrets else WARN,
            detail + "; " + "; ".join(problems),
            fix,
        )
    if version is None:
        return Check(name, WARN, detail, f"pin the endpoint to {PINNED_API_VERSION}")
    return Check(name, PASS, detail)


def _idempotency_check(settings: Settings) -> Check:
    lacking = [
        method
        for method, function in inspect.getmembers(StripeGateway, inspect.isfunction)
        if method.startswith(NEEDS_A_KEY) and "idempotency_key" not in inspect.signature(function).parameters
    ]
    if lacking:
        return Check("idempotency keys", FAIL, f"mutating calls without a key: {', '.join(lacking)}", "give each a key")
    retries = settings.stripe_max_network_retries
    detail = f"every creating or state-changing call carries a key from its operation; network retries: {retries}"
    return judged(
        "idempotency keys",
        retries > 0,
        detail,
        "PAYWIRE_STRIPE_MAX_NETWORK_RETRIES of 1 or more (retries reuse the key)",
        otherwise=WARN,
    )


def _portal_check(inputs: Inputs) -> Check:
    name = "customer portal"
    fix = "run `paywire catalog push` (it configures the portal with the catalog's plans)"
    try:
        config = find_configuration(inputs.gateway)
        prices = inputs.gateway.list_prices_by_lookup_keys(inputs.catalog.lookup_keys())
    except StripeError as exc:
        return Check(name, FAIL, f"could not read the portal configuration: {exc.message}", fix)
    if config is None:
        return Check(name, FAIL, "no active portal configuration made from the catalog", fix)
    update = (config.get("features") or {}).get("subscription_update") or {}
    offered = {p.get("product") for p in update.get("products") or []}
    # Hybrid plans are switched by paywire's own plan changes, not the portal (catalog.portal).
    plans = [
        plan
        for plan in inputs.catalog.plans.values()
        if not plan.usage and any(plan.lookup_key(i) in prices for i in plan.prices)
    ]
    missing = [plan.key for plan in plans if plan.product_id not in offered]
    if not update.get("enabled") or missing:
        return Check(name, FAIL, f"{config['id']}: plan switching misses {', '.join(missing) or 'everything'}", fix)
    return Check(name, PASS, f"{config['id']} active, switching between {len(plans)} plan(s)")


def _tax_check(settings: Settings) -> Check:
    name = "tax"
    if settings.automatic_tax:
        return Check(name, PASS, "automatic tax on (Stripe Tax computes it at checkout and on changes)")
    if "automatic_tax" in settings.model_fields_set:
        return Check(name, PASS, "explicitly off (PAYWIRE_AUTOMATIC_TAX=false): prices are what customers pay")
    return Check(name, WARN, "off by default", "decide: PAYWIRE_AUTOMATIC_TAX=true (Stripe Tax) or =false to say so")


def _dunning_check(inputs: Inputs) -> Check:
    name = "retries and dunning notices"
    settings = inputs.settings
    retried = inputs.session.scalar(
        select(func.count())
        .select_from(Invoice)
        .where((Invoice.attempt_count > 1) | Invoice.next_payment_attempt.is_not(None))
    )
    retries = (
        f"Stripe retried {retried} invoice(s)"
        if retried
        else "no retried invoice seen yet (Stripe's retry schedule is not readable through its API)"
    )
    notices = settings.email_backend == "smtp"
    detail = f"{retries}; payment-failed notices {'sent by SMTP' if notices else 'written to the log only'}"
    fix = (
        "PAYWIRE_EMAIL_BACKEND=smtp (and PAYWIRE_SMTP_*) so customers hear of a failed payment; "
        "check Smart Retries in Stripe's Dashboard (Billing → Revenue recovery)"
    )
    if notices and retried:
        return Check(name, PASS, detail)
    return Check(name, FAIL if settings.livemode and not notices else WARN, detail, fix)


def _live_mode_check(inputs: Inputs) -> Check:
    settings = inputs.settings
    name = "live mode"
    if settings.livemode:
        https = settings.app_url.startswith("https://")
        return judged(name, https, "live key, APP_URL " + settings.app_url, "serve APP_URL over https")
    return Check(
        name,
        WARN,
        "test mode: the go-live checklist below says what live mode needs",
        "run `paywire doctor` again with the live key (sk_live_/rk_live_) before launch",
    )


def _alerting_check(inputs: Inputs) -> Check:
    name = "alerting"
    url = inputs.settings.prometheus_url
    fix = "load deploy/prometheus/alerts.yml in Prometheus, scrape /metrics, and set PAYWIRE_PROMETHEUS_URL"
    if not url:
        return Check(name, WARN, "PAYWIRE_PROMETHEUS_URL not set: alert rules not verified", fix)
    try:
        rules = inputs.fetch(url.rstrip("/") + "/api/v1/rules")
    except (httpx.HTTPError, ValueError) as exc:
        return Check(name, FAIL, f"Prometheus at {url} did not answer: {type(exc).__name__}", fix)
    groups = {g.get("name") for g in ((rules or {}).get("data") or {}).get("groups") or []}
    missing = [g for g in ALERT_GROUPS if g not in groups]
    return judged(
        name, not missing, f"Prometheus at {url}: rule groups {', '.join(sorted(g for g in groups if g))}", fix
    )


def _security(inputs: Inputs) -> list[Check]:
    settings = inputs.settings
    key = settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else ""
    live = settings.livemode
    env_text = inputs.env_file.read_text(errors="replace") if inputs.env_file.is_file() else ""
    host = urlsplit(settings.app_url).hostname or ""
    secrets = [s.get_secret_value() for s in settings.stripe_webhook_secrets]
    dev_secrets = _dev_webhook_secrets()
    checkout = _per_minute(settings.checkout_rate_limit)
    return [
        judged(
            "restricted key",
            key.startswith("rk_"),
            "a restricted key (rk_)" if key.startswith("rk_") else "a secret key (sk_) with every permission",
            (
                "create a restricted key (Dashboard → Developers → API keys) writing customers, Checkout "
                "Sessions, subscriptions and schedules, invoices, refunds, products and prices, the "
                "portal, webhook endpoints, and reading events; use it as STRIPE_SECRET_KEY"
            ),
            otherwise=WARN,
        ),
        judged(
            "keys only in the environment",
            "STRIPE_SECRET_KEY" not in env_text,
            f"{inputs.env_file} holds STRIPE_SECRET_KEY" if "STRIPE_SECRET_KEY" in env_text else "not in a .env file",
            "keep keys in the environment or a secret manager, not in a file beside the code",
            otherwise=FAIL if live else WARN,
        ),
        judged(
            "HTTPS APP_URL",
            settings.app_url.startswith("https://") or (not live and host in LOCAL_HOSTS),
            settings.app_url,
            "serve paywire over https (Checkout and the portal return there; session cookies are Secure)",
            otherwise=FAIL if live else WARN,
        ),
        judged(
            "distinct webhook secrets",
            len(set(secrets)) == len(secrets) and not (live and set(secrets) & dev_secrets),
            f"{len(secrets)} secret(s), distinct" + ("; none of the dev stack's" if live else ""),
            "each mode's endpoint has its own signing secret: never reuse a test one in live mode",
        ),
        judged(
            "CSRF and rate limits",
            checkout <= TOO_GENEROUS_PER_MINUTE,
            f"CSRF on every form; checkout {settings.checkout_rate_limit}, "
            f"API {settings.api_rate_limit or settings.checkout_rate_limit} per user",
            f"keep PAYWIRE_CHECKOUT_RATE_LIMIT at or under {TOO_GENEROUS_PER_MINUTE}/minute",
            otherwise=WARN,
        ),
        _demo_sign_in(settings),
    ]


def _demo_sign_in(settings: Settings) -> Check:
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else ""
    on = settings.demo_sign_in or (settings.dev_mode and secret in ("", DEV_AUTH_SECRET))
    if not on:
        return Check("demo sign-in off", PASS, "off")
    if settings.livemode:
        return Check("demo sign-in off", FAIL, "on with a live key", "unset PAYWIRE_DEMO_SIGN_IN and PAYWIRE_DEV")
    return Check(
        "demo sign-in off", WARN, "on (dev mode)", "off outside development: no PAYWIRE_DEV, no PAYWIRE_DEMO_SIGN_IN"
    )


def _go_live(inputs: Inputs, endpoint: Check, portal: Check, alerting: Check, security: list[Check]) -> list[Check]:
    settings = inputs.settings
    live = settings.livemode
    not_yet = WARN if not live else FAIL
    by_name = {c.name: c for c in security}
    try:
        drift = check_catalog(inputs.catalog, inputs.gateway)
        catalog = judged(
            "catalog in Stripe",
            not drift,
            "products and prices in line" if not drift else f"{len(drift)} difference(s)",
            "run `paywire catalog push`",
            priority="P0",
        )
    except StripeError as exc:
        catalog = Check("catalog in Stripe", FAIL, exc.message, "check STRIPE_SECRET_KEY", "P0")
    auth = settings.auth_secret.get_secret_value() if settings.auth_secret else ""
    backend = make_url(settings.database_url).get_backend_name()
    return [
        judged(
            "live key",
            live,
            "sk_live_/rk_live_" if live else "a test key",
            "STRIPE_SECRET_KEY=sk_live_… or rk_live_…",
            otherwise=not_yet,
            priority="P0",
        ),
        Check(
            "live webhook endpoint",
            endpoint.status if live else (WARN if endpoint.status == PASS else endpoint.status),
            endpoint.detail,
            endpoint.fix or ("the same in live mode" if not live else ""),
            "P0",
        ),
        catalog,
        judged(
            "database migrated",
            is_current(settings.database_url),
            settings.database_url_for_logs,
            "run `paywire migrate`",
            priority="P0",
        ),
        judged(
            "auth secret",
            bool(auth) and auth != DEV_AUTH_SECRET,
            "PAYWIRE_AUTH_SECRET set" if auth else "the public dev secret",
            "set PAYWIRE_AUTH_SECRET (32+ characters) to your app's JWT key",
            otherwise=not_yet,
            priority="P0",
        ),
        Check(
            "HTTPS APP_URL",
            by_name["HTTPS APP_URL"].status,
            by_name["HTTPS APP_URL"].detail,
            by_name["HTTPS APP_URL"].fix,
            "P0",
        ),
        Check(
            "demo sign-in off",
            by_name["demo sign-in off"].status,
            by_name["demo sign-in off"].detail,
            by_name["demo sign-in off"].fix,
            "P0",
        ),
        Check("customer portal", portal.status, portal.detail, portal.fix, "P1"),
        Check("alerting", alerting.status, alerting.detail, alerting.fix, "P1"),
        judged(
            "PostgreSQL",
            backend == "postgresql",
            backend,
            "DATABASE_URL=postgresql+psycopg://… (SQLite serves one machine)",
            otherwise=WARN,
            priority="P1",
        ),
        judged(
            "recovery scan",
            settings.recovery_interval > 0,
            f"every {settings.recovery_interval:.0f} s" if settings.recovery_interval else "off",
            "PAYWIRE_RECOVERY_INTERVAL above 0",
            otherwise=WARN,
            priority="P1",
        ),
        Check(
            "restricted key",
            by_name["restricted key"].status,
            by_name["restricted key"].detail,
            by_name["restricted key"].fix,
            "P1",
        ),
        judged(
            "structured logs",
            settings.log_format == "json",
            f"PAYWIRE_LOG_FORMAT={settings.log_format}",
            "PAYWIRE_LOG_FORMAT=json for your log pipeline",
            otherwise=WARN,
            priority="P2",
        ),
        judged(
            "tax decided",
            "automatic_tax" in settings.model_fields_set,
            "PAYWIRE_AUTOMATIC_TAX "
            + ("set" if "automatic_tax" in settings.model_fields_set else "left at its default"),
            "set PAYWIRE_AUTOMATIC_TAX",
            otherwise=WARN,
            priority="P2",
        ),
        judged(
            "PCI SAQ A",
            settings.pci_saq_a_attested,
            "attested" if settings.pci_saq_a_attested else "not attested",
            "PAYWIRE_PCI_SAQ_A_ATTESTED=true once done",
            otherwise=WARN,
            priority="P2",
        ),
    ]


def _per_minute(limit: str) -> float:
    amount, _, period = limit.replace(" per ", "/").partition("/")
    unit = period.strip().split()[-1] if period.strip() else "minute"
    count = float(period.strip().split()[0]) if len(period.strip().split()) > 1 else 1.0
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}.get(unit.rstrip("s"), 60)
    return float(amount) * 60 / (seconds * count)


def _dev_webhook_secrets() -> set[str]:
    if not DEV_ENV_FILE.is_file():
        return set()
    for line in DEV_ENV_FILE.read_text(errors="replace").splitlines():
        if line.startswith("STRIPE_WEBHOOK_SECRET="):
            return {s for s in line.partition("=")[2].split(",") if s}
    return set()

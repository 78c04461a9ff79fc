"""paywire's configuration: the environment (or `.env`) read once into `Settings`.

The variable names are a contract (see DESIGN.md); paywire's own knobs carry the
`PAYWIRE_` prefix. Formats are checked when the settings are built; whether a setting
must be present depends on the command (`catalog check` needs no webhook secret), so
presence is checked by `require_*` helpers that the commands call before starting.
Every failure is a `ConfigError` naming the variable, and secrets are `SecretStr` so
they never appear in a repr, a log line or a response.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from limits import parse
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///paywire.sqlite3"
DEFAULT_APP_URL = "http://127.0.0.1:8000"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
HEX_COLOR = "^#[0-9a-fA-F]{6}$"
STRIPE_EMAIL_KINDS = ("payment_failed", "payment_action_required", "trial_will_end", "receipt", "refund")
DEFAULT_DUNNING_NOTICES = {"1": "payment_failed", "2": "second_notice", "last": "final_notice"}
# Signs the dev pages' fake sign-in tokens. Known to everyone, hence dev mode only.
DEV_AUTH_SECRET = "paywire-dev-only-auth-secret-not-for-production"


class ConfigError(Exception):
    """A setting is missing or malformed; `setting` is the environment variable to fix."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message


def _alias(name: str) -> Any:
    return AliasChoices(name, name.lower())


# `paywire dev` leaves the dev stack's settings here (its key, database, stripesim's address,
# webhook secret), so every other command run in the same folder talks to that stack. `.env`
# and the environment override it.
DEV_ENV_FILE = Path("var") / "paywire-dev.env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=(str(DEV_ENV_FILE), ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    stripe_secret_key: SecretStr | None = Field(None, validation_alias=_alias("STRIPE_SECRET_KEY"))
    # Several secrets are accepted while an endpoint's secret is being rotated.
    stripe_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias=_alias("STRIPE_WEBHOOK_SECRET"),
    )
    # The Connect endpoint's secret(s): events of connected accounts (`account` set). Same format.
    stripe_connect_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias=_alias("STRIPE_CONNECT_WEBHOOK_SECRET"),
    )
    stripe_api_base: str | None = Field(None, validation_alias=_alias("STRIPE_API_BASE"))
    # May embed a password: kept out of reprs; log `database_url_for_logs` instead.
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        validation_alias=_alias("DATABASE_URL"),
        repr=False,
    )
    catalog_path: Path | None = Field(None, validation_alias=_alias("PAYWIRE_CATALOG"))
    app_url: str = Field(DEFAULT_APP_URL, validation_alias=_alias("APP_URL"))
    auth_secret: SecretStr | None = Field(None, validation_alias=_alias("PAYWIRE_AUTH_SECRET"))

    dev_mode: bool = Field(False, validation_alias=_alias("PAYWIRE_DEV"))
    # The subscriber's pages (paywire.web.pages): served in dev mode, elsewhere only when asked.
    pages: bool = Field(False, validation_alias=_alias("PAYWIRE_PAGES"))
    # The pages' demo sign-in (any email, no password): in dev mode with the public dev secret,
    # elsewhere only when asked; with a real PAYWIRE_AUTH_SECRET it signs sessions with it.
    demo_sign_in: bool = Field(False, validation_alias=_alias("PAYWIRE_DEMO_SIGN_IN"))
    past_due_grace_days: int = Field(
        3,
        ge=0,
        le=60,
        validation_alias=_alias("PAYWIRE_PAST_DUE_GRACE_DAYS"),
    )
    trial_days: int = Field(0, ge=0, le=730, validation_alias=_alias("PAYWIRE_TRIAL_DAYS"))
    automatic_tax: bool = Field(False, validation_alias=_alias("PAYWIRE_AUTOMATIC_TAX"))
    # Checkout asks business customers for their tax id (VAT number …) for their invoices.
    tax_id_collection: bool = Field(True, validation_alias=_alias("PAYWIRE_TAX_ID_COLLECTION"))
    # Users who may cancel anyone's subscription at once (with a refund). A list in the
    # configuration, not a token claim: a token minted for another purpose cannot grant it.
    admin_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_alias("PAYWIRE_ADMIN_USERS")
    )
    checkout_rate_limit: str = Field(
        "10/minute",
        validation_alias=_alias("PAYWIRE_CHECKOUT_RATE_LIMIT"),
    )
    # Per user and route on the portal and subscription routes (each call reads and writes
    # Stripe, whose rate limit all users share; promotion codes must not be guessable at speed).
    # Unset: the checkout rate.
    api_rate_limit: str | None = Field(None, validation_alias=_alias("PAYWIRE_API_RATE_LIMIT"))
    worker_poll_interval: float = Field(
        1.0,
        gt=0,
        le=60,
        validation_alias=_alias("PAYWIRE_WORKER_POLL_INTERVAL"),
    )
    # The events worker (paywire.events.worker reads these).
    worker_enabled: bool = Field(True, validation_alias=_alias("PAYWIRE_WORKER_ENABLED"))
    # Where `paywire serve` runs its worker: a child process (default: its CPU work never holds
    # the receiver's GIL) at a lower CPU priority (nice), so webhooks are acknowledged first
    # under a burst; or a thread of the server process (`thread`: one process, less memory).
    worker_mode: str = Field("process", pattern="^(process|thread)$", validation_alias=_alias("PAYWIRE_WORKER_MODE"))
    worker_nice: int = Field(10, ge=0, le=19, validation_alias=_alias("PAYWIRE_WORKER_NICE"))
    # `paywire serve --workers N`: how long a server process may leave uvicorn's supervisor's
    # liveness ping unanswered before it is killed and replaced. The clock runs from the
    # process's start, while it still imports the stack (2 s on an idle small machine, several
    # times that under load), so uvicorn's own 5 s would kill healthy processes as they start,
    # again and again, and the port would never answer.
    server_healthcheck_timeout: int = Field(
        60, ge=1, le=600, validation_alias=_alias("PAYWIRE_SERVER_HEALTHCHECK_TIMEOUT")
    )
    # Workers in that process (threads: most of a worker's time is spent waiting on Stripe and
    # the database, so a few overlap their waits). None: 1 (service.DEFAULT_WORKER_THREADS).
    worker_threads: int | None = Field(None, ge=1, le=64, validation_alias=_alias("PAYWIRE_WORKER_THREADS"))
    # How many such worker processes `paywire serve` runs. None: 2 on PostgreSQL (workers claim
    # with SKIP LOCKED and per-object locks, and two processes overlap their waits without
    # sharing a GIL), 1 on SQLite (its writes queue on one lock). See service.worker_processes.
    worker_processes: int | None = Field(None, ge=1, le=32, validation_alias=_alias("PAYWIRE_WORKER_PROCESSES"))
    worker_batch_size: int = Field(10, ge=1, le=1000, validation_alias=_alias("PAYWIRE_WORKER_BATCH"))
    # Under a backlog a claim takes up to this many objects (doubling from the batch size);
    # None: 5 times PAYWIRE_WORKER_BATCH. Their re-reads from Stripe are made concurrently on
    # PAYWIRE_WORKER_REREAD_THREADS threads, then the batch is applied in one transaction.
    worker_max_batch: int | None = Field(None, ge=1, le=5000, validation_alias=_alias("PAYWIRE_WORKER_MAX_BATCH"))
    worker_reread_threads: int = Field(8, ge=1, le=64, validation_alias=_alias("PAYWIRE_WORKER_REREAD_THREADS"))
    # Each worker delivers the outbox's facts beside its loop on this many threads (a receipt
    # waits for its request to Stripe; several keep the request budget busy at a storm).
    worker_reaction_threads: int = Field(4, ge=1, le=32, validation_alias=_alias("PAYWIRE_WORKER_REACTION_THREADS"))
    worker_lease_seconds: float = Field(300.0, gt=0, le=86400, validation_alias=_alias("PAYWIRE_WORKER_LEASE_SECONDS"))
    worker_retry_base: float = Field(2.0, gt=0, le=3600, validation_alias=_alias("PAYWIRE_WORKER_RETRY_BASE"))
    worker_retry_cap: float = Field(3600.0, gt=0, le=7 * 86400, validation_alias=_alias("PAYWIRE_WORKER_RETRY_CAP"))
    worker_max_attempts: int = Field(15, ge=1, le=100, validation_alias=_alias("PAYWIRE_WORKER_MAX_ATTEMPTS"))
    # Clocks of paywire's hosts agree within this (NTP); the worker skips a re-read only when
    # the mirror's read started this much after the event was received (paywire.mirror).
    worker_clock_skew: float = Field(0.5, ge=0, le=60, validation_alias=_alias("PAYWIRE_WORKER_CLOCK_SKEW"))
    # The payload rule (paywire.mirror.payloads): apply an event's own payload when it is provably
    # the newest state of its object, instead of re-reading it. false: always re-read.
    apply_event_payloads: bool = Field(True, validation_alias=_alias("PAYWIRE_APPLY_EVENT_PAYLOADS"))
    # Reactions (paywire.reactions): `log` writes emails to the log, `smtp` sends them, `dev` keeps
    # them in PAYWIRE_DEV_MAIL_DIR for the dev inbox (/dev/mail, dev mode only).
    email_backend: str = Field("log", pattern="^(log|smtp|dev)$", validation_alias=_alias("PAYWIRE_EMAIL_BACKEND"))
    dev_mail_dir: Path = Field(Path("var") / "dev-mail", validation_alias=_alias("PAYWIRE_DEV_MAIL_DIR"))
    # The notices' look (paywire.reactions.rendering): the product's name, logo, colours and
    # support address, and a folder whose templates replace the bundled ones of the same name.
    product_name: str = Field("paywire", min_length=1, max_length=100, validation_alias=_alias("PAYWIRE_PRODUCT_NAME"))
    product_logo_url: str | None = Field(None, validation_alias=_alias("PAYWIRE_PRODUCT_LOGO_URL"))
    brand_color: str = Field("#4338ca", pattern=HEX_COLOR, validation_alias=_alias("PAYWIRE_BRAND_COLOR"))
    brand_text_color: str = Field("#ffffff", pattern=HEX_COLOR, validation_alias=_alias("PAYWIRE_BRAND_TEXT_COLOR"))
    support_email: str | None = Field(None, validation_alias=_alias("PAYWIRE_SUPPORT_EMAIL"))
    email_templates: Path | None = Field(None, validation_alias=_alias("PAYWIRE_EMAIL_TEMPLATES"))
    # The mails Stripe itself sends for the account (its Dashboard's customer emails): paywire
    # does not send a second one of these.
    stripe_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_alias("PAYWIRE_STRIPE_EMAILS")
    )
    # Dunning (paywire.reactions.notices): how many tries Stripe makes per failed invoice (its
    # retry setting), which notice goes on which failed attempt (`last`: the failure after which
    # one try remains), and what Stripe does after the last try (`cancel` or `unpaid`).
    dunning_attempts: int = Field(8, ge=1, le=50, validation_alias=_alias("PAYWIRE_DUNNING_ATTEMPTS"))
    dunning_notices: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_DUNNING_NOTICES), validation_alias=_alias("PAYWIRE_DUNNING_NOTICES")
    )
    dunning_end: str = Field("cancel", pattern="^(cancel|unpaid)$", validation_alias=_alias("PAYWIRE_DUNNING_END"))
    # The notices' "update your card" link (/billing/update-payment): valid this many days.
    update_payment_link_days: int = Field(30, ge=1, le=365, validation_alias=_alias("PAYWIRE_UPDATE_PAYMENT_LINK_DAYS"))
    # A payment waiting for 3-D Secure is reminded once, this long after the first request.
    action_reminder_hours: float = Field(
        12.0, gt=0, le=24 * 14, validation_alias=_alias("PAYWIRE_ACTION_REMINDER_HOURS")
    )
    # Test mode only: every new customer on a Stripe test clock of its own (`paywire clock advance`).
    test_clocks: bool = Field(False, validation_alias=_alias("PAYWIRE_TEST_CLOCKS"))
    smtp_host: str = Field("localhost", validation_alias=_alias("PAYWIRE_SMTP_HOST"))
    smtp_port: int = Field(25, ge=1, le=65535, validation_alias=_alias("PAYWIRE_SMTP_PORT"))
    smtp_sender: str = Field("billing@localhost", validation_alias=_alias("PAYWIRE_SMTP_SENDER"))
    smtp_username: str | None = Field(None, validation_alias=_alias("PAYWIRE_SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_alias("PAYWIRE_SMTP_PASSWORD"))
    smtp_starttls: bool = Field(False, validation_alias=_alias("PAYWIRE_SMTP_STARTTLS"))
    # Recovery from /v1/events (paywire.events.recovery): how often the worker scans (0 = never),
    # how far back each scan reaches behind the kept cursor (late-visible events, 1 s ties),
    # and where the very first scan starts (Stripe retries a delivery for 3 days).
    recovery_interval: float = Field(300.0, ge=0, le=86400, validation_alias=_alias("PAYWIRE_RECOVERY_INTERVAL"))
    recovery_overlap: int = Field(300, ge=1, le=86400, validation_alias=_alias("PAYWIRE_RECOVERY_OVERLAP"))
    recovery_lookback: int = Field(
        3 * 86400, ge=60, le=30 * 86400, validation_alias=_alias("PAYWIRE_RECOVERY_LOOKBACK")
    )
    stripe_timeout: float = Field(30.0, gt=0, le=300, validation_alias=_alias("PAYWIRE_STRIPE_TIMEOUT"))
    stripe_max_network_retries: int = Field(
        2,
        ge=0,
        le=10,
        validation_alias=_alias("PAYWIRE_STRIPE_MAX_NETWORK_RETRIES"),
    )
    # The SDK never retries 429 by itself; the gateway backs off this many times.
    stripe_rate_limit_retries: int = Field(
        4,
        ge=0,
        le=10,
        validation_alias=_alias("PAYWIRE_STRIPE_RATE_LIMIT_RETRIES"),
    )
    stripe_rate_limit_backoff: float = Field(
        0.5,
        gt=0,
        le=30,
        validation_alias=_alias("PAYWIRE_STRIPE_RATE_LIMIT_BACKOFF"),
    )
    # The request budget every process of the deployment shares (paywire.stripe.budget), in
    # requests a second (`80`, `80/s`, `80/second`); `off` sends at once. Unset: 80/s with a
    # live key, 20/s with a test key (Stripe allows about 100 and 25).
    stripe_rate_limit: float | None = Field(None, ge=0, le=10_000, validation_alias=_alias("PAYWIRE_STRIPE_RATE_LIMIT"))
    # A file every request to Stripe is written to, a JSON line each, by every process that
    # names it (paywire.stripe.request_log): to check the budget from paywire's side.
    stripe_request_log: str | None = Field(None, validation_alias=_alias("PAYWIRE_STRIPE_REQUEST_LOG"))
    # Where Checkout and the portal send the browser back, relative to APP_URL. Landing on
    # the success page grants nothing: access follows the verified webhook.
    checkout_success_path: str = Field(
        "/billing/success?session_id={CHECKOUT_SESSION_ID}",
        validation_alias=_alias("PAYWIRE_CHECKOUT_SUCCESS_PATH"),
    )
    checkout_cancel_path: str = Field(
        "/pricing?checkout=canceled", validation_alias=_alias("PAYWIRE_CHECKOUT_CANCEL_PATH")
    )
    portal_return_path: str = Field("/account", validation_alias=_alias("PAYWIRE_PORTAL_RETURN_PATH"))
    auth_token_leeway: int = Field(30, ge=0, le=600, validation_alias=_alias("PAYWIRE_AUTH_LEEWAY"))
    # The entitlement cache (paywire.billing.entitlement_cache): an answer lags the mirror by at
    # most this many seconds (0: no cache, every check reads the mirror), and the cache holds at
    # most this many users (the least recently checked leave first; 0: no cache).
    entitlement_max_staleness: float = Field(
        1.0, ge=0, le=60, validation_alias=_alias("PAYWIRE_ENTITLEMENT_MAX_STALENESS")
    )
    entitlement_cache_size: int = Field(
        10_000, ge=0, le=10_000_000, validation_alias=_alias("PAYWIRE_ENTITLEMENT_CACHE_SIZE")
    )
    log_level: str = Field("INFO", validation_alias=_alias("PAYWIRE_LOG_LEVEL"))
    # `paywire doctor`: the operator attests PCI DSS SAQ A (card data only in Stripe's
    # Checkout and portal), and where Prometheus runs with deploy/prometheus/alerts.yml loaded.
    pci_saq_a_attested: bool = Field(False, validation_alias=_alias("PAYWIRE_PCI_SAQ_A_ATTESTED"))
    prometheus_url: str | None = Field(None, validation_alias=_alias("PAYWIRE_PROMETHEUS_URL"))
    # `json`: one JSON object per log line (paywire.logs), for a log pipeline.
    log_format: str = Field("text", pattern="^(text|json)$", validation_alias=_alias("PAYWIRE_LOG_FORMAT"))
    # Marketplaces on Stripe Connect (paywire.billing.sellers, paywire.billing.marketplace): the
    # country new sellers' accounts are created in, whether a sale names the seller as the
    # settlement merchant (`on_behalf_of`), and what a refund of a sale takes back from the seller:
    # the refunded share of the transfer (`reverse_transfer`) and of the platform's fee
    # (`refund_application_fee`).
    connect_country: str = Field("US", pattern="^[A-Z]{2}$", validation_alias=_alias("PAYWIRE_CONNECT_COUNTRY"))
    connect_on_behalf_of: bool = Field(False, validation_alias=_alias("PAYWIRE_CONNECT_ON_BEHALF_OF"))
    connect_refund_reverses_transfer: bool = Field(
        True, validation_alias=_alias("PAYWIRE_CONNECT_REFUND_REVERSES_TRANSFER")
    )
    connect_refund_refunds_fee: bool = Field(True, validation_alias=_alias("PAYWIRE_CONNECT_REFUND_REFUNDS_FEE"))
    # Refunds and disputes (paywire.billing.refunds, paywire.billing.disputes): who hears of a
    # dispute and a failed refund (addresses, comma-separated), what a refunded subscription
    # payment or a lost dispute does to access (`end_now`: canceled at once; `period_end`: access
    # until the period paid for ends, no renewal), a customer's own refund of a one-time purchase
    # within this many days (0: never), and how often the worker looks for disputes to remind of.
    team_email: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_alias("PAYWIRE_TEAM_EMAIL")
    )
    refund_access: str = Field(
        "end_now", pattern="^(end_now|period_end)$", validation_alias=_alias("PAYWIRE_REFUND_ACCESS")
    )
    self_refund_days: int = Field(0, ge=0, le=365, validation_alias=_alias("PAYWIRE_SELF_REFUND_DAYS"))
    dispute_watch_interval: float = Field(
        60.0, gt=0, le=86400, validation_alias=_alias("PAYWIRE_DISPUTE_WATCH_INTERVAL")
    )
    # Usage-based billing (paywire.usage). Services that may record usage over HTTP (`POST
    # /api/usage`), each `name:token` (or a bare token), comma-separated; never a user's token.
    service_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_alias("PAYWIRE_SERVICE_TOKENS")
    )
    # The sender beside the worker: how often it looks for usage to send, from how many waiting
    # events it uses the meter event stream (batches of up to 100) rather than one request an
    # event, at most how many requests a second it makes to Stripe, how often it reads Stripe's
    # error reports, and how long a reconciliation with Stripe's summaries is reused.
    usage_sender: bool = Field(True, validation_alias=_alias("PAYWIRE_USAGE_SENDER"))
    usage_send_interval: float = Field(0.5, gt=0, le=60, validation_alias=_alias("PAYWIRE_USAGE_SEND_INTERVAL"))
    usage_stream_threshold: int = Field(20, ge=1, le=100_000, validation_alias=_alias("PAYWIRE_USAGE_STREAM_THRESHOLD"))
    usage_rate_limit: float = Field(100.0, gt=0, le=10_000, validation_alias=_alias("PAYWIRE_USAGE_RATE_LIMIT"))
    usage_error_poll_interval: float = Field(
        30.0, gt=0, le=3600, validation_alias=_alias("PAYWIRE_USAGE_ERROR_POLL_INTERVAL")
    )
    usage_reconcile_interval: float = Field(
        60.0, ge=0, le=86400, validation_alias=_alias("PAYWIRE_USAGE_RECONCILE_INTERVAL")
    )
    # How long a sender holds the events it claimed: one that dies leaves them this long.
    usage_lease_seconds: float = Field(60.0, gt=0, le=3600, validation_alias=_alias("PAYWIRE_USAGE_LEASE_SECONDS"))

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("entitlement_max_staleness")
    @classmethod
    def _staleness(cls, value: float) -> float:
        # The invalidation channel checks in four times per bound: a tiny bound would spin.
        if 0 < value < 0.1:
            raise ValueError("must be 0 (no cache) or at least 0.1 seconds")
        return value

    @field_validator("stripe_webhook_secrets", "stripe_connect_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        if isinstance(value, str | SecretStr):
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            return [part.strip() for part in raw.split(",") if part.strip()]
        return value

    @field_validator("stripe_emails", mode="before")
    @classmethod
    def _split_stripe_emails(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for kind in value or []:
            if kind not in STRIPE_EMAIL_KINDS:
                raise ValueError(f"{kind!r} is not one of {', '.join(STRIPE_EMAIL_KINDS)}")
        return value

    @field_validator("dunning_notices", mode="before")
    @classmethod
    def _dunning_notices(cls, value: Any) -> Any:
        """`1=payment_failed,2=second_notice,last=final_notice`: a failed attempt (a number, or
        `last`) and the notice template it gets."""
        if not isinstance(value, str):
            return value
        found: dict[str, str] = {}
        for part in (p.strip() for p in value.split(",") if p.strip()):
            attempt, _, template = part.partition("=")
            attempt, template = attempt.strip(), template.strip()
            if not (attempt == "last" or (attempt.isdigit() and int(attempt) > 0)):
                raise ValueError(f"{part!r}: an attempt is a number from 1 or `last`")
            if not template.replace("_", "").isalnum():
                raise ValueError(f"{part!r}: name a template, like 1=payment_failed")
            found[attempt] = template
        return found

    @field_validator("service_tokens", mode="before")
    @classmethod
    def _split_service_tokens(cls, value: Any) -> Any:
        if isinstance(value, str | SecretStr):
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            return [part.strip() for part in raw.split(",") if part.strip()]
        return value

    @field_validator("service_tokens")
    @classmethod
    def _service_token_format(cls, value: list[SecretStr]) -> list[SecretStr]:
        names: set[str] = set()
        for entry in value:
            name, token = service_token_parts(entry.get_secret_value(), len(names))
            if len(token) < 16 or any(c.isspace() for c in token):
                raise ValueError("each service token needs at least 16 characters, no spaces")
            if name in names:
                raise ValueError(f"two service tokens are named {name!r}")
            names.add(name)
        return value

    @field_validator("team_email", mode="before")
    @classmethod
    def _split_team_email(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for address in value or []:
            if "@" not in str(address) or any(c.isspace() for c in str(address)):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @field_validator("admin_users", mode="before")
    @classmethod
    def _split_admins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("stripe_secret_key")
    @classmethod
    def _key_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        key = value.get_secret_value()
        if not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            raise ValueError("must be a secret key (sk_test_…/sk_live_…) or a restricted key (rk_…)")
        return value

    @field_validator("stripe_webhook_secrets", "stripe_connect_webhook_secrets")
    @classmethod
    def _secret_format(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if not secret.get_secret_value().startswith("whsec_"):
                raise ValueError("every webhook signing secret must start with whsec_")
        return value

    @field_validator("stripe_api_base", "app_url", "prometheus_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or (value == "" and info.field_name in ("stripe_api_base", "prometheus_url")):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a URL like sqlite:///file or postgresql+psycopg://…") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("paywire supports SQLite and PostgreSQL only")
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            # SQLAlchemy's default PostgreSQL driver is psycopg2; paywire ships psycopg 3.
            value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return value

    @field_validator("stripe_rate_limit", mode="before")
    @classmethod
    def _requests_per_second(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        raw = value.strip().lower()
        if raw in ("", "default"):
            return None
        if raw in ("off", "none", "unlimited"):
            return 0.0
        number, _, unit = raw.partition("/")
        if unit.strip() not in ("", "s", "sec", "second"):
            raise ValueError("must be requests a second, like '20', '20/s' or 'off'")
        try:
            return float(number)
        except ValueError:
            raise ValueError("must be requests a second, like '20', '20/s' or 'off'") from None

    @field_validator("stripe_rate_limit", mode="after")
    @classmethod
    def _at_least_one_a_second(cls, value: float | None) -> float | None:
        if value is not None and 0 < value < 1:  # Stripe allows 25 a second in test mode
            raise ValueError("must be at least 1 request a second, or 'off'")
        return value

    @field_validator("checkout_rate_limit", "api_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value and info.field_name == "api_rate_limit":
            return None
        value = value or ""
        try:
            parse(value)
        except ValueError:
            raise ValueError("must look like '10/minute' or '5 per 10 seconds'") from None
        return value

    @model_validator(mode="after")
    def _live_key_needs_live_settings(self) -> Settings:
        if not self.is_live_key:
            return self
        if self.dev_mode:
            raise ValueError("STRIPE_SECRET_KEY: a live key cannot be used in dev mode")
        if self.test_clocks:
            raise ValueError("PAYWIRE_TEST_CLOCKS: test clocks are for test mode; use a test key")
        if self.stripe_api_base and urlsplit(self.stripe_api_base).hostname in LOCAL_HOSTS:
            raise ValueError(
                "STRIPE_SECRET_KEY: a live key with STRIPE_API_BASE pointing at a local "
                "(test) server; use a test key there"
            )
        return self

    @property
    def is_live_key(self) -> bool:
        key = self.stripe_secret_key.get_secret_value() if self.stripe_secret_key else ""
        return key.startswith(("sk_live_", "rk_live_"))

    @property
    def stripe_requests_per_second(self) -> float | None:
        """The request budget's rate; None: no budget (`off`)."""
        if self.stripe_rate_limit is None:
            return 80.0 if self.is_live_key else 20.0
        return self.stripe_rate_limit or None

    @property
    def livemode(self) -> bool:
        """What `event.livemode` must be for events this service applies."""
        return self.is_live_key

    @property
    def database_url_for_logs(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)

    @property
    def pages_enabled(self) -> bool:
        return self.dev_mode or self.pages

    @property
    def grace_seconds(self) -> int:
        return self.past_due_grace_days * 24 * 3600

    def secret_key(self) -> str:
        return require_stripe_key(self)

    def app_link(self, path: str) -> str:
        return self.app_url + (path if path.startswith("/") else "/" + path)


# Environment variable names, for messages built from pydantic's field names.
_ENV_NAMES: dict[str, str] = {
    name: str(field.validation_alias.choices[0]) if isinstance(field.validation_alias, AliasChoices) else name
    for name, field in Settings.model_fields.items()
}


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (and `.env`, and the dev stack's `var/paywire-dev.env`); a
    malformed value raises `ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = error.get("loc") or ()
        field = str(location[0]) if location else ""
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        setting = _ENV_NAMES.get(field) or field.upper() or "configuration"
        if not field and ":" in message:
            setting, _, message = message.partition(":")
            message = message.strip()
        raise ConfigError(setting, message) from None


def service_token_parts(entry: str, position: int) -> tuple[str, str]:
    """(name, token) of a `PAYWIRE_SERVICE_TOKENS` entry: `name:token`, or a bare token named
    `service-<n>` by its position."""
    name, sep, token = entry.partition(":")
    if sep and name and all(c.isalnum() or c in "-_." for c in name):
        return name, token
    return f"service-{position + 1}", entry


def service_tokens(settings: Settings) -> dict[str, str]:
    """The configured service tokens, by name."""
    entries = [t.get_secret_value() for t in settings.service_tokens]
    return dict(service_token_parts(entry, i) for i, entry in enumerate(entries))


def require_stripe_key(settings: Settings) -> str:
    if settings.stripe_secret_key is None:
        raise ConfigError("STRIPE_SECRET_KEY", "missing (sk_test_… for test mode)")
    return settings.stripe_secret_key.get_secret_value()


def require_webhook_secrets(settings: Settings) -> list[str]:
    """The secrets a webhook may be signed with: the platform endpoint's, then the Connect
    endpoint's (STRIPE_CONNECT_WEBHOOK_SECRET). The platform's must be there."""
    if not settings.stripe_webhook_secrets:
        raise ConfigError("STRIPE_WEBHOOK_SECRET", "missing (whsec_…, from the webhook endpoint)")
    secrets = settings.stripe_webhook_secrets + settings.stripe_connect_webhook_secrets
    return [s.get_secret_value() for s in secrets]


def require_auth_secret(settings: Settings) -> str:
    if settings.auth_secret is None or not settings.auth_secret.get_secret_value():
        if settings.dev_mode:
            return DEV_AUTH_SECRET
        raise ConfigError("PAYWIRE_AUTH_SECRET", "missing (the HS256 key of your bearer tokens)")
    secret = settings.auth_secret.get_secret_value()
    if secret == DEV_AUTH_SECRET and not settings.dev_mode:
        raise ConfigError("PAYWIRE_AUTH_SECRET", "is the public dev secret; set your own")
    if len(secret) < 32 and not settings.dev_mode:
        raise ConfigError("PAYWIRE_AUTH_SECRET", "too short: use at least 32 characters")
    return secret

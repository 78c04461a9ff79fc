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

DEFAULT_DATABASE_URL = "sqlite:///paywire.sqlite3"
DEFAULT_APP_URL = "http://127.0.0.1:8000"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
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
    worker_lease_seconds: float = Field(300.0, gt=0, le=86400, validation_alias=_alias("PAYWIRE_WORKER_LEASE_SECONDS"))
    worker_retry_base: float = Field(2.0, gt=0, le=3600, validation_alias=_alias("PAYWIRE_WORKER_RETRY_BASE"))
    worker_retry_cap: float = Field(3600.0, gt=0, le=7 * 86400, validation_alias=_alias("PAYWIRE_WORKER_RETRY_CAP"))
    worker_max_attempts: int = Field(15, ge=1, le=100, validation_alias=_alias("PAYWIRE_WORKER_MAX_ATTEMPTS"))
    # Clocks of paywire's hosts agree within this (NTP); the worker skips a re-read only when
    # the mirror's read started this much after the event was received (events.mirror).
    worker_clock_skew: float = Field(0.5, ge=0, le=60, validation_alias=_alias("PAYWIRE_WORKER_CLOCK_SKEW"))
    # Reactions (paywire.reactions): `log` writes emails to the log, `smtp` sends them.
    email_backend: str = Field("log", pattern="^(log|smtp)$", validation_alias=_alias("PAYWIRE_EMAIL_BACKEND"))
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
    log_level: str = Field("INFO", validation_alias=_alias("PAYWIRE_LOG_LEVEL"))

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("stripe_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        if isinstance(value, str | SecretStr):
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            return [part.strip() for part in raw.split(",") if part.strip()]
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

    @field_validator("stripe_webhook_secrets")
    @classmethod
    def _secret_format(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if not secret.get_secret_value().startswith("whsec_"):
                raise ValueError("every webhook signing secret must start with whsec_")
        return value

    @field_validator("stripe_api_base", "app_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or (value == "" and info.field_name == "stripe_api_base"):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

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

    @field_validator("checkout_rate_limit", "api_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        from limits import parse

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
    def livemode(self) -> bool:
        """What `event.livemode` must be for events this service applies."""
        return self.is_live_key

    @property
    def database_url_for_logs(self) -> str:
        from sqlalchemy.engine import make_url

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
    """Read the environment (and `.env`); a malformed value raises `ConfigError`."""
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


def require_stripe_key(settings: Settings) -> str:
    if settings.stripe_secret_key is None:
        raise ConfigError("STRIPE_SECRET_KEY", "missing (sk_test_… for test mode)")
    return settings.stripe_secret_key.get_secret_value()


def require_webhook_secrets(settings: Settings) -> list[str]:
    if not settings.stripe_webhook_secrets:
        raise ConfigError("STRIPE_WEBHOOK_SECRET", "missing (whsec_…, from the webhook endpoint)")
    return [s.get_secret_value() for s in settings.stripe_webhook_secrets]


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


def require_reachable_database(settings: Settings) -> None:
    """Connect once, so a wrong URL stops the service at start rather than on a request."""
    from sqlalchemy import text

    from paywire.db.engine import make_engine

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ConfigError(
            "DATABASE_URL",
            f"cannot connect to {settings.database_url_for_logs}: {type(exc).__name__}",
        ) from None
    finally:
        engine.dispose()


def require_service_settings(settings: Settings) -> None:
    """Everything `paywire serve` needs before it accepts a request."""
    require_stripe_key(settings)
    require_webhook_secrets(settings)
    require_auth_secret(settings)
    require_reachable_database(settings)

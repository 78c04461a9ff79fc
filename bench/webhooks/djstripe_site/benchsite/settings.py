"""The smallest Django project that runs dj-stripe's webhook endpoint.

Everything comes from the environment, set by bench/webhooks/run.py:
BENCH_DB_NAME (a PostgreSQL database on 127.0.0.1:5432, user postgres), STRIPE_API_BASE
(stripesim's URL: dj-stripe's STRIPE_API_HOST sets the SDK's `stripe.api_base`),
STRIPE_SECRET_KEY (sk_test_…). The webhook secret is not a setting: dj-stripe 2.x keeps it
on its `WebhookEndpoint` row, whose uuid is part of the URL (see setup_endpoint.py).
"""

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchsite.urls"
WSGI_APPLICATION = "benchsite.wsgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "djstripe",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DB_NAME", "bench_djstripe"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        # Persistent connections, as any production Django deployment would configure.
        "CONN_MAX_AGE": 600,
    }
}

STRIPE_LIVE_MODE = False
STRIPE_TEST_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "sk_test_bench")
STRIPE_API_HOST = os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:12111")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
SILENCED_SYSTEM_CHECKS = ["djstripe.W002"]  # STRIPE_API_HOST outside DEBUG: intended here

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("BENCH_LOG_LEVEL", "WARNING")},
}

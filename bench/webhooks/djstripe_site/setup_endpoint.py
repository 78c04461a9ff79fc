"""Register dj-stripe's webhook endpoint the way its admin does, and print it as JSON.

    BENCH_DB_NAME=… STRIPE_API_BASE=… STRIPE_SECRET_KEY=… python setup_endpoint.py

dj-stripe 2.x creates the endpoint in Stripe (here stripesim) with its own uuid in the
metadata and in the URL path, then stores Stripe's answer, signing secret included, as a
`djstripe.WebhookEndpoint` row; incoming webhooks are looked up by that uuid and verified
with that secret. The URL registered in stripesim is never called: the benchmark posts the
events itself, and stripesim emits no new event while it runs.

One seed: dj-stripe links every object to the Stripe account that owns its API key, which
it learns once per key from `GET /v1/account` and keeps in its database. stripesim did
not simulate that route when this was written (it does now), so the account row and the
key's link to it are stored here, as `APIKey.refresh_account()` would store them; after that first call
dj-stripe never asks again, so the per-event work measured is unchanged.
"""

import json
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")

import django

django.setup()

from django.urls import reverse  # noqa: E402
from djstripe import models  # noqa: E402
from djstripe.settings import djstripe_settings  # noqa: E402

ACCOUNT = {
    "id": "acct_1StripesimBench0",
    "object": "account",
    "business_profile": {"name": "paywire bench", "url": None, "support_email": None},
    "business_type": None,
    "capabilities": {"card_payments": "active", "transfers": "active"},
    "charges_enabled": True,
    "controller": {"type": "account"},
    "country": "US",
    "created": 1700000000,
    "default_currency": "usd",
    "details_submitted": True,
    "email": "bench@example.com",
    "metadata": {},
    "payouts_enabled": True,
    "settings": {"dashboard": {"display_name": "paywire bench", "timezone": "Etc/UTC"}},
    "type": "standard",
}


def seed_account() -> None:
    key, _ = models.APIKey.objects.get_or_create_by_api_key(djstripe_settings.STRIPE_SECRET_KEY)
    # As refresh_account(): a stub row first (syncing the account looks up the key's owner).
    account, _ = models.Account.objects.get_or_create(id=ACCOUNT["id"])
    key.djstripe_owner_account = account
    key.save()
    models.Account.sync_from_stripe_data(ACCOUNT, api_key=key.secret)


def main() -> None:
    seed_account()
    endpoint_uuid = uuid.uuid4()
    path = reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})
    data = models.WebhookEndpoint._api_create(
        url=f"http://127.0.0.1:9{path}",
        api_version=djstripe_settings.STRIPE_API_VERSION,
        enabled_events=["*"],
        metadata={"djstripe_uuid": str(endpoint_uuid)},
    )
    endpoint = models.WebhookEndpoint.sync_from_stripe_data(data)
    assert endpoint.secret, "dj-stripe stored no signing secret"
    print(json.dumps({"path": path, "secret": endpoint.secret, "uuid": str(endpoint.djstripe_uuid)}))


if __name__ == "__main__":
    main()

"""Usage limits per plan: a hard limit answers 429 from `require_usage` once the period's
allowance is spent (a plan without the meter: 403; a soft limit never blocks), and a soft limit
tells the subscriber at 80 % and 100 % of the allowance, once per period each, through the
outbox (an email)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select

import paywire
from paywire.catalog import Catalog, parse_catalog
from paywire.db.models import OutboxFact, ReactionRecord
from paywire.usage import MeterUsage
from paywire.web import require_usage
from tests.paywire.billing.subscribers import HALF_FEB, MAR_1, subscribed, wait_for
from tests.paywire.conftest import Service
from tests.paywire.usage.conftest import QUICK_SENDER, all_sent, post_usage
from tests.support.stripesim import Sim

# The default catalog, with Advanced given 100 API calls a month and nothing beyond (hard).
HARD = '\nusage = { api_calls = { included = 100, limit = "hard" } }\n'


def _catalog_text() -> str:
    text = resources.files("paywire.catalog").joinpath("default.toml").read_text("utf-8")
    anchor = "prices = { month = 700, year = 7000 }\n"
    assert anchor in text
    return text.replace(anchor, anchor.rstrip("\n") + HARD, 1)


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(_catalog_text())
    return path


@pytest.fixture
def catalog(catalog_file: Path) -> Catalog:
    return parse_catalog(catalog_file.read_text(), str(catalog_file))


@pytest.fixture
def limited(make_paywire_service: Callable[..., Service], catalog_file: Path) -> Service:
    return make_paywire_service(**QUICK_SENDER, PAYWIRE_CATALOG=str(catalog_file))


@pytest.fixture
def product(limited: Service, serve_app: Callable[[Any], httpx.Client]) -> httpx.Client:
    """A host app with a route gated on API calls, mounted with the same settings."""
    app = FastAPI()
    paywire.mount(app, limited.settings)

    @app.get("/search")
    def search(usage: MeterUsage = Depends(require_usage("api_calls"))) -> dict[str, int]:  # noqa: B008
        return {"used": usage.used, "included": usage.included}

    return serve_app(app)


def _calls(user_id: str, count: int, prefix: str) -> dict[str, Any]:
    return {
        "events": [
            {"user_id": user_id, "meter": "api_calls", "value": 1, "identifier": f"{prefix}-{i}"} for i in range(count)
        ]
    }


def test_a_hard_limit_answers_429_once_the_allowance_is_spent(
    limited: Service, sim: Sim, product: httpx.Client
) -> None:
    kim = subscribed(limited, sim, "kim", "advanced")
    assert product.get("/search", headers=kim.headers).json() == {"used": 0, "included": 100}
    assert post_usage(limited, _calls("kim", 99, "kim")).json()["accepted"] == 99
    wait_for("99 of 100 used", lambda: product.get("/search", headers=kim.headers).json()["used"] == 99)
    assert post_usage(limited, _calls("kim", 1, "kim-last")).json()["accepted"] == 1

    refused = wait_for(
        "the limit reached", lambda: (r := product.get("/search", headers=kim.headers)).status_code == 429 and r
    )
    error = refused.json()["error"]
    assert error["code"] == "usage_limit_reached" and (error["used"], error["included"]) == (100, 100)
    assert error["message"] == (
        "You have used all 100 API calls your plan includes this period; more are available from "
        "1 March 2026, or with a plan that includes more."
    )
    assert int(refused.headers["Retry-After"]) == MAR_1 - HALF_FEB  # the customer's (clock) time
    # One read: the sender may report the last calls to Stripe meanwhile (`pending` moves).
    usage = kim.billing()["usage"][0]
    assert (usage["used"], usage["included"], usage["limit"], usage["charge"]) == (100, 100, "hard", 0)

    pat = subscribed(limited, sim, "pat", "pro", advance_to=None)
    assert product.get("/search", headers=pat.headers).json()["error"]["code"] == "usage_not_included"
    assert product.get("/search", headers=pat.headers).status_code == 403


def test_a_soft_limit_never_blocks_and_notifies_at_80_and_100_percent_once(
    limited: Service, sim: Sim, product: httpx.Client
) -> None:
    lea = subscribed(limited, sim, "lea", "scale")
    for count, prefix in ((80, "a"), (5, "b"), (20, "c"), (30, "d")):
        events = _calls("lea", count, prefix)
        for event in events["events"]:
            event["value"] = 100  # 8,000, 8,500, 10,500, 13,500 of 10,000
        assert post_usage(limited, events).json()["accepted"] == count
        all_sent(limited, "lea")
    assert product.get("/search", headers=lea.headers).json() == {"used": 13500, "included": 10000}

    def notices() -> list[tuple[str, int]]:
        with limited.sessions() as session:
            facts = session.scalars(select(OutboxFact).where(OutboxFact.kind == "usage_threshold")).all()
            return sorted(((f.dedup_key, int(f.payload["threshold"])) for f in facts), key=lambda f: f[1])

    # Thresholds are looked at once a second after sending: the last notice may follow the send.
    found = wait_for("the 80 % and 100 % notices", lambda: len(notices()) >= 2 and notices())
    assert [threshold for _, threshold in found] == [80, 100]
    assert all(key.startswith("usage_threshold:lea:api_calls:") for key, _ in found)

    def mailed() -> list[str]:
        with limited.sessions() as session:
            rows = session.execute(
                select(ReactionRecord.detail)
                .join(OutboxFact, OutboxFact.id == ReactionRecord.outbox_id)
                .where(OutboxFact.kind == "usage_threshold")
            ).all()
            return sorted(str(detail) for (detail,) in rows)

    sent = wait_for("both notices mailed", lambda: len(mailed()) == 2 and mailed())
    assert "You have used 80 % of the API calls your plan includes" in sent[0]
    assert "You have used all the API calls your plan includes" in sent[1]

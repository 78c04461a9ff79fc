"""A host app mounting paywire and gating its own routes on features and plans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker

import paywire
from paywire.billing.entitlements import Entitlement
from paywire.config import load_settings
from paywire.web import require_feature, require_plan
from paywire.web.auth import issue_token
from tests.paywire.conftest import AUTH_SECRET
from tests.paywire.factories import mirror_subscription
from tests.support.stripesim import TEST_KEY, Sim


@pytest.fixture
def host(sim: Sim, database_url: str, serve_app: Callable[[FastAPI], httpx.Client]) -> httpx.Client:
    settings = load_settings(
        _env_file=None,
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_API_BASE=sim.url,
        DATABASE_URL=database_url,
        PAYWIRE_AUTH_SECRET=AUTH_SECRET,
    )
    app = FastAPI()
    paywire.mount(app, settings)

    @app.get("/reports/export", dependencies=[Depends(require_feature("export"))])
    def export() -> dict[str, str]:
        return {"ok": "export"}

    @app.get("/api-keys")
    def api_keys(
        entitlement: Annotated[Entitlement, Depends(require_feature("api_access"))],
    ) -> dict[str, object]:
        return {"plan": entitlement.plan, "seats": entitlement.quantity}

    @app.get("/advanced-only", dependencies=[Depends(require_plan("advanced"))])
    def advanced() -> dict[str, str]:
        return {"ok": "advanced"}

    @app.get("/exactly-basic", dependencies=[Depends(require_plan("basic", or_higher=False))])
    def exactly_basic() -> dict[str, str]:
        return {"ok": "basic"}

    return serve_app(app)


def _as(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(AUTH_SECRET, user, None)}"}


def test_no_plan_no_access(host: httpx.Client) -> None:
    for path in ("/reports/export", "/api-keys", "/advanced-only", "/exactly-basic"):
        r = host.get(path, headers=_as("nobody"))
        assert r.status_code == 403
        assert r.json()["error"]["reason"] == "no_subscription"
    assert host.get("/reports/export").status_code == 401


def test_features_follow_the_plan(host: httpx.Client, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        mirror_subscription(session, "adv", plan="advanced", status="active")
        mirror_subscription(session, "pro", plan="pro", status="trialing", quantity=4)
        mirror_subscription(session, "basic", plan="basic", status="active")
        mirror_subscription(session, "gone", plan="pro", status="canceled")

    assert host.get("/reports/export", headers=_as("adv")).status_code == 200
    r = host.get("/api-keys", headers=_as("adv"))
    assert r.status_code == 403 and r.json()["error"]["reason"] == "feature_not_included"
    assert host.get("/api-keys", headers=_as("pro")).json() == {"plan": "pro", "seats": 4}
    r = host.get("/api-keys", headers=_as("gone"))
    assert r.status_code == 403 and r.json()["error"]["reason"] == "canceled"

    assert host.get("/advanced-only", headers=_as("adv")).status_code == 200
    assert host.get("/advanced-only", headers=_as("pro")).status_code == 200
    r = host.get("/advanced-only", headers=_as("basic"))
    assert r.status_code == 403 and r.json()["error"]["reason"] == "plan_too_low"
    assert host.get("/exactly-basic", headers=_as("basic")).status_code == 200
    r = host.get("/exactly-basic", headers=_as("pro"))
    assert r.status_code == 403 and r.json()["error"]["reason"] == "plan_mismatch"


def test_the_mounted_api_answers_in_the_host_app(host: httpx.Client) -> None:
    r = host.get("/api/billing", headers=_as("nobody"))
    assert r.status_code == 200 and r.json()["plan"] is None
    assert host.get("/healthz").json() == {"status": "ok"}

"""Logs: `PAYWIRE_LOG_FORMAT=json` gives one JSON object per line, and the logs of a whole
scenario (`paywire serve` and its worker process: a checkout, a failed renewal with its email
written to the log, a one-time purchase) hold no secret, no card number and no full email address."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paywire.billing.customers import get_or_create_customer
from paywire.catalog import load_catalog
from paywire.catalog.sync import push
from paywire.db.engine import make_engine, make_session_factory
from paywire.db.migrate import upgrade_to_head
from paywire.db.models import Order, Subscription, WebhookEvent
from paywire.logs import Redact, formatter, redact
from paywire.outbox import store as outbox
from paywire.stripe import StripeGateway
from paywire.web.auth import issue_token
from tests.paywire.billing.subscribers import FEB_1, MAR_1, wait_for
from tests.support.billing_world import CARD_FAILS_LATER, with_card
from tests.support.processes import free_port, wait_http
from tests.support.stripesim import TEST_KEY, Sim

AUTH_SECRET = "a-structured-logs-test-secret-0123456789"
EMAIL = "logan.lovelace@example.com"
OTHER_EMAIL = "pat.payer@example.org"


def test_redaction_masks_what_must_never_be_logged() -> None:
    line = (
        f"key {TEST_KEY} secret whsec_abcDEF123 to {EMAIL} card 4242 4242 4242 4242 "
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXBhcnQ version 1796324742123457"
    )
    masked = redact(line)
    for secret in (TEST_KEY, "whsec_abcDEF123", EMAIL, "4242 4242 4242 4242", "eyJzdWIiOiJ1MSJ9"):
        assert secret not in masked
    assert "l…@example.com" in masked and "card …4242" in masked and "1796324742123457" in masked


def test_a_json_line_carries_the_fields_passed_as_extra() -> None:
    record = logging.LogRecord("paywire.events.worker", logging.INFO, __file__, 1, "webhook %s for %s", None, None)
    record.args = ("evt_1", EMAIL)
    record.event_id, record.outcome, record.duration_ms = "evt_1", "processed", 12.5
    assert Redact().filter(record)
    found = json.loads(formatter("json").format(record))
    assert found["message"] == "webhook evt_1 for l…@example.com"
    assert (found["level"], found["logger"], found["event_id"], found["outcome"]) == (
        "INFO",
        "paywire.events.worker",
        "evt_1",
        "processed",
    )
    assert found["duration_ms"] == 12.5 and "time" in found


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_logs_of_a_whole_scenario_are_json_and_leak_nothing(sim: Sim, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'logs.sqlite3'}"
    upgrade_to_head(database)
    port = free_port()
    client = sim.client()
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{port}/webhooks/stripe", "enabled_events": ["*"]}
    )
    gateway = StripeGateway(TEST_KEY, api_base=sim.url, max_network_retries=0)
    push(load_catalog(), gateway)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYWIRE_"))}
    env.update(
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_API_BASE=sim.url,
        STRIPE_WEBHOOK_SECRET=str(endpoint.secret),
        DATABASE_URL=database,
        APP_URL=f"http://127.0.0.1:{port}",
        PAYWIRE_AUTH_SECRET=AUTH_SECRET,
        PAYWIRE_LOG_FORMAT="json",
        PAYWIRE_LOG_LEVEL="INFO",
        PAYWIRE_EMAIL_BACKEND="log",
        PAYWIRE_WORKER_POLL_INTERVAL="0.2",
    )
    stderr = tmp_path / "serve.err"
    with open(stderr, "wb") as errors, open(tmp_path / "serve.out", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "paywire.cli.main", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=errors,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        _scenario(sim, gateway, database, port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    lines = [line for line in stderr.read_text().splitlines() if line.strip()]
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line[:200]}")
    events = [p for p in parsed if p.get("event_id")]
    assert events and all({"event_type", "object_id", "outcome", "duration_ms"} <= set(p) for p in events)
    assert any(p.get("event_type") == "invoice.payment_failed" for p in events)
    assert any("payment" in p["message"].lower() and "email" in p["message"].lower() for p in parsed), "no email logged"
    text = "\n".join(lines)
    leaks = (TEST_KEY, str(endpoint.secret), AUTH_SECRET, EMAIL, OTHER_EMAIL, "4242424242424242", "4000000000000341")
    for secret in leaks:
        assert secret not in text, f"{secret[:12]}… was logged"


def _scenario(sim: Sim, gateway: StripeGateway, database: str, port: int) -> None:
    """A subscriber on a test clock pays at checkout, then their card fails at the renewal
    (an email is written to the log); someone else buys a pass."""
    client = sim.client()
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": FEB_1})
    engine = make_engine(database)
    sessions = make_session_factory(engine)
    with sessions() as session:
        customer = get_or_create_customer(session, gateway, user_id="logan", email=EMAIL, test_clock=clock.id)
    headers = {"Authorization": f"Bearer {issue_token(AUTH_SECRET, 'logan', EMAIL, 3600)}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False) as http:
        started = http.post("/api/checkout", json={"plan": "basic", "interval": "month"}, headers=headers)
        assert started.status_code == 200, started.text
        assert sim.complete_checkout(started.json()["id"]).status_code == 200
        wait_for("access", lambda: http.get("/api/billing", headers=headers).json()["access"])
        with sessions() as session:
            subscription = session.scalars(select(Subscription.id).where(Subscription.user_id == "logan")).one()
        failing = with_card(client, client.v1.customers.retrieve(customer.stripe_customer_id), CARD_FAILS_LATER)
        client.v1.subscriptions.update(subscription, params={"default_payment_method": failing.id})
        sim.advance(client, clock.id, MAR_1 + 3600)

        def failed_payment_handled() -> bool:
            with sessions() as session:
                rows = session.execute(select(WebhookEvent.type, WebhookEvent.state)).all()
            return any(t == "invoice.payment_failed" and s == "processed" for t, s in rows) and not any(
                s in ("pending", "processing") for _, s in rows
            )

        wait_for("the failed renewal handled", failed_payment_handled)
        other = {"Authorization": f"Bearer {issue_token(AUTH_SECRET, 'pat', OTHER_EMAIL, 3600)}"}
        bought = http.post("/api/checkout", json={"product": "pass-3-months"}, headers=other)
        assert bought.status_code == 200, bought.text
        assert sim.complete_checkout(bought.json()["id"]).status_code == 200
        wait_for("the pass fulfilled", lambda: failed_payment_handled() and _fulfilled(sessions))
        # The emails (the failed payment's among them) are written to the log before their facts
        # are marked done: wait for every fact, so the log holds them before the server stops.
        wait_for("every notice delivered", lambda: _notices_delivered(sessions))
    engine.dispose()


def _fulfilled(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return session.scalars(select(Order.status)).all() == ["fulfilled"]


def _notices_delivered(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        depth = outbox.depth(session)
    return depth.get("done", 0) > 0 and not depth.get("pending")

"""The sender, round by round: volume goes by the meter event stream (one request per 100
events), a few events by one v1 request each; a Stripe that fails is retried with backoff and
counts each event once; what Stripe refuses (at once on v1, later in an error report for the
stream) is kept as failed, counted and shown. And recording in process, and the drift between
paywire's usage and Stripe's summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import paywire.usage
from paywire.cli.main import main as cli
from paywire.db.models import OutboxFact, UsageErrorReport, UsageRecord
from paywire.metrics import USAGE_REFUSED_BY_STRIPE, USAGE_STRIPE_REQUESTS
from paywire.usage import UsageRefused
from paywire.usage import sender as sender_module
from paywire.usage.sender import SenderOptions, UsageSender, build_sender
from tests.paywire.billing.subscribers import FEB_1, HALF_FEB, MAR_1, subscribed, wait_for
from tests.paywire.conftest import Service
from tests.paywire.usage.conftest import QUICK_SENDER, post_usage, states, stripe_usage
from tests.support.stripesim import TEST_KEY, Sim


@pytest.fixture
def held_service(make_paywire_service: Callable[..., Service]) -> Service:
    return make_paywire_service(**QUICK_SENDER, PAYWIRE_USAGE_SENDER="false")


@pytest.fixture
def sender(held_service: Service) -> UsageSender:
    """A sender driven round by round; it reads error reports only when told to."""
    options = replace(SenderOptions.from_settings(held_service.settings), error_poll_interval=3600, tail_hold_seconds=0)
    return build_sender(held_service.settings, options=options)


def _requests(kind: str) -> float:
    return float(USAGE_STRIPE_REQUESTS.labels(kind=kind)._value.get())


def _events(user_id: str, count: int, prefix: str, value: int = 1) -> dict[str, Any]:
    return {
        "events": [
            {"user_id": user_id, "meter": "api_calls", "value": value, "identifier": f"{prefix}-{i}"}
            for i in range(count)
        ]
    }


def _drain(sender: UsageSender, service: Service, user_id: str) -> None:
    wait_for("every event sent", lambda: sender.run_once() == 0 and not states(service, user_id).get("pending"))


def test_volume_goes_by_the_stream_and_a_few_events_one_request_each(
    held_service: Service, sim: Sim, sender: UsageSender
) -> None:
    mia = subscribed(held_service, sim, "mia", "scale")
    assert post_usage(held_service, _events("mia", 250, "bulk", 2)).json()["accepted"] == 250
    before = {kind: _requests(kind) for kind in ("stream", "session", "v1")}
    assert sender.run_once() == 250
    assert _requests("stream") - before["stream"] == 3  # 100 + 100 + 50
    assert _requests("session") - before["session"] == 1
    assert _requests("v1") == before["v1"]
    assert post_usage(held_service, _events("mia", 3, "few", 5)).json()["accepted"] == 3
    quiet = build_sender(held_service.settings)  # a sender that has not just streamed a wave
    assert quiet.run_once() == 3
    assert _requests("v1") - before["v1"] == 3
    with held_service.sessions() as session:
        vias = dict(session.execute(select(UsageRecord.identifier, UsageRecord.sent_via)).all())
    assert vias["bulk-0"] == "stream" and vias["few-0"] == "v1"
    assert stripe_usage(mia, FEB_1, MAR_1) == 250 * 2 + 3 * 5


def test_at_volume_the_last_batch_waits_to_be_filled(held_service: Service, sim: Sim) -> None:
    subscribed(held_service, sim, "max", "scale")
    # A hold no slow machine outlasts while the wave goes on; a short one for its end.
    options = replace(SenderOptions.from_settings(held_service.settings), tail_hold_seconds=600)
    sender = build_sender(held_service.settings, options=options)
    assert post_usage(held_service, _events("max", 250, "wave")).json()["accepted"] == 250
    before = _requests("stream")
    assert sender.run_once() == 200  # two full batches leave; the other 50 wait for company
    assert states(held_service, "max") == {"sent": 200, "pending": 50}
    assert post_usage(held_service, _events("max", 50, "more")).json()["accepted"] == 50
    _drain(sender, held_service, "max")  # 100 waiting: a full batch
    assert _requests("stream") - before == 3  # 300 events, 3 requests
    assert post_usage(held_service, _events("max", 30, "last")).json()["accepted"] == 30
    assert sender.run_once() == 0  # 30 wait for company
    sender.options = replace(options, tail_hold_seconds=0.3)
    _drain(sender, held_service, "max")  # the wave is over: the last 30 leave once they have waited
    assert _requests("stream") - before == 4


def test_soft_limits_read_the_table_only_when_a_threshold_may_be_crossed(
    held_service: Service, sim: Sim, sender: UsageSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribed(held_service, sim, "ivy", "scale")  # 10,000 included, notices at 8,000 and 10,000
    monkeypatch.setattr(sender_module, "THRESHOLD_CHECK_INTERVAL", 0.0)
    reads: list[str] = []
    real = sender_module.meter_usage

    def counted(*args: Any) -> Any:
        reads.append(args[2].user_id)
        return real(*args)

    monkeypatch.setattr(sender_module, "meter_usage", counted)

    def notices() -> int:
        with held_service.sessions() as session:
            keys = session.scalars(select(OutboxFact.dedup_key).where(OutboxFact.kind == "usage_threshold")).all()
            return sum(1 for key in keys if key.startswith("usage_threshold:ivy:"))

    steps = [  # events, value each, table reads and notices after it
        (50, 1, 1, 0),  # first look
        (50, 1, 1, 0),  # 100 of 10,000 at most: nothing owed, not read
        (10, 790, 2, 1),  # 8,000 at most: read, the 80 % notice
        (10, 1, 2, 1),  # 8,010 at most: 100 % not reached, not read
        (20, 100, 3, 2),  # 10,010 at most: read, the 100 % notice
        (5, 1, 3, 2),  # every notice of the period recorded: never read again
    ]
    for step, (count, value, expected_reads, expected_notices) in enumerate(steps):
        assert post_usage(held_service, _events("ivy", count, f"s{step}", value)).json()["accepted"] == count
        _drain(sender, held_service, "ivy")
        assert (len(reads), notices()) == (expected_reads, expected_notices), step


def test_a_failing_stripe_is_retried_with_backoff_and_counts_each_event_once(
    held_service: Service, sim: Sim, sender: UsageSender
) -> None:
    ned = subscribed(held_service, sim, "ned", "scale")
    assert post_usage(held_service, _events("ned", 40, "n", 3)).json()["accepted"] == 40
    sim.control("faults", {"api": {"error_500_rate": 1.0}})
    try:
        assert sender.run_once() == 40
    finally:
        sim.control("faults", {"api": {"error_500_rate": 0.0}})
    with held_service.sessions() as session:
        rows = session.scalars(select(UsageRecord).where(UsageRecord.user_id == "ned")).all()
        assert {(r.state, r.attempts) for r in rows} == {("pending", 1)}
        assert all(r.last_error and r.next_attempt_at and r.next_attempt_at > r.recorded_at for r in rows)
    _drain(sender, held_service, "ned")
    assert states(held_service, "ned") == {"sent": 40}
    assert stripe_usage(ned, FEB_1, MAR_1) == 120


def test_what_stripe_refuses_is_kept_failed_counted_and_shown(
    held_service: Service, sim: Sim, sender: UsageSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    ola = subscribed(held_service, sim, "ola", "scale")
    assert post_usage(held_service, _events("ola", 25, "late", 4)).json()["accepted"] == 25
    assert post_usage(held_service, _events("ola", 2, "now", 4)).json()["accepted"] == 2
    client = sim.client()
    meter = next(m for m in client.v1.billing.meters.list().data if m.event_name == "api_calls")
    client.v1.billing.meters.deactivate(meter.id)  # Stripe no longer takes api_calls
    counted = USAGE_REFUSED_BY_STRIPE.labels(code="archived_meter")._value.get()

    assert sender.run_once() == 27  # 27 waiting: the stream; it answers, then checks
    assert sender.poll_error_reports() == 1
    with held_service.sessions() as session:
        (report,) = session.scalars(select(UsageErrorReport)).all()
        assert (report.type, report.meter_id, report.error_count) == (
            "v1.billing.meter.error_report_triggered",
            meter.id,
            27,
        )
        assert report.codes == {"archived_meter": 27} and len(report.samples) == 10  # Stripe's samples
    assert USAGE_REFUSED_BY_STRIPE.labels(code="archived_meter")._value.get() - counted == 27
    assert sender.poll_error_reports() == 0  # read once

    assert post_usage(held_service, _events("ola", 1, "v1", 4)).json()["accepted"] == 1
    assert build_sender(held_service.settings).run_once() == 1  # one event, no wave: v1, refused at once
    with held_service.sessions() as session:
        refused = session.scalars(select(UsageRecord).where(UsageRecord.identifier == "v1-0")).one()
        assert refused.state == "failed" and "No active meter" in str(refused.last_error)
    usage = ola.billing()["usage"][0]
    assert usage["refused"] == 11 and usage["used"] == (27 - 10) * 4  # the events Stripe named are not billed

    for name, value in {
        "STRIPE_SECRET_KEY": TEST_KEY,
        "STRIPE_API_BASE": str(held_service.settings.stripe_api_base),
        "DATABASE_URL": held_service.settings.database_url,
    }.items():
        monkeypatch.setenv(name, value)
    out = CliRunner().invoke(cli, ["usage", "status"])
    assert out.exit_code == 0, out.output
    assert "failed 11" in out.output and "27 archived_meter" in out.output and "error_report_triggered" in out.output


def test_recording_in_process_and_identifiers_derived_from_the_call(held_service: Service, sim: Sim) -> None:
    subscribed(held_service, sim, "pia", "scale")
    fresh = paywire.usage.record("pia", "api_calls")  # no identifier, no time: a new event each call
    assert fresh.startswith("pw_") and paywire.usage.record("pia", "api_calls") != fresh
    timed = paywire.usage.record("pia", "api_calls", 5, timestamp=HALF_FEB - 60)
    assert paywire.usage.record("pia", "api_calls", 5, timestamp=HALF_FEB - 60) == timed  # the same call
    keyed = paywire.usage.record("pia", "api_calls", 7, request_key="job-7")
    assert paywire.usage.record("pia", "api_calls", 7, request_key="job-7") == keyed
    assert paywire.usage.record("pia", "api_calls", 9, identifier="mine") == "mine"
    with pytest.raises(UsageRefused) as refused:
        paywire.usage.record("pia", "api_calls", -3)
    assert refused.value.refusal.code == "invalid_value"
    recorded = paywire.usage.record_many(
        [{"user_id": "pia", "meter": "api_calls", "identifier": "mine"}, {"user_id": "pia", "meter": "nope"}]
    )
    assert (recorded.accepted, recorded.duplicates, [r.code for r in recorded.refused]) == (0, 1, ["unknown_meter"])
    assert states(held_service, "pia") == {"pending": 5}
    assert paywire.usage.cancel("mine") == "canceled"


def test_a_drift_between_paywire_and_stripe_is_reported(make_paywire_service: Callable[..., Service], sim: Sim) -> None:
    service = make_paywire_service(**{**QUICK_SENDER, "PAYWIRE_USAGE_RECONCILE_INTERVAL": 0.05})
    quin = subscribed(service, sim, "quin", "scale")
    assert post_usage(service, _events("quin", 10, "q", 10)).json()["accepted"] == 10
    in_line = wait_for(
        "Stripe's figure in line", lambda: (u := quin.billing()["usage"][0])["stripe"]["used"] == 100 and u
    )
    assert in_line["stripe"]["drift"] == 0 and in_line["used"] == 100
    customer = quin.stripe_subscription()["customer"]
    sim.client().v1.billing.meter_events.create(  # usage Stripe has and paywire did not send
        params={
            "event_name": "api_calls",
            "identifier": "from-elsewhere",
            "timestamp": HALF_FEB,
            "payload": {"stripe_customer_id": customer, "value": "7"},
        }
    )
    drifted = wait_for("the drift reported", lambda: (u := quin.billing()["usage"][0])["stripe"]["drift"] and u)
    assert (drifted["used"], drifted["stripe"]["used"], drifted["stripe"]["drift"]) == (100, 107, 7)

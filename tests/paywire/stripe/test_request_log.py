"""The log of requests to Stripe (PAYWIRE_STRIPE_REQUEST_LOG, `paywire.stripe.request_log`):
a line per request as it left, by every process naming the file, never a secret."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import orjson
import pytest

from paywire.config import load_settings
from paywire.stripe import Kind, Priority, StripeGateway, at_priority
from paywire.stripe import idempotency as keys
from paywire.stripe.request_log import RequestLog, request_log_at
from tests.support.stripesim import TEST_KEY, Sim


def lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_each_request_is_written_as_it_left_with_its_slot_and_priority(sim: Sim, tmp_path: Path) -> None:
    path = tmp_path / "stripe-requests.jsonl"
    settings = load_settings(
        STRIPE_SECRET_KEY=TEST_KEY,
        STRIPE_API_BASE=sim.url,
        DATABASE_URL=f"sqlite:///{tmp_path}/paywire.sqlite3",
        PAYWIRE_STRIPE_REQUEST_LOG=str(path),
        PAYWIRE_STRIPE_RATE_LIMIT="20/s",  # the suite runs without a budget
    )
    gateway = StripeGateway.from_settings(settings)  # the deployment's budget (20/s) and log
    customer = gateway.create_customer(
        user_id="u-logged", email="ada@example.com", idempotency_key=keys.customer_create("u-logged")
    )
    with at_priority(Priority.MIRROR):
        gateway.retrieve(Kind.CUSTOMER, customer["id"])
    with at_priority(Priority.BACKGROUND):
        gateway.find_customers_of_user("u-logged")

    written = lines(path)
    assert [(w["method"], w["path"], w["priority"], w["status"]) for w in written] == [
        ("POST", "/v1/customers", "interactive", 200),
        ("GET", f"/v1/customers/{customer['id']}", "mirror", 200),
        ("GET", "/v1/customers/search", "background", 200),
    ]
    for line in written:
        assert isinstance(line["slot"], float) and isinstance(line["sent"], float)
        assert line["slot"] <= line["sent"], "nothing leaves before its slot"
    text = path.read_text()
    assert TEST_KEY not in text and "ada" not in text and "metadata" not in text, "no key, no query string"


def test_processes_naming_one_file_append_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "stripe-requests.jsonl"
    logs = [RequestLog(str(path)), RequestLog(str(path))]  # each process opens the file itself

    def write(log: RequestLog, n: int) -> None:
        for i in range(300):
            log.write(sent=float(i), slot=None, method="GET", path=f"/v1/invoices/in_{n}_{i}", status=200, seconds=0.01)

    threads = [threading.Thread(target=write, args=(log, n)) for n, log in enumerate(logs * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = lines(path)
    assert len(written) == 1200
    assert all(w["slot"] is None and str(w["path"]).startswith("/v1/invoices/in_") for w in written)


def test_the_setting_names_the_file_and_unset_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/paywire.sqlite3"
    named = load_settings(DATABASE_URL=url, PAYWIRE_STRIPE_REQUEST_LOG=str(tmp_path / "requests.jsonl"))
    assert named.stripe_request_log == str(tmp_path / "requests.jsonl")
    log = request_log_at(named.stripe_request_log)
    assert log is not None and request_log_at(named.stripe_request_log) is log, "one open file per process"
    assert request_log_at(load_settings(DATABASE_URL=url, PAYWIRE_STRIPE_REQUEST_LOG=None).stripe_request_log) is None


def test_a_line_that_cannot_be_written_never_fails_the_request(
    sim: Sim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = RequestLog(str(tmp_path / "stripe-requests.jsonl"))
    os.close(log._fd)
    log._fd = os.open("/dev/full", os.O_WRONLY)  # every write: no space left on the device
    gateway = StripeGateway(TEST_KEY, api_base=sim.url, request_log=log)
    for n in range(2):
        created = gateway.create_customer(user_id=f"u-full-{n}", email=None, idempotency_key=f"k-full-{n}")
        assert created["id"].startswith("cus_")
    said = [r for r in caplog.records if "Stripe request log" in r.getMessage()]
    assert len(said) == 1, "said once"

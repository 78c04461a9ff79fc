from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from paywire.config import load_settings
from paywire.metrics import STRIPE_API_ERRORS, render_latest
from paywire.web import create_app
from tests.paywire.conftest import AUTH_SECRET, Service
from tests.support.stripesim import TEST_KEY

METRICS = [
    "paywire_webhooks_received_total",
    "paywire_webhooks_rejected_total",
    "paywire_webhooks_stored_total",
    "paywire_webhooks_duplicates_total",
    "paywire_webhooks_processed_total",
    "paywire_webhooks_failed_total",
    "paywire_webhooks_unhandled_total",
    "paywire_webhook_processing_seconds",
    "paywire_inbox_depth",
    "paywire_stripe_api_errors_total",
]


def test_healthz_and_readyz(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def _app_on(database_url: str) -> FastAPI:
    settings = load_settings(
        _env_file=None,
        STRIPE_SECRET_KEY=TEST_KEY,
        DATABASE_URL=database_url,
        PAYWIRE_AUTH_SECRET=AUTH_SECRET,
    )
    return create_app(settings)


Serve = Callable[[FastAPI], httpx.Client]


def test_readyz_refuses_an_unmigrated_database(empty_database_url: str, serve_app: Serve) -> None:
    client = serve_app(_app_on(empty_database_url))
    r = client.get("/readyz")
    assert client.get("/healthz").status_code == 200
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "migrations": "behind"}


def test_readyz_refuses_an_unreachable_database(serve_app: Serve) -> None:
    r = serve_app(_app_on("postgresql+psycopg://nobody@127.0.0.1:1/none")).get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("unreachable")


def test_readyz_waits_for_the_worker_serve_runs_beside_the_app(database_url: str, serve_app: Serve) -> None:
    app = _app_on(database_url)
    state = ["starting"]
    app.state.paywire.worker_state = lambda: state[0]
    client = serve_app(app)
    starting = client.get("/readyz")
    assert starting.status_code == 503
    assert starting.json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "migrations": "ok", "worker": "starting"},
    }
    state[0] = "running"
    running = client.get("/readyz")
    assert running.status_code == 200 and running.json()["checks"]["worker"] == "ok"
    state[0] = "stopped"
    stopped = client.get("/readyz")
    assert stopped.status_code == 503 and stopped.json()["checks"]["worker"] == "stopped"
    assert client.get("/healthz").status_code == 200  # the process itself still answers


def test_metrics_exposes_every_paywire_metric(paywire_service: Service) -> None:
    STRIPE_API_ERRORS.labels(type="rate_limit")  # make sure a labelled series exists
    with paywire_service.http() as http:
        r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    for name in METRICS:
        assert name in r.text, name


def test_metrics_add_up_what_the_worker_processes_wrote(tmp_path: Path) -> None:
    snapshots = []
    for n, (processed, depth) in enumerate([(3, 5), (4, 9)]):
        registry = CollectorRegistry()
        Counter("paywire_webhooks_processed", "doc", ["type"], registry=registry).labels(type="merge.probe").inc(
            processed
        )
        Gauge("paywire_inbox_depth", "doc", registry=registry).set(depth)
        path = tmp_path / f"worker{n}.prom"
        path.write_bytes(generate_latest(registry))
        snapshots.append(path)

    text = render_latest([*snapshots, tmp_path / "not-written-yet.prom"])[0].decode()

    assert 'paywire_webhooks_processed_total{type="merge.probe"} 7.0' in text  # summed
    depth = next(line for line in text.splitlines() if line.startswith("paywire_inbox_depth "))
    assert float(depth.split()[1]) == 9.0  # the largest: every worker measures the one inbox
    for name in METRICS:  # this process's own metrics are all still there
        assert name in text, name
    assert text.count("# TYPE paywire_inbox_depth gauge") == 1

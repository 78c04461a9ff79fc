"""Every Prometheus metric paywire exports, defined in one place.

The web layer serves them at `/metrics`; the Stripe gateway counts API errors; the events
pipeline counts webhooks and sets the inbox depth.

`paywire serve` runs the events worker in child processes, whose counters live there: each
writes its exposition to a file every second (`write_snapshot`), and the server's `/metrics`
adds them to its own (`render_latest(snapshots)`): counters and histograms summed over the
processes, gauges at their largest (the inbox depth every worker measures is one depth).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

WEBHOOKS_RECEIVED = Counter("paywire_webhooks_received", "Webhook requests received at /webhooks/stripe.")
WEBHOOKS_REJECTED = Counter(
    "paywire_webhooks_rejected",
    "Webhook requests refused before storing (bad signature, stale, too large, malformed).",
    ["reason"],
)
WEBHOOKS_STORED = Counter("paywire_webhooks_stored", "Verified events stored in the inbox.")
WEBHOOKS_DUPLICATES = Counter("paywire_webhooks_duplicates", "Verified events already in the inbox (redeliveries).")
WEBHOOKS_PROCESSED = Counter("paywire_webhooks_processed", "Inbox events processed successfully.", ["type"])
WEBHOOKS_FAILED = Counter("paywire_webhooks_failed", "Inbox event processing attempts that failed.", ["type"])
WEBHOOKS_UNHANDLED = Counter("paywire_webhooks_unhandled", "Inbox events of a type no handler knows.", ["type"])
WEBHOOKS_DEAD = Counter(
    "paywire_webhooks_dead",
    "Inbox events given up on after the retry bound (dead letters).",
    ["type"],
)
WEBHOOKS_LIVEMODE_MISMATCH = Counter(
    "paywire_webhooks_livemode_mismatch",
    "Verified events whose livemode differs from the configured key (stored, not applied).",
)
WEBHOOKS_API_VERSION_MISMATCH = Counter(
    "paywire_webhooks_api_version_mismatch",
    "Verified events rendered in another API version than the pinned one.",
    ["api_version"],
)
WEBHOOK_PROCESSING_SECONDS = Histogram(
    "paywire_webhook_processing_seconds",
    "Time to process one inbox event.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
INBOX_DEPTH = Gauge("paywire_inbox_depth", "Inbox events waiting to be processed.")
WEBHOOKS_COALESCED = Counter(
    "paywire_webhooks_coalesced",
    "Inbox events processed together with another event about the same object (one re-read for the group).",
)
WEBHOOK_REREADS_SKIPPED = Counter(
    "paywire_webhook_rereads_skipped",
    "Event groups needing no re-read: the mirror holds a read that started after they were received.",
)
WEBHOOK_REREADS = Counter(
    "paywire_webhook_rereads",
    "Objects the events worker read from Stripe (each read once per batch, shared by its groups).",
)
WEBHOOK_BATCH_FALLBACKS = Counter(
    "paywire_webhook_batch_fallbacks",
    "Worker batches whose one transaction failed and that were redone group by group.",
)
WORKER_HELD_SECONDS = Counter(
    "paywire_worker_held_seconds",
    "Seconds workers held off claiming while the receiver acknowledged a burst of webhooks.",
)
OUTBOX_FACTS = Counter("paywire_outbox_facts", "Business facts added to the outbox (once per fact).", ["kind"])
REACTIONS_DONE = Counter("paywire_reactions_done", "Reactions done and recorded, once per fact.", ["kind", "reaction"])
REACTIONS_FAILED = Counter("paywire_reactions_failed", "Reaction attempts that failed (retried later).", ["kind"])
OUTBOX_DEAD = Counter("paywire_outbox_dead", "Facts given up on after the retry bound.", ["kind"])
OUTBOX_DEPTH = Gauge("paywire_outbox_depth", "Facts waiting for their reactions.")
RECOVERY_RUNS = Counter(
    "paywire_recovery_runs",
    "Scans of Stripe's /v1/events for events the inbox lacks, by outcome (completed, failed).",
    ["outcome"],
)
RECOVERY_EVENTS_STORED = Counter(
    "paywire_recovery_events_stored",
    "Events stored by recovery from /v1/events: deliveries that never arrived (or not yet).",
)
SYNC_DRIFT = Counter(
    "paywire_sync_drift",
    "Differences `paywire sync` found between the mirror and Stripe, by resource and kind.",
    ["resource", "kind"],
)
STRIPE_API_ERRORS = Counter("paywire_stripe_api_errors", "Errors from Stripe API calls, by kind.", ["type"])
CHECKOUT_SESSIONS = Counter("paywire_checkout_sessions", "Checkout Sessions created, by mode.", ["mode"])


def render_latest(snapshots: Iterable[Path] = ()) -> tuple[bytes, str]:
    """The exposition text and its content type: this process's metrics, plus those of the
    worker processes that wrote `snapshots` (a missing one is skipped: not started yet)."""
    own = generate_latest(REGISTRY)
    texts = []
    for path in snapshots:
        with contextlib.suppress(OSError):
            texts.append(path.read_text())
    if not texts:
        return own, CONTENT_TYPE_LATEST
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged([own.decode(), *texts]))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def write_snapshot(path: Path) -> None:
    """Write this process's metrics where the server reads them (atomically: written
    aside, then renamed over the last one)."""
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    aside.write_bytes(generate_latest(REGISTRY))
    os.replace(aside, path)


class _Merged(Collector):
    """Metric families of several expositions as one: counter, histogram and summary samples
    summed, gauges at their largest, `_created` timestamps at their earliest."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for text in self.texts:
            for family in text_string_to_metric_families(text):
                families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                samples = values.setdefault(family.name, {})
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key not in samples:
                        samples[key] = sample.value
                    elif sample.name.endswith("_created"):
                        samples[key] = min(samples[key], sample.value)
                    elif family.type == "gauge":
                        samples[key] = max(samples[key], sample.value)
                    else:
                        samples[key] += sample.value
        for name, family in families.items():
            for (sample_name, labels), value in values[name].items():
                family.add_sample(sample_name, dict(labels), value)
            yield family

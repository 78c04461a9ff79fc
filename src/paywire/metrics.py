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
    "Event groups needing no re-read: the mirror already holds what they announce.",
)
WEBHOOK_PAYLOADS_APPLIED = Counter(
    "paywire_webhook_payloads_applied",
    "Event groups applied from their newest event's own payload instead of a re-read, by object kind.",
    ["kind"],
)
MIRROR_REREADS_AFTER_PAYLOAD = Counter(
    "paywire_mirror_rereads_after_payload",
    "Reads made again because a payload written while they were in flight stood instead, by object kind.",
    ["kind"],
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
# The request budget every process shares (paywire.stripe.budget).
STRIPE_REQUESTS = Counter(
    "paywire_stripe_requests", "Requests sent to Stripe, by priority (interactive, mirror, background).", ["priority"]
)
STRIPE_BUDGET_WAIT_SECONDS = Histogram(
    "paywire_stripe_budget_wait_seconds",
    "Time a request to Stripe waited for its slot in the request budget, by priority.",
    ["priority"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
STRIPE_RATE_LIMITED = Counter(
    "paywire_stripe_rate_limited",
    "429 answers from Stripe (each halves the budget for a while), by priority.",
    ["priority"],
)
STRIPE_BUDGET_RATE = Gauge("paywire_stripe_budget_rate", "Requests a second the budget allows now (after 429s, less).")
ENTITLEMENT_CACHE_HITS = Counter(
    "paywire_entitlement_cache_hits", "Entitlement checks answered from this process's cache, without a query."
)
ENTITLEMENT_CACHE_MISSES = Counter(
    "paywire_entitlement_cache_misses", "Entitlement checks that read the user's snapshot into the cache."
)
ENTITLEMENT_CACHE_INVALIDATIONS = Counter(
    "paywire_entitlement_cache_invalidations",
    "Cached entitlements dropped, by source: a commit of this process, the invalidation channel, "
    "a reset (the channel reconnected).",
    ["source"],
)
ENTITLEMENT_CACHE_FALLBACKS = Counter(
    "paywire_entitlement_cache_fallbacks",
    "Entitlement checks that read the mirror instead of the cache, by reason: channel (the invalidation "
    "channel is unhealthy), own_write (the caller's transaction changed an entitlement), fresh (asked for), "
    "off (no cache).",
    ["reason"],
)
ENTITLEMENT_CACHE_ENTRIES = Gauge("paywire_entitlement_cache_entries", "Users whose entitlement is cached here.")
USAGE_EVENTS = Counter(
    "paywire_usage_events",
    "Usage events offered to paywire.usage, by outcome (accepted, duplicate, refused_<reason>).",
    ["outcome"],
)
USAGE_SENT = Counter("paywire_usage_sent", "Usage events Stripe took, by way (v1, stream).", ["via"])
USAGE_STRIPE_REQUESTS = Counter(
    "paywire_usage_stripe_requests",
    "Requests the usage sender made to Stripe, by kind (v1 event, stream batch, session, adjustment, error reports).",
    ["kind"],
)
USAGE_SEND_FAILURES = Counter(
    "paywire_usage_send_failures",
    "Usage events whose sending failed, by reason (unavailable: retried later; refused: Stripe said no).",
    ["reason"],
)
USAGE_REFUSED_BY_STRIPE = Counter(
    "paywire_usage_refused_by_stripe",
    "Usage events Stripe reported refusing after taking them on the stream (error reports), by code.",
    ["code"],
)
USAGE_CANCELED = Counter("paywire_usage_canceled", "Usage events cancelled, by where (local, stripe).", ["where"])
USAGE_LAG_SECONDS = Histogram(
    "paywire_usage_lag_seconds",
    "Time from recording a usage event to Stripe taking it.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
)
USAGE_PENDING = Gauge("paywire_usage_pending", "Usage events recorded and not yet sent to Stripe.")
STRIPE_API_ERRORS = Counter("paywire_stripe_api_errors", "Errors from Stripe API calls, by kind.", ["type"])
CHECKOUT_SESSIONS = Counter("paywire_checkout_sessions", "Checkout Sessions created, by mode.", ["mode"])
# The business gauges (paywire.insights.gauges), read from the database when /metrics is served.
MRR = Gauge(
    "paywire_mrr", "Monthly recurring revenue now, in the currency's major unit (paywire.revenue).", ["currency"]
)
ACTIVE_SUBSCRIBERS = Gauge("paywire_active_subscribers", "Customers whose MRR is above 0.")
ARPU = Gauge("paywire_arpu", "MRR per active subscriber, in the currency's major unit.", ["currency"])
LOGO_CHURN_30D = Gauge(
    "paywire_logo_churn_ratio_30d", "Customers who churned in the last 30 days / those active before."
)
PAYMENT_SUCCESS_24H = Gauge(
    "paywire_payment_success_ratio_24h", "Payments that went through / payment attempts, invoices of the last 24 hours."
)
PAYMENT_ATTEMPTS_24H = Gauge("paywire_payment_attempts_24h", "Payment attempts on invoices of the last 24 hours.")
DUNNING_RECOVERY_30D = Gauge(
    "paywire_dunning_recovery_ratio_30d",
    "Invoices paid after a failed attempt / those whose dunning ended (30 days).",
)
DUNNING_FAILED_INVOICES = Gauge("paywire_dunning_failed_invoices", "Invoices whose payment failed at least once.")
DUNNING_RECOVERED_INVOICES = Gauge(
    "paywire_dunning_recovered_invoices", "Failed invoices paid later, by a retry or a card update.", ["by"]
)
DUNNING_LOST_INVOICES = Gauge(
    "paywire_dunning_lost_invoices", "Failed invoices given up (no try left, void, written off)."
)
DUNNING_OPEN_INVOICES = Gauge("paywire_dunning_open_invoices", "Failed invoices Stripe is still retrying.")
DUNNING_RECOVERED_AMOUNT = Gauge(
    "paywire_dunning_recovered_amount", "What failed invoices paid later brought in (major units).", ["currency"]
)
INBOX_FAILED = Gauge("paywire_inbox_failed", "Inbox events waiting for a retry after failing.")
INBOX_DEAD = Gauge("paywire_inbox_dead", "Inbox events given up on (dead letters) and not replayed.")
INBOX_OLDEST_PENDING = Gauge(
    "paywire_inbox_oldest_pending_seconds", "How long the oldest event waiting in the inbox has waited (0: none)."
)
WEBHOOK_LAG_P95 = Gauge(
    "paywire_webhook_lag_p95_seconds", "95th percentile of Stripe's created to applied, events of the last hour."
)
RECOVERY_COMPLETED_AT = Gauge(
    "paywire_recovery_last_completed_timestamp_seconds", "When the last scan of /v1/events completed (0: never)."
)
DISPUTES_OPEN = Gauge("paywire_disputes_open", "Disputes open (the bank has not decided), as mirrored.")
DISPUTES_CLOSED = Gauge("paywire_disputes_closed", "Disputes the bank decided, by outcome (won, lost, …).", ["outcome"])
DISPUTES_LOST_AMOUNT = Gauge(
    "paywire_disputes_lost_amount", "What lost disputes took back (major units).", ["currency"]
)
DISPUTE_ALERTS = Counter(
    "paywire_dispute_alerts_total", "Mails to the team: a dispute opened, reminded, closed; a refund failed.", ["kind"]
)
REFUNDS = Gauge("paywire_refunds", "Refunds mirrored, by status (pending, succeeded, failed, canceled).", ["status"])
DISPUTE_NEXT_DEADLINE = Gauge(
    "paywire_dispute_next_deadline_timestamp_seconds", "The soonest evidence deadline of an open dispute (0: none)."
)


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

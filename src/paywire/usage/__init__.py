"""Usage-based billing on Stripe Billing Meters: record usage in the product, durably and at
once; send it to Stripe without ever counting it twice; show it, limit it, bill it.

    import paywire.usage
    paywire.usage.record("user_1", "api_calls")                      # one call, value 1
    paywire.usage.record("user_1", "api_calls", 250, identifier="job-42:tokens")
    paywire.usage.cancel("job-42:tokens")                            # within 24 hours

`record` checks the event (a known meter, a whole value ≥ 0, a time Stripe takes, a user with
a customer and a metered item on that meter), stores it in `usage_events` and returns its
identifier; `UsageRefused` says why an event was not recorded. It never waits for Stripe: the
sender beside the worker (`paywire.usage.sender`) sends the table. Services record over HTTP
with `POST /api/usage` (`paywire.web.usage_api`).

Which app's recorder these functions use: the one of the last paywire app built in this
process (`paywire.mount`, `create_app`), or else one built from the environment's settings.
"""

from __future__ import annotations

import threading
from typing import Any

from paywire.catalog import load_catalog
from paywire.config import load_settings
from paywire.db.engine import make_engine
from paywire.usage.allowance import MeterUsage, UsageLimitReached, UsageNotIncluded
from paywire.usage.events import Refusal
from paywire.usage.recorder import Recorded, UsageRecorder, UsageRefused

__all__ = [
    "MeterUsage",
    "Recorded",
    "Refusal",
    "UsageLimitReached",
    "UsageNotIncluded",
    "UsageRecorder",
    "UsageRefused",
    "cancel",
    "record",
    "record_many",
    "use",
]

_lock = threading.Lock()
_default: UsageRecorder | None = None


def use(recorder: UsageRecorder | None) -> None:
    """Make `recorder` the one `record` and `cancel` use in this process."""
    global _default
    with _lock:
        _default = recorder


def _recorder() -> UsageRecorder:
    global _default
    with _lock:
        if _default is None:
            _default = _from_environment()
        return _default


def _from_environment() -> UsageRecorder:
    settings = load_settings()
    return UsageRecorder(make_engine(settings.database_url), load_catalog(settings.catalog_path), settings)


def record(
    user_id: str,
    meter: str,
    value: int = 1,
    identifier: str | None = None,
    timestamp: int | None = None,
    **options: Any,
) -> str:
    """Record one usage event; its identifier. See `UsageRecorder.record`."""
    return _recorder().record(user_id, meter, value, identifier, timestamp, **options)


def record_many(events: list[dict[str, Any]], **options: Any) -> Recorded:
    """Record a batch of events (dicts with `user_id`, `meter`, `value`, …), each on its own."""
    return _recorder().record_many(events, **options)


def cancel(identifier: str) -> str:
    """Cancel a usage event within 24 hours of recording it; see `UsageRecorder.cancel`."""
    return _recorder().cancel(identifier)

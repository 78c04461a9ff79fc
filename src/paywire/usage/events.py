"""A usage event as the product gives it, checked one by one, and its identifier. Pure.

An event is `{"user_id", "meter", "value", "identifier"?, "timestamp"?}`: `meter` is the
meter's `event_name`, `value` a whole number ≥ 0, `timestamp` unix seconds in the customer's
time (default: now, their test clock's in test mode). What can be refused, and why, without
asking the database is decided here (`parse_event`, `check_event`); whether the user may record
usage on that meter (a customer, a metered item) is `paywire.usage.accounts`.

The identifier is the event's identity here and at Stripe, so a retried call is the same event:
- the caller's, when given (at most 100 characters, printable);
- otherwise derived from the call: from the request's key and the event's place in it when
  the caller sends one (`Idempotency-Key`, or `request_key=` in Python); from the event
  itself when it names its time (the same user, meter, value and second are the same event);
- otherwise new (returned to the caller, who can retry or cancel with it).
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from paywire.catalog import Catalog, Meter

MAX_BATCH = 1000
MAX_VALUE = 10**15 - 1  # Stripe takes at most 15 digits
MAX_IDENTIFIER_LENGTH = 100  # Stripe's limit
MAX_USER_ID_LENGTH = 200
# Stripe takes events from the past 35 days and up to 5 minutes ahead. An hour is kept for
# the way to Stripe (an event refused at the door is better than one refused later).
PAST_WINDOW_SECONDS = 35 * 86400 - 3600
FUTURE_WINDOW_SECONDS = 300
FIELDS = ("user_id", "meter", "value", "identifier", "timestamp")
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}

# Why an event is refused: code -> what the field at fault is.
UNKNOWN_FIELD = "unknown_field"
INVALID_USER = "invalid_user"
UNKNOWN_METER = "unknown_meter"
INVALID_VALUE = "invalid_value"
INVALID_TIMESTAMP = "invalid_timestamp"
TIMESTAMP_OUT_OF_WINDOW = "timestamp_out_of_window"
INVALID_IDENTIFIER = "invalid_identifier"
NO_CUSTOMER = "no_customer"
NO_METERED_ITEM = "no_metered_item"
INVALID_EVENT = "invalid_event"


@dataclass(frozen=True)
class Refusal:
    """An event not recorded, and why (`code`, `message`, the `field` at fault)."""

    index: int
    code: str
    message: str
    field: str | None = None
    identifier: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "identifier": self.identifier,
        }


class Refused(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class UsageInput:
    """An event as given, its fields checked for type (not yet against the user)."""

    user_id: str
    meter: Meter
    value: int
    identifier: str | None
    timestamp: int | None


def parse_event(raw: Any, catalog: Catalog) -> UsageInput:
    """The event's fields, each checked; `Refused` names the first one at fault."""
    if not isinstance(raw, dict):
        raise Refused(INVALID_EVENT, "An event is a JSON object.")
    for key in raw:
        if key not in FIELDS:
            raise Refused(UNKNOWN_FIELD, f"Unknown field {key!r}.", str(key))
    return UsageInput(
        user_id=check_user_id(raw.get("user_id")),
        meter=check_meter(raw.get("meter"), catalog),
        value=check_value(raw.get("value", 1)),
        identifier=check_identifier(raw.get("identifier")),
        timestamp=check_timestamp_type(raw.get("timestamp")),
    )


def check_user_id(user_id: Any) -> str:
    if (
        not isinstance(user_id, str)
        or not 0 < len(user_id) <= MAX_USER_ID_LENGTH
        or user_id.isspace()
        # Printable ASCII is fine as it is; anything else is looked at character by character.
        or (
            not (user_id.isascii() and user_id.isprintable())
            and any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in user_id)
        )
    ):
        raise Refused(INVALID_USER, "user_id must be a user id (1-200 printable characters).", "user_id")
    return user_id


def check_meter(name: Any, catalog: Catalog) -> Meter:
    meter = catalog.meter_for_event(name) if isinstance(name, str) else None
    if meter is None:
        known = ", ".join(sorted(m.event for m in catalog.meters.values())) or "none"
        raise Refused(UNKNOWN_METER, f"Unknown meter {name!r} (the catalog's meters: {known}).", "meter")
    return meter


def check_value(value: Any) -> int:
    """A whole number of units, at least 0 (1.0 is 1; 1.5, -1, "1" and true are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(INVALID_VALUE, "value must be a whole number of units.", "value")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise Refused(INVALID_VALUE, "value must be a whole number of units.", "value")
    whole = int(value)
    if whole < 0:
        raise Refused(INVALID_VALUE, "value cannot be negative (cancel an event to take it back).", "value")
    if whole > MAX_VALUE:
        raise Refused(INVALID_VALUE, f"value is at most {MAX_VALUE}.", "value")
    return whole


def check_identifier(identifier: Any) -> str | None:
    if identifier is None:
        return None
    if (
        not isinstance(identifier, str)
        or not 0 < len(identifier) <= MAX_IDENTIFIER_LENGTH
        or not identifier.isprintable()
        or identifier.isspace()
    ):
        raise Refused(INVALID_IDENTIFIER, "identifier must be 1-100 printable characters.", "identifier")
    return identifier


def check_timestamp_type(timestamp: Any) -> int | None:
    if timestamp is None:
        return None
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float) or not math.isfinite(timestamp):
        raise Refused(INVALID_TIMESTAMP, "timestamp must be unix seconds.", "timestamp")
    return int(timestamp)


def check_timestamp(timestamp: int | None, now: int) -> int:
    """The event's time (default `now`, the customer's), within what Stripe takes."""
    if timestamp is None:
        return now
    if timestamp < now - PAST_WINDOW_SECONDS or timestamp > now + FUTURE_WINDOW_SECONDS:
        raise Refused(
            TIMESTAMP_OUT_OF_WINDOW,
            "timestamp must be within the past 35 days (less an hour) and at most 5 minutes ahead "
            f"of the customer's time ({now}).",
            "timestamp",
        )
    return timestamp


def derive_identifier(event: UsageInput, *, request_key: str | None, index: int) -> str:
    """The identifier of an event given none (see the module's docstring)."""
    if request_key is not None:
        basis = f"request\x00{request_key}\x00{index}"
    elif event.timestamp is not None:
        basis = f"event\x00{event.user_id}\x00{event.meter.event}\x00{event.value}\x00{event.timestamp}"
    else:
        return "pw_" + uuid.uuid4().hex
    return "pw_" + hashlib.sha256(basis.encode()).hexdigest()[:40]

"""The v2 meter event stream: `/v2/billing/meter_event_session` and
`/v2/billing/meter_event_stream`, the high-throughput way to send usage.

A session gives a token valid 15 minutes; the stream takes up to 100 events a request with
that token as its key, answers `{}` at once and checks the events afterwards (here: right
after answering, in the same request), reporting refused events as thin events
(`stripesim.billing.meters.report_refusals`, listed by `/v2/core/events`). An expired or
unknown token gets a 401 `temporary_session_expired`.
"""

from __future__ import annotations

import time
from typing import Any

from stripesim.billing import meters as metering
from stripesim.errors import InvalidRequest, SessionExpired
from stripesim.ids import new_id, secret
from stripesim.routes import Ctx, v2
from stripesim.wire import Params

SESSION_TTL_S = 15 * 60
MAX_EVENTS_PER_REQUEST = 100


def _sessions(ctx: Ctx) -> dict[str, float]:
    return ctx.state.extras.setdefault("meter_event_sessions", {})


@v2("POST", "/v2/billing/meter_event_session")
def create_session(ctx: Ctx) -> dict[str, Any]:
    ctx.params.only()
    now = time.time()
    sessions = _sessions(ctx)
    for token, expires in list(sessions.items()):
        if expires <= now:
            del sessions[token]
    token = secret("mes")
    sessions[token] = now + SESSION_TTL_S
    return {
        "id": new_id("mtres"),
        "object": "v2.billing.meter_event_session",
        "authentication_token": token,
        "created": metering.iso(now),
        "expires_at": metering.iso(now + SESSION_TTL_S),
        "livemode": False,
    }


@v2("POST", "/v2/billing/meter_event_stream")
def stream_events(ctx: Ctx) -> dict[str, Any]:
    expires = _sessions(ctx).get(ctx.api_key)
    started = time.time()
    if expires is None or expires <= started:
        raise SessionExpired("The meter event session has expired; create a new one.")
    ctx.params.only("events")
    raw = ctx.params.raw("events")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("Missing required param: events.", param="events", code="parameter_missing")
    if len(raw) > MAX_EVENTS_PER_REQUEST:
        raise InvalidRequest(f"Too many events: at most {MAX_EVENTS_PER_REQUEST} per request.", param="events")
    events = [_event(Params(e if isinstance(e, dict) else {}, f"events[{i}]")) for i, e in enumerate(raw)]
    refused = metering.record_streamed(ctx.state, events)
    if refused:
        metering.report_refusals(ctx.state, refused, started)
    return {}


def _event(p: Params) -> metering.StreamedEvent:
    """One event's shape is checked with the request (a malformed one refuses it whole); what
    it says (its meter, customer, value, time) is checked afterwards."""
    p.only("event_name", "identifier", "payload", "timestamp")
    event_name = p.str("event_name", required=True, max_length=100) or ""
    payload = p.raw("payload")
    if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
        raise InvalidRequest("Invalid payload: an object of strings.", param=p.name("payload"))
    raw_time = p.raw("timestamp")
    timestamp = None
    if raw_time is not None:
        try:
            timestamp = int(metering.parse_iso(str(raw_time)))
        except ValueError:
            raise InvalidRequest("Invalid timestamp: an ISO 8601 time.", param=p.name("timestamp")) from None
    return metering.StreamedEvent(
        event_name=event_name,
        payload={str(k): v for k, v in payload.items()},
        identifier=p.str("identifier", max_length=100),
        timestamp=timestamp,
    )

"""Usage over HTTP: `POST /api/usage`, `DELETE /api/usage/{identifier}`, the `usage` of
`GET /api/billing`, and `require_usage(meter)` for product routes.

`POST /api/usage` takes one event `{"user_id", "meter", "value", "identifier"?, "timestamp"?}`
or a batch `{"events": [...]}` of up to 1,000, from a service (a bearer token of
`PAYWIRE_SERVICE_TOKENS`, never a user's). Each event is accepted, a duplicate (its identifier
was recorded before) or refused with its reason; accepted ones are committed before the answer
(202), nothing waits for Stripe. With an `Idempotency-Key` header, events without an
identifier get one derived from the key and their place in the request, so the same request
sent again records nothing twice. When nothing was recorded and something was refused, the
answer is 422 in the error shape, with every refusal.

It is a plain ASGI endpoint, as `POST /webhooks/stripe` is (no dependency injection or body
validation layers; it is a hot path), which `paywire serve` also routes around FastAPI's
middleware.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from paywire.config import service_tokens
from paywire.context import PaywireContext
from paywire.events.receiver import BodyTooLarge, ClientGone, read_capped_body
from paywire.usage import MeterUsage, UsageLimitReached, UsageNotIncluded
from paywire.usage.allowance import check_allowance
from paywire.usage.events import MAX_BATCH
from paywire.usage.writer import WriterClosed
from paywire.web.api import BillingRoute
from paywire.web.auth import CurrentUser
from paywire.web.context import Context
from paywire.web.errors import SECURITY_HEADERS, ApiError, error_body

log = logging.getLogger("paywire.web.usage")

PATH = "/api/usage"
MAX_BODY_BYTES = 512 * 1024  # a batch of 1,000 events, with room
MAX_REQUEST_KEY_LENGTH = 255
BEARER = {"WWW-Authenticate": "Bearer"}
_HEADERS = [
    (b"content-type", b"application/json"),
    *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()),
]


class ServiceTokens:
    """The configured service tokens; `name_of` a presented one (constant time per token)."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = [(name, token.encode()) for name, token in tokens.items()]

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def name_of(self, presented: str) -> str | None:
        given = presented.encode()
        found = None
        for name, token in self._tokens:
            if hmac.compare_digest(given, token):
                found = name
        return found


def authenticate_service(tokens: ServiceTokens, authorization: str) -> str:
    """The calling service's name, or ApiError(401)."""
    if not tokens:
        raise ApiError(401, "No service may record usage: PAYWIRE_SERVICE_TOKENS is not set.", headers=BEARER)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing bearer token (a service token of PAYWIRE_SERVICE_TOKENS).", headers=BEARER)
    name = tokens.name_of(token.strip())
    if name is None:
        raise ApiError(401, "Usage is recorded with a service token (PAYWIRE_SERVICE_TOKENS).", headers=BEARER)
    return name


def events_of(data: Any) -> list[Any]:
    """The request's events: the batch, or the one event the body is."""
    if not isinstance(data, dict):
        raise ApiError(400, 'The body must be a JSON object: one event, or {"events": [...]}.')
    if "events" not in data:
        return [data]
    events = data["events"]
    if set(data) != {"events"}:
        raise ApiError(400, 'A batch is {"events": [...]} and nothing else.', field="events")
    if not isinstance(events, list) or not events:
        raise ApiError(400, "events must be a list of events.", field="events")
    if len(events) > MAX_BATCH:
        raise ApiError(400, f"At most {MAX_BATCH} events a request.", field="events")
    return events


class UsageEndpoint:
    """The ASGI app of `POST /api/usage` for one app's context."""

    def __init__(self, context: PaywireContext) -> None:
        self.context = context
        self.tokens = ServiceTokens(service_tokens(context.settings))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, payload, headers = await self._handle(scope, receive)
        except ClientGone:
            return
        except ApiError as exc:
            status, payload = exc.status_code, exc.payload
            headers = [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
        except Exception:
            log.exception("usage request failed unexpectedly")
            status, payload, headers = 500, error_body(500, "Something went wrong on our side; try again."), []
        body = orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *_HEADERS, *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any], list[Any]]:
        authorization, declared, key = "", None, None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
            elif name == b"idempotency-key":
                key = value.decode("latin-1").strip()
        service = authenticate_service(self.tokens, authorization)
        try:
            raw = await read_capped_body(receive, declared, MAX_BODY_BYTES)
        except BodyTooLarge:
            raise ApiError(413, "The request body is too large.") from None
        except ValueError:
            raise ApiError(400, "Content-Length is not a number.") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(400, "The body is not valid JSON.") from None
        events = events_of(data)
        if key is not None and not 0 < len(key) <= MAX_REQUEST_KEY_LENGTH:
            raise ApiError(400, "Idempotency-Key must be 1-255 characters.", field="Idempotency-Key")
        request_key = f"{service}:{key}" if key else None
        try:
            recorded = await self.context.usage.arecord_many(events, request_key=request_key)
        except (SQLAlchemyError, WriterClosed) as exc:
            log.error("usage not stored, answering 503: %s", type(exc).__name__)
            raise ApiError(503, "Usage could not be stored; send it again.", headers={"Retry-After": "5"}) from exc
        answer = recorded.as_dict()
        if recorded.refused and not recorded.accepted and not recorded.duplicates:
            first = recorded.refused[0]
            single = "events" not in data
            message = first.message if single else "No event was recorded: each refusal says why."
            refusal = error_body(422, message, code=first.code if single else "usage_refused", field=first.field)
            return 422, {**refusal, **answer}, []
        return 202, answer, []


def usage_route(context: PaywireContext) -> Route:
    return Route(PATH, UsageEndpoint(context), methods=["POST"], include_in_schema=False)


def current_service(request: Request, context: Context) -> str:
    """FastAPI dependency: the calling service's name, or 401."""
    return authenticate_service(
        ServiceTokens(service_tokens(context.settings)), request.headers.get("authorization", "")
    )


def build_usage_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["usage"], route_class=BillingRoute)

    @router.delete("/usage/{identifier}")
    def cancel_usage(identifier: str, request: Request, context: Context) -> dict[str, Any]:
        current_service(request, context)
        outcome = context.usage.cancel(identifier)
        if outcome == "not_found":
            raise ApiError(404, f"No usage event {identifier!r}.", code="not_found")
        if outcome == "too_late":
            raise ApiError(
                409,
                "A usage event can be cancelled within 24 hours of being recorded (as Stripe allows); "
                "this one is older.",
                code="too_late",
            )
        return {"identifier": identifier, "status": outcome}

    return router


def require_usage(meter: str) -> Callable[..., object]:
    """FastAPI dependency for a route that uses `meter` (its event name): 403 when the caller's
    plan does not include it, 429 when the plan's allowance for the period is spent and the plan
    has a hard limit (no usage beyond it); else the `MeterUsage`. Recording the usage stays the
    route's (`paywire.usage.record`)."""

    async def dependency(user: CurrentUser, context: Context) -> MeterUsage:
        if context.catalog.meter_for_event(meter) is None:
            raise RuntimeError(f"require_usage({meter!r}): no such meter in the catalog")
        try:
            return await run_in_threadpool(_check, context, user.user_id, meter)
        except UsageNotIncluded:
            found = context.catalog.meter_for_event(meter)
            name = found.name if found is not None else meter
            raise ApiError(403, f"Your plan does not include {name}.", code="usage_not_included") from None
        except UsageLimitReached as reached:
            usage = reached.usage
            ends = datetime.fromtimestamp(usage.period_end, UTC)
            renews = f"{ends.day} {ends:%B %Y}"
            raise ApiError(
                429,
                f"You have used all {usage.included:,} {usage.name} your plan includes this period; "
                f"more are available from {renews}, or with a plan that includes more.",
                code="usage_limit_reached",
                headers={"Retry-After": str(reached.retry_after)},
                meter=usage.meter,
                used=usage.used,
                included=usage.included,
                period_end=usage.period_end,
            ) from None

    return dependency


def _check(context: PaywireContext, user_id: str, meter: str) -> MeterUsage:
    with context.sessions() as session:
        account = context.usage.accounts.account(session, user_id)
        return check_allowance(session, context.catalog, account, meter, context.usage.allowances)

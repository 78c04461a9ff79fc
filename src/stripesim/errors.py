"""Stripe's error shapes, raised by handlers and rendered once by the app."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    status = 400
    error_type = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.decline_code = decline_code
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        if self.decline_code:
            err["decline_code"] = self.decline_code
        if request_id:
            err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        err.update(self.extra)
        return {"error": err}

    def v2_body(self) -> dict[str, Any]:
        """The error as Stripe's v2 API shows it (the SDK reads `type` first, then the status)."""
        err: dict[str, Any] = {"type": self.error_type, "code": self.code or self.error_type, "message": self.message}
        if self.param:
            err["param"] = self.param
        return {"error": err}


class InvalidRequest(StripeError):
    status = 400


class Unauthorized(StripeError):
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)


class SessionExpired(StripeError):
    """A meter event session's token that has expired (or was never issued): the v2 stream's 401."""

    status = 401
    error_type = "temporary_session_expired"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="billing_meter_event_session_expired")


class CardError(StripeError):
    status = 402
    error_type = "card_error"


class NotFound(StripeError):
    status = 404

    def __init__(self, message: str, *, param: str | None = "id") -> None:
        super().__init__(message, param=param, code="resource_missing")


class RouteNotFound(StripeError):
    status = 404

    def __init__(self, method: str, path: str) -> None:
        super().__init__(
            f"Unrecognized request URL ({method}: {path}). stripesim does not simulate this "
            "route; it answers 404 rather than pretend.",
        )


class Conflict(StripeError):
    status = 409

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)


class IdempotencyError(StripeError):
    status = 400
    error_type = "idempotency_error"


class RateLimited(StripeError):
    """Stripe's 429: an `invalid_request_error` with code `rate_limit`, which Stripe asks to
    be retried (`Stripe-Should-Retry: true`, as it does for a lock timeout)."""

    status = 429

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            code="rate_limit",
            headers={"retry-after": str(retry_after), "stripe-should-retry": "true"},
        )


class ApiError(StripeError):
    status = 500
    error_type = "api_error"


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required param: {param}.", param=param, code="parameter_missing")


def no_such(kind: str, ident: str, param: str) -> InvalidRequest:
    """An object a parameter names does not exist: a 400 on Stripe (a 404 is for the URL's own object)."""
    return InvalidRequest(f"No such {kind}: '{ident}'", param=param, code="resource_missing")

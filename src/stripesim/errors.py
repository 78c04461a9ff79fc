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


class InvalidRequest(StripeError):
    status = 400


class Unauthorized(StripeError):
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)


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
    status = 429

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            code="rate_limit",
            headers={"retry-after": str(retry_after)},
        )


class ApiError(StripeError):
    status = 500
    error_type = "api_error"


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required param: {param}.", param=param, code="parameter_missing")


def invalid(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="parameter_invalid_empty" if not message else None)


def no_such(kind: str, ident: str, param: str = "id") -> NotFound:
    return NotFound(f"No such {kind}: '{ident}'", param=param)

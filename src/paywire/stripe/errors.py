"""What can go wrong talking to Stripe, as values callers can act on.

Callers never see the SDK's exceptions: the gateway translates them here, so the domain
and the web edge decide "try again later" versus "your input was wrong" from the type.
"""

from __future__ import annotations


class StripeError(Exception):
    """Base of every error the gateway raises."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class StripeUnavailable(StripeError):
    """Stripe could not be reached, timed out, failed (5xx) or kept rate limiting: retry later."""


class StripeMisconfigured(StripeError):
    """The key was refused (401/403): an operator must fix the configuration."""


class StripeRejected(StripeError):
    """Stripe refused the request as invalid; `param` names the offending parameter."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.param = param
        self.code = code


class StripeNotFound(StripeRejected):
    """The object does not exist (or not in this mode)."""


class StripeIdempotencyConflict(StripeRejected):
    """An idempotency key was reused with different parameters."""


class CardDeclined(StripeError):
    """A payment was declined; `decline_code` says why (e.g. insufficient_funds)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.code = code
        self.decline_code = decline_code


class WebhookSignatureInvalid(Exception):
    """Missing, forged or stale signature: the request gets a bare 400 and leaves no trace.

    `reason` (missing | malformed_header | forged | stale) is for counting and the log line,
    never for the response."""

    def __init__(self, message: str, *, reason: str = "forged") -> None:
        super().__init__(message)
        self.reason = reason

"""Per-user rate limits: on starting checkouts, and on the portal and subscription routes
(the `limits` library, in memory).

In memory means per process: with several API processes each allows the rate. That
bounds abuse well enough for an endpoint whose Stripe calls are idempotent anyway.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class UserRateLimiter:
    """`rate` per user and scope (a route): one user's calls never use up another's."""

    def __init__(self, rate: str) -> None:
        self._item = parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, user_id: str, scope: str = "checkout") -> int | None:
        """Count one attempt; None if allowed, else seconds until the next is."""
        if self._limiter.hit(self._item, scope, user_id):
            return None
        return self._wait(user_id, scope)

    def blocked_for(self, user_id: str, scope: str = "checkout") -> int | None:
        """Without counting anything: None if an attempt would be allowed, else the seconds
        until one is (for limits that count only what was accepted: `count` afterwards)."""
        if self._limiter.test(self._item, scope, user_id):
            return None
        return self._wait(user_id, scope)

    def count(self, user_id: str, scope: str = "checkout") -> None:
        """Count an attempt that was accepted."""
        self._limiter.hit(self._item, scope, user_id)

    def _wait(self, user_id: str, scope: str) -> int:
        """The real time left until the oldest counted attempt leaves the window."""
        stats = self._limiter.get_window_stats(self._item, scope, user_id)
        return max(1, math.ceil(stats.reset_time - time.time()))


CheckoutLimiter = UserRateLimiter

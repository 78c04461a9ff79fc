"""Time travel, test mode only: move a user's Stripe test clock forward, wait until Stripe and
the worker have caught up, and say what happened (`paywire clock advance`, and the account
page's control in dev mode)."""

from paywire.timetravel.travel import ClockRefused, Travel, advance, parse_moment, parse_span

__all__ = ["ClockRefused", "Travel", "advance", "parse_moment", "parse_span"]

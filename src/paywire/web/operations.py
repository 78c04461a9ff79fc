"""Billing operations run on behalf of a request, the same way for the JSON API and the pages.

An operation is a function of a `BillingContext` (`plan_changes.change_plan`, `cancellation.cancel`…);
it runs in a worker thread with a fresh session, and its `BillingError`/`StripeError` reach the
caller unchanged, to be answered in that edge's format (JSON or a page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from paywire.billing.operations import BillingContext
from paywire.context import PaywireContext

T = TypeVar("T")


def run_operation(context: PaywireContext, operation: Callable[[BillingContext], T]) -> T:
    """Run `operation` with a fresh session; blocking (Stripe and the database)."""
    with context.sessions() as session:
        ctx = BillingContext(session, context.gateway, context.catalog, context.prices, context.settings)
        return operation(ctx)


async def run_billing(context: PaywireContext, operation: Callable[[BillingContext], T]) -> T:
    """`run_operation` in a worker thread, for async handlers."""
    return await run_in_threadpool(run_operation, context, operation)

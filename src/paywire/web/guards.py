"""FastAPI dependencies for product code: gate a route on a feature or a plan.

    @app.get("/api/export", dependencies=[Depends(require_feature("export"))])

Both answer 403 with the entitlement's reason when the caller lacks access, and return
the `Entitlement` when used as a parameter. They answer from the process's entitlement cache
(no query; at most `PAYWIRE_ENTITLEMENT_MAX_STALENESS` behind the mirror); `fresh=True` reads
the mirror on every request, for the rare route that cannot accept even that.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from paywire.billing.entitlements import Entitlement
from paywire.web.api import load_entitlement
from paywire.web.auth import CurrentUser
from paywire.web.context import Context
from paywire.web.errors import ApiError


def require_feature(feature: str, *, fresh: bool = False) -> Callable[..., object]:
    async def dependency(user: CurrentUser, context: Context) -> Entitlement:
        entitlement = await run_in_threadpool(load_entitlement, context, user, fresh=fresh)
        if not entitlement.access:
            raise ApiError(403, f"No active plan gives access to {feature}.", reason=entitlement.reason)
        if feature not in entitlement.features:
            raise ApiError(
                403,
                f"The {entitlement.plan} plan does not include {feature}.",
                reason="feature_not_included",
            )
        return entitlement

    return dependency


def require_plan(plan: str, *, or_higher: bool = True, fresh: bool = False) -> Callable[..., object]:
    """The caller's plan must be `plan` (or rank above it, unless `or_higher=False`)."""

    async def dependency(user: CurrentUser, context: Context) -> Entitlement:
        wanted = context.catalog.plan(plan)
        if wanted is None:
            raise RuntimeError(f"require_plan({plan!r}): no such plan in the catalog")
        entitlement = await run_in_threadpool(load_entitlement, context, user, fresh=fresh)
        if not entitlement.access or entitlement.plan is None:
            raise ApiError(403, f"This needs the {wanted.name} plan.", reason=entitlement.reason)
        held = context.catalog.plan(entitlement.plan)
        enough = held is not None and (held.rank >= wanted.rank if or_higher else held.key == wanted.key)
        if not enough:
            raise ApiError(
                403,
                f"This needs the {wanted.name} plan; you have {entitlement.plan}.",
                reason="plan_too_low" if or_higher else "plan_mismatch",
            )
        return entitlement

    return dependency

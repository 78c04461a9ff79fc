"""Refunds and disputes over HTTP (`paywire.billing.refunds`, `.disputes`, `.evidence`).

Admins (`PAYWIRE_ADMIN_USERS`; anyone else 403 `admin_only`):
- `POST /api/admin/refunds` `{"payment": "in_…" | "cs_…", "amount"?: cents, "reason"}`: refund
  all that is left of a payment, or `amount` of it (`reason`: `requested_by_customer`,
  `duplicate`, `fraudulent`). An `Idempotency-Key` header names the request; without one the
  same request within 24 hours is the same refund. 400 `amount_too_large` with the figures when
  more is asked than is left; nothing changes on any refusal;
- `GET /api/admin/refunds`: the latest refunds, with their status and failure reason;
- `GET /api/admin/disputes`: open disputes, the soonest deadline first;
- `GET /api/admin/disputes/{id}`: the dispute and its evidence, drafted on first sight;
- `PUT /api/admin/disputes/{id}/evidence` `{"fields": {…}}`: the team's edits of the draft;
- `POST /api/admin/disputes/{id}/evidence/stage`, `…/evidence/submit` (once), `…/accept`.

A customer, within the self-service window (`PAYWIRE_SELF_REFUND_DAYS`, off by default):
- `POST /api/billing/payments/{payment}/refund`: their own one-time purchase, in full, once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from paywire.billing import evidence, refunds
from paywire.billing.disputes import dispute_dict, open_disputes
from paywire.billing.errors import BillingError
from paywire.context import PaywireContext
from paywire.db.repositories import refunds as refund_rows
from paywire.stripe import StripeError
from paywire.web.api import BillingRoute, read_json_object
from paywire.web.auth import CurrentUser, Principal
from paywire.web.context import Context
from paywire.web.errors import ApiError, edge_error

MAX_IDEMPOTENCY_KEY = 255


def require_admin(context: PaywireContext, user: Principal) -> None:
    if user.user_id not in context.settings.admin_users:
        raise ApiError(403, "Only an admin may do this.", code="admin_only")


def _only(body: dict[str, Any], *allowed: str) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"Unknown field {unknown[0]!r}.", field=unknown[0])


def refund_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "payment": row.payment_id,
        "charge": row.charge_id,
        "user_id": row.user_id,
        "amount": row.amount,
        "currency": row.currency,
        "reason": row.reason,
        "status": row.status,
        "failure_reason": row.failure_reason,
        "requested_by": row.requested_by,
        "created": row.stripe_created,
    }


def dispute_view(context: PaywireContext, dispute_id: str) -> dict[str, Any]:
    with context.sessions() as session:
        draft = evidence.draft_for(session, context.gateway, context.catalog, dispute_id)
        return {**dispute_dict(evidence.find_dispute(session, dispute_id)), "evidence": evidence.evidence_dict(draft)}


def build_refunds_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["refunds and disputes"], route_class=BillingRoute)

    async def run(work: Any, *args: Any) -> Any:
        try:
            return await run_in_threadpool(work, *args)
        except (BillingError, StripeError) as exc:
            raise edge_error(exc) from None

    @router.post("/admin/refunds")
    async def refund(request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        require_admin(context, user)
        body = await read_json_object(request)
        _only(body, "payment", "amount", "reason")
        payment = body.get("payment")
        if not isinstance(payment, str) or not payment:
            raise ApiError(400, "payment is the id of a payment (in_… or cs_…).", field="payment")
        given = request.headers.get("idempotency-key")
        if given is not None and not 0 < len(given) <= MAX_IDEMPOTENCY_KEY:
            raise ApiError(400, "Idempotency-Key is 1 to 255 characters.", field="Idempotency-Key")

        def work() -> dict[str, Any]:
            with context.sessions() as session:
                return refunds.refund_payment(
                    session,
                    context.gateway,
                    payment_id=payment,
                    amount=body.get("amount"),
                    reason=body.get("reason", "requested_by_customer"),
                    requested_by=user.user_id,
                    idempotency_key=given,
                )

        result: dict[str, Any] = await run(work)
        return result

    @router.get("/admin/refunds")
    async def recent_refunds(user: CurrentUser, context: Context) -> dict[str, Any]:
        require_admin(context, user)

        def work() -> dict[str, Any]:
            with context.sessions() as session:
                return {"data": [refund_dict(r) for r in refund_rows.recent(session, 50)]}

        result: dict[str, Any] = await run(work)
        return result

    @router.get("/admin/disputes")
    async def disputes(user: CurrentUser, context: Context) -> dict[str, Any]:
        require_admin(context, user)

        def work() -> dict[str, Any]:
            with context.sessions() as session:
                return {"data": open_disputes(session)}

        result: dict[str, Any] = await run(work)
        return result

    @router.get("/admin/disputes/{dispute_id}")
    async def dispute(dispute_id: str, user: CurrentUser, context: Context) -> dict[str, Any]:
        require_admin(context, user)
        result: dict[str, Any] = await run(dispute_view, context, dispute_id)
        return result

    @router.put("/admin/disputes/{dispute_id}/evidence")
    async def edit(dispute_id: str, request: Request, user: CurrentUser, context: Context) -> dict[str, Any]:
        require_admin(context, user)
        body = await read_json_object(request)
        _only(body, "fields")
        fields = body.get("fields")
        if not isinstance(fields, dict):
            raise ApiError(400, "fields is an object of evidence fields and their text.", field="fields")

        def work() -> dict[str, Any]:
            with context.sessions() as session:
                evidence.draft_for(session, context.gateway, context.catalog, dispute_id)
                evidence.edit(session, dispute_id, fields, by=user.user_id)
            return dispute_view(context, dispute_id)

        result: dict[str, Any] = await run(work)
        return result

    async def send(dispute_id: str, user: Principal, context: PaywireContext, submit: bool) -> dict[str, Any]:
        require_admin(context, user)

        def work() -> dict[str, Any]:
            with context.sessions() as session:
                evidence.send(session, context.gateway, context.catalog, dispute_id, submit=submit, by=user.user_id)
            return dispute_view(context, dispute_id)

        result: dict[str, Any] = await run(work)
        return result

    @router.post("/admin/disputes/{dispute_id}/evidence/stage")
    async def stage(dispute_id: str, user: CurrentUser, context: Context) -> dict[str, Any]:
        return await send(dispute_id, user, context, submit=False)

    @router.post("/admin/disputes/{dispute_id}/evidence/submit")
    async def submit(dispute_id: str, user: CurrentUser, context: Context) -> dict[str, Any]:
        return await send(dispute_id, user, context, submit=True)

    @router.post("/admin/disputes/{dispute_id}/accept")
    async def accept(dispute_id: str, user: CurrentUser, context: Context) -> dict[str, Any]:
        require_admin(context, user)

        def work() -> dict[str, Any]:
            with context.sessions() as session:
                return dispute_dict(evidence.accept(session, context.gateway, dispute_id, by=user.user_id))

        result: dict[str, Any] = await run(work)
        return result

    @router.post("/billing/payments/{payment_id}/refund")
    async def own_refund(payment_id: str, user: CurrentUser, context: Context) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with context.sessions() as session:
                return refunds.refund_own_purchase(
                    session, context.gateway, context.settings, user_id=user.user_id, payment_id=payment_id
                )

        result: dict[str, Any] = await run(work)
        return result

    return router

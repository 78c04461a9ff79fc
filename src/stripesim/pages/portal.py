"""The customer portal at a portal session's `url` (`/p/session/{id}`) and its actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stripesim.billing import portal as rules
from stripesim.pages._html import message_page, not_found, read_card
from stripesim.pages.portal_view import DONE, View
from stripesim.routes import Ctx, Response, page
from stripesim.state import Record

FLOW_ACTIONS = {  # flow type → the results that complete it
    "payment_method_update": {"card"},
    "subscription_cancel": {"canceled", "cancel_scheduled", "offer"},
    "subscription_update": {"updated", "scheduled", "payment_failed", "unchanged"},
    "subscription_update_confirm": {"updated", "scheduled", "payment_failed", "unchanged"},
}


def _view(ctx: Ctx, session_id: str) -> View | Response:
    state = ctx.state
    session = state.find(session_id, "billing_portal.session")
    if session is None:
        return not_found("billing portal session")
    customer = state.find(session["customer"], "customer")
    config = state.find(session["configuration"], "billing_portal.configuration")
    if customer is None or customer.get("deleted") or config is None:
        return message_page(
            "This session is no longer available",
            "The customer or the portal configuration of this session no longer exists.",
            status=410,
        )
    return View(state, session, config, customer)


def _sub(view: View, sub_id: str) -> Record | None:
    return rules.owned_subscription(view.state, view.customer, sub_id)


def _flow_landing(view: View) -> str | None:
    flow = view.session.get("flow") or {}
    kind = flow.get("type")
    if kind == "payment_method_update":
        return f"{view.base}/payment-method"
    for key, suffix in (
        ("subscription_cancel", "cancel"),
        ("subscription_update", "update"),
        ("subscription_update_confirm", "confirm"),
    ):
        if kind == key:
            return f"{view.base}/subscriptions/{flow[key]['subscription']}/{suffix}"
    return None


def _after(view: View, result: str) -> Response:
    """Where the customer goes after an action: the flow's after_completion, or the homepage."""
    flow = view.session.get("flow")
    if view.in_flow and flow and result in FLOW_ACTIONS.get(flow["type"], set()):
        view.session["_flow_done"] = True
        after = flow["after_completion"]
        if after["type"] == "redirect" and after.get("redirect"):
            return Response.redirect(after["redirect"]["return_url"])
        if after["type"] == "hosted_confirmation":
            custom = (after.get("hosted_confirmation") or {}).get("custom_message")
            return Response.html(view.confirmation(custom or DONE.get(result, "Done.")))
    return Response.redirect(f"{view.base}?done={result}")


def _guarded(
    ctx: Ctx, session_id: str, sub_id: str | None, action: Callable[[View, Record | None], Response]
) -> Response:
    view = _view(ctx, session_id)
    if isinstance(view, Response):
        return view
    sub = None
    if sub_id is not None:
        sub = _sub(view, sub_id)
        if sub is None:
            return not_found("subscription")
    return action(view, sub)


@page("GET", "/p/session/{session_id}")
def home(ctx: Ctx, session_id: str) -> Response:
    view = _view(ctx, session_id)
    if isinstance(view, Response):
        return view
    if view.in_flow:
        landing = _flow_landing(view)
        if landing:
            return Response.redirect(landing)
    done = ctx.params.data.get("done")
    return Response.html(view.home(done if isinstance(done, str) else None))


@page("GET", "/p/session/{session_id}/subscriptions/{sub_id}/update")
def update_form(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    def show(view: View, sub: Record | None) -> Response:
        assert sub is not None
        if not rules.can_update(view.state, view.config, sub):
            return Response.html(view.home(None, "This subscription can't be updated here."), status=403)
        return Response.html(view.update_page(sub))

    return _guarded(ctx, session_id, sub_id, show)


def _whole(value: Any) -> int | None:
    """A whole number typed in a field (None if left empty); ValueError otherwise."""
    raw = str(value or "").strip()
    return int(raw) if raw else None


def _timestamp(value: Any) -> int | None:
    """The preview's proration date that the confirm form carries; anything else is ignored."""
    raw = str(value or "").strip()
    return int(raw) if raw.isdigit() else None


def _refused(view: View, sub: Record, message: str) -> Response:
    if not rules.can_update(view.state, view.config, sub):
        return Response.html(view.home(None, message), status=400)
    return Response.html(view.update_page(sub, message), status=400)


@page("GET", "/p/session/{session_id}/subscriptions/{sub_id}/update/review")
def review_update(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    """The chosen plan and what it will charge or credit (the invoice preview), to confirm."""
    data = ctx.params.data

    def show(view: View, sub: Record | None) -> Response:
        assert sub is not None
        try:
            quantity = _whole(data.get("quantity"))
        except ValueError:
            return Response.html(view.update_page(sub, "Enter a whole number for the quantity."), status=400)
        item, price = str(data.get("item") or ""), str(data.get("price") or "") or None
        try:
            plan = rules.plan_item(view.state, view.config, sub, item, price, quantity)
        except rules.PortalError as err:
            return _refused(view, sub, err.message)
        preview = rules.preview_change(view.state, view.config, sub, [plan])
        return Response.html(view.review_page(sub, plan, preview))

    return _guarded(ctx, session_id, sub_id, show)


@page("POST", "/p/session/{session_id}/subscriptions/{sub_id}/update")
def update_plan(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    data = ctx.params.data

    def act(view: View, sub: Record | None) -> Response:
        assert sub is not None
        try:
            quantity = _whole(data.get("quantity"))
        except ValueError:
            return Response.html(view.update_page(sub, "Enter a whole number for the quantity."), status=400)
        try:
            result = rules.change_item(
                view.state,
                view.config,
                sub,
                str(data.get("item") or ""),
                str(data.get("price") or "") or None,
                quantity,
                proration_date=_timestamp(data.get("proration_date")),
            )
        except rules.PortalError as err:
            return _refused(view, sub, err.message)
        return _after(view, result)

    return _guarded(ctx, session_id, sub_id, act)


def _flow_plans(view: View, sub: Record) -> list[rules.ItemPlan] | None:
    """The changes a `subscription_update_confirm` flow asks to confirm (None: not this flow)."""
    confirm = (view.session.get("flow") or {}).get("subscription_update_confirm") or {}
    if confirm.get("subscription") != sub["id"] or not view.in_flow:
        return None
    return [
        rules.plan_item(view.state, view.config, sub, change["id"], change.get("price"), change.get("quantity"))
        for change in confirm["items"]
    ]


@page("GET", "/p/session/{session_id}/subscriptions/{sub_id}/confirm")
def confirm_form(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    def show(view: View, sub: Record | None) -> Response:
        assert sub is not None
        try:
            plans = _flow_plans(view, sub)
        except rules.PortalError as err:
            return Response.html(view.home(None, err.message), status=400)
        if plans is None:
            return Response.redirect(view.base)
        preview = rules.preview_change(view.state, view.config, sub, plans)
        return Response.html(view.confirm_page(sub, plans, preview))

    return _guarded(ctx, session_id, sub_id, show)


@page("POST", "/p/session/{session_id}/subscriptions/{sub_id}/confirm")
def confirm_update(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    def act(view: View, sub: Record | None) -> Response:
        assert sub is not None
        try:
            plans = _flow_plans(view, sub)
        except rules.PortalError as err:
            return Response.html(view.home(None, err.message), status=400)
        if plans is None:
            return Response.redirect(view.base)
        proration_date = _timestamp(ctx.params.data.get("proration_date"))
        try:
            result = rules.change_items(view.state, view.config, sub, plans, proration_date=proration_date)
        except rules.PortalError as err:
            preview = rules.preview_change(view.state, view.config, sub, plans)
            return Response.html(view.confirm_page(sub, plans, preview, err.message), status=400)
        return _after(view, result)

    return _guarded(ctx, session_id, sub_id, act)


@page("POST", "/p/session/{session_id}/subscriptions/{sub_id}/keep")
def keep_plan(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    def act(view: View, sub: Record | None) -> Response:
        assert sub is not None
        try:
            return _after(view, rules.keep_current_plan(view.state, sub))
        except rules.PortalError as err:
            return Response.html(view.home(None, err.message), status=400)

    return _guarded(ctx, session_id, sub_id, act)


@page("GET", "/p/session/{session_id}/subscriptions/{sub_id}/cancel")
def cancel_form(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    def show(view: View, sub: Record | None) -> Response:
        assert sub is not None
        if not rules.can_cancel(view.config, sub):
            return Response.html(view.home(None, "This subscription can't be canceled here."), status=403)
        return Response.html(view.cancel_page(sub))

    return _guarded(ctx, session_id, sub_id, show)


@page("POST", "/p/session/{session_id}/subscriptions/{sub_id}/cancel")
def cancel_plan(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    data = ctx.params.data

    def act(view: View, sub: Record | None) -> Response:
        assert sub is not None
        reason = str(data.get("reason") or "").strip() or None
        comment = str(data.get("comment") or "").strip()[:500] or None
        try:
            result = rules.cancel(view.state, view.config, sub, reason=reason, comment=comment)
        except rules.PortalError as err:
            if not rules.can_cancel(view.config, sub):
                return Response.html(view.home(None, err.message), status=400)
            return Response.html(view.cancel_page(sub, err.message), status=400)
        return _after(view, result)

    return _guarded(ctx, session_id, sub_id, act)


@page("POST", "/p/session/{session_id}/subscriptions/{sub_id}/offer")
def accept_offer(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    def act(view: View, sub: Record | None) -> Response:
        assert sub is not None
        cancel = (view.session.get("flow") or {}).get("subscription_cancel") or {}
        retention = cancel.get("retention")
        if not retention or cancel.get("subscription") != sub["id"] or view.session.get("_offer_used"):
            return Response.redirect(view.base)
        try:
            rules.accept_retention_offer(view.state, sub, retention["coupon_offer"]["coupon"])
        except rules.PortalError as err:
            return Response.html(view.cancel_page(sub, err.message), status=400)
        view.session["_offer_used"] = True
        return _after(view, "offer")

    return _guarded(ctx, session_id, sub_id, act)


@page("POST", "/p/session/{session_id}/subscriptions/{sub_id}/renew")
def renew_plan(ctx: Ctx, session_id: str, sub_id: str) -> Response:
    def act(view: View, sub: Record | None) -> Response:
        assert sub is not None
        try:
            return _after(view, rules.renew(view.state, sub))
        except rules.PortalError as err:
            return Response.html(view.home(None, err.message), status=400)

    return _guarded(ctx, session_id, sub_id, act)


@page("GET", "/p/session/{session_id}/payment-method")
def card_form(ctx: Ctx, session_id: str) -> Response:
    def show(view: View, _: Record | None) -> Response:
        if not view.config["features"]["payment_method_update"]["enabled"]:
            return Response.html(view.home(None, "Payment methods can't be changed here."), status=403)
        return Response.html(view.card_page())

    return _guarded(ctx, session_id, None, show)


@page("POST", "/p/session/{session_id}/payment-method")
def save_card(ctx: Ctx, session_id: str) -> Response:
    def act(view: View, _: Record | None) -> Response:
        if not view.config["features"]["payment_method_update"]["enabled"]:
            return Response.html(view.home(None, "Payment methods can't be changed here."), status=403)
        entry = read_card(ctx.params.data)
        if entry.errors:
            return Response.html(view.card_page(entry, entry.errors), status=400)
        try:
            rules.update_card(
                view.state,
                view.customer,
                number=entry.number,
                exp_month=entry.exp_month,
                exp_year=entry.exp_year,
                name=entry.name or None,
            )
        except rules.PortalError as err:
            errors = {err.field: err.message} if err.field == "card_number" else {}
            return Response.html(view.card_page(entry, errors, None if errors else err.message), status=402)
        return _after(view, "card")

    return _guarded(ctx, session_id, None, act)


@page("GET", "/p/session/{session_id}/customer")
def customer_form(ctx: Ctx, session_id: str) -> Response:
    def show(view: View, _: Record | None) -> Response:
        if not rules.editable_fields(view.config):
            return Response.html(view.home(None, "Billing information can't be changed here."), status=403)
        return Response.html(view.customer_page())

    return _guarded(ctx, session_id, None, show)


@page("POST", "/p/session/{session_id}/customer")
def save_customer(ctx: Ctx, session_id: str) -> Response:
    values = {k: str(v) for k, v in ctx.params.data.items() if isinstance(v, str)}

    def act(view: View, _: Record | None) -> Response:
        try:
            return _after(view, rules.update_customer(view.state, view.config, view.customer, values))
        except rules.PortalError as err:
            return Response.html(view.customer_page(values, err.message, err.field), status=400)

    return _guarded(ctx, session_id, None, act)

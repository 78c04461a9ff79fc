"""Updating a subscription: what POST /v1/subscriptions/{id} does, for the API and the portal.

Everything an update changes is announced as one `customer.subscription.updated`. A field left
at `KEEP` is not touched; `None` clears the fields that can be cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal

from stripesim.billing import payment_methods as pms
from stripesim.billing.change_plans import ItemChange
from stripesim.billing.changes import change_items
from stripesim.billing.discounts import redeem
from stripesim.billing.renewals import end_trial_now
from stripesim.billing.subscription_items import items_of, set_period_end
from stripesim.errors import InvalidRequest
from stripesim.state import Record, State
from stripesim.wire import Params, merge_metadata


class Keep(Enum):
    KEEP = "keep"


KEEP: Final = Keep.KEEP


@dataclass
class SubscriptionUpdate:
    items: list[ItemChange] | None = None  # None: the items are not changed
    proration_behavior: str = "create_prorations"
    payment_behavior: str = "allow_incomplete"
    proration_date: int | None = None
    anchor_now: bool = False  # billing_cycle_anchor=now: a new billing cycle starts now
    cancel_at_period_end: bool | None = None
    cancel_at: int | Keep | None = KEEP
    cancellation_details: dict[str, str | None] = field(default_factory=dict)  # comment, feedback
    default_payment_method: str | Keep | None = KEEP
    description: str | Keep | None = KEEP
    metadata: dict[str, str] | None = None  # merged; {} clears
    automatic_tax: bool | None = None
    pause_collection: dict[str, Any] | Keep | None = KEEP
    trial_end: int | Literal["now"] | Keep | None = KEEP
    discounts: list[Params] | None = None  # `discounts[i]` as sent, redeemed when applied
    collection_method: str | Keep | None = KEEP
    days_until_due: int | Keep | None = KEEP
    default_tax_rates: list[str] | None = None


def refuse_update(sub: Record, *, changes_items: bool, changes_cancellation: bool) -> None:
    """Raise if the subscription's state forbids the update (the API asks before parsing items,
    whose `price_data` would create prices)."""
    if sub.get("schedule") and changes_cancellation:
        raise InvalidRequest(
            f"The subscription is managed by the subscription schedule `{sub['schedule']}`, and updating "
            "any cancelation behavior directly is not allowed. Please update the schedule instead.",
            param="cancel_at_period_end",
        )
    if sub["status"] == "paused" and changes_items:
        raise InvalidRequest("A paused subscription's items cannot be changed; resume it first.", param="items")


def update_subscription(state: State, sub: Record, update: SubscriptionUpdate) -> Record:
    refuse_update(
        sub,
        changes_items=update.items is not None,
        changes_cancellation=update.cancel_at_period_end is not None or update.cancel_at is not KEEP,
    )
    now = state.now_for(sub)
    at = update.proration_date or now
    if at > sub["_period_end"] or at < sub["_period_start"]:
        at = now
    with state.changing(sub):
        if update.items is not None or update.anchor_now:
            change_items(
                state,
                sub,
                update.items or [],
                proration_behavior=update.proration_behavior,
                payment_behavior=update.payment_behavior,
                at=at,
                anchor_now=update.anchor_now,
            )
        _cancellation(sub, update, now)
        new_default = update.default_payment_method not in (KEEP, None, "", sub.get("default_payment_method"))
        _fields(state, sub, update, now)
    if new_default:
        pms.announce_new_default(state, state.get(sub["customer"], "customer"), sub)
    return sub


def _cancellation(sub: Record, update: SubscriptionUpdate, now: int) -> None:
    if update.cancel_at_period_end is not None:
        flag = update.cancel_at_period_end
        sub["cancel_at_period_end"] = flag
        sub["cancel_at"] = sub["_period_end"] if flag else None
        sub["canceled_at"] = now if flag else None
        if flag:
            sub["cancellation_details"]["reason"] = "cancellation_requested"
        else:
            sub["cancellation_details"] = {"comment": None, "feedback": None, "feedback_option": None, "reason": None}
    if update.cancel_at is not KEEP:
        sub["cancel_at"] = update.cancel_at
        sub["cancel_at_period_end"] = bool(update.cancel_at and update.cancel_at == sub["_period_end"])
        sub["canceled_at"] = now if update.cancel_at else None
    sub["cancellation_details"].update(update.cancellation_details)


def _fields(state: State, sub: Record, update: SubscriptionUpdate, now: int) -> None:
    if update.default_payment_method is not KEEP:
        if update.default_payment_method:
            pm = state.get(update.default_payment_method, "payment_method", "default_payment_method")
            if pm.get("customer") != sub["customer"]:
                raise InvalidRequest(
                    "The payment method must be attached to the customer.", param="default_payment_method"
                )
        sub["default_payment_method"] = update.default_payment_method or None
    if update.description is not KEEP:
        sub["description"] = update.description
    if update.metadata is not None:
        sub["metadata"] = merge_metadata(sub.get("metadata") or {}, update.metadata)
    if update.automatic_tax is not None:
        sub["automatic_tax"] = {
            "disabled_reason": None,
            "enabled": update.automatic_tax,
            "liability": {"type": "self"} if update.automatic_tax else None,
        }
    if update.pause_collection is not KEEP:
        sub["pause_collection"] = update.pause_collection
    if update.trial_end is not KEEP:
        _trial_end(state, sub, update.trial_end, now)
    if update.discounts is not None:
        customer = state.get(sub["customer"], "customer")
        products = [state.get(i["price"], "price")["product"] for i in items_of(state, sub)]
        sub["discounts"] = redeem(
            state, update.discounts, customer=customer, product_ids=products, subscription=sub["id"]
        )
    if update.collection_method is not KEEP:
        sub["collection_method"] = update.collection_method
    if update.days_until_due is not KEEP:
        sub["days_until_due"] = update.days_until_due
    if update.default_tax_rates is not None:
        sub["_default_tax_rates"] = update.default_tax_rates
        sub["default_tax_rates"] = [state.snapshot(state.get(r, "tax_rate")) for r in update.default_tax_rates]


def _trial_end(state: State, sub: Record, trial_end: int | Literal["now"] | None, now: int) -> None:
    """`trial_end=now` ends a trial at once; a future time starts or moves one."""
    if sub["status"] != "trialing" and trial_end != "now" and not (isinstance(trial_end, int) and trial_end > now):
        raise InvalidRequest("Invalid trial_end.", param="trial_end")
    if trial_end == "now":
        if sub["status"] == "trialing":
            end_trial_now(state, sub, now)
    elif isinstance(trial_end, int):
        sub["trial_end"] = trial_end
        sub["trial_start"] = sub.get("trial_start") or now
        sub["status"] = "trialing" if sub["status"] in ("active", "trialing") else sub["status"]
        set_period_end(state, sub, trial_end)

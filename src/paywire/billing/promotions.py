"""A promotion code typed by the user, applied to their existing subscription.

The code is checked first, in the customer's time, against what Stripe holds (is there such
a code for this customer, active, unexpired, not used up, applicable to this plan and this
customer), so each failure gets its own clear message and nothing is written. Stripe checks
again when the code is applied; a refusal there (a race: the last redemption just went) is
reported the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paywire.billing.current import CurrentSubscription, current_subscription
from paywire.billing.errors import BillingUnavailable, PromotionCodeRejected
from paywire.billing.lifecycle import Operation, require
from paywire.billing.operations import BillingContext, refresh_after
from paywire.stripe import StripeRejected, StripeUnavailable
from paywire.stripe import idempotency as keys
from paywire.stripe.ids import id_of

MAX_CODE_LENGTH = 200


@dataclass(frozen=True)
class AppliedDiscount:
    promotion_code: str
    coupon: str
    percent_off: float | None
    amount_off: int | None
    duration: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "promotion_code": self.promotion_code,
            "coupon": self.coupon,
            "percent_off": self.percent_off,
            "amount_off": self.amount_off,
            "duration": self.duration,
        }


def apply_promotion_code(
    ctx: BillingContext, *, user_id: str, code: str, subscription_id: str | None = None
) -> AppliedDiscount:
    text = code.strip() if isinstance(code, str) else ""
    if not text or len(text) > MAX_CODE_LENGTH:
        raise PromotionCodeRejected("Enter a promotion code.", reason="unknown")
    cur = current_subscription(
        ctx.session, ctx.gateway, ctx.catalog, ctx.settings, user_id=user_id, subscription_id=subscription_id
    )
    require(cur.facts, Operation.APPLY_PROMOTION_CODE)
    try:
        promo, coupon = _check(ctx, cur, text)
        try:
            ctx.gateway.update_subscription(
                cur.id,
                {"discounts": [{"promotion_code": promo["id"]}]},
                idempotency_key=keys.subscription_operation("discount", cur.id, cur.fingerprint(), promo["id"]),
            )
        except StripeRejected as exc:
            # Stripe refused between our check and the update (a race): our words, not Stripe's.
            reason = _reason_of(exc.message)
            raise PromotionCodeRejected(_REFUSALS[reason].format(code=text), reason=reason) from exc
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    refresh_after(ctx, cur, "apply_promotion_code")
    return AppliedDiscount(
        promotion_code=str(promo["code"]),
        coupon=str(coupon["id"]),
        percent_off=coupon.get("percent_off"),
        amount_off=coupon.get("amount_off"),
        duration=coupon.get("duration"),
    )


def _check(ctx: BillingContext, cur: CurrentSubscription, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The promotion code and its coupon, if the code may be applied; else why not."""
    customer_id = cur.customer.stripe_customer_id
    # A code restricted to another customer is, for this one, no code at all.
    mine = [p for p in ctx.gateway.find_promotion_codes(text) if p.get("customer") in (None, customer_id)]
    if not mine:
        raise PromotionCodeRejected(f"There is no promotion code {text!r}.", reason="unknown")
    active = sorted((p for p in mine if p.get("active")), key=lambda p: p.get("customer") is None)
    if not active:
        raise PromotionCodeRejected(f"The promotion code {text!r} is no longer valid.", reason="expired")
    promo = active[0]
    if promo.get("expires_at") is not None and cur.now >= int(promo["expires_at"]):
        raise PromotionCodeRejected(f"The promotion code {text!r} has expired.", reason="expired")
    limit = promo.get("max_redemptions")
    if limit is not None and int(promo.get("times_redeemed") or 0) >= int(limit):
        raise PromotionCodeRejected(f"The promotion code {text!r} has been used up.", reason="exhausted")
    coupon_id = (promo.get("promotion") or {}).get("coupon")
    if isinstance(coupon_id, dict):
        coupon_id = coupon_id.get("id")
    coupon = ctx.gateway.retrieve_coupon(str(coupon_id), expand=["applies_to"])
    if not coupon.get("valid", True):
        redeem_by = coupon.get("redeem_by")
        used_up = coupon.get("max_redemptions") is not None and int(coupon.get("times_redeemed") or 0) >= int(
            coupon["max_redemptions"]
        )
        if used_up and not (redeem_by is not None and cur.now >= int(redeem_by)):
            raise PromotionCodeRejected(f"The promotion code {text!r} has been used up.", reason="exhausted")
        raise PromotionCodeRejected(f"The promotion code {text!r} has expired.", reason="expired")
    _check_applies(cur, promo, coupon, text)
    if _already_applied(ctx, cur, str(promo["id"])):
        raise PromotionCodeRejected(f"The promotion code {text!r} is already applied.", reason="already_applied")
    return promo, coupon


def _check_applies(cur: CurrentSubscription, promo: dict[str, Any], coupon: dict[str, Any], text: str) -> None:
    products = ((coupon.get("applies_to") or {}).get("products")) or []
    mine = {_product_of(item) for item in cur.items}
    if products and not mine & set(products):
        plan = cur.plan.name if cur.plan else "your plan"
        raise PromotionCodeRejected(f"The promotion code {text!r} does not apply to {plan}.", reason="inapplicable")
    currency = cur.fresh.get("currency")
    if coupon.get("amount_off") is not None and coupon.get("currency") not in (None, currency):
        raise PromotionCodeRejected(
            f"The promotion code {text!r} is for payments in {str(coupon['currency']).upper()}.", reason="inapplicable"
        )
    restrictions = promo.get("restrictions") or {}
    minimum = restrictions.get("minimum_amount")
    if minimum is not None and restrictions.get("minimum_amount_currency") in (None, currency):
        amount = sum(
            int((i.get("price") or {}).get("unit_amount") or 0) * int(i.get("quantity") or 1) for i in cur.items
        )
        if amount < int(minimum):
            raise PromotionCodeRejected(
                f"The promotion code {text!r} needs a plan of at least {minimum / 100:.2f} {str(currency).upper()}.",
                reason="inapplicable",
            )
    if restrictions.get("first_time_transaction"):
        raise PromotionCodeRejected(f"The promotion code {text!r} is for first purchases only.", reason="inapplicable")


def _already_applied(ctx: BillingContext, cur: CurrentSubscription, promotion_code_id: str) -> bool:
    if not cur.fresh.get("discounts"):
        return False
    for discount in ctx.gateway.retrieve_subscription_discounts(cur.id):
        if isinstance(discount, dict) and discount.get("promotion_code") == promotion_code_id:
            return True
    return False


def _product_of(item: dict[str, Any]) -> str | None:
    return id_of((item.get("price") or {}).get("product"))


_REFUSALS = {
    "expired": "The promotion code {code!r} has expired.",
    "exhausted": "The promotion code {code!r} has been used up.",
    "inapplicable": "The promotion code {code!r} does not apply to this subscription.",
}


def _reason_of(message: str) -> str:
    lowered = message.lower()
    if "expired" in lowered:
        return "expired"
    if "redemptions" in lowered:
        return "exhausted"
    return "inapplicable"

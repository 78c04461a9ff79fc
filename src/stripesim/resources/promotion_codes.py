"""Promotion codes: /v1/promotion_codes, customer-facing codes for a coupon.

The pinned API names the coupon under `promotion: {type: "coupon", coupon: <id>}`.
"""

from __future__ import annotations

import re
import secrets
import string

from stripesim.billing.redemption import active_with_code, still_valid
from stripesim.errors import InvalidRequest
from stripesim.present import list_page
from stripesim.resources._common import apply_metadata, created_match, every
from stripesim.routes import Ctx, api
from stripesim.shapes import new_record
from stripesim.state import Record, State, renderer
from stripesim.wire import Params

_CODE = re.compile(r"^[a-zA-Z0-9-]{1,500}$")  # Stripe allows letters, digits and dashes.


def _generated_code() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def _clashes(state: State, code: str, customer: str | None, other_than: str | None = None) -> bool:
    """Whether another active code with this text exists for the same customer (or for none)."""
    found = active_with_code(state, code, other_than=other_than, customer=customer)
    return found is not None and found["customer"] == customer


def _currency_options(p: Params | None) -> dict[str, dict[str, int]] | None:
    if p is None:
        return None
    options = p.sub("currency_options")
    if options is None:
        return None
    out = {}
    for currency in options.data:
        option = options.sub(currency, required=True)
        assert option is not None
        option.only("minimum_amount")
        out[currency.lower()] = {"minimum_amount": option.int("minimum_amount", minimum=0) or 0}
    return out


def _restrictions(p: Params | None) -> dict[str, object]:
    out: dict[str, object] = {
        "currency_options": None,
        "first_time_transaction": False,
        "minimum_amount": None,
        "minimum_amount_currency": None,
    }
    if p is None:
        return out
    p.only("currency_options", "first_time_transaction", "minimum_amount", "minimum_amount_currency")
    out["first_time_transaction"] = bool(p.bool("first_time_transaction", default=False))
    minimum = p.int("minimum_amount", minimum=0)
    currency = (p.str("minimum_amount_currency") or "").lower() or None
    if (minimum is None) != (currency is None):
        missing_param = "minimum_amount_currency" if currency is None else "minimum_amount"
        raise InvalidRequest(
            "minimum_amount and minimum_amount_currency must be given together.",
            param=p.name(missing_param),
        )
    out["minimum_amount"], out["minimum_amount_currency"] = minimum, currency
    out["currency_options"] = _currency_options(p)
    return out


@api("POST", "/v1/promotion_codes")
def create_promotion_code(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "active",
        "code",
        "customer",
        "customer_account",
        "expires_at",
        "max_redemptions",
        "metadata",
        "promotion",
        "restrictions",
    )
    state = ctx.state
    promotion = p.sub("promotion", required=True)
    assert promotion is not None
    promotion.only("type", "coupon")
    promotion.str("type", required=True, choices=("coupon",))
    coupon_id = promotion.str("coupon", required=True) or ""
    coupon = state.get(coupon_id, "coupon", "promotion[coupon]")
    if not still_valid(state, coupon):
        raise InvalidRequest(
            f"Coupon {coupon_id} is no longer valid and cannot be used for a new promotion code.",
            param="promotion[coupon]",
            code="coupon_expired",
        )
    code = p.str("code") or _generated_code()
    if not _CODE.match(code):
        raise InvalidRequest(
            "Invalid code: it may contain only letters, digits and '-', at most 500 characters.",
            param="code",
        )
    active = bool(p.bool("active", default=True))
    customer = p.str("customer")
    if active and _clashes(state, code, customer or None):
        raise InvalidRequest(
            f"An active promotion code with `code: {code}` already exists.",
            param="code",
            code="resource_already_exists",
        )
    if customer:
        state.get(customer, "customer", "customer")
    now = state.now()
    expires_at = p.int("expires_at")
    if expires_at is not None:
        if expires_at <= now:
            raise InvalidRequest("Invalid expires_at: must be in the future.", param="expires_at")
        if coupon.get("redeem_by") is not None and expires_at > coupon["redeem_by"]:
            raise InvalidRequest(
                "The promotion code's expires_at cannot be later than the coupon's redeem_by.",
                param="expires_at",
            )
    record = new_record(
        "promotion_code",
        "promo",
        created=now,
        active=active,
        code=code,
        customer=customer or None,
        customer_account=None,
        expires_at=expires_at,
        max_redemptions=p.int("max_redemptions", minimum=1),
        times_redeemed=0,
        promotion={"type": "coupon", "coupon": coupon_id},
        restrictions=_restrictions(p.sub("restrictions")),
    )
    apply_metadata(record, p)
    state.insert(record)
    state.emit("promotion_code.created", record)
    return record


@renderer("promotion_code")
def render_promotion_code(state: State, record: Record) -> Record:
    shown = dict(record)
    restrictions = dict(record["restrictions"])
    # currency_options is includable on real Stripe; it is left out unless it was set.
    if restrictions.get("currency_options") is None:
        restrictions.pop("currency_options", None)
    shown["restrictions"] = restrictions
    return shown


@api("GET", "/v1/promotion_codes/{promotion_code}")
def retrieve_promotion_code(ctx: Ctx, promotion_code: str) -> Record:
    ctx.params.only()
    return ctx.state.get(promotion_code, "promotion_code")


@api("POST", "/v1/promotion_codes/{promotion_code}")
def update_promotion_code(ctx: Ctx, promotion_code: str) -> Record:
    p = ctx.params.only("active", "metadata", "restrictions")
    state = ctx.state
    record = state.get(promotion_code, "promotion_code")
    active = p.bool("active")
    if active and not record["active"] and _clashes(state, record["code"], record["customer"], record["id"]):
        raise InvalidRequest(
            f"An active promotion code with `code: {record['code']}` already exists.",
            param="active",
        )
    restrictions = p.sub("restrictions")
    with state.changing(record):
        if active is not None:
            record["active"] = active
        if restrictions is not None:
            restrictions.only("currency_options")
            options = _currency_options(restrictions)
            if options is not None:
                current = record["restrictions"].get("currency_options") or {}
                record["restrictions"]["currency_options"] = {**current, **options}
        apply_metadata(record, p)
    return record


@api("GET", "/v1/promotion_codes")
def list_promotion_codes(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "active",
        "code",
        "coupon",
        "created",
        "customer",
        "customer_account",
        "limit",
        "starting_after",
        "ending_before",
    )
    active = p.bool("active")
    code = p.str("code")
    coupon = p.str("coupon")
    customer = p.str("customer")
    keep = every(
        None if active is None else lambda r: r["active"] == active,
        (lambda r: r["code"].casefold() == code.casefold()) if code else None,
        (lambda r: r["promotion"]["coupon"] == coupon) if coupon else None,
        (lambda r: r["customer"] == customer) if customer else None,
        created_match(p),
    )
    return list_page(ctx.state, "promotion_code", p, "/v1/promotion_codes", keep)

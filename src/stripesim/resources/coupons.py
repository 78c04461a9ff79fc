"""Coupons: /v1/coupons. Terms are fixed at creation; only name and metadata change."""

from __future__ import annotations

import secrets
import string

from stripesim.billing.redemption import still_valid
from stripesim.errors import InvalidRequest
from stripesim.present import paginate
from stripesim.resources import _includable
from stripesim.resources._common import apply_metadata, created_filter, deleted
from stripesim.routes import Ctx, api
from stripesim.shapes import new_record
from stripesim.state import Record, State, renderer
from stripesim.wire import Params

DURATIONS = ("once", "repeating", "forever")
# Includable fields and the private keys that hold them.
_INCLUDABLE = {"applies_to": "_applies_to", "currency_options": "_currency_options"}
_CREATE = (
    "amount_off",
    "applies_to",
    "currency",
    "currency_options",
    "duration",
    "duration_in_months",
    "id",
    "max_redemptions",
    "metadata",
    "name",
    "percent_off",
    "redeem_by",
)


def _new_id() -> str:
    # Stripe generates short upper-case ids for coupons (e.g. "Z4OV52SU").
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def _currency_options(p: Params) -> dict[str, dict[str, int]] | None:
    options = p.sub("currency_options")
    if options is None:
        return None
    out: dict[str, dict[str, int]] = {}
    for currency in options.data:
        option = options.sub(currency, required=True)
        assert option is not None
        option.only("amount_off")
        amount = option.int("amount_off", required=True, minimum=1) or 0
        out[currency.lower()] = {"amount_off": amount}
    return out


def _terms(state: State, p: Params, now: int) -> dict[str, object]:
    percent = p.float("percent_off")
    amount = p.int("amount_off")
    if (percent is None) == (amount is None):
        raise InvalidRequest(
            "You must pass exactly one of percent_off or amount_off.",
            param="amount_off" if amount is not None else "percent_off",
        )
    currency = (p.str("currency") or "").lower() or None
    if percent is not None and not 0 < percent <= 100:
        raise InvalidRequest("Invalid percent_off: must be greater than 0 and at most 100.", param="percent_off")
    if amount is not None:
        if amount < 1:
            raise InvalidRequest("Invalid amount_off: must be at least 1.", param="amount_off")
        if currency is None:
            raise InvalidRequest(
                "You must pass currency when passing amount_off.",
                param="currency",
                code="parameter_missing",
            )
    duration = p.str("duration", choices=DURATIONS, default="once")
    months = p.int("duration_in_months", minimum=1)
    if duration == "repeating" and months is None:
        raise InvalidRequest(
            "Missing required param: duration_in_months (required when duration is repeating).",
            param="duration_in_months",
            code="parameter_missing",
        )
    if duration != "repeating" and months is not None:
        raise InvalidRequest(
            "duration_in_months may only be set when duration is repeating.",
            param="duration_in_months",
        )
    redeem_by = p.int("redeem_by")
    if redeem_by is not None and redeem_by <= now:
        raise InvalidRequest("Invalid redeem_by: must be in the future.", param="redeem_by")
    name = p.str("name", max_length=40)
    products: list[str] | None = None
    applies = p.sub("applies_to")
    if applies is not None:
        applies.only("products")
        products = applies.strings("products")
        for i, product in enumerate(products):
            state.get(product, "product", f"applies_to[products][{i}]")
    return {
        "percent_off": percent,
        "amount_off": amount,
        "currency": currency,
        "duration": duration,
        "duration_in_months": months,
        "redeem_by": redeem_by,
        "max_redemptions": p.int("max_redemptions", minimum=1),
        "name": name,
        "_applies_to": {"products": products} if products is not None else None,
        "_currency_options": _currency_options(p),
    }


def create(state: State, p: Params) -> Record:
    now = state.now()
    coupon_id = p.str("id")
    if coupon_id is not None:
        existing = state.find(coupon_id)
        # A deleted coupon's id may be used again; discounts keep their own copy of its terms.
        reusable = existing is not None and existing.get("object") == "coupon" and existing.get("deleted")
        if existing is not None and not reusable:
            raise InvalidRequest("Coupon already exists.", param="id", code="resource_already_exists")
        if existing is not None:
            state.remove(coupon_id)
    terms = _terms(state, p, now)
    record = new_record(
        "coupon",
        "",
        created=now,
        times_redeemed=0,
        valid=True,
        **terms,
    )
    record["id"] = coupon_id or _new_id()
    apply_metadata(record, p)
    state.insert(record)
    state.emit("coupon.created", record)
    return record


@renderer("coupon")
def render_coupon(state: State, record: Record) -> Record:
    shown = dict(record)
    # `valid` turns false once redeem_by has passed, without any request to change it.
    if "valid" in shown:  # not on the deleted shape
        shown["valid"] = still_valid(state, record)
    return shown


def _show(ctx: Ctx, record: Record) -> Record:
    wanted = _includable.take(ctx, tuple(_INCLUDABLE))
    return _includable.include(record, wanted, _INCLUDABLE)


@api("POST", "/v1/coupons")
def create_coupon(ctx: Ctx) -> Record:
    return _show(ctx, create(ctx.state, ctx.params.only(*_CREATE)))


@api("GET", "/v1/coupons/{coupon}")
def retrieve_coupon(ctx: Ctx, coupon: str) -> Record:
    ctx.params.only()
    return _show(ctx, ctx.state.get(coupon, "coupon"))


@api("POST", "/v1/coupons/{coupon}")
def update_coupon(ctx: Ctx, coupon: str) -> Record:
    p = ctx.params.only("name", "metadata", "currency_options")
    record = ctx.state.get(coupon, "coupon")
    with ctx.state.changing(record):
        if p.has("name"):
            record["name"] = p.str("name", max_length=40) or None
        options = _currency_options(p)
        if options is not None:
            record["_currency_options"] = {**(record.get("_currency_options") or {}), **options}
        apply_metadata(record, p)
    return _show(ctx, record)


@api("DELETE", "/v1/coupons/{coupon}")
def delete_coupon(ctx: Ctx, coupon: str) -> Record:
    ctx.params.only()
    record = ctx.state.get(coupon, "coupon")
    snapshot = ctx.state.snapshot(record)
    record["deleted"] = True
    ctx.state.emit("coupon.deleted", record, snapshot=snapshot)
    return deleted(record)


@api("GET", "/v1/coupons")
def list_coupons(ctx: Ctx) -> Record:
    p = ctx.params.only("limit", "starting_after", "ending_before", "created")
    wanted = _includable.take(ctx, tuple(_INCLUDABLE), in_list=True)
    records = [_includable.include(r, wanted, _INCLUDABLE) for r in created_filter(p, list(ctx.state.all("coupon")))]
    return paginate(records, p, "/v1/coupons")

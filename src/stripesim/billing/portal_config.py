"""Customer portal configurations: defaults, the default configuration, and `features` params."""

from __future__ import annotations

import copy
from typing import Any

from stripesim.billing.prorations import PRORATION_BEHAVIORS
from stripesim.errors import InvalidRequest, missing, no_such
from stripesim.ids import secret
from stripesim.shapes import new_record
from stripesim.state import Record, State
from stripesim.wire import Params

CUSTOMER_UPDATES = ("address", "email", "name", "phone", "shipping", "tax_id")
SUB_UPDATES = ("price", "promotion_code", "quantity")
REASONS = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
CONDITIONS = ("decreasing_item_amount", "shortening_interval")
REASON_LABELS = {
    "customer_service": "Customer service was less than expected",
    "low_quality": "Quality was less than expected",
    "missing_features": "Some features are missing",
    "other": "Other reason",
    "switched_service": "I'm switching to a different service",
    "too_complex": "Ease of use was less than expected",
    "too_expensive": "It's too expensive",
    "unused": "I don't use the service enough",
}


def blank_features() -> dict[str, Any]:
    """Every feature off, with the values Stripe fills in when a feature is not given."""
    return {
        "customer_update": {"allowed_updates": [], "enabled": False},
        "invoice_history": {"enabled": False},
        "payment_method_update": {"enabled": False, "payment_method_configuration": None},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": False, "feedback_options": None, "options": []},
            "enabled": False,
            "mode": "at_period_end",
            "proration_behavior": "none",
        },
        # Portal pausing is not simulated: the feature is always off.
        "subscription_pause": {"duration": {"interval_options": [], "type": "indefinite"}, "enabled": False},
        "subscription_update": {
            "billing_cycle_anchor": None,
            "default_allowed_updates": [],
            "enabled": False,
            "proration_behavior": "none",
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial",
        },
    }


def products_of(config: Record) -> list[dict[str, Any]]:
    """`features.subscription_update.products` (an includable field, kept privately)."""
    return config.get("_products") or []


def create(
    state: State,
    *,
    features: dict[str, Any],
    products: list[dict[str, Any]],
    is_default: bool = False,
    business_profile: dict[str, Any] | None = None,
    default_return_url: str | None = None,
    login_page: bool = False,
    name: str | None = None,
) -> Record:
    now = state.now()
    record = new_record(
        "billing_portal.configuration",
        "bpc",
        created=now,
        active=True,
        application=None,
        business_profile=business_profile
        or {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
        default_return_url=default_return_url,
        features=features,
        is_default=is_default,
        login_page={"enabled": False, "url": None},
        name=name,
        updated=now,
    )
    record["_products"] = products
    set_login_page(state, record, login_page)
    state.insert(record)
    return record


def set_login_page(state: State, record: Record, enabled: bool) -> None:
    if enabled:
        token = record.get("_login_token") or secret("x", 24)[2:]
        record["_login_token"] = token
        record["login_page"] = {"enabled": True, "url": f"{state.base_url()}/p/login/test_{token}"}
    else:
        record.pop("_login_token", None)
        record["login_page"] = {"enabled": False, "url": None}


def default_configuration(state: State) -> Record:
    """The account's default configuration, created the first time something needs it."""
    for record in state.all("billing_portal.configuration"):
        if record["is_default"]:
            return record
    features = blank_features()
    features["customer_update"] = {
        "allowed_updates": ["email", "address", "shipping", "phone", "tax_id"],
        "enabled": True,
    }
    features["invoice_history"]["enabled"] = True
    features["payment_method_update"]["enabled"] = True
    features["subscription_cancel"].update(
        enabled=True,
        cancellation_reason={
            "enabled": True,
            "feedback_options": None,
            "options": ["too_expensive", "missing_features", "switched_service", "unused", "other"],
        },
    )
    features["subscription_update"]["proration_behavior"] = "create_prorations"
    return create(state, features=features, products=[], is_default=True)


def apply_features(
    state: State, config_features: dict[str, Any], products: list[dict[str, Any]], p: Params, *, creating: bool
) -> list[dict[str, Any]]:
    """Merge `features[...]` params into `config_features`; returns the (new) product list."""
    p.only(
        "customer_update",
        "invoice_history",
        "payment_method_update",
        "subscription_cancel",
        "subscription_pause",
        "subscription_update",
    )
    features = config_features
    sub = p.sub("customer_update")
    if sub is not None:
        sub.only("enabled", "allowed_updates")
        _enabled(sub, features["customer_update"], creating)
        if sub.has("allowed_updates"):
            features["customer_update"]["allowed_updates"] = _enums(sub, "allowed_updates", CUSTOMER_UPDATES)
    for key in ("invoice_history", "payment_method_update"):
        sub = p.sub(key)
        if sub is not None:
            sub.only("enabled", *(("payment_method_configuration",) if key == "payment_method_update" else ()))
            _enabled(sub, features[key], creating)
    sub = p.sub("subscription_cancel")
    if sub is not None:
        _cancel(sub, features["subscription_cancel"], creating)
    pause = p.sub("subscription_pause")
    if pause is not None:
        pause.only("enabled", "duration")
    sub = p.sub("subscription_update")
    if sub is not None:
        products = _update(state, sub, features["subscription_update"], products, creating)
    return products


def _enabled(p: Params, target: dict[str, Any], creating: bool) -> None:
    value = p.bool("enabled")
    if value is None:
        if creating:
            raise missing(p.name("enabled"))
        return
    target["enabled"] = value


def _enums(p: Params, key: str, choices: tuple[str, ...]) -> list[str]:
    values = [] if p.is_unset(key) else p.strings(key)
    for i, value in enumerate(values):
        if value not in choices:
            raise InvalidRequest(
                f"Invalid {p.name(key)}[{i}]: must be one of {', '.join(choices)}", param=f"{p.name(key)}[{i}]"
            )
    return values


def _cancel(p: Params, target: dict[str, Any], creating: bool) -> None:
    p.only("enabled", "mode", "proration_behavior", "cancellation_reason")
    _enabled(p, target, creating)
    if p.has("mode"):
        target["mode"] = p.str("mode", choices=("at_period_end", "immediately"))
    if p.has("proration_behavior"):
        target["proration_behavior"] = p.str("proration_behavior", choices=PRORATION_BEHAVIORS)
    reason = p.sub("cancellation_reason")
    if reason is not None:
        reason.only("enabled", "options", "feedback_options")
        _enabled(reason, target["cancellation_reason"], True)
        if not reason.has("options"):
            raise missing(reason.name("options"))
        target["cancellation_reason"]["options"] = _enums(reason, "options", REASONS)


def _update(
    state: State, p: Params, target: dict[str, Any], products: list[dict[str, Any]], creating: bool
) -> list[dict[str, Any]]:
    p.only(
        "enabled",
        "default_allowed_updates",
        "products",
        "proration_behavior",
        "schedule_at_period_end",
        "trial_update_behavior",
        "billing_cycle_anchor",
    )
    _enabled(p, target, creating)
    if p.has("default_allowed_updates"):
        target["default_allowed_updates"] = _enums(p, "default_allowed_updates", SUB_UPDATES)
    if p.has("proration_behavior"):
        target["proration_behavior"] = p.str("proration_behavior", choices=PRORATION_BEHAVIORS)
    if p.has("trial_update_behavior"):
        target["trial_update_behavior"] = p.str("trial_update_behavior", choices=("continue_trial", "end_trial"))
    if p.has("billing_cycle_anchor"):
        target["billing_cycle_anchor"] = p.str("billing_cycle_anchor", choices=("now", "unchanged"))
    schedule = p.sub("schedule_at_period_end")
    if schedule is not None:
        schedule.only("conditions")
        conditions = []
        for cond in schedule.list_of("conditions"):
            cond.only("type")
            conditions.append({"type": cond.str("type", required=True, choices=CONDITIONS)})
        target["schedule_at_period_end"] = {"conditions": conditions}
    elif p.is_unset("schedule_at_period_end"):
        target["schedule_at_period_end"] = {"conditions": []}
    if p.has("products"):
        products = [] if p.is_unset("products") else _products(state, p)
    return products


def _products(state: State, p: Params) -> list[dict[str, Any]]:
    entries = p.list_of("products")
    if len(entries) > 10:
        raise InvalidRequest("You can specify at most 10 products.", param=p.name("products"))
    out = []
    for entry in entries:
        entry.only("product", "prices", "adjustable_quantity")
        product_id = entry.str("product", required=True) or ""
        product = state.find(product_id, "product")
        if product is None or product.get("deleted"):
            raise no_such("product", product_id, entry.name("product"))
        prices = entry.strings("prices")
        if not prices:
            raise missing(entry.name("prices"))
        for j, price_id in enumerate(prices):
            price = state.find(price_id, "price")
            where = f"{entry.name('prices')}[{j}]"
            if price is None:
                raise no_such("price", price_id, where)
            if price["product"] != product_id:
                raise InvalidRequest(f"The price {price_id} does not belong to the product {product_id}.", param=where)
            if price.get("type") != "recurring":
                raise InvalidRequest(
                    f"The price {price_id} is not a recurring price; the portal only "
                    "switches subscriptions between recurring prices.",
                    param=where,
                )
        quantity = {"enabled": False, "maximum": None, "minimum": 1}
        adjustable = entry.sub("adjustable_quantity")
        if adjustable is not None:
            adjustable.only("enabled", "maximum", "minimum")
            top = adjustable.int("maximum", minimum=1)
            bottom = adjustable.int("minimum", minimum=0, default=1) or 0
            quantity = {"enabled": bool(adjustable.bool("enabled")), "maximum": top, "minimum": bottom}
            if top is not None and top < bottom:
                raise InvalidRequest(
                    "adjustable_quantity maximum must be at least its minimum.", param=adjustable.name("maximum")
                )
        out.append({"adjustable_quantity": quantity, "prices": prices, "product": product_id})
    return out


def shown(config: Record, include_products: bool) -> Record:
    """The configuration as the API answers, with `products` when asked for with expand[]."""
    if not include_products:
        return config
    out = dict(config)
    out["features"] = copy.deepcopy(config["features"])
    out["features"]["subscription_update"]["products"] = copy.deepcopy(products_of(config))
    return out

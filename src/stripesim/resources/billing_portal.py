"""Customer portal: /v1/billing_portal/configurations and /v1/billing_portal/sessions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from stripesim.billing import portal_config as cfg
from stripesim.billing.portal_sessions import start_session
from stripesim.billing.subscriptions import LIVE
from stripesim.errors import InvalidRequest, missing, no_such
from stripesim.present import paginate
from stripesim.resources import _includable
from stripesim.resources._common import apply_metadata
from stripesim.routes import Ctx, api
from stripesim.state import Record, State
from stripesim.wire import Params

PRODUCTS = "features.subscription_update.products"
FLOWS = ("payment_method_update", "subscription_cancel", "subscription_update", "subscription_update_confirm")


def _url(p: Params, key: str) -> str | None:
    value = p.str(key)
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(f"Not a valid URL: {value}", param=p.name(key), code="url_invalid")
    return value


def _business_profile(p: Params, current: dict[str, Any]) -> dict[str, Any]:
    profile = dict(current)
    sub = p.sub("business_profile")
    if sub is not None:
        sub.only("headline", "privacy_policy_url", "terms_of_service_url")
        if sub.has("headline"):
            profile["headline"] = sub.str("headline", max_length=60) or None
        for key in ("privacy_policy_url", "terms_of_service_url"):
            if sub.has(key):
                profile[key] = _url(sub, key)
    return profile


def _login_page(p: Params) -> bool | None:
    sub = p.sub("login_page")
    if sub is None:
        return None
    sub.only("enabled")
    value = sub.bool("enabled")
    if value is None:
        raise missing(sub.name("enabled"))
    return value


def _show(ctx: Ctx, record: Record) -> Record:
    return cfg.shown(record, bool(_includable.take(ctx, (PRODUCTS,))))


@api("POST", "/v1/billing_portal/configurations")
def create_configuration(ctx: Ctx) -> Record:
    p = ctx.params.only("business_profile", "default_return_url", "features", "login_page", "metadata", "name")
    state = ctx.state
    features_p = p.sub("features", required=True)
    assert features_p is not None
    features = cfg.blank_features()
    products = cfg.apply_features(state, features, [], features_p, creating=True)
    record = cfg.create(
        state,
        features=features,
        products=products,
        business_profile=_business_profile(
            p, {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None}
        ),
        default_return_url=_url(p, "default_return_url"),
        login_page=bool(_login_page(p)),
        name=p.str("name") or None,
    )
    apply_metadata(record, p)
    state.emit("billing_portal.configuration.created", record)
    return _show(ctx, record)


@api("GET", "/v1/billing_portal/configurations/{configuration}")
def retrieve_configuration(ctx: Ctx, configuration: str) -> Record:
    return _show(ctx, ctx.state.get(configuration, "billing_portal.configuration", "configuration"))


@api("POST", "/v1/billing_portal/configurations/{configuration}")
def update_configuration(ctx: Ctx, configuration: str) -> Record:
    p = ctx.params.only(
        "active", "business_profile", "default_return_url", "features", "login_page", "metadata", "name"
    )
    state = ctx.state
    record = state.get(configuration, "billing_portal.configuration", "configuration")
    active = p.bool("active")
    if active is False and record["is_default"]:
        raise InvalidRequest("The default configuration cannot be deactivated.", param="active")
    with state.changing(record):
        if active is not None:
            record["active"] = active
        record["business_profile"] = _business_profile(p, record["business_profile"])
        if p.has("default_return_url"):
            record["default_return_url"] = _url(p, "default_return_url")
        features_p = p.sub("features")
        if features_p is not None:
            record["_products"] = cfg.apply_features(
                state, record["features"], cfg.products_of(record), features_p, creating=False
            )
        login = _login_page(p)
        if login is not None:
            cfg.set_login_page(state, record, login)
        if p.has("name"):
            record["name"] = p.str("name") or None
        apply_metadata(record, p)
        record["updated"] = state.now()
    return _show(ctx, record)


@api("GET", "/v1/billing_portal/configurations")
def list_configurations(ctx: Ctx) -> Record:
    p = ctx.params.only("active", "is_default", "limit", "starting_after", "ending_before")
    state = ctx.state
    cfg.default_configuration(state)
    include = bool(_includable.take(ctx, (PRODUCTS,), in_list=True))
    records = list(state.all("billing_portal.configuration"))
    for key in ("active", "is_default"):
        value = p.bool(key)
        if value is not None:
            records = [r for r in records if r[key] == value]
    page = paginate(records, p, "/v1/billing_portal/configurations")
    page["data"] = [cfg.shown(r, include) for r in page["data"]]
    return page


def _subscription_of(state: State, p: Params, customer: Record) -> Record:
    sub_id = p.str("subscription", required=True) or ""
    sub = state.find(sub_id, "subscription")
    if sub is None or sub["customer"] != customer["id"]:
        raise InvalidRequest(
            f"No such subscription: '{sub_id}' for customer {customer['id']}.",
            param=p.name("subscription"),
            code="resource_missing",
        )
    if sub["status"] not in LIVE:
        raise InvalidRequest(
            f"The subscription {sub_id} is {sub['status']} and cannot be changed in the portal.",
            param=p.name("subscription"),
        )
    return sub


def _require(config: Record, feature: str, flow: str) -> None:
    if not config["features"][feature]["enabled"]:
        raise InvalidRequest(
            f"The `{flow}` flow needs the `{feature}` feature, which is disabled in the portal configuration "
            f"{config['id']}.",
            param="flow_data[type]",
        )


def _flow(state: State, p: Params, customer: Record, config: Record) -> dict[str, Any]:
    p.only(
        "type",
        "after_completion",
        "subscription_cancel",
        "subscription_update",
        "subscription_update_confirm",
        "subscription_pause",
    )
    kind = p.str("type", required=True, choices=FLOWS) or ""
    flow: dict[str, Any] = {
        "after_completion": {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"},
        "subscription_cancel": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": kind,
    }
    after = p.sub("after_completion")
    if after is not None:
        after.only("type", "hosted_confirmation", "redirect")
        atype = after.str("type", required=True, choices=("hosted_confirmation", "portal_homepage", "redirect"))
        flow["after_completion"]["type"] = atype
        if atype == "redirect":
            redirect = after.sub("redirect", required=True)
            assert redirect is not None
            redirect.only("return_url")
            if not redirect.has("return_url"):
                raise missing(redirect.name("return_url"))
            flow["after_completion"]["redirect"] = {"return_url": _url(redirect, "return_url")}
        elif atype == "hosted_confirmation":
            hosted = after.sub("hosted_confirmation")
            message = hosted.only("custom_message").str("custom_message", max_length=500) if hosted else None
            flow["after_completion"]["hosted_confirmation"] = {"custom_message": message}
    if kind == "payment_method_update":
        _require(config, "payment_method_update", kind)
    elif kind == "subscription_cancel":
        _require(config, "subscription_cancel", kind)
        data = p.sub("subscription_cancel", required=True)
        assert data is not None
        data.only("subscription", "retention")
        sub = _subscription_of(state, data, customer)
        retention = None
        offer = data.sub("retention")
        if offer is not None:
            offer.only("type", "coupon_offer")
            offer.str("type", required=True, choices=("coupon_offer",))
            coupon_p = offer.sub("coupon_offer", required=True)
            assert coupon_p is not None
            coupon_p.only("coupon")
            coupon_id = coupon_p.str("coupon", required=True) or ""
            if state.find(coupon_id, "coupon") is None:
                raise no_such("coupon", coupon_id, coupon_p.name("coupon"))
            retention = {"coupon_offer": {"coupon": coupon_id}, "type": "coupon_offer"}
        flow["subscription_cancel"] = {"retention": retention, "subscription": sub["id"]}
    elif kind == "subscription_update":
        _require(config, "subscription_update", kind)
        data = p.sub("subscription_update", required=True)
        assert data is not None
        data.only("subscription")
        flow["subscription_update"] = {"subscription": _subscription_of(state, data, customer)["id"]}
    else:
        _require(config, "subscription_update", kind)
        flow["subscription_update_confirm"] = _update_confirm(state, p, customer)
    return flow


def _update_confirm(state: State, p: Params, customer: Record) -> dict[str, Any]:
    data = p.sub("subscription_update_confirm", required=True)
    assert data is not None
    data.only("subscription", "items", "discounts")
    sub = _subscription_of(state, data, customer)
    items = []
    for item in data.list_of("items", required=True):
        item.only("id", "price", "quantity")
        item_id = item.str("id", required=True) or ""
        if item_id not in sub["_items"]:
            raise InvalidRequest(
                f"No such subscription item: '{item_id}' on subscription {sub['id']}.",
                param=item.name("id"),
                code="resource_missing",
            )
        price_id = item.str("price")
        if price_id and state.find(price_id, "price") is None:
            raise no_such("price", price_id, item.name("price"))
        items.append({"id": item_id, "price": price_id, "quantity": item.int("quantity", minimum=0)})
    discounts = []
    for d in data.list_of("discounts"):
        d.only("coupon", "promotion_code")
        discounts.append({"coupon": d.str("coupon"), "promotion_code": d.str("promotion_code")})
    return {"discounts": discounts or None, "items": items, "subscription": sub["id"]}


@api("POST", "/v1/billing_portal/sessions")
def create_session(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "customer_account",
        "return_url",
        "configuration",
        "locale",
        "flow_data",
        "on_behalf_of",
        "after_expiration",
    )
    state = ctx.state
    customer_id = p.str("customer")
    if not customer_id:
        raise missing("customer")
    customer = state.find(customer_id, "customer")
    if customer is None or customer.get("deleted"):
        raise no_such("customer", customer_id, "customer")
    config_id = p.str("configuration")
    if config_id:
        config = state.find(config_id, "billing_portal.configuration")
        if config is None:
            raise no_such("configuration", config_id, "configuration")
        if not config["active"]:
            raise InvalidRequest(
                f"The configuration {config_id} is not active; activate it or use another.", param="configuration"
            )
    else:
        config = cfg.default_configuration(state)
    flow_p = p.sub("flow_data")
    flow = _flow(state, flow_p, customer, config) if flow_p is not None else None
    return start_session(
        state,
        customer,
        config,
        flow=flow,
        locale=p.str("locale", max_length=10),
        on_behalf_of=p.str("on_behalf_of"),
        return_url=_url(p, "return_url"),
    )

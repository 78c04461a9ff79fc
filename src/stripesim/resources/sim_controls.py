"""The simulator's own controls, under /_sim/ and nowhere else."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from stripesim.errors import InvalidRequest
from stripesim.resources.account import the_account
from stripesim.routes import Ctx, sim
from stripesim.state import ApiFaults, SimConfig, WebhookFaults


def _set(target: Any, cls: type, values: dict[str, Any]) -> None:
    known = {f.name: f for f in fields(cls)}
    for key, raw in values.items():
        if key not in known:
            raise InvalidRequest(f"Unknown setting: {key}", param=key)
        current = getattr(target, key)
        try:
            if isinstance(current, bool):
                value: Any = raw in (True, "true", "1", 1)
            elif isinstance(current, int):
                value = int(raw)
            elif isinstance(current, float):
                value = float(raw)
            elif isinstance(current, list):
                value = [float(x) for x in (raw if isinstance(raw, list) else str(raw).split(","))]
            else:
                value = raw
        except (TypeError, ValueError):
            raise InvalidRequest(f"Invalid value for {key}: {raw!r}", param=key) from None
        setattr(target, key, value)


@sim("POST", "/_sim/reset")
def reset(ctx: Ctx) -> dict[str, Any]:
    ctx.state.runtime["simulator"].reset()
    return {"ok": True}


@sim("GET", "/_sim/faults")
def get_faults(ctx: Ctx) -> dict[str, Any]:
    return {"api": asdict(ctx.state.api_faults), "webhooks": asdict(ctx.state.webhook_faults)}


@sim("POST", "/_sim/faults")
def set_faults(ctx: Ctx) -> dict[str, Any]:
    """Set faults: `{"api": {"error_500_rate": 0.1}, "webhooks": {"duplicate_rate": 0.5}}`,
    or flat form fields prefixed `api_`/`webhook_`. `{"clear": true}` turns all off."""
    data = ctx.params.data
    if data.get("clear") in (True, "true"):
        ctx.state.api_faults = ApiFaults()
        ctx.state.webhook_faults = WebhookFaults()
    api_values = dict(data.get("api") or {})
    hook_values = dict(data.get("webhooks") or {})
    for key, value in data.items():
        if key.startswith("api_"):
            api_values[key[4:]] = value
        elif key.startswith("webhook_"):
            hook_values[key[8:]] = value
        elif key not in ("api", "webhooks", "clear"):
            raise InvalidRequest(f"Unknown fault: {key}", param=key)
    _set(ctx.state.api_faults, ApiFaults, api_values)
    _set(ctx.state.webhook_faults, WebhookFaults, hook_values)
    return get_faults(ctx)


@sim("GET", "/_sim/config")
def get_config(ctx: Ctx) -> dict[str, Any]:
    return asdict(ctx.state.config)


@sim("POST", "/_sim/config")
def set_config(ctx: Ctx) -> dict[str, Any]:
    _set(ctx.state.config, SimConfig, dict(ctx.params.data))
    return get_config(ctx)


PUBLIC_DETAILS = ("name", "url", "support_email", "support_phone", "support_url")


@sim("POST", "/_sim/account")
def set_public_details(ctx: Ctx) -> dict[str, Any]:
    """The account's public details, which Stripe's Dashboard sets (Settings → Public details) and
    its API cannot: `{"business_profile": {"name": "Acme", "url": "https://acme.test"}}`, and
    `{"settings": {"dashboard": {"display_name": "Acme"}}}`. The hosted pages show them. Answers
    the account as /v1/account does."""
    p = ctx.params.only("business_profile", "settings")
    account = the_account(ctx.state)
    profile = p.sub("business_profile")
    if profile is not None:
        profile.only(*PUBLIC_DETAILS)
        values = {key: profile.str(key) or None for key in PUBLIC_DETAILS if profile.has(key)}
        account["business_profile"] = {**(account.get("business_profile") or {}), **values}
    settings = p.sub("settings")
    dashboard = settings.only("dashboard").sub("dashboard") if settings is not None else None
    if dashboard is not None:
        dashboard.only("display_name")
        account["settings"]["dashboard"]["display_name"] = dashboard.str("display_name") or None
    return ctx.state.snapshot(account)


@sim("GET", "/_sim/webhooks/attempts")
def webhook_attempts(ctx: Ctx) -> dict[str, Any]:
    """Every delivery attempt and how many deliveries wait; `summary=true`: counts only (for a
    large storm: attempts, those answered 2xx, the events delivered, what waits)."""
    dispatcher = ctx.state.runtime["dispatcher"]
    if ctx.params.only("summary").str("summary") in ("true", "1"):
        delivered = {a["event"] for a in dispatcher.log if a["ok"]}
        ok = sum(1 for a in dispatcher.log if a["ok"])
        return {
            "attempts": len(dispatcher.log),
            "ok": ok,
            "events_delivered": len(delivered),
            "pending": dispatcher.pending(),
        }
    return {"data": list(dispatcher.log), "pending": dispatcher.pending()}


@sim("POST", "/_sim/webhooks/retry_now")
def webhook_retry_now(ctx: Ctx) -> dict[str, Any]:
    return {"due": ctx.state.runtime["dispatcher"].retry_now()}


@sim("GET", "/_sim/requests")
def requests(ctx: Ctx) -> dict[str, Any]:
    """The API requests answered (the most recent 500,000), in the order answered, as
    `[unix time it arrived, the key's last 6 characters, method, path, status]`; `since` (unix
    time) and `key` (its last 6 characters) narrow it."""
    p = ctx.params.only("since", "key")
    since = float(p.str("since") or 0)
    key = p.str("key")
    log = ctx.state.runtime["simulator"].request_log
    return {"data": [list(entry) for entry in log if entry[0] >= since and (not key or entry[1] == key)]}


@sim("POST", "/_sim/events/forget")
def forget_events(ctx: Ctx) -> dict[str, Any]:
    """Drop every event kept so far (its deliveries are done or dropped with it): a benchmark
    that built a large account keeps the account, not the hundreds of thousands of events
    building it made."""
    state = ctx.state
    ids = list(state.by_type.get("event", []))
    for event_id in ids:
        state.objects.pop(event_id, None)
    state.by_type["event"] = []
    return {"forgotten": len(ids)}


@sim("GET", "/_sim/health")
def health(ctx: Ctx) -> dict[str, Any]:
    return {"ok": True, "objects": len(ctx.state.objects)}

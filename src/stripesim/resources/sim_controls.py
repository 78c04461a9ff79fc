"""The simulator's own controls, under /_sim/ and nowhere else."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from stripesim.errors import InvalidRequest
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


@sim("GET", "/_sim/webhooks/attempts")
def webhook_attempts(ctx: Ctx) -> dict[str, Any]:
    dispatcher = ctx.state.runtime["dispatcher"]
    return {"data": list(dispatcher.log), "pending": dispatcher.pending()}


@sim("POST", "/_sim/webhooks/retry_now")
def webhook_retry_now(ctx: Ctx) -> dict[str, Any]:
    return {"due": ctx.state.runtime["dispatcher"].retry_now()}


@sim("GET", "/_sim/health")
def health(ctx: Ctx) -> dict[str, Any]:
    return {"ok": True, "objects": len(ctx.state.objects)}

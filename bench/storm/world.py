"""The Stripe account the storm happens in, built once and kept as a stripesim state file.

A SaaS on paywire's catalog: `subscribers` customers on ONE test clock, each paying the basic
plan monthly by card (one advance of the clock renews them all: the first of the month), and a
few `upgraders` on no clock, on the same plan, who upgrade during the storm. Every customer
carries `metadata.user_id`, as an application that created its customers itself would have set,
so `paywire sync --adopt` links them. For the sync phase: `subscribers` 30-day trials with no
card (a subscription and its first, zero invoice each), on no clock.

Built in this process, by calling stripesim's own request handler (no sockets: ~10x faster than
over HTTP on this machine), with the objects `paywire catalog push` makes for the catalog's
plans and passes, then written as a state file without the events that building made (nothing
was listening). Each measurement starts a stripesim process from a copy (`--from-state`), so
every target meets the same account, object for object.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "webhooks"))

from procs import Server  # noqa: E402

# The keys: paywire's (the one stripesim limits and counts), and the bench's own, for building the
# account and checking the mirror (its own bucket: never counted as paywire's).
PAYWIRE_KEY = "sk_test_PaywireStormBench00000000000000"
BENCH_KEY = "sk_test_StormBenchBuilderAndChecker0000"
T0 = 1_893_456_000  # 2030-01-01 00:00 UTC, the clock's start
PLAN_LOOKUP = "basic_month"


@dataclass
class World:
    """What was built, for the runs that use it (saved beside the state file)."""

    subscribers: int
    clock: str | None
    upgraders: list[str] = field(default_factory=list)  # user ids
    renews_at: int = 0  # the storm clock's renewal time (the period end)
    price: str = ""

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> World:
        return cls(**json.loads(path.read_text()))


def world_file(state_file: Path) -> Path:
    return state_file.with_suffix(".world.json")


def start_stripesim(work: Path, src: Path, state_file: Path, name: str = "stripesim") -> Server:
    """A stripesim process starting from `state_file` (a copy of it is never written back)."""
    sim = Server(
        name,
        [sys.executable, "-m", "stripesim.cli", "--port", "{port}", "--from-state", str(state_file)],
        env={"PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"},
        log=work / f"{name}.log",
    )
    sim.wait_ready("/_sim/health", timeout=600)
    return sim


class InProcess:
    """stripesim's request handler called directly, with the bench's key."""

    def __init__(self) -> None:
        from stripesim.app import Simulator

        self.sim = Simulator()

    def __call__(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        status, body, _ = self.sim.call(BENCH_KEY, method, path, params)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {str(body)[:300]}")
        return body


def push_catalog(api: InProcess) -> dict[str, str]:
    """What `paywire catalog push` makes for the catalog's plans and passes: products (their
    ids and metadata) and prices by lookup key. Price ids by lookup key."""
    from paywire.catalog import load_catalog

    catalog = load_catalog()
    for spec in catalog.product_specs():
        params: dict[str, Any] = {"id": spec.product_id, "name": spec.name}
        params.update({f"metadata[{k}]": v for k, v in spec.metadata.items()})
        api("POST", "/v1/products", params)
    prices = {}
    for price in catalog.price_specs():
        if price.meter is not None or price.unit_amount is None:
            continue  # metered prices need meters: no subscriber here uses them
        params = {
            "product": price.product_id,
            "unit_amount": price.unit_amount,
            "currency": price.currency,
            "lookup_key": price.lookup_key,
        }
        params.update({f"metadata[{k}]": v for k, v in price.metadata.items()})
        if price.interval:
            params["recurring[interval]"] = price.interval
        prices[price.lookup_key] = api("POST", "/v1/prices", params)["id"]
    return prices


def _subscriber(api: InProcess, price: str, clock: str | None, *, card: bool, user: str) -> dict[str, Any]:
    params: dict[str, Any] = {"email": f"{user}@example.com", "metadata[user_id]": user}
    if clock:
        params["test_clock"] = clock
    customer = api("POST", "/v1/customers", params)
    subscription: dict[str, Any] = {"customer": customer["id"], "items[0][price]": price}
    if card:
        pm = api("POST", "/v1/payment_methods", {"type": "card", "card[token]": "tok_visa"})
        api("POST", f"/v1/payment_methods/{pm['id']}/attach", {"customer": customer["id"]})
        subscription["default_payment_method"] = pm["id"]
    else:
        subscription["trial_period_days"] = 30
    return api("POST", "/v1/subscriptions", subscription)  # type: ignore[no-any-return]


def build(state_file: Path, *, subscribers: int, upgraders: int, cards: bool, log: Any = print) -> World:
    """Build the account and leave it in `state_file` (and what was built in `<state>.world.json`)."""
    api = InProcess()
    api.sim.state.config.upcoming_invoice_days = 0
    price = push_catalog(api)[PLAN_LOOKUP]
    clock = api("POST", "/v1/test_helpers/test_clocks", {"frozen_time": T0, "name": "storm"})["id"] if cards else None
    started, renews_at = time.monotonic(), 0
    for n in range(subscribers):
        made = _subscriber(api, price, clock, card=cards, user=f"storm_user_{n}")
        renews_at = max(renews_at, *(item["current_period_end"] for item in made["items"]["data"]))
        if (n + 1) % 10_000 == 0 or n + 1 == subscribers:
            log(f"    {n + 1:,} subscribers in {time.monotonic() - started:.0f} s")
    names = [f"storm_upgrader_{n}" for n in range(upgraders)]
    for user in names:
        _subscriber(api, price, None, card=True, user=user)
    # The account, not the events that built it: nothing was listening, and nobody will ask.
    api("POST", "/_sim/events/forget")
    api.sim.state.idempotency.clear()
    state_file.write_bytes(api.sim.state.dump())
    world = World(subscribers, clock, names, renews_at=renews_at, price=price)
    world.save(world_file(state_file))
    return world

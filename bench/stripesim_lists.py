"""How long stripesim takes to serve one list page, by how many objects it holds.

    python bench/stripesim_lists.py [--sizes 5000,100000] [--reps 11]

Builds a State in-process: a few hundred subscribers made through the API (a customer, some
on a test clock, a trialing subscription and its invoice; every tenth canceled), then copied
with new ids up to each size (copies are inserted, not announced: no events). Then serves
the first, middle and last page of 100 of the lists `paywire sync` reads, with the sync's own
parameters, through the request handler (routing, parameters, rendering, expansion, JSON),
and prints p50/p99 ms per page. Nothing is asserted: run it on two commits to compare.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stripesim.app import Simulator  # noqa: E402
from stripesim.ids import new_id  # noqa: E402
from stripesim.state import State  # noqa: E402

KEY = "sk_test_benchmark_key_000000"
TEMPLATES = 200
PAGE = 100
# The lists `paywire sync` reads (src/paywire/stripe/gateway.py), with its parameters.
LISTS: dict[str, tuple[str, dict[str, Any]]] = {
    "customers": ("customer", {}),
    "subscriptions": (
        "subscription",
        {
            "status": "all",
            "expand[]": ["data.items.data.price", "data.discounts.source.coupon", "data.test_clock"],
        },
    ),
    "invoices": ("invoice", {"expand[]": ["data.test_clock"]}),
}


def call(sim: Simulator, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    status, body, _ = sim.call(KEY, method, path, params)
    if status != 200:
        raise RuntimeError(f"{method} {path}: {status} {str(body)[:300]}")
    return body


def templates(sim: Simulator) -> list[str]:
    """Customers made through the API, each with a subscription and its invoice."""
    product = call(sim, "POST", "/v1/products", {"name": "Plan"})
    price = call(
        sim,
        "POST",
        "/v1/prices",
        {"product": product["id"], "currency": "usd", "unit_amount": 900, "recurring[interval]": "month"},
    )
    clock = call(sim, "POST", "/v1/test_helpers/test_clocks", {"frozen_time": int(time.time())})
    customers = []
    for n in range(TEMPLATES):
        params = {"email": f"user{n}@example.com"}
        if n % 2:
            params["test_clock"] = clock["id"]
        customer = call(sim, "POST", "/v1/customers", params)
        sub = call(
            sim,
            "POST",
            "/v1/subscriptions",
            {"customer": customer["id"], "items[0][price]": price["id"], "trial_period_days": 30},
        )
        if n % 10 == 0:
            call(sim, "DELETE", f"/v1/subscriptions/{sub['id']}")
        customers.append(customer["id"])
    call(sim, "POST", "/_sim/events/forget")
    return customers


def grow(state: State, customers: list[str], size: int) -> None:
    """Copies of the template customers (their subscriptions, items and invoices) up to `size`
    customers, each copy's records pointing at each other."""
    subs = {c: [s for s in state.all("subscription") if s["customer"] == c] for c in customers}
    invoices = {c: [i for i in state.all("invoice") if i["customer"] == c] for c in customers}
    n = len(state.by_type.get("customer", []))
    while n < size:
        source = state.objects[customers[n % len(customers)]]
        customer = copy.deepcopy(source)
        customer["id"] = new_id("cus")
        state.insert(customer)
        for sub in subs[source["id"]]:
            sub_copy = copy.deepcopy(sub)
            sub_copy["id"] = new_id("sub")
            sub_copy["customer"] = customer["id"]
            items = []
            for item_id in sub["_items"]:
                item = copy.deepcopy(state.objects[item_id])
                item["id"] = new_id("si")
                item["subscription"] = sub_copy["id"]
                items.append(state.insert(item)["id"])
            sub_copy["_items"] = items
            state.insert(sub_copy)
            for invoice in invoices[source["id"]]:
                inv_copy = copy.deepcopy(invoice)
                inv_copy["id"] = new_id("in")
                inv_copy["customer"] = customer["id"]
                details = (inv_copy.get("parent") or {}).get("subscription_details") or {}
                if details.get("subscription") == sub["id"]:
                    details["subscription"] = sub_copy["id"]
                state.insert(inv_copy)
        n += 1


def cursors(state: State, object_type: str) -> dict[str, str | None]:
    """The starting_after of the first, middle and last page (every record is in the list)."""
    ids = [r["id"] for r in state.all(object_type)]
    pages = (len(ids) + PAGE - 1) // PAGE
    chosen = {1: None, (pages + 1) // 2: None, pages: None}
    return {f"page {k}": (ids[(k - 1) * PAGE - 1] if k > 1 else None) for k in sorted(chosen)}


def time_page(sim: Simulator, path: str, params: dict[str, Any], reps: int) -> list[float]:
    took = []
    for _ in range(reps):
        started = time.perf_counter()
        page = call(sim, "GET", path, params)
        took.append((time.perf_counter() - started) * 1000)
        assert page["data"], path
    return took


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000,100000", help="customers (and subscriptions, invoices) per run")
    parser.add_argument("--reps", type=int, default=11, help="requests per page")
    args = parser.parse_args()
    sim = Simulator()
    sim.state.config.upcoming_invoice_days = 0
    customers = templates(sim)
    print(f"{'objects':>8}  {'list':<14}{'page':<11}{'p50 ms':>9}{'p99 ms':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.monotonic()
        grow(sim.state, customers, size)
        print(f"# {size:,} customers built in {time.monotonic() - started:.1f} s", file=sys.stderr)
        for name, (object_type, extra) in LISTS.items():
            for label, after in cursors(sim.state, object_type).items():
                params = {"limit": PAGE, **extra, **({"starting_after": after} if after else {})}
                took = time_page(sim, f"/v1/{name}", params, args.reps)
                print(f"{size:>8}  {name:<14}{label:<11}{statistics.median(took):>9.1f}{pct(took, 0.99):>9.1f}")


if __name__ == "__main__":
    main()

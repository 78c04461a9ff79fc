"""Revenue metrics from the ledger: MRR over time, its movements, churn. Pure over the changes.

Definitions (amounts in the currency's smallest unit, times in Stripe's clock):
- MRR at a moment: every subscription's monthly value then, summed (`paywire.revenue.mrr`).
  A bucket's MRR is the MRR at its last second. ARR = 12 * MRR.
- Active subscribers: customers whose MRR is above 0. ARPU = MRR ÷ active subscribers.
- Movements (`paywire.revenue.movements`), per bucket and over the window, signed (churn and
  contraction negative). Net new MRR = new + expansion + reactivation + contraction + churn.
- Logo churn rate: customers who churned in the window ÷ active subscribers at its start.
- Gross revenue churn rate: MRR lost to churn and contraction ÷ MRR at the start.
- Net revenue churn rate: (churn + contraction - expansion - reactivation) ÷ MRR at the start
  (negative: expansion outgrew what was lost).
- Involuntary share: the churned MRR whose access ended through failed payments ÷ all churned MRR.
A rate with nothing to divide by is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from paywire.insights.windows import Window
from paywire.revenue.history import INVOLUNTARY
from paywire.revenue.movements import CHURN, CONTRACTION, EXPANSION, KINDS, NEW, REACTIVATION, Change, movements


@dataclass
class Point:
    label: str
    start: int
    end: int
    mrr: int = 0
    subscribers: int = 0
    movements: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    churned_customers: int = 0
    voluntary_churn: int = 0
    involuntary_churn: int = 0

    @property
    def net_new(self) -> int:
        return sum(self.movements.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "mrr": self.mrr,
            "subscribers": self.subscribers,
            **{kind: amount for kind, amount in self.movements.items()},
            "net_new": self.net_new,
            "churned_customers": self.churned_customers,
            "voluntary_churn": self.voluntary_churn,
            "involuntary_churn": self.involuntary_churn,
        }


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class RevenueReport:
    window: Window
    points: list[Point]
    mrr: int
    subscribers: int
    mrr_at_start: int
    subscribers_at_start: int
    totals: dict[str, int]
    churned_customers: int
    voluntary_churn: int
    involuntary_churn: int
    movements: list[dict[str, Any]]

    @property
    def arpu(self) -> float | None:
        return round(self.mrr / self.subscribers, 2) if self.subscribers else None

    def as_dict(self) -> dict[str, Any]:
        lost = -(self.totals[CHURN] + self.totals[CONTRACTION])
        gained = self.totals[EXPANSION] + self.totals[REACTIVATION]
        churned = -self.totals[CHURN]
        return {
            "mrr": self.mrr,
            "arr": self.mrr * 12,
            "active_subscribers": self.subscribers,
            "arpu": self.arpu,
            "mrr_at_start": self.mrr_at_start,
            "active_subscribers_at_start": self.subscribers_at_start,
            "mrr_growth": ratio(self.mrr - self.mrr_at_start, self.mrr_at_start),
            "movements": dict(self.totals),
            "net_new_mrr": sum(self.totals.values()),
            "churn": {
                "churned_customers": self.churned_customers,
                "logo_churn_rate": ratio(self.churned_customers, self.subscribers_at_start),
                "gross_revenue_churn_rate": ratio(lost, self.mrr_at_start),
                "net_revenue_churn_rate": ratio(lost - gained, self.mrr_at_start),
                "voluntary_mrr": self.voluntary_churn,
                "involuntary_mrr": self.involuntary_churn,
                "involuntary_share": ratio(self.involuntary_churn, churned),
            },
            "series": [p.as_dict() for p in self.points],
            "recent_movements": self.movements[-50:],
        }


def revenue_report(changes: Sequence[Change], window: Window) -> RevenueReport:
    """The report of `changes` (every ledger change up to the window's end, in ledger order)."""
    found = movements(changes)
    points = [Point(b.label, b.start, b.end) for b in window.buckets()]
    levels = _levels(changes, [window.start - 1, *[p.end - 1 for p in points]])
    mrr_at_start, subscribers_at_start = levels[0]
    for point, (mrr, subscribers) in zip(points, levels[1:], strict=True):
        point.mrr, point.subscribers = mrr, subscribers
    totals = dict.fromkeys(KINDS, 0)
    churned = voluntary = involuntary = 0
    within = []
    for movement in found:
        if not window.start <= movement.at < window.end:
            continue
        within.append(movement)
        totals[movement.kind] += movement.amount
        point = next(p for p in points if p.start <= movement.at < p.end)
        point.movements[movement.kind] += movement.amount
        if movement.kind == CHURN:
            churned += 1
            point.churned_customers += 1
            if movement.churn == INVOLUNTARY:
                involuntary -= movement.amount
                point.involuntary_churn -= movement.amount
            else:
                voluntary -= movement.amount
                point.voluntary_churn -= movement.amount
    mrr, subscribers = levels[-1]
    recent = [
        {
            "at": m.at,
            "customer": m.customer,
            "user_id": m.user_id,
            "kind": m.kind,
            "amount": m.amount,
            "mrr_before": m.mrr_before,
            "mrr_after": m.mrr_after,
            "churn": m.churn,
            "subscriptions": list(m.subscriptions),
            "causes": list(m.causes),
        }
        for m in within
    ]
    return RevenueReport(
        window=window,
        points=points,
        mrr=mrr,
        subscribers=subscribers,
        mrr_at_start=mrr_at_start,
        subscribers_at_start=subscribers_at_start,
        totals=totals,
        churned_customers=churned,
        voluntary_churn=voluntary,
        involuntary_churn=involuntary,
        movements=recent,
    )


def _levels(changes: Sequence[Change], moments: list[int]) -> list[tuple[int, int]]:
    """MRR and active subscribers at each moment (inclusive; moments ascending), in one pass."""
    ordered = sorted(changes, key=lambda c: c.at)
    values: dict[str, int] = {}
    owners: dict[str, str] = {}
    found = []
    index = 0
    for moment in moments:
        while index < len(ordered) and ordered[index].at <= moment:
            change = ordered[index]
            values[change.subscription] = change.after
            owners[change.subscription] = change.customer
            index += 1
        per_customer: dict[str, int] = {}
        for subscription, value in values.items():
            per_customer[owners[subscription]] = per_customer.get(owners[subscription], 0) + value
        found.append((sum(values.values()), sum(1 for v in per_customer.values() if v > 0)))
    return found


__all__ = ["NEW", "RevenueReport", "revenue_report"]

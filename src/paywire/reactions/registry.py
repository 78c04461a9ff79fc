"""Which reactions run for which facts.

A reaction is a named function `(ReactionContext, ClaimedFact) -> detail`. The dispatcher
runs it at least once per fact and records it (by fact and name) once: a reaction with a
database effect makes it in the session it is given, which commits with the record, so it
happens exactly once; one with an outside effect (an email) may be repeated after a crash
and must carry the fact's id to let the outside drop the repeat (see `email`).

The one reaction today is the customer's email (`CustomerMail`): the notice a fact gets
(`notices`), worded by its templates (`rendering`), with the signed "update your card" link
(`paywire.billing.payment_links`) where the customer has something to fix. What it did is the
reaction's detail in `reaction_log`: the Message-ID and the notice sent, or why none was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.payment_links import update_payment_url
from paywire.billing.payments import receipt_url
from paywire.catalog import Catalog
from paywire.config import ConfigError, Settings, load_settings
from paywire.db.models import Invoice
from paywire.db.repositories import customers, subscriptions
from paywire.outbox import ClaimedFact
from paywire.reactions.email import EmailSender, LogEmailSender, Mail, message_id
from paywire.reactions.notices import Notice, NoticePolicy, notice_for
from paywire.reactions.rendering import MailRenderer, day, money
from paywire.reactions.team import ENDS_ACCESS, TEAM_TEMPLATES, EndAccess, TeamMail
from paywire.stripe import StripeGateway


@dataclass
class ReactionContext:
    session: Session  # commits with the reaction's record
    email: EmailSender


Reaction = Callable[[ReactionContext, ClaimedFact], str | None]


@dataclass
class Registry:
    email: EmailSender = field(default_factory=LogEmailSender)
    reactions: dict[str, dict[str, Reaction]] = field(default_factory=dict)

    def register(self, kind: str, name: str, reaction: Reaction) -> None:
        """Run `reaction` for every fact of `kind` (names are unique per kind and are part
        of the idempotency key: renaming a reaction makes it run again for old facts)."""
        self.reactions.setdefault(kind, {})[name] = reaction

    def for_kind(self, kind: str) -> dict[str, Reaction]:
        return self.reactions.get(kind, {})


NOTIFIED_KINDS = (
    "access_granted",
    "subscription_canceled",
    "access_paused",
    "trial_will_end",
    "trial_ended",
    "payment_failed",
    "payment_action_required",
    "payment_action_reminder",
    "payment_recovered",
    "receipt",
    "pass_fulfilled",
    "refund_issued",
    "usage_threshold",
    "payout_failed",
)


# Notices whose customer has a card to add or fix: they carry the signed link.
LINKED_NOTICES = ("payment_failed", "final_notice", "access_paused", "trial_will_end")


class CustomerMail:
    """The `email` reaction: tell the customer, at the email paywire knows for the user. A
    receipt's link to Stripe's receipt is asked of Stripe (`gateway`) as it is sent: one
    request, which the event that recorded the receipt does not make (see `invoice.paid`)."""

    def __init__(
        self, settings: Settings, catalog: Catalog | None = None, gateway: StripeGateway | None = None
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.gateway = gateway
        self.policy = NoticePolicy.from_settings(settings)
        self.renderer = MailRenderer(settings)

    def __call__(self, ctx: ReactionContext, fact: ClaimedFact) -> str | None:
        notice = notice_for(fact.kind, fact.payload, self.policy)
        if not isinstance(notice, Notice):
            return notice
        if fact.kind == "payment_action_reminder" and not _still_waiting(ctx.session, fact.payload):
            return "the payment was confirmed or has expired: no reminder"
        customer = customers.find_by_user(ctx.session, fact.user_id) if fact.user_id else None
        # A seller (a payout's fact) may buy nothing: their address rides on the fact.
        to = customer.email if customer is not None and customer.email else fact.payload.get("email")
        if not to:
            return "no email address known"
        rendered = self.renderer.render(notice.template, self.values(ctx.session, fact, notice))
        headers = {"X-Paywire-Notice": notice.kind}
        if notice.attempt is not None and notice.kind in ("payment_failed", "final_notice"):
            headers["X-Paywire-Attempt"] = str(notice.attempt)
        mail = Mail(
            to=str(to),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id(fact.dedup_key, "email"),
            headers=headers,
        )
        ctx.email.send(mail)
        attempt = f" attempt {notice.attempt}" if "X-Paywire-Attempt" in headers else ""
        return f"sent {notice.kind}{attempt}: {mail.subject} {mail.message_id}"

    def _receipt_url(self, fact: ClaimedFact) -> str | None:
        invoice_id = fact.payload.get("invoice_id")
        if fact.kind != "receipt" or self.gateway is None or not isinstance(invoice_id, str):
            return None
        return receipt_url(self.gateway, invoice_id)

    def _update_url(self, user_id: str | None, notice: Notice) -> str:
        """The signed "update your card" link where the customer has a card to fix (else, or
        without a signing secret configured, the account page)."""
        account = self.settings.app_link(self.settings.portal_return_path)
        if user_id is None or notice.kind not in LINKED_NOTICES:
            return account
        try:
            return update_payment_url(self.settings, user_id)
        except ConfigError:
            return account

    def values(self, session: Session, fact: ClaimedFact, notice: Notice) -> dict[str, Any]:
        """What the templates may use; every name is always there (the templates are strict)."""
        p = fact.payload
        currency = p.get("currency")
        plan_key = p.get("plan") or p.get("grants_plan")
        if not plan_key and p.get("subscription_id"):
            row = subscriptions.find(session, str(p["subscription_id"]))
            plan_key = row.plan if row is not None else None
        plan = self.catalog.plan(str(plan_key)) if self.catalog and plan_key else None
        product = self.catalog.product(str(p.get("product") or "")) if self.catalog else None
        amount = p.get("amount_due") if p.get("amount_due") is not None else p.get("amount_total")
        if amount is None:
            amount = p.get("amount")  # a payout's
        return {
            "notice": notice.kind,
            "attempt": notice.attempt or p.get("attempt_count") or 0,
            "plan": plan.name if plan else (str(plan_key) if plan_key else ""),
            "amount": money(p.get("amount_refunded") if fact.kind == "refund_issued" else amount, currency),
            "next_attempt": day(p.get("next_payment_attempt")),
            "ends_by_cancel": self.policy.dunning_end == "cancel",
            "payment_failed": p.get("reason") == "payment_failed",
            "invoice_url": p.get("hosted_invoice_url") or "",
            "update_url": self._update_url(fact.user_id, notice),
            "account_url": self.settings.app_link(self.settings.portal_return_path),
            "pricing_url": self.settings.app_link("/pricing"),
            "trial_end": day(p.get("trial_end")),
            "card_on_file": bool(p.get("card_on_file")),
            "expires": day(p.get("expires_at")),
            "number": p.get("number") or "",
            "paid_on": day(p.get("paid_at")),
            "lines": [{"description": d, "amount": money(a, currency)} for d, a in p.get("lines") or []],
            "tax": money(p["tax"], currency) if p.get("tax") else "",
            "discount": money(p["discount"], currency) if p.get("discount") else "",
            "total": money(p.get("amount_paid"), currency),
            "receipt_url": p.get("receipt_url") or self._receipt_url(fact) or "",
            "pass_name": product.name if product else str(p.get("product") or "pass"),
            "access_ends": day(p.get("access_ends_at")),
            # A soft usage limit's notice (paywire.usage.allowance.threshold_facts).
            "meter_name": p.get("meter_name") or p.get("meter") or "",
            "used": f"{int(p.get('used') or 0):,}",
            "included": f"{int(p.get('included') or 0):,}",
            "threshold": int(p.get("threshold") or 0),
            "period_end": day(p.get("period_end")),
            "overage": per_thousand(p.get("unit_amount_decimal"), currency),
            # A seller's failed payout (Stripe Connect): the bank's reason, and the seller page.
            "failure_message": p.get("failure_message") or "",
            "seller_url": self.settings.app_link("/seller"),
        }


def per_thousand(unit_amount_decimal: Any, currency: Any) -> str:
    """A price per unit (a decimal of the smallest unit) for 1,000 units, as money."""
    try:
        cents = Decimal(str(unit_amount_decimal or 0)) * 1000
    except InvalidOperation:
        return ""
    return money(int(cents.to_integral_value(ROUND_HALF_UP)), currency)


def _still_waiting(session: Session, payload: dict[str, Any]) -> bool:
    """A 3-D Secure reminder goes only while the invoice is still open (not paid, not voided
    by the subscription's expiry)."""
    invoice_id = payload.get("invoice_id")
    row = session.get(Invoice, invoice_id) if invoice_id else None
    return row is not None and row.status == "open"


def default_registry(
    email: EmailSender | None = None,
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    gateway: StripeGateway | None = None,
) -> Registry:
    """The customer's mails, the team's (disputes, failed refunds) and, with a gateway, the
    end of access after a full refund or a lost dispute (`paywire.reactions.team`)."""
    registry = Registry(email=email or LogEmailSender())
    settings = settings or load_settings(_env_file=None)
    mail = CustomerMail(settings, catalog, gateway)
    for kind in NOTIFIED_KINDS:
        registry.register(kind, "email", mail)
    team = TeamMail(settings)
    for kind in TEAM_TEMPLATES:
        registry.register(kind, "team_email", team)
    if gateway is not None:
        for kind in ENDS_ACCESS:
            registry.register(kind, "end_access", EndAccess(settings, gateway))
    return registry

"""What the team hears of, and what a refund or a lost dispute does to access.

`TeamMail` (the `team_email` reaction): a dispute opened (at once), its deadline reminders (3
days and 1 day before, told only while nothing was submitted), its outcome, and a refund that
failed, mailed to `PAYWIRE_TEAM_EMAIL` with the way to `/admin`. Each mail counts in
`paywire_dispute_alerts_total{kind}`.

`EndAccess` (the `end_access` reaction): a subscription whose payment was fully refunded
(`refund_ends_access`) or whose dispute was lost (`dispute_lost`) is canceled now
(`PAYWIRE_REFUND_ACCESS=end_now`, the default) or at the period end (`period_end`), with an
idempotency key of its own: done once however often the fact is delivered. A pass needs no
reaction: its order was marked refunded with the mirror change.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from paywire.config import Settings
from paywire.db.models import Dispute
from paywire.db.repositories import disputes
from paywire.metrics import DISPUTE_ALERTS
from paywire.outbox import ClaimedFact
from paywire.reactions.email import EmailSender, Mail, message_id
from paywire.reactions.rendering import MailRenderer, day, money
from paywire.stripe import Kind, StripeGateway, StripeNotFound
from paywire.stripe import idempotency as keys

TEAM_TEMPLATES = {
    "dispute_opened": "team_dispute_opened",
    "dispute_reminder": "team_dispute_reminder",
    "dispute_closed": "team_dispute_closed",
    "refund_failed": "team_refund_failed",
}
ENDS_ACCESS = ("refund_ends_access", "dispute_lost")
ENDED = ("canceled", "incomplete_expired")


class ReactionContext(Protocol):
    """What a reaction is given (`paywire.reactions.registry.ReactionContext`)."""

    session: Session
    email: EmailSender


OUTCOMES = {"won": "won", "lost": "lost", "warning_closed": "closed (inquiry)", "prevented": "prevented"}


class TeamMail:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.renderer = MailRenderer(settings)

    def __call__(self, ctx: ReactionContext, fact: ClaimedFact) -> str | None:
        if not self.settings.team_email:
            return "PAYWIRE_TEAM_EMAIL is not set: no team mail"
        template = TEAM_TEMPLATES[fact.kind]
        if fact.kind == "dispute_reminder":
            row = ctx.session.get(Dispute, fact.subject_id) if fact.subject_id else None
            if row is None or row.submission_count or row.status not in disputes.AWAITING_EVIDENCE:
                return "the evidence was submitted, or the dispute is closed: no reminder"
        rendered = self.renderer.render(template, self.values(fact))
        mail = Mail(
            to=", ".join(self.settings.team_email),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id(fact.dedup_key, "team_email"),
            headers={"X-Paywire-Notice": template},
        )
        ctx.email.send(mail)
        DISPUTE_ALERTS.labels(kind=fact.kind).inc()
        return f"sent {template}: {mail.subject} {mail.message_id}"

    def values(self, fact: ClaimedFact) -> dict[str, Any]:
        p = fact.payload
        dispute_id = p.get("dispute_id") or ""
        admin = f"/admin/disputes/{dispute_id}" if dispute_id else "/admin"
        status = str(p.get("status") or "")
        return {
            "dispute_id": dispute_id,
            "refund_id": p.get("refund_id") or "",
            "amount": money(
                p["amount"] if p.get("amount") is not None else p.get("amount_refunded"), p.get("currency")
            ),
            "reason": str(p.get("reason") or "unknown").replace("_", " "),
            "status": status,
            "outcome": OUTCOMES.get(status, status.replace("_", " ")),
            "customer": fact.user_id or "unknown",
            "payment": p.get("payment_id") or p.get("charge_id") or "unknown",
            "due": day(p.get("due_by")) or "no response possible",
            "days_left": int(p.get("days_left") or 0),
            "failure_reason": str(p.get("failure_reason") or "unknown").replace("_", " "),
            "admin_url": self.settings.app_link(admin),
        }


class EndAccess:
    def __init__(self, settings: Settings, gateway: StripeGateway) -> None:
        self.settings = settings
        self.gateway = gateway

    def __call__(self, ctx: ReactionContext, fact: ClaimedFact) -> str | None:
        subscription_id = fact.payload.get("subscription_id")
        if not subscription_id:
            return "not a subscription's payment: nothing more to end"
        try:
            fresh = self.gateway.retrieve(Kind.SUBSCRIPTION, str(subscription_id))
        except StripeNotFound:
            return f"{subscription_id} is gone from Stripe"
        if fresh.get("status") in ENDED:
            return f"{subscription_id} already ended"
        key = keys.end_access(str(subscription_id), fact.dedup_key)
        if self.settings.refund_access == "period_end":
            self.gateway.update_subscription(str(subscription_id), {"cancel_at_period_end": True}, idempotency_key=key)
            return f"{subscription_id} ends at its period end ({fact.kind})"
        self.gateway.cancel_subscription(str(subscription_id), prorate=False, invoice_now=False, idempotency_key=key)
        return f"{subscription_id} canceled now ({fact.kind})"

"""Which reactions run for which facts.

A reaction is a named function `(ReactionContext, ClaimedFact) -> detail`. The dispatcher
runs it at least once per fact and records it (by fact and name) once: a reaction with a
database effect makes it in the session it is given, which commits with the record, so it
happens exactly once; one with an outside effect (an email) may be repeated after a crash
and must carry the fact's id to let the outside drop the repeat (see `email`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from paywire.db.repositories import customers
from paywire.events.outbox import ClaimedFact
from paywire.reactions.email import EmailSender, LogEmailSender, Mail, message_id
from paywire.reactions.notices import notice


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
    "trial_will_end",
    "payment_failed",
    "payment_action_required",
    "pass_fulfilled",
    "refund_issued",
)


def email_customer(ctx: ReactionContext, fact: ClaimedFact) -> str | None:
    """Tell the customer, at the email Stripe and paywire know for the user."""
    text = notice(fact.kind, fact.payload)
    if text is None:
        return "nothing to say"
    customer = customers.find_by_user(ctx.session, fact.user_id) if fact.user_id else None
    if customer is None or not customer.email:
        return "no email address known"
    subject, body = text
    mail = Mail(to=customer.email, subject=subject, body=body, message_id=message_id(fact.dedup_key, "email"))
    ctx.email.send(mail)
    return mail.message_id


def default_registry(email: EmailSender | None = None) -> Registry:
    registry = Registry(email=email or LogEmailSender())
    for kind in NOTIFIED_KINDS:
        registry.register(kind, "email", email_customer)
    return registry

"""Adopting an existing Stripe account (`paywire sync --adopt`): linking the Stripe customers a
team already has to the product's users, which paywire otherwise does only at checkout.

A customer is linked to the user its `metadata.user_id` names (the id the product gave its
users, as paywire itself puts on every customer it creates) or, with `--adopt-by-email`, to the
one user whose email is the customer's (case and spaces aside). Never more than one link per
customer and per user (the `customers` table is unique both ways): a customer naming a user who
already has a customer is reported, not linked, and so is every customer that cannot be linked,
with why. Where the users come from: `--users FILE` (a CSV of `user_id,email`, the product's
export); without it, `metadata.user_id` is taken as the product's word, and no email can match.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from paywire.db.repositories import customers
from paywire.stripe.ids import id_of

METADATA = "metadata.user_id"
EMAIL = "email"


class UsersFileInvalid(ValueError):
    """The users file cannot be read as `user_id,email` rows."""


@dataclass
class Users:
    """The product's users: their ids, and who has which email."""

    emails: dict[str, str | None] = field(default_factory=dict)
    by_email: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str | None]]) -> Users:
        users = cls()
        for user_id, email in pairs:
            users.emails[user_id] = email
            if email and normal(email):
                users.by_email.setdefault(normal(email), []).append(user_id)
        return users

    @classmethod
    def from_csv(cls, path: Path) -> Users:
        """`user_id,email` per line; a first line naming those columns is a header."""
        pairs: list[tuple[str, str | None]] = []
        try:
            with path.open(newline="", encoding="utf-8") as found:
                for number, row in enumerate(csv.reader(found), start=1):
                    if not row or not row[0].strip():
                        continue
                    if number == 1 and row[0].strip().lower() in ("user_id", "id", "user"):
                        continue
                    if len(row) > 2:
                        raise UsersFileInvalid(f"{path}, line {number}: expected user_id,email")
                    pairs.append((row[0].strip(), row[1].strip() if len(row) > 1 and row[1].strip() else None))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UsersFileInvalid(f"{path}: {exc}") from exc
        return cls.of(pairs)


@dataclass(frozen=True)
class Adoption:
    """What `--adopt` was asked to do."""

    by_email: bool = False
    users: Users | None = None


@dataclass(frozen=True)
class Candidate:
    """Who a customer would be linked to (`user_id`, found by `way`), or why nobody (`refused`)."""

    user_id: str | None
    way: str = ""
    refused: str = ""


def candidate(customer: dict[str, Any], adoption: Adoption) -> Candidate:
    """The user a Stripe customer names or whose email it has (pure: no link is checked here)."""
    metadata = customer.get("metadata") or {}
    named = metadata.get("user_id") if isinstance(metadata, dict) else None
    users = adoption.users
    if isinstance(named, str) and named.strip():
        if users is not None and named not in users.emails:
            return Candidate(None, refused=f"names user {named}, who is not in the users file")
        return Candidate(named, METADATA)
    if not adoption.by_email:
        return Candidate(None, refused="no metadata.user_id (--adopt-by-email also matches by email)")
    email = customer.get("email")
    if not isinstance(email, str) or not normal(email):
        return Candidate(None, refused="no metadata.user_id and no email")
    matches = users.by_email.get(normal(email), []) if users is not None else []
    if not matches:
        return Candidate(None, refused="no user has this email")
    if len(matches) > 1:
        return Candidate(None, refused=f"{len(matches)} users have this email")
    return Candidate(matches[0], EMAIL)


def adopt_page(session: Session, stripe_customers: Sequence[dict[str, Any]], adoption: Adoption) -> list[str]:
    """Link a page of unlinked Stripe customers to their users, in order, unless that would give
    a user a second customer; what was done with each. The page's users are looked up in one
    query and the links inserted in one statement; a customer naming a user an earlier one of
    the page took is kept, as it would be one by one. The caller commits."""
    found = [candidate(obj, adoption) for obj in stripe_customers]
    taken = customers.linked_customers(session, {f.user_id for f in found if f.user_id is not None})
    actions: list[str] = []
    links = []
    for obj, who in zip(stripe_customers, found, strict=True):
        if who.user_id is None:
            actions.append(f"kept: {who.refused}")
        elif who.user_id in taken:
            actions.append(f"kept: user {who.user_id} already has customer {taken[who.user_id]}")
        else:
            taken[who.user_id] = obj["id"]
            actions.append("")
            links.append(
                {
                    "user_id": who.user_id,
                    "stripe_customer_id": obj["id"],
                    "email": obj.get("email"),
                    "test_clock_id": id_of(obj.get("test_clock")),
                }
            )
    linked = customers.add_customers(session, links)
    for n, (obj, who) in enumerate(zip(stripe_customers, found, strict=True)):
        if actions[n]:
            continue
        if obj["id"] in linked:
            actions[n] = f"linked to user {who.user_id} ({who.way})"
        else:  # linked meanwhile, by a checkout or another writer
            actions[n] = f"kept: user {who.user_id} or this customer was linked meanwhile"
    return actions


def normal(email: str) -> str:
    return email.strip().lower()

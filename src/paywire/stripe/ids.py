"""The id behind an expandable Stripe field.

Stripe answers a reference either as an id (`"cus_123"`) or, when asked to expand it, as the
object itself (`{"id": "cus_123", ...}`). Code that reads a reference must accept both and
refuse anything else, so it lives here once.
"""

from __future__ import annotations

from typing import Any


def id_of(value: Any) -> str | None:
    """`value`'s id: the string itself, the `id` of an expanded object, else None."""
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) and found else None
    return value if isinstance(value, str) and value else None

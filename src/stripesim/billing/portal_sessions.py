"""Portal sessions: the short-lived link that signs a customer into the customer portal."""

from __future__ import annotations

from typing import Any

from stripesim.shapes import new_record
from stripesim.state import Record, State


def start_session(
    state: State,
    customer: Record,
    config: Record,
    *,
    flow: dict[str, Any] | None = None,
    locale: str | None = None,
    on_behalf_of: str | None = None,
    return_url: str | None = None,
) -> Record:
    """A stored and announced session; without a `return_url` it returns to the configuration's."""
    session = new_record(
        "billing_portal.session",
        "bps",
        created=state.now_for(customer),
        configuration=config["id"],
        customer=customer["id"],
        customer_account=None,
        flow=flow,
        locale=locale,
        on_behalf_of=on_behalf_of,
        return_url=return_url or config["default_return_url"],
    )
    session["url"] = f"{state.base_url()}/p/session/{session['id']}"
    state.insert(session)
    state.emit("billing_portal.session.created", session)
    return session

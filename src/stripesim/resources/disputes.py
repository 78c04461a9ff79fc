"""Disputes: /v1/disputes, and the simulator's control to decide one (/_sim/disputes/…/decide).

Evidence is staged (`submit=false`) as often as wanted, then submitted once (`submit=true`,
Stripe's default): the dispute is under review and its evidence can no longer change. A field
that takes a file names an uploaded file (`/v1/files`, purpose `dispute_evidence`). As in
Stripe's test mode, submitted `uncategorized_text` of `winning_evidence` or `losing_evidence`
decides the dispute at once; otherwise it waits for `/_sim/disputes/{id}/decide`.
"""

from __future__ import annotations

from typing import Any

from stripesim.billing import payments
from stripesim.errors import InvalidRequest
from stripesim.resources._common import apply_metadata, list_where
from stripesim.routes import Ctx, api, sim
from stripesim.state import Record, State

# Evidence fields that name a file (`string | File` in the API).
FILE_FIELDS = (
    "cancellation_policy",
    "customer_communication",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
)
# Stripe's limit on the text of a dispute's evidence, all fields together.
MAX_EVIDENCE_TEXT = 150_000


@api("GET", "/v1/disputes/{dispute}")
def retrieve_dispute(ctx: Ctx, dispute: str) -> Record:
    return ctx.state.get(dispute, "dispute")


@api("GET", "/v1/disputes")
def list_disputes(ctx: Ctx) -> Record:
    return list_where(ctx, "dispute", "charge", "payment_intent")


def _stage(state: State, record: Record, evidence: dict[str, Any]) -> None:
    staged = dict(record["evidence"])
    for key, value in evidence.items():
        if key not in staged or key == "enhanced_evidence":
            raise InvalidRequest(f"Received unknown parameter: evidence[{key}]", param=f"evidence[{key}]")
        if not isinstance(value, str):
            raise InvalidRequest(f"Invalid string: evidence[{key}]", param=f"evidence[{key}]")
        if key in FILE_FIELDS and value:
            upload = state.find(value, "file")
            if upload is None or upload["purpose"] != "dispute_evidence":
                raise InvalidRequest(
                    f"No such file upload: '{value}' (a file uploaded with purpose dispute_evidence)",
                    param=f"evidence[{key}]",
                    code="resource_missing",
                )
        staged[key] = value or None
    text = sum(len(v) for k, v in staged.items() if isinstance(v, str) and k not in FILE_FIELDS)
    if text > MAX_EVIDENCE_TEXT:
        raise InvalidRequest(
            f"The evidence's text is {text:,} characters; Stripe takes at most {MAX_EVIDENCE_TEXT:,}.",
            param="evidence",
        )
    record["evidence"] = staged
    record["evidence_details"]["has_evidence"] = any(v for k, v in staged.items() if k != "enhanced_evidence")


@api("POST", "/v1/disputes/{dispute}")
def update_dispute(ctx: Ctx, dispute: str) -> Record:
    p = ctx.params.only("evidence", "metadata", "submit")
    state = ctx.state
    record = state.get(dispute, "dispute")
    evidence = p.sub("evidence")
    submit = p.bool("submit", default=True)
    if record["status"] not in payments.OPEN_DISPUTE and record["status"] != "warning_closed":
        raise InvalidRequest("This dispute is already closed.", param="dispute")
    if (evidence is not None or submit) and record["status"] not in payments.AWAITING_EVIDENCE:
        raise InvalidRequest(
            "This dispute's evidence was already submitted and can no longer be changed.", param="evidence"
        )
    if (evidence is not None or submit) and record["evidence_details"]["past_due"]:
        raise InvalidRequest("The deadline to respond to this dispute has passed.", param="evidence")
    with state.changing(record):
        if evidence is not None:
            _stage(state, record, evidence.data)
        apply_metadata(record, p)
        if submit:
            payments.submit_evidence(state, record)
    text = record["evidence"].get("uncategorized_text")
    if submit and text in ("winning_evidence", "losing_evidence"):
        payments.close_dispute(state, record, "won" if text == "winning_evidence" else "lost")
    return record


@api("POST", "/v1/disputes/{dispute}/close")
def close_dispute(ctx: Ctx, dispute: str) -> Record:
    """Accept the dispute: the merchant will not contest it, and it is lost."""
    ctx.params.only()
    record = ctx.state.get(dispute, "dispute")
    if record["status"] not in payments.OPEN_DISPUTE:
        raise InvalidRequest("This dispute is already closed.", param="dispute")
    if record["status"] not in payments.AWAITING_EVIDENCE:
        raise InvalidRequest("This dispute is under review; it can no longer be accepted.", param="dispute")
    return payments.close_dispute(ctx.state, record, "lost")


@sim("POST", "/_sim/charges/{charge}/dispute")
def sim_dispute_now(ctx: Ctx, charge: str) -> dict[str, Any]:
    """The bank of a dispute test card's holder disputes the payment now, instead of
    `dispute_delay_s` after it (a test that must act on the charge first)."""
    ctx.params.only()
    record = ctx.state.get(charge, "charge")
    if record.get("_dispute_at") is None:
        raise InvalidRequest(
            "This charge was not paid with a dispute test card, or is disputed already.", param="charge"
        )
    payments.open_dispute(ctx.state, record, ctx.state.now_for(ctx.state.find(record.get("payment_intent") or "")))
    dispute = next(d for d in ctx.state.all("dispute") if d["charge"] == record["id"])
    return ctx.state.snapshot(dispute)


@sim("POST", "/_sim/disputes/{dispute}/decide")
def sim_decide(ctx: Ctx, dispute: str) -> dict[str, Any]:
    """The bank decides an open dispute: `outcome=won|lost`, with or without evidence."""
    outcome = ctx.params.str("outcome", required=True, choices=("won", "lost"))
    record = ctx.state.get(dispute, "dispute")
    if record["status"] not in payments.OPEN_DISPUTE:
        raise InvalidRequest("This dispute is already closed.", param="dispute")
    return ctx.state.snapshot(payments.close_dispute(ctx.state, record, str(outcome)))

"""Connected accounts: one record per account, shown as Accounts v2 (`/v2/core/accounts`) and as
the v1 account the same id is (`/v1/accounts/{id}`), as Stripe keeps the two interoperable.

What an account may do follows its requirements, the way Stripe decides it:
- a new account has every onboarding requirement past due (v1 `disabled_reason`
  `requirements.past_due`): its capabilities are restricted until it onboards;
- `onboard(..., "enabled")` (the hosted onboarding page, or `POST /_sim/accounts/{id}/onboard`):
  nothing due, every capability active, a bank account for payouts;
- `"requirements_due"`: a photo ID is asked for; past due (capabilities restricted) unless a
  future `deadline` is given, when it is currently due and the account keeps working until then;
- `"disabled"`: Stripe rejected the account (`rejected.other`): nothing to fix, nothing works.

Every change is announced as `account.updated` on the account itself (a Connect event: it carries
`account` and goes to Connect webhook endpoints only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stripesim.errors import InvalidRequest, NotFound
from stripesim.ids import new_id
from stripesim.shapes import new_record
from stripesim.state import Record, State

OUTCOMES = ("enabled", "requirements_due", "disabled")
# The requirements hosted onboarding collects (v1 field names; v2 shows them as `description`).
ONBOARDING = (
    "individual.first_name",
    "individual.last_name",
    "individual.dob.day",
    "individual.ssn_last_4",
    "external_account",
    "tos_acceptance.date",
)
ID_DOCUMENT = "individual.verification.document"
ADDRESS = "individual.address.line1"
# Stripe's test bank accounts (routing 110000000): payouts to the second one fail (`no_account`),
# to the third one too (`account_closed`).
BANK_ACCOUNTS = {
    "000123456789": None,
    "000111111116": ("no_account", "The bank account number could not be found."),
    "000111111113": ("account_closed", "The bank account has been closed."),
}
DEFAULT_BANK_ACCOUNT = "000123456789"
# What each v2 capability is called in v1.
V1_CAPABILITY = {"card_payments": "card_payments", "stripe_balance.stripe_transfers": "transfers"}


def iso(unix: int) -> str:
    """A time as the v2 API writes it (RFC 3339, UTC, milliseconds)."""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_connected(record: Record | None) -> bool:
    return record is not None and record.get("object") == "account" and bool(record.get("_connected"))


def connected(state: State, account_id: str | None, param: str = "account") -> Record:
    """A connected account by id, or Stripe's 404."""
    found = state.find(account_id, "account")
    if not is_connected(found):
        raise NotFound(f"No such account: '{account_id}'", param=param)
    assert found is not None
    return found


def create_account(
    state: State,
    *,
    display_name: str | None,
    contact_email: str | None,
    dashboard: str,
    country: str,
    entity_type: str | None,
    fees_collector: str,
    losses_collector: str,
    merchant: bool,
    recipient: bool,
    metadata: dict[str, str],
) -> Record:
    now = state.now()
    controller = {
        "fees": {"payer": fees_collector if fees_collector != "stripe" else "account"},
        "is_controller": True,
        "losses": {"payments": losses_collector},
        "requirement_collection": "stripe",
        "stripe_dashboard": {"type": dashboard},
        "type": "application",
    }
    account = new_record(
        "account",
        "acct",
        created=now,
        business_type=entity_type,
        country=country.upper(),
        default_currency="usd",
        email=contact_email,
        type="none",
    )
    account["controller"] = controller
    account["metadata"] = dict(metadata)
    account["business_profile"] = None
    account["settings"] = None
    account["_connected"] = True
    account["_v2"] = {
        "created": iso(now),
        "dashboard": dashboard,
        "display_name": display_name,
        "contact_email": contact_email,
        "country": country.upper(),
        "entity_type": entity_type,
        "fees_collector": fees_collector,
        "losses_collector": losses_collector,
        "merchant": merchant,
        "recipient": recipient,
    }
    account["_requirements"] = [_entry(name, "past_due", "routine_onboarding") for name in ONBOARDING]
    account["_deadline"] = None
    account["_rejected"] = False
    account["_bank_account"] = None
    _settle(account)
    state.insert(account)
    return account


def _entry(name: str, status: str, reason: str) -> dict[str, Any]:
    return {"name": name, "status": status, "reason": reason}


def requested(account: Record) -> list[str]:
    """The v2 capabilities the account asked for."""
    wanted = []
    if account["_v2"]["merchant"]:
        wanted.append("card_payments")
    if account["_v2"]["recipient"]:
        wanted.append("stripe_balance.stripe_transfers")
    return wanted


def capability_status(account: Record, capability: str) -> tuple[str, str | None]:
    """(v2 status, status detail code) of one capability (`stripe_balance.payouts` included)."""
    if account["_rejected"]:
        return "rejected", "rejected_other"
    if any(e["status"] == "past_due" for e in account["_requirements"]):
        return "restricted", "requirements_past_due"
    return "active", None


def can_take_transfers(account: Record) -> bool:
    return capability_status(account, "stripe_balance.stripe_transfers")[0] == "active"


def can_pay_out(account: Record) -> bool:
    return capability_status(account, "stripe_balance.payouts")[0] == "active" and account["_bank_account"] is not None


def _settle(account: Record) -> None:
    """The v1 fields that follow from the requirements (kept on the record, so `account.updated`
    says what changed)."""
    entries = account["_requirements"]
    due_now = [e["name"] for e in entries if e["status"] in ("currently_due", "past_due")]
    past_due = [e["name"] for e in entries if e["status"] == "past_due"]
    status, _ = capability_status(account, "card_payments")
    active = status == "active"
    disabled = "rejected.other" if account["_rejected"] else "requirements.past_due" if past_due else None
    account["charges_enabled"] = active
    account["payouts_enabled"] = active and account["_bank_account"] is not None
    account["details_submitted"] = not any(e["reason"] == "routine_onboarding" for e in entries)
    account["capabilities"] = {name: "active" if active else "inactive" for name in V1_CAPABILITY.values()}
    account["requirements"] = {
        "alternatives": [],
        "current_deadline": account["_deadline"] if due_now and not past_due else None,
        "currently_due": due_now,
        "disabled_reason": disabled,
        "errors": [],
        "eventually_due": [e["name"] for e in entries],
        "past_due": past_due,
        "pending_verification": [],
    }
    account["future_requirements"] = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }
    account["external_accounts"] = {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": f"/v1/accounts/{account['id']}/external_accounts",
    }
    account["tos_acceptance"] = {
        "date": account.get("_onboarded_at") if account["details_submitted"] else None,
        "ip": "127.0.0.1" if account["details_submitted"] else None,
        "user_agent": None,
    }


def onboard(
    state: State,
    account: Record,
    outcome: str,
    *,
    bank_account: str | None = None,
    deadline: int | None = None,
) -> Record:
    """What finishing hosted onboarding leads to (`OUTCOMES`), announced as `account.updated`."""
    if outcome not in OUTCOMES:
        raise InvalidRequest(f"outcome must be one of {', '.join(OUTCOMES)}.", param="outcome")
    bank = bank_account or account["_bank_account"] or DEFAULT_BANK_ACCOUNT
    if bank not in BANK_ACCOUNTS:
        raise InvalidRequest(
            f"Use a test bank account number: {', '.join(BANK_ACCOUNTS)} (routing 110000000).", param="bank_account"
        )
    now = state.now()
    with state.changing(account, account=account["id"]):
        account["_bank_account"] = bank
        account.setdefault("_onboarded_at", now)
        account["_rejected"] = outcome == "disabled"
        account["_deadline"] = None
        if outcome == "requirements_due":
            upcoming = deadline is not None and deadline > now
            account["_deadline"] = deadline if upcoming else None
            account["_requirements"] = [
                _entry(ID_DOCUMENT, "currently_due" if upcoming else "past_due", "routine_verification"),
                _entry(ADDRESS, "eventually_due", "routine_verification"),
            ]
        else:
            account["_requirements"] = []
        _settle(account)
    return account


def update(
    state: State,
    account: Record,
    *,
    display_name: str | None,
    contact_email: str | None,
    metadata: dict[str, str] | None,
) -> Record:
    with state.changing(account, account=account["id"]):
        if display_name is not None:
            account["_v2"]["display_name"] = display_name
        if contact_email is not None:
            account["_v2"]["contact_email"] = contact_email
            account["email"] = contact_email
        if metadata is not None:
            account["metadata"] = {k: v for k, v in {**account["metadata"], **metadata}.items() if v != ""}
    return account


def payout_failure(account: Record) -> tuple[str, str] | None:
    """Why payouts to the account's bank account fail (a failing test number), or None."""
    return BANK_ACCOUNTS.get(account["_bank_account"] or DEFAULT_BANK_ACCOUNT)


def v2_view(account: Record, include: list[str]) -> Record:
    """The account as `/v2/core/accounts` shows it; `include` names what it shows beyond the
    basics (`configuration.merchant`, `configuration.recipient`, `defaults`, `identity`,
    `requirements`)."""
    v2 = account["_v2"]
    applied = [c for c in ("merchant", "recipient") if v2[c]]
    shown: Record = {
        "id": account["id"],
        "object": "v2.core.account",
        "applied_configurations": applied,
        "closed": False,
        "created": v2["created"],
        "dashboard": v2["dashboard"],
        "livemode": False,
        "metadata": dict(account["metadata"]),
    }
    if v2["display_name"] is not None:
        shown["display_name"] = v2["display_name"]
    if v2["contact_email"] is not None:
        shown["contact_email"] = v2["contact_email"]
    configuration: Record = {}
    if "configuration.merchant" in include and v2["merchant"]:
        configuration["merchant"] = {
            "applied": True,
            "capabilities": {"card_payments": _capability(account, "card_payments")},
        }
    if "configuration.recipient" in include and v2["recipient"]:
        configuration["recipient"] = {
            "applied": True,
            "capabilities": {
                "stripe_balance": {
                    "payouts": _capability(account, "stripe_balance.payouts"),
                    "stripe_transfers": _capability(account, "stripe_balance.stripe_transfers"),
                }
            },
        }
    if configuration:
        shown["configuration"] = configuration
    if "defaults" in include:
        shown["defaults"] = {
            "currency": "usd",
            "responsibilities": {
                "fees_collector": v2["fees_collector"],
                "losses_collector": v2["losses_collector"],
                "requirements_collector": "stripe",
            },
        }
    if "identity" in include:
        identity: Record = {"country": v2["country"].lower()}
        if v2["entity_type"]:
            identity["entity_type"] = v2["entity_type"]
        shown["identity"] = identity
    if "requirements" in include:
        shown["requirements"] = _v2_requirements(account)
    return shown


def _capability(account: Record, capability: str) -> Record:
    status, code = capability_status(account, capability)
    details = []
    if code is not None:
        details.append({"code": code, "resolution": "contact_stripe" if status == "rejected" else "provide_info"})
    return {"status": status, "status_details": details}


def _v2_requirements(account: Record) -> Record:
    entries = []
    for entry in account["_requirements"]:
        restricts = []
        if entry["status"] != "eventually_due":
            for capability in [*requested(account), "stripe_balance.payouts"]:
                configuration = "merchant" if capability == "card_payments" else "recipient"
                restricts.append(
                    {"capability": capability, "configuration": configuration, "deadline": {"status": entry["status"]}}
                )
        entries.append(
            {
                "awaiting_action_from": "user",
                "description": entry["name"],
                "errors": [],
                "impact": {"restricts_capabilities": restricts},
                "minimum_deadline": {"status": entry["status"]},
                "requested_reasons": [{"code": entry["reason"]}],
            }
        )
    summary: Record = {}
    soonest = _soonest(account)
    if soonest is not None:
        deadline: Record = {"status": soonest}
        if soonest == "currently_due" and account["_deadline"] is not None:
            deadline["time"] = iso(account["_deadline"])
        summary["minimum_deadline"] = deadline
    return {"entries": entries, "summary": summary}


def _soonest(account: Record) -> str | None:
    statuses = {e["status"] for e in account["_requirements"]}
    for status in ("past_due", "currently_due", "eventually_due"):
        if status in statuses:
            return status
    return None


def new_account_link(state: State, account: Record, use_case: str, options: Record) -> Record:
    """A single-use link to hosted onboarding (`account_onboarding`) or to update what the
    account gave (`account_update`): it expires after `account_link_expires_s`, and a link
    opened once, or expired, sends the visitor to its `refresh_url`."""
    now = state.now()
    link = {
        "id": new_id("acctlink"),
        "object": "v2.core.account_link",
        "account": account["id"],
        "created": iso(now),
        "expires_at": iso(now + state.config.account_link_expires_s),
        "livemode": False,
        "use_case": {"type": use_case, use_case: options},
        "_expires_at": now + state.config.account_link_expires_s,
        "_opened": False,
    }
    link["url"] = f"{state.base_url()}/connect/onboarding/{link['id']}"
    state.insert(link)
    return link


def link_urls(link: Record) -> Record:
    options: Record = link["use_case"][link["use_case"]["type"]]
    return options


def login_link(state: State, account: Record) -> Record:
    """A login link to the account's Express Dashboard (only an account with one has it)."""
    if account["_v2"]["dashboard"] != "express":
        raise InvalidRequest(
            "Login links can only be created for accounts that use the Express Dashboard.", param="account"
        )
    token = new_id("x", 20)[2:]
    account.setdefault("_login_tokens", []).append(token)
    return {
        "object": "login_link",
        "created": state.now(),
        "url": f"{state.base_url()}/connect/express/{account['id']}/{token}",
    }

"""Customers: a new customer as the API and Checkout create one, and their contact details."""

from __future__ import annotations

import re
from collections.abc import Mapping

from stripesim.errors import InvalidRequest
from stripesim.shapes import new_record
from stripesim.state import Record, State

CONTACT_FIELDS = ("email", "name", "description", "phone")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # what the hosted pages accept as an email address

# What each country's VAT number looks like after its prefix (Greece is EL, Northern Ireland XI).
EU_VAT = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[0-9A-Z]\d{7}[0-9A-Z]",
    "FI": r"\d{8}",
    "FR": r"[0-9A-Z]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-Z]{1,2}|\d[A-Z+*]\d{5}[A-Z]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
}
# The shape of a tax ID by type, checked as Stripe checks it (the format, not a registry).
TAX_ID_FORMATS = {
    "eu_vat": re.compile("|".join(f"{country}(?:{rest})" for country, rest in EU_VAT.items())),
    "gb_vat": re.compile(r"GB(?:\d{9}|\d{12}|GD\d{3}|HA\d{3})"),
    "ch_vat": re.compile(r"CHE-?\d{3}\.?\d{3}\.?\d{3}(?:MWST|TVA|IVA)"),
    "no_vat": re.compile(r"\d{9}MVA"),
    "au_abn": re.compile(r"\d{11}"),
    "ca_bn": re.compile(r"\d{9}"),
    "us_ein": re.compile(r"\d{2}-?\d{7}"),
}


def new_customer(state: State, *, test_clock: str | None, email: str | None = None, name: str | None = None) -> Record:
    """A stored customer, not yet announced: the caller emits `customer.created` once it is complete."""
    customer = new_record(
        "customer",
        "cus",
        created=state.now(test_clock),
        balance=0,
        delinquent=False,
        discount=None,
        shipping=None,
        address=None,
        invoice_prefix=invoice_prefix(state),
        next_invoice_sequence=1,
        tax_exempt="none",
        test_clock=test_clock,
        currency=None,
        default_source=None,
        email=email,
        name=name,
    )
    customer["invoice_settings"] = {
        "custom_fields": None,
        "default_payment_method": None,
        "footer": None,
        "rendering_options": None,
    }
    state.insert(customer)
    return customer


def invoice_prefix(state: State) -> str:
    """The prefix of the next customer's invoice numbers: distinct per customer, as on Stripe."""
    n = len(state.by_type.get("customer", [])) + 1
    return f"{(0xA1B2C3 + n * 7919) & 0xFFFFFF:06X}"


def set_contact(customer: Record, values: Mapping[str, str | None]) -> None:
    """Set `CONTACT_FIELDS`; an empty value clears the field, as on Stripe."""
    for key, value in values.items():
        customer[key] = value or None


def update_contact(state: State, customer: Record, values: Mapping[str, str | None]) -> None:
    """Change contact details as one `customer.updated`."""
    with state.changing(customer):
        set_contact(customer, values)


def tax_id_type_for(value: str) -> str:
    """The type of a tax ID typed into Checkout, from its prefix: EU VAT unless it says otherwise."""
    compact = compact_tax_id(value)
    if compact.startswith("GB"):
        return "gb_vat"
    if compact.startswith("CHE"):
        return "ch_vat"
    if compact.endswith("MVA"):
        return "no_vat"
    return "eu_vat"


def compact_tax_id(value: str) -> str:
    """A tax ID as stored: upper case, without the spaces people type in it."""
    return "".join(value.split()).upper()


def check_tax_id(kind: str, value: str, *, param: str) -> dict[str, str]:
    """`{"type", "value"}` of a well-formed tax ID; refuses a malformed one with Stripe's error."""
    compact = compact_tax_id(value)
    if not TAX_ID_FORMATS[kind].fullmatch(compact):
        raise InvalidRequest(f"Invalid value for {kind}.", param=param, code="tax_id_invalid")
    return {"type": kind, "value": compact}

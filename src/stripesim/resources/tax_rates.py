"""Tax rates: /v1/tax_rates (manual, percentage rates; there is no delete, only archive)."""

from __future__ import annotations

from stripesim.errors import InvalidRequest
from stripesim.present import paginate
from stripesim.resources._common import apply_metadata, created_filter
from stripesim.routes import Ctx, api
from stripesim.shapes import new_record
from stripesim.state import Record
from stripesim.wire import Params

TAX_TYPES = (
    "admissions_tax",
    "amusement_tax",
    "attendance_tax",
    "communications_tax",
    "digital_excise_tax",
    "entertainment_tax",
    "get_fund",
    "gross_receipts_tax",
    "gst",
    "hospitality_tax",
    "hst",
    "igst",
    "jct",
    "lease_tax",
    "luxury_tax",
    "mass_transit_parking_tax",
    "nhil",
    "parking_tax",
    "pst",
    "qst",
    "resort_tax",
    "retail_delivery_fee",
    "rst",
    "sales_tax",
    "service_tax",
    "tourism_tax",
    "utility_users_tax",
    "vat",
)
_TEXT = ("country", "description", "jurisdiction", "state")


def _apply(record: Record, p: Params) -> None:
    for key in _TEXT:
        if p.has(key):
            record[key] = p.str(key) or None
    if p.has("country") and record["country"]:
        record["country"] = record["country"].upper()
    if p.has("display_name"):
        record["display_name"] = p.str("display_name", required=True, max_length=50)
    if p.has("active"):
        record["active"] = p.bool("active")
    if p.has("tax_type"):
        record["tax_type"] = p.str("tax_type", choices=TAX_TYPES) or None
    apply_metadata(record, p)


@api("POST", "/v1/tax_rates")
def create_tax_rate(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "active",
        "country",
        "description",
        "display_name",
        "inclusive",
        "jurisdiction",
        "metadata",
        "percentage",
        "state",
        "tax_type",
    )
    p.str("display_name", required=True)
    percentage = p.float("percentage")
    if percentage is None:
        raise InvalidRequest("Missing required param: percentage.", param="percentage", code="parameter_missing")
    if not 0 <= percentage <= 100:
        raise InvalidRequest("Invalid percentage: must be between 0 and 100.", param="percentage")
    inclusive = p.bool("inclusive")
    if inclusive is None:
        raise InvalidRequest("Missing required param: inclusive.", param="inclusive", code="parameter_missing")
    record = new_record(
        "tax_rate",
        "txr",
        created=ctx.now(),
        active=True,
        inclusive=inclusive,
        percentage=percentage,
        effective_percentage=percentage,
        flat_amount=None,
        jurisdiction_level=None,
        rate_type="percentage",
        tax_type=None,
        country=None,
        description=None,
        jurisdiction=None,
        state=None,
    )
    _apply(record, p)
    ctx.state.insert(record)
    ctx.state.emit("tax_rate.created", record)
    return record


@api("GET", "/v1/tax_rates/{tax_rate}")
def retrieve_tax_rate(ctx: Ctx, tax_rate: str) -> Record:
    ctx.params.only()
    return ctx.state.get(tax_rate, "tax_rate")


@api("POST", "/v1/tax_rates/{tax_rate}")
def update_tax_rate(ctx: Ctx, tax_rate: str) -> Record:
    p = ctx.params.only(
        "active",
        "country",
        "description",
        "display_name",
        "jurisdiction",
        "metadata",
        "state",
        "tax_type",
    )
    record = ctx.state.get(tax_rate, "tax_rate")
    with ctx.state.changing(record):
        _apply(record, p)
    return record


@api("GET", "/v1/tax_rates")
def list_tax_rates(ctx: Ctx) -> Record:
    p = ctx.params.only("active", "inclusive", "created", "limit", "starting_after", "ending_before")
    records = list(ctx.state.all("tax_rate"))
    for key in ("active", "inclusive"):
        value = p.bool(key)
        if value is not None:
            records = [r for r in records if r[key] == value]
    return paginate(created_filter(p, records), p, "/v1/tax_rates")

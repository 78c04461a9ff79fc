"""File uploads: /v1/files (Stripe serves them from files.stripe.com; stripesim from its one
address, so a client points its `files` base address there too).

A file is uploaded as `multipart/form-data` with a `purpose`; Stripe tells its type from the
content, and for dispute evidence takes only PDF, JPEG and PNG files of at most 5 MB. The
content is kept and served back at the file's `url`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from stripesim.errors import InvalidRequest
from stripesim.present import list_page
from stripesim.resources._common import created_match, every
from stripesim.routes import Ctx, Response, api
from stripesim.shapes import new_record
from stripesim.state import Record

PURPOSES = (
    "account_requirement",
    "additional_verification",
    "business_icon",
    "business_logo",
    "customer_signature",
    "dispute_evidence",
    "identity_document",
    "pci_document",
    "tax_document_user_upload",
)
# What a file's first bytes say it is.
SIGNATURES = ((b"%PDF-", "pdf"), (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"))
MEDIA_TYPES = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg"}
DISPUTE_EVIDENCE_TYPES = ("pdf", "jpg", "png")
MAX_DISPUTE_EVIDENCE_BYTES = 5 * 1024 * 1024


def file_type(content: bytes, filename: str) -> str | None:
    for signature, kind in SIGNATURES:
        if content.startswith(signature):
            return kind
    _, dot, extension = filename.rpartition(".")
    return extension.lower() if dot and extension.isalnum() else None


@api("POST", "/v1/files")
def create_file(ctx: Ctx) -> Record:
    p = ctx.params.only("file", "purpose", "file_link_data")
    purpose = p.str("purpose", required=True, choices=PURPOSES)
    upload = p.raw("file")
    if not isinstance(upload, dict):
        raise InvalidRequest(
            "Missing required param: file. Upload it as multipart/form-data.", param="file", code="parameter_missing"
        )
    if p.has("file_link_data"):
        raise InvalidRequest("stripesim does not simulate file links.", param="file_link_data")
    content = _content(upload)
    filename = str(upload.get("filename") or "blob")
    kind = file_type(content, filename)
    if purpose == "dispute_evidence":
        if kind not in DISPUTE_EVIDENCE_TYPES:
            raise InvalidRequest(
                "Dispute evidence must be a PDF, JPEG or PNG file.", param="file", code="invalid_file_type"
            )
        if len(content) > MAX_DISPUTE_EVIDENCE_BYTES:
            raise InvalidRequest("Dispute evidence files must be at most 5 MB.", param="file", code="file_too_large")
    state = ctx.state
    record = new_record(
        "file",
        "file",
        created=state.now(),
        expires_at=None,
        filename=filename,
        links=None,
        purpose=purpose,
        size=len(content),
        title=None,
        type=kind,
    )
    record["url"] = f"{state.base_url()}/v1/files/{record['id']}/contents"
    record["_content"] = base64.b64encode(content).decode()
    state.insert(record)
    state.emit("file.created", record)
    return record


def _content(upload: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(str(upload.get("data") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The file could not be read.", param="file") from None


@api("GET", "/v1/files/{file}")
def retrieve_file(ctx: Ctx, file: str) -> Record:
    return ctx.state.get(file, "file")


@api("GET", "/v1/files")
def list_files(ctx: Ctx) -> Record:
    p = ctx.params.only("purpose", "limit", "starting_after", "ending_before", "created")
    purpose = p.str("purpose")
    keep = every((lambda r: r["purpose"] == purpose) if purpose else None, created_match(p))
    return list_page(ctx.state, "file", p, "/v1/files", keep)


@api("GET", "/v1/files/{file}/contents")
def file_contents(ctx: Ctx, file: str) -> Response:
    record = ctx.state.get(file, "file")
    media = MEDIA_TYPES.get(str(record["type"]), "application/octet-stream")
    return Response(200, base64.b64decode(record["_content"]), {"content-type": media})

"""Disputes at the adapter boundary (`gateway.disputes`): evidence staged (`submit=false`) and
submitted (`submit=true`, which Stripe takes once), a dispute accepted (closed: lost), and the
files evidence refers to (uploaded with purpose `dispute_evidence`: PDF, JPEG or PNG).

Stripe's `submit` defaults to true: paywire always says which it means.
"""

from __future__ import annotations

import io
from typing import Any, cast

from paywire.stripe.client import ApiClient, plain


class Disputes:
    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._v1 = api.sdk.v1

    def retrieve(self, dispute_id: str) -> dict[str, Any]:
        return self._api.get_json("disputes", dispute_id)

    def send_evidence(
        self, dispute_id: str, *, evidence: dict[str, str], submit: bool, idempotency_key: str
    ) -> dict[str, Any]:
        """Stage the evidence on the dispute, or submit it to the bank (`submit`). An empty
        value clears a field."""
        params: Any = {"evidence": evidence, "submit": submit}
        options: Any = {"idempotency_key": idempotency_key}
        return plain(self._api.call(lambda: self._v1.disputes.update(dispute_id, params=params, options=options)))

    def accept(self, dispute_id: str, *, idempotency_key: str) -> dict[str, Any]:
        """Close the dispute without contesting it: it is lost."""
        options: Any = {"idempotency_key": idempotency_key}
        return plain(self._api.call(lambda: self._v1.disputes.close(dispute_id, options=options)))

    def upload_evidence(self, *, filename: str, content: bytes, idempotency_key: str) -> dict[str, Any]:
        """A file for a dispute's evidence; its id goes in a file field of the evidence."""
        upload = io.BytesIO(content)
        upload.name = filename
        params = cast(Any, {"file": upload, "purpose": "dispute_evidence"})
        return self._api.create(self._v1.files.create, params, idempotency_key)

from __future__ import annotations

from collections.abc import Callable

from tests.paywire.conftest import Service


def test_dev_pages_are_absent_outside_dev_mode(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        assert http.get("/").status_code == 404
        assert http.post("/dev/sign-in", json={"user_id": "u1"}).status_code == 404


def test_dev_pages_sign_in_and_show_billing(make_paywire_service: Callable[..., Service]) -> None:
    service = make_paywire_service(PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="")
    with service.http() as http:
        for path in ("/", "/pricing", "/billing", "/billing/success?session_id=cs_1"):
            page = http.get(path)
            assert page.status_code == 200
            assert "Development only" in page.text
        assert '"pro_month"' not in page.text  # prices are shown from the catalog, not ids
        assert '"pass-3-months"' in page.text and '"advanced"' in page.text
        refused = http.post("/dev/sign-in", json={"user_id": ""})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "user_id"
        token = http.post("/dev/sign-in", json={"user_id": "dev-1", "email": "d@x.io"}).json()
        billing = http.get("/api/billing", headers={"Authorization": f"Bearer {token['token']}"})
    assert billing.status_code == 200 and billing.json()["plan"] is None

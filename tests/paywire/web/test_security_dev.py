"""The dev pages' fake sign-in never signs with a real secret."""

from __future__ import annotations

from collections.abc import Callable

from tests.paywire.conftest import AUTH_SECRET, Service


def test_the_dev_sign_in_refuses_to_sign_with_a_configured_secret(make_paywire_service: Callable[..., Service]) -> None:
    service = make_paywire_service(with_worker=False, PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET=AUTH_SECRET)
    with service.http() as http:
        r = http.post("/dev/sign-in", json={"user_id": "admin"})
    assert r.status_code == 404, r.text
    assert "token" not in r.json()

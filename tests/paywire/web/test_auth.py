from __future__ import annotations

import time

import jwt
import pytest

from tests.paywire.conftest import AUTH_SECRET, Service


def _token(secret: str = AUTH_SECRET, **claims: object) -> str:
    values: dict[str, object] = {"sub": "u1", "exp": int(time.time()) + 86400}  # made at collection: outlives the run
    values.update(claims)
    return jwt.encode({k: v for k, v in values.items() if v is not None}, secret, "HS256")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing bearer token"),
        ("Basic dTE6cHc=", "Missing bearer token"),
        ("Bearer", "Missing bearer token"),
        ("Bearer not.a.jwt", "not valid"),
        (f"Bearer {_token(secret='someone-elses-secret-0123456789abcdef')}", "not valid"),
        (f"Bearer {_token(exp=int(time.time()) - 3600)}", "expired"),
        (f"Bearer {_token(exp=None)}", "not valid"),
        (f"Bearer {_token(sub=None)}", "not valid"),
        (f"Bearer {_token(sub='')}", "names no user"),
        ("Bearer " + jwt.encode({"sub": "u1", "exp": 9999999999}, "", "none"), "not valid"),
    ],
    # Named, not shown: the tokens hold the time they were made, and ids that differ from one
    # collection to the next break pytest-xdist (each worker collects) and selecting by id.
    ids=["no-header", "basic", "bare", "not-a-jwt", "other-key", "expired", "no-exp", "no-sub", "no-user", "alg-none"],
)
def test_requests_without_a_valid_token_get_401(paywire_service: Service, header: str | None, message: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with paywire_service.http() as http:
        for method, path in [
            ("GET", "/api/billing"),
            ("POST", "/api/checkout"),
            ("POST", "/api/billing-portal"),
        ]:
            r = http.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path)
            assert message in r.json()["error"]["message"]
            assert r.headers["www-authenticate"] == "Bearer"


def test_a_valid_token_is_accepted(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        r = http.get("/api/billing", headers={"Authorization": f"Bearer {_token()}"})
    assert r.status_code == 200

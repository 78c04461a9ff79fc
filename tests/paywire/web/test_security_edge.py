"""The HTTP edge under hostile input: bodies, headers, schema exposure, unexpected failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from starlette.requests import Request

import paywire.web.api
from paywire.web.api import MAX_BODY_BYTES, read_json_object
from paywire.web.errors import ApiError
from tests.paywire.conftest import Service
from tests.support.stripesim import TEST_KEY


def test_an_oversized_body_without_content_length_is_not_read_to_its_end() -> None:
    """A chunked upload of 50 MiB: refused once it passes the limit, not buffered whole."""
    delivered = 0
    chunk = b" " * 65536

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        delivered += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": delivered < 50 * 1024 * 1024}

    request = Request({"type": "http", "method": "POST", "path": "/api/checkout", "headers": []}, receive)

    async def read() -> None:
        await read_json_object(request)

    with pytest.raises(ApiError) as refused:
        anyio.run(read)
    assert refused.value.status_code == 413
    assert delivered <= MAX_BODY_BYTES + len(chunk)


def test_a_declared_oversized_body_is_refused_before_reading() -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    headers = [(b"content-length", str(100 * 1024 * 1024).encode())]
    request = Request({"type": "http", "method": "POST", "path": "/api/checkout", "headers": headers}, receive)

    async def read() -> None:
        await read_json_object(request)

    with pytest.raises(ApiError) as refused:
        anyio.run(read)
    assert refused.value.status_code == 413


def test_deeply_nested_json_is_a_400_not_a_500(paywire_service: Service) -> None:
    nested = b"[" * 8000 + b"]" * 8000
    with paywire_service.http() as http:
        for path in ("/api/checkout", "/api/subscription/cancel", "/api/subscription/change"):
            r = http.post(
                path,
                content=nested,
                headers={**paywire_service.headers_for("u1"), "content-type": "application/json"},
            )
            assert r.status_code == 400, (path, r.status_code, r.text)
            assert r.json()["error"]["message"] == "The body is not valid JSON."


def test_the_api_schema_is_served_in_dev_mode_only(
    paywire_service: Service, make_paywire_service: Callable[..., Service]
) -> None:
    with paywire_service.http() as http:
        assert http.get("/openapi.json").status_code == 404
        assert http.get("/docs").status_code == 404
    dev = make_paywire_service(with_worker=False, PAYWIRE_DEV=True, PAYWIRE_AUTH_SECRET="")
    with dev.http() as http:
        assert http.get("/openapi.json").status_code == 200


def test_billing_answers_are_not_cached_or_sniffed(paywire_service: Service) -> None:
    mine = paywire_service.headers_for("u1")
    with paywire_service.http() as http:
        answers = {
            "billing": http.get("/api/billing", headers=mine),
            "checkout": http.post("/api/checkout", headers=mine, json={"plan": "basic", "interval": "month"}),
            "bad request": http.post("/api/checkout", headers=mine, json={"plan": "gold", "interval": "month"}),
            "no token": http.get("/api/billing"),
            "no subscription": http.post("/api/subscription/cancel", headers=mine, json={}),
            "rate limited or not": http.post("/api/billing-portal", headers=mine),
        }
    for name, r in answers.items():
        assert r.status_code < 500, (name, r.text)
        assert r.headers.get("cache-control") == "no-store", name
        assert r.headers.get("x-content-type-options") == "nosniff", name
    assert answers["billing"].status_code == 200 and answers["checkout"].status_code == 200


def test_an_unexpected_failure_is_a_generic_json_500(paywire_service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"connection to postgresql://paywire:hunter2@db failed, key {TEST_KEY}")

    monkeypatch.setattr(paywire.web.api, "entitlement_for", broken)
    with paywire_service.http() as http:
        r = http.get("/api/billing", headers=paywire_service.headers_for("u1"))
    assert r.status_code == 500
    assert r.json() == {
        "error": {"message": "Something went wrong on our side; try again.", "code": "internal_error", "field": None}
    }
    assert "hunter2" not in r.text and TEST_KEY not in r.text and "Traceback" not in r.text
    assert r.headers["cache-control"] == "no-store"


def test_every_json_error_has_one_shape_unknown_routes_and_methods_included(paywire_service: Service) -> None:
    with paywire_service.http() as http:
        answers = {
            "unknown route": http.get("/api/nothing-here", headers=paywire_service.headers_for("u1")),
            "wrong method": http.delete("/api/billing", headers=paywire_service.headers_for("u1")),
            "no token": http.get("/api/billing"),
            "refused checkout": http.post(
                "/api/checkout", json={"plan": "gold"}, headers=paywire_service.headers_for("u1")
            ),
        }
    assert {name: r.status_code for name, r in answers.items()} == {
        "unknown route": 404,
        "wrong method": 405,
        "no token": 401,
        "refused checkout": 400,
    }
    for name, r in answers.items():
        error = r.json()["error"]
        assert set(error) >= {"message", "code", "field"}, name
        assert isinstance(error["code"], str) and error["code"] and error["message"], name
        assert "detail" not in r.json(), name
    assert answers["unknown route"].json()["error"]["code"] == "not_found"
    assert answers["wrong method"].json()["error"]["code"] == "method_not_allowed"
    assert answers["no token"].json()["error"]["code"] == "unauthenticated"
    assert answers["unknown route"].headers["cache-control"] == "no-store"

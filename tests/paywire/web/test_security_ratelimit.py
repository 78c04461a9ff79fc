"""The portal and subscription routes are rate limited per user and route, like checkout: each
call reads and writes Stripe (one rate limit shared by all users), and promotion codes must not
be guessable at speed."""

from __future__ import annotations

from collections.abc import Callable

from tests.paywire.conftest import Service


def test_portal_and_subscription_routes_are_limited_per_user_and_route(
    make_paywire_service: Callable[..., Service],
) -> None:
    service = make_paywire_service(with_worker=False, PAYWIRE_API_RATE_LIMIT="3/minute")
    mallory = service.headers_for("mallory")
    with service.http() as http:
        for path, body in [
            ("/api/subscription/discount", {"promotion_code": "GUESS"}),
            ("/api/billing-portal", None),
        ]:
            answers = [http.post(path, json=body, headers=mallory) for _ in range(4)]
            assert [r.status_code for r in answers[:3]] == [404] * 3, [r.text for r in answers]
            limited = answers[3]
            assert limited.status_code == 429, (path, limited.text)
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.json()["error"]["message"]
        # Another route of the same user, and the same route of another user, are not held back.
        assert http.post("/api/subscription/cancel", json={}, headers=mallory).status_code == 404
        other = http.post("/api/subscription/discount", json={"promotion_code": "X"}, headers=service.headers_for("o"))
        assert other.status_code == 404

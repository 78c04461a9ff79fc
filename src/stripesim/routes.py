"""The route table: handlers register with a method and a path pattern."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from stripesim.state import Record, State
from stripesim.wire import Params


@dataclass
class Ctx:
    """Everything a handler may look at for one request."""

    state: State
    params: Params
    method: str
    path: str
    api_key: str = ""
    request_id: str = ""
    idempotency_key: str | None = None
    expand: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def now(self, clock: str | None = None) -> int:
        return self.state.now(clock)

    @property
    def stripe_account(self) -> str | None:
        """The connected account the request acts on (the `Stripe-Account` header); None: the
        platform itself."""
        return self.headers.get("stripe-account") or None


@dataclass
class Response:
    """A non-JSON answer (hosted pages, redirects)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), {"content-type": "text/html; charset=utf-8"})

    @classmethod
    def redirect(cls, url: str) -> Response:
        return cls(303, b"", {"location": url})

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        return cls(status, orjson.dumps(payload), {"content-type": "application/json"})


Handler = Callable[..., Record | Response | dict[str, Any]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    kind: str  # "api" (Stripe's /v1), "v2" (Stripe's /v2, JSON), "sim" (/_sim controls) or "page" (hosted pages)


STATIC: dict[tuple[str, str], Route] = {}
DYNAMIC: list[Route] = []


def _compile(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")


H = TypeVar("H", bound=Handler)


def route(method: str, path: str, kind: str = "api") -> Callable[[H], H]:
    def register(fn: H) -> H:
        r = Route(method, _compile(path), fn, kind)
        if "{" in path:
            DYNAMIC.append(r)
        else:
            STATIC[(method, path)] = r
        return fn

    return register


def api(method: str, path: str) -> Callable[[H], H]:
    return route(method, path, "api")


def v2(method: str, path: str) -> Callable[[H], H]:
    """A route of Stripe's v2 API: JSON bodies, v2 errors (`StripeError.v2_body`)."""
    return route(method, path, "v2")


def sim(method: str, path: str) -> Callable[[H], H]:
    return route(method, path, "sim")


def page(method: str, path: str) -> Callable[[H], H]:
    return route(method, path, "page")


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    found = STATIC.get((method, path))
    if found is not None:
        return found, {}
    for r in DYNAMIC:
        if r.method != method:
            continue
        m = r.pattern.match(path)
        if m:
            return r, m.groupdict()
    return None

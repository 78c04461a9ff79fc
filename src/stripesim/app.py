"""The ASGI application: Stripe's wire protocol in front of the simulated world."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from stripesim import API_VERSION, pages, resources  # noqa: F401  (importing them registers every route)
from stripesim import routes as routing
from stripesim.engine import Engine
from stripesim.errors import (
    ApiError,
    Conflict,
    IdempotencyError,
    InvalidRequest,
    RateLimited,
    RouteNotFound,
    StripeError,
    Unauthorized,
)
from stripesim.ids import new_id
from stripesim.present import present
from stripesim.routes import Ctx, Response
from stripesim.state import State, current_request
from stripesim.webhooks import Dispatcher
from stripesim.wire import Params, decode_form, decode_multipart

log = logging.getLogger("stripesim")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY = 8 * 1024 * 1024  # a file upload (/v1/files) is the largest request
MIN_KEY_LENGTH = 12
REQUEST_LOG_SIZE = 500_000


class Simulator:
    """One simulated Stripe account: state, its background work and the ASGI entry point."""

    def __init__(self, state_file: str | Path | None = None) -> None:
        self.state = State()
        self.state_file = Path(state_file) if state_file else None
        if self.state_file and self.state_file.exists():
            self.state.load(self.state_file.read_bytes())
        self.dispatcher = Dispatcher(self.state)
        self.engine = Engine(self.state)
        self.state.listeners.append(self.dispatcher.on_event)
        self.state.runtime.update(engine=self.engine, dispatcher=self.dispatcher, simulator=self)
        self._buckets: dict[str, tuple[float, float]] = {}
        # Every API request answered: (unix time it arrived, the key's last 6 characters, method,
        # path, status), the most recent REQUEST_LOG_SIZE, for `GET /_sim/requests` (who sent how
        # many, and when: its arrival, not its answer, which a slow list before it would delay).
        self.request_log: deque[tuple[float, str, str, str, int]] = deque(maxlen=REQUEST_LOG_SIZE)
        self._background: list[asyncio.Task[None]] = []
        self._dirty = False
        self._looked: int | None = None  # state.revision at the last look for due work
        self._wakes_at: int | None = None  # when the last look saw work next due

    async def startup(self) -> None:
        self.dispatcher.start()
        self._background.append(asyncio.create_task(self._tick()))

    async def shutdown(self) -> None:
        for task in self._background:
            task.cancel()
        await self.dispatcher.stop()
        self.persist()

    async def _tick(self) -> None:
        """Real-time work for objects without a test clock, and periodic persistence."""
        last_save = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            try:
                self._run_due_now()
            except Exception:
                log.exception("stripesim: real-time tick failed")
            self.state.sweep_idempotency()
            if self._dirty and time.monotonic() - last_save > 5:
                self.persist()
                last_save = time.monotonic()

    def _run_due_now(self) -> None:
        """Fire what is due in real time. Looking costs a pass over every record (at 100,000
        subscriptions, seconds of this event loop), so it is done again only once a request
        changed something, a record changed, or the earliest due the last look saw has come."""
        now = self.state.now()
        if self.state.revision == self._looked and (self._wakes_at is None or now < self._wakes_at):
            return
        work = self.engine.work_off(None, now)
        if work.fired:
            self._dirty = True
        self._looked = self.state.revision
        self._wakes_at = work.wakes_at

    def _changed(self) -> None:
        """A request may have changed the state (its handler may change a record in place):
        persist it, and look for due work again."""
        self._dirty = True
        self.state.revision += 1

    def persist(self) -> None:
        if self.state_file and self._dirty:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_bytes(self.state.dump())
            tmp.replace(self.state_file)
            self._dirty = False

    def reset(self) -> None:
        listeners, runtime = self.state.listeners, self.state.runtime
        self.state.__init__()  # type: ignore[misc]
        self._looked = None  # a new state's revisions start again
        self.state.listeners, self.state.runtime = listeners, runtime
        self.dispatcher.reset()
        self._buckets.clear()
        self.request_log.clear()
        self._changed()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        arrived = time.time()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await self._send(
                    send,
                    413,
                    b'{"error":{"type":"invalid_request_error","message":"Request body too large"}}',
                    {"content-type": "application/json"},
                )
                return
            if not message.get("more_body"):
                break
        delay = self.state.api_faults.delay_ms
        if delay and scope["path"].startswith("/v1/"):
            await asyncio.sleep(delay / 1000)
        status, payload, headers = self.handle(scope, body)
        if scope["path"].startswith(("/v1/", "/v2/")):
            self.request_log.append((arrived, _key_tail(scope), scope["method"], scope["path"], status))
        await self._send(send, status, payload, headers)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
        headers["content-length"] = str(len(body))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def call(
        self, key: str, method: str, path: str, params: dict[str, Any] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        """One request handled in this process (no server, no socket), as the SDK sends it over
        HTTP (form-encoded parameters, a bearer key): its status, decoded body and headers."""
        encoded = urlencode(params or {}, doseq=True).encode()
        scope = {
            "method": method,
            "path": path,
            "query_string": encoded if method == "GET" else b"",
            "headers": [(b"authorization", f"Bearer {key}".encode())],
        }
        status, payload, headers = self.handle(scope, encoded if method == "POST" else b"")
        return status, orjson.loads(payload), headers

    def handle(self, scope: Scope, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        method = scope["method"]
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request_id = new_id("req", 14)
        base = {"request-id": request_id, "stripe-version": API_VERSION}
        found = routing.match(method, path)
        if found is None:
            err = RouteNotFound(method, path)
            return err.status, orjson.dumps(err.body(request_id)), {**base, "content-type": "application/json"}
        route, path_params = found
        query = scope.get("query_string", b"").decode()
        host = headers.get("host", "127.0.0.1")
        self.state.runtime["base_url"] = f"http://{host}"
        ctx = Ctx(
            state=self.state,
            params=Params({}),
            method=method,
            path=path,
            request_id=request_id,
            idempotency_key=headers.get("idempotency-key"),
            headers=headers,
        )
        try:
            if route.kind == "api":
                return self._handle_api(ctx, route, path_params, query, body, base)
            if route.kind == "v2":
                return self._handle_v2(ctx, route, path_params, query, body, base)
            ctx.params = Params(self._decode_any(query, body, headers))
            token = current_request.set(None)
            try:
                result = route.handler(ctx, **path_params)
            finally:
                current_request.reset(token)
            self._changed()
            if isinstance(result, Response):
                return result.status, result.body, {**base, **result.headers}
            return 200, orjson.dumps(result), {**base, "content-type": "application/json"}
        except StripeError as err:
            return (
                err.status,
                orjson.dumps(err.body(request_id)),
                {**base, **err.headers, "content-type": "application/json"},
            )
        except Exception:
            log.error("stripesim: handler crashed\n%s", traceback.format_exc())
            crash = ApiError("An unexpected error occurred in stripesim.")
            return 500, orjson.dumps(crash.body(request_id)), {**base, "content-type": "application/json"}

    @staticmethod
    def _decode_any(query: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        params = decode_form(query) if query else {}
        if body:
            if headers.get("content-type", "").startswith("application/json"):
                params.update(orjson.loads(body))
            else:
                params.update(decode_form(body.decode()))
        return params

    def _handle_api(
        self,
        ctx: Ctx,
        route: routing.Route,
        path_params: dict[str, str],
        query: str,
        body: bytes,
        base: dict[str, str],
    ) -> tuple[int, bytes, dict[str, str]]:
        json_headers = {**base, "content-type": "application/json"}
        ctx.api_key = self._authenticate(ctx.headers)
        self._rate_limit(ctx.api_key, ctx.path)
        self._inject_api_fault()
        content_type = ctx.headers.get("content-type", "")
        if ctx.method == "POST" and content_type.startswith("multipart/form-data"):
            params = decode_multipart(body, content_type)  # a file upload (/v1/files)
        else:
            raw = body.decode() if ctx.method == "POST" else query
            params = decode_form(raw) if raw else {}
        expand = params.pop("expand", None) or []
        ctx.expand = expand if isinstance(expand, list) else [expand]
        ctx.params = Params(params)

        key = ctx.idempotency_key if ctx.method == "POST" else None
        fingerprint = b""
        if key:
            if len(key) > 255:
                raise IdempotencyError("Idempotency keys are at most 255 characters.", param="Idempotency-Key")
            fingerprint = hashlib.sha256(
                ctx.method.encode() + ctx.path.encode() + orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
            ).digest()
            stored = self.state.idempotent_lookup(ctx.api_key, key)
            if stored is not None:
                if stored[0] != fingerprint:
                    raise IdempotencyError(
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than '{key}' if you "
                        "meant to execute a different request.",
                    )
                return stored[1], stored[2], {**json_headers, "idempotent-replayed": "true", "idempotency-key": key}
            json_headers["idempotency-key"] = key

        token = current_request.set({"id": ctx.request_id, "idempotency_key": key})
        try:
            try:
                result = route.handler(ctx, **path_params)
                if isinstance(result, Response):
                    return result.status, result.body, {**base, **result.headers}
                payload = orjson.dumps(present(self.state, result, ctx.expand))
                status = 200
            except StripeError as err:
                # Stripe keeps the outcome of a request that ran (a decline), not a rejected one.
                if not key or err.status != 402:
                    raise
                status, payload = err.status, orjson.dumps(err.body(ctx.request_id))
        finally:
            current_request.reset(token)
        if ctx.method != "GET":
            self._changed()
        if key:
            self.state.idempotent_store(ctx.api_key, key, fingerprint, status, payload)
        return status, payload, json_headers

    def _handle_v2(
        self,
        ctx: Ctx,
        route: routing.Route,
        path_params: dict[str, str],
        query: str,
        body: bytes,
        base: dict[str, str],
    ) -> tuple[int, bytes, dict[str, str]]:
        """Stripe's v2 API: JSON in and out, errors in v2's shape. The meter event stream
        authenticates with a session's token (its handler checks it), every other route with a
        secret key."""
        json_headers = {**base, "content-type": "application/json"}
        try:
            auth = ctx.headers.get("authorization", "")
            token = auth[7:].strip() if auth.startswith("Bearer ") else ""
            ctx.api_key = token if token.startswith("mes_") else self._authenticate(ctx.headers)
            self._inject_api_fault()
            params: dict[str, Any] = decode_form(query) if query else {}
            if ctx.method == "POST" and body.strip():
                try:
                    decoded = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise InvalidRequest("The request body is not valid JSON.") from None
                if not isinstance(decoded, dict):
                    raise InvalidRequest("The request body must be a JSON object.")
                params.update(decoded)
            ctx.params = Params(params)
            token_ = current_request.set({"id": ctx.request_id, "idempotency_key": ctx.idempotency_key})
            try:
                result = route.handler(ctx, **path_params)
            finally:
                current_request.reset(token_)
        except StripeError as err:
            return err.status, orjson.dumps(err.v2_body()), {**json_headers, **err.headers}
        if ctx.method != "GET":
            self._changed()
        return 200, orjson.dumps(result), json_headers

    @staticmethod
    def _authenticate(headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        key = ""
        if auth.startswith("Bearer "):
            key = auth[7:].strip()
        elif auth.startswith("Basic "):
            try:
                key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except Exception:
                key = ""
        if not key:
            raise Unauthorized(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY')."
            )
        # Any test-mode secret or restricted key that could be a real one (Stripe's are far longer):
        # a made-up short key is refused as Stripe refuses it, and the message says the rule.
        if not key.startswith(("sk_test_", "rk_test_")) or len(key) < MIN_KEY_LENGTH:
            shown = key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "****"
            raise Unauthorized(
                f"Invalid API Key provided: {shown}. stripesim accepts any sk_test_… or rk_test_… key "
                f"of at least {MIN_KEY_LENGTH} characters."
            )
        return key

    def _rate_limit(self, api_key: str, path: str) -> None:
        """Stripe's rate limiter: a bucket per key that holds a second's worth of requests and
        refills at the rate; search has its own, lower limit (on top of the key's)."""
        config = self.state.config
        if "/search" in path and config.rate_limit_search_per_s > 0:
            self._take(f"search:{api_key}", config.rate_limit_search_per_s)
        if config.rate_limit_per_s > 0:
            self._take(api_key, config.rate_limit_per_s)

    def _take(self, bucket: str, rate: float) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(bucket, (rate, now))
        if self.state.config.rate_limit_refill:
            tokens = min(rate, tokens + (now - last) * rate)
        if tokens < 1:
            self._buckets[bucket] = (tokens, now)
            raise RateLimited()
        self._buckets[bucket] = (tokens - 1, now)

    def _inject_api_fault(self) -> None:
        faults = self.state.api_faults
        if faults.fail_next_500 > 0:
            faults.fail_next_500 -= 1
            raise ApiError("Simulated server error (stripesim fault injection).")
        if faults.fail_next_429 > 0:
            faults.fail_next_429 -= 1
            raise RateLimited()
        if faults.fail_next_409 > 0:
            faults.fail_next_409 -= 1
            raise Conflict(
                "This object cannot be accessed right now because another API request or Stripe process is "
                "currently accessing it. If you see this error intermittently, retry the request.",
                code="lock_timeout",
            )
        if faults.error_500_rate and random.random() < faults.error_500_rate:
            raise ApiError("Simulated server error (stripesim fault injection).")
        if faults.error_429_rate and random.random() < faults.error_429_rate:
            raise RateLimited()


def _key_tail(scope: Scope) -> str:
    """Who sent a request, enough to tell keys apart: the last 6 characters of its key."""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            raw = value.decode(errors="replace")
            if raw.startswith("Basic "):
                try:
                    raw = base64.b64decode(raw[6:]).decode().split(":", 1)[0]
                except Exception:
                    return ""
            return raw[-6:]
    return ""


def create_app(state_file: str | Path | None = None) -> Simulator:
    return Simulator(state_file)

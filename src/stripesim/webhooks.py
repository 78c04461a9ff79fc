"""Webhook delivery as Stripe does it: signed, at least once, retried with backoff.

Faults (duplicates, reordering, delays, failed first attempts) are applied here, so that a
receiver can be shown to survive them.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import logging
import random
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from stripesim.state import Record, State

log = logging.getLogger("stripesim.webhooks")


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header for a payload, as Stripe computes it."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    endpoint: str = field(compare=False)
    event: str = field(compare=False)
    attempt: int = field(default=0, compare=False)
    first_try: float = field(default=0.0, compare=False)
    duplicate: bool = field(default=False, compare=False)


def endpoint_wants(endpoint: Record, event: Record) -> bool:
    """Enabled, subscribed to the type, and of the event's side: a Connect endpoint
    (`connect=true`) gets the events of connected accounts (those with `account`), the others
    the platform's own."""
    if endpoint.get("status") != "enabled":
        return False
    if bool(endpoint.get("_connect")) != ("account" in event):
        return False
    enabled = endpoint.get("enabled_events") or []
    return "*" in enabled or event["type"] in enabled


class Dispatcher:
    def __init__(self, state: State, concurrency: int = 16) -> None:
        self.state = state
        self.queue: list[Delivery] = []
        self.seq = itertools.count()
        self.wakeup = asyncio.Event() if _has_loop() else None
        self.concurrency = concurrency
        self.log: list[dict[str, Any]] = []  # every attempt, for /_sim/webhooks/attempts
        self.in_flight = 0
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.generation = 0

    def on_event(self, event: Record) -> None:
        for endpoint in self.state.all("webhook_endpoint"):
            if not endpoint_wants(endpoint, event):
                continue
            event["pending_webhooks"] += 1
            self._schedule(endpoint["id"], event["id"])
            faults = self.state.webhook_faults
            if faults.duplicate_rate and random.random() < faults.duplicate_rate:
                self._schedule(endpoint["id"], event["id"], duplicate=True)

    def _schedule(self, endpoint: str, event: str, *, duplicate: bool = False) -> None:
        faults = self.state.webhook_faults
        due = time.time() + faults.delay_ms / 1000.0
        if faults.reorder_window_ms:
            due += random.uniform(0, faults.reorder_window_ms / 1000.0)
        heapq.heappush(
            self.queue,
            Delivery(due, next(self.seq), endpoint, event, 0, time.time(), duplicate),
        )
        self._wake()

    def _wake(self) -> None:
        if self.wakeup is not None:
            self.wakeup.set()

    def retry_now(self) -> int:
        """Make every waiting delivery due now (a test's way to skip the backoff)."""
        now = time.time()
        for d in self.queue:
            d.due = now
        heapq.heapify(self.queue)
        self._wake()
        return len(self.queue)

    def reset(self) -> None:
        # Attempts still in flight belong to the old world: they must not log or retry here.
        self.generation += 1
        self.queue.clear()
        self.log.clear()

    def pending(self) -> int:
        return len(self.queue) + self.in_flight

    def start(self) -> None:
        self.wakeup = asyncio.Event()
        self._sem = asyncio.Semaphore(self.concurrency)
        self._client = httpx.AsyncClient(
            timeout=self.state.config.webhook_timeout_s,
            limits=httpx.Limits(max_connections=self.concurrency * 2),
            trust_env=False,
        )
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._client:
            await self._client.aclose()

    async def _run(self) -> None:
        assert self.wakeup is not None and self._sem is not None
        while True:
            now = time.time()
            while self.queue and self.queue[0].due <= now:
                delivery = heapq.heappop(self.queue)
                await self._sem.acquire()
                self.in_flight += 1
                task = asyncio.create_task(self._attempt(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            timeout = max(0.0, self.queue[0].due - now) if self.queue else 1.0
            self.wakeup.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=min(timeout, 1.0))

    async def _attempt(self, d: Delivery) -> None:
        assert self._sem is not None
        generation = self.generation
        try:
            ok, status, error = await self._post(d)
            if generation != self.generation:
                return
            self.log.append(
                {
                    "endpoint": d.endpoint,
                    "event": d.event,
                    "attempt": d.attempt + 1,
                    "status": status,
                    "ok": ok,
                    "error": error,
                    "at": time.time(),
                    "duplicate": d.duplicate,
                }
            )
            event = self.state.find(d.event)
            if ok:
                if event is not None and not d.duplicate and event["pending_webhooks"] > 0:
                    event["pending_webhooks"] -= 1
                return
            self._retry(d)
        except Exception:
            log.exception("stripesim: webhook attempt crashed")
        finally:
            self.in_flight -= 1
            self._sem.release()

    async def _post(self, d: Delivery) -> tuple[bool, int | None, str | None]:
        endpoint = self.state.find(d.endpoint, "webhook_endpoint")
        event = self.state.find(d.event, "event")
        if endpoint is None or event is None:
            return True, None, "endpoint or event gone"
        faults = self.state.webhook_faults
        if faults.failed_so_far < faults.fail_first:
            faults.failed_so_far += 1
            return False, None, "simulated failure (fail_first)"
        payload = orjson.dumps(self.state.render(event), option=orjson.OPT_INDENT_2)
        headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "stripe-signature": sign(payload, endpoint["secret"], int(time.time())),
        }
        assert self._client is not None
        try:
            response = await self._client.post(
                endpoint["url"], content=payload, headers=headers, timeout=self.state.config.webhook_timeout_s
            )
        except httpx.HTTPError as exc:
            return False, None, type(exc).__name__
        return 200 <= response.status_code < 300, response.status_code, None

    def _retry(self, d: Delivery) -> None:
        cfg = self.state.config
        delay = min(cfg.webhook_retry_base_s * (2**d.attempt), cfg.webhook_retry_max_s)
        if time.time() + delay - d.first_try > cfg.webhook_retry_for_s:
            return
        heapq.heappush(
            self.queue,
            Delivery(time.time() + delay, next(self.seq), d.endpoint, d.event, d.attempt + 1, d.first_try, d.duplicate),
        )
        self._wake()


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False

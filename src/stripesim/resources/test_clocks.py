"""Test clocks: /v1/test_helpers/test_clocks. Advancing fires due work in time order."""

from __future__ import annotations

import asyncio
import logging

from stripesim.engine import Advance
from stripesim.errors import InvalidRequest
from stripesim.present import paginate
from stripesim.resources._common import deleted
from stripesim.routes import Ctx, api
from stripesim.shapes import new_record
from stripesim.state import Record, State

log = logging.getLogger("stripesim.clock")
KIND = "test_helpers.test_clock"
# An advance works this long at a time before letting requests and deliveries through.
SLICE_SECONDS = 0.05


@api("POST", "/v1/test_helpers/test_clocks")
def create_clock(ctx: Ctx) -> Record:
    p = ctx.params.only("frozen_time", "name")
    frozen = p.int("frozen_time", required=True)
    record = new_record(
        KIND,
        "clock",
        created=ctx.now(),
        frozen_time=frozen,
        name=p.str("name"),
        status="ready",
        status_details={},
        deletes_after=ctx.now() + 30 * 24 * 3600,
    )
    ctx.state.insert(record)
    ctx.state.emit("test_helpers.test_clock.created", record)
    return record


@api("GET", "/v1/test_helpers/test_clocks/{clock}")
def retrieve_clock(ctx: Ctx, clock: str) -> Record:
    return ctx.state.get(clock, KIND)


@api("GET", "/v1/test_helpers/test_clocks")
def list_clocks(ctx: Ctx) -> Record:
    p = ctx.params.only("limit", "starting_after", "ending_before")
    return paginate(ctx.state.all(KIND), p, "/v1/test_helpers/test_clocks")


@api("DELETE", "/v1/test_helpers/test_clocks/{clock}")
def delete_clock(ctx: Ctx, clock: str) -> Record:
    state = ctx.state
    record = state.get(clock, KIND)
    for customer in state.where("customer", test_clock=clock):
        customer["deleted"] = True
    record["deleted"] = True
    state.emit("test_helpers.test_clock.deleted", record)
    return deleted(record)


@api("POST", "/v1/test_helpers/test_clocks/{clock}/advance")
def advance_clock(ctx: Ctx, clock: str) -> Record:
    p = ctx.params.only("frozen_time")
    state = ctx.state
    record = state.get(clock, KIND)
    target = p.int("frozen_time", required=True) or 0
    if record["status"] == "advancing":
        raise InvalidRequest(
            "The test clock is already advancing; wait until its status is ready.",
            param="frozen_time",
        )
    if target <= record["frozen_time"]:
        raise InvalidRequest(
            "The frozen_time must be after the test clock's current frozen_time.",
            param="frozen_time",
        )
    record["status"] = "advancing"
    record["status_details"] = {"advancing": {"target_frozen_time": target}}
    state.emit("test_helpers.test_clock.advancing", record)
    asyncio.get_running_loop().call_later(0.02, _run_advance, state, clock, target)
    return record


def _run_advance(state: State, clock: str, target: int, work: Advance | None = None) -> None:
    """Work through the advance a slice at a time (the API answers and webhooks go out in
    between, as Stripe's do while a clock advances), then mark the clock ready."""
    record = state.find(clock, KIND)
    if record is None:
        if work is not None:
            work.finish()
        return
    try:
        work = work or state.runtime["engine"].advance(clock, target)
        if not work.run(SLICE_SECONDS):
            asyncio.get_running_loop().call_soon(_run_advance, state, clock, target, work)
            return
    except Exception:
        log.exception("stripesim: advancing %s failed", clock)
        if work is not None:
            work.finish()
    record["frozen_time"] = target
    record["status"] = "ready"
    record["status_details"] = {}
    state.emit("test_helpers.test_clock.ready", record)

"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from paywire.db.migrate import engine_is_current
from paywire.insights.gauges import refresh as refresh_business_gauges
from paywire.metrics import render_latest
from paywire.web.context import Context


def build_health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process answers; says nothing about its dependencies."""
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz(context: Context) -> JSONResponse:
        """Ready to serve: the database answers and is migrated to head, and the events
        worker `paywire serve` runs beside the app (if any) is running: while its process
        starts, and if it has stopped, webhooks would be stored but not applied."""
        checks: dict[str, Any] = {}
        try:
            with context.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
            checks["migrations"] = "ok" if engine_is_current(context.engine) else "behind"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
            checks["migrations"] = "unknown"
        if context.worker_state is not None:
            state = context.worker_state()
            checks["worker"] = "ok" if state == "running" else state
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ready else "not_ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics")
    def metrics(context: Context) -> Response:
        """This process's metrics and its worker processes' (`paywire serve`)."""
        refresh_business_gauges(context.sessions, key=context.settings.database_url)
        payload, content_type = render_latest(context.worker_metrics)
        return Response(payload, media_type=content_type)

    return router

"""Liveness, readiness and the Prometheus endpoint."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth.operator import RESPONSES, SECURITY, operator_only
from api.context import ApiContext
from api.openapi import Documented
from metrics.definitions import REGISTRY

# Litestar appends "; charset=utf-8" to a text/ media type itself, and prometheus_client's
# type already ends with it: given whole, the header carried the charset twice.
METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST.removesuffix("; charset=utf-8")


class Check(msgspec.Struct):
    ok: bool
    detail: str = ""


class Readiness(msgspec.Struct):
    ready: bool
    checks: dict[str, Check]


@get("/health/live", tags=["health"], operation_id="getLiveness", security=[{}])
async def live() -> dict[str, str]:
    return {"status": "live"}


@get(
    "/health/ready",
    tags=["health"],
    operation_id="getReadiness",
    security=[{}],
    responses={
        503: ResponseSpec(
            Readiness,
            description="Not ready: the failed checks say why",
            generate_examples=False,
        )
    },
)
async def ready(ctx: NamedDependency[ApiContext]) -> Response[Readiness]:
    checks: dict[str, Check] = {}
    if ctx.pool is not None:
        try:
            async with ctx.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
            checks["database"] = Check(True)
        except Exception as exc:
            checks["database"] = Check(False, type(exc).__name__)
    checks["cache"] = Check(await ctx.cache.ping())
    status = ctx.status
    if status is not None and status.paused is not None:
        checks["capture"] = Check(False, f"applying paused: {status.paused}")
    elif status is not None:
        waiting, seconds = status.lag
        ok = status.connected and seconds <= ctx.settings.lag_ready_seconds
        # Logical capture counts the WAL bytes not yet confirmed, the trigger's the outbox rows.
        unit = "bytes" if status.capture == "logical" else "changes"
        detail = f"lag {seconds:.1f}s, {waiting:.0f} {unit} waiting"
        age = status.heartbeat_age()
        if age is not None:
            detail += f", heartbeat {age:.1f}s ago"
        checks["capture"] = Check(ok, detail)
    is_ready = all(c.ok for c in checks.values())
    return Response(Readiness(is_ready, checks), status_code=200 if is_ready else 503)


@get(
    "/metrics",
    tags=["operators"],
    operation_id="getMetrics",
    operation_class=Documented,
    media_type=METRICS_MEDIA_TYPE,
    security=SECURITY,
    responses=RESPONSES,
    guards=[operator_only],
)
async def prometheus() -> Response[Any]:
    return Response(generate_latest(REGISTRY), media_type=METRICS_MEDIA_TYPE)

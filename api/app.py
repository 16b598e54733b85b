"""Builds the Litestar application: routes, error shape, OpenAPI document and shared context."""

from __future__ import annotations

import logging
import secrets

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from api.audit import AuditWriter
from api.auth.guard import admit, provide_anonymous, provide_principal
from api.auth.keys import KeyStore
from api.context import CONTEXT, ApiContext
from api.errors import EXCEPTION_HANDLERS
from api.middleware import wrap
from api.openapi import HEADERS, ExactStructs
from api.ratelimit import FailedAuth, open_limiter
from api.request import ApiRequest
from api.retention import Retention
from api.routes import (
    admin,
    amenities,
    auth,
    availability,
    bookings,
    cache,
    dashboard,
    health,
    hotels,
    plans,
    room_types,
)

log = logging.getLogger("pms_bridge.api")

MAX_BODY_BYTES = 64 * 1024


def create_app(ctx: ApiContext) -> Litestar:
    if not ctx.settings.jwt_secret:
        # `pms-bridge run` refuses to start without BRIDGE_JWT_SECRET; embedded uses get one.
        log.info("BRIDGE_JWT_SECRET not set: tokens are signed with a per-process secret")
    ctx.jwt_secret = ctx.settings.jwt_secret or secrets.token_urlsafe(32)
    ctx.limiter = open_limiter(
        ctx.settings.redis_url, ctx.settings.redis_prefix, ctx.settings.rate_limits
    )
    ctx.failed_auth = FailedAuth(ctx.limiter)
    ctx.audit = AuditWriter(ctx.pool)
    retention = Retention(
        ctx.pool,
        audit_days=ctx.settings.audit_retention_days,
        idempotency_days=ctx.settings.idempotency_retention_days,
    )
    if ctx.pool is not None:
        ctx.keys = KeyStore(ctx.pool)

    async def provide_ctx() -> ApiContext:
        return ctx

    async def start() -> None:
        if ctx.keys is not None:
            ctx.keys.start()
        if ctx.audit is not None:
            ctx.audit.start()
        retention.start()

    async def stop() -> None:
        await retention.stop()
        if ctx.keys is not None:
            await ctx.keys.stop()
        if ctx.audit is not None:
            await ctx.audit.stop()
        if ctx.limiter is not None:
            await ctx.limiter.close()

    audit = ctx.audit
    return Litestar(
        route_handlers=[
            health.live,
            health.ready,
            health.prometheus,
            dashboard.dashboard,
            dashboard.dashboard_data,
            # The booking engine's routes, admitted by one hook; health stays without it,
            # as probes call it often and it admits everyone.
            Router(
                "/",
                route_handlers=[
                    *availability.ROUTES,
                    *hotels.ROUTES,
                    *room_types.ROUTES,
                    *amenities.ROUTES,
                    *plans.ROUTES,
                    *bookings.ROUTES,
                    *auth.ROUTES,
                    *cache.ROUTES,
                    *admin.ROUTES,
                ],
                before_request=admit,
            ),
        ],
        dependencies={
            "ctx": Provide(provide_ctx, use_cache=True),
            "principal": Provide(provide_principal),
            "anonymous": Provide(provide_anonymous),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        # The process's logging belongs to the CLI (one format, -v for INFO); Litestar's
        # default config would set the root logger to INFO in its own format.
        logging_config=None,
        middleware=[lambda app: wrap(app, audit, ctx.settings.body_timeout, ctx.failed_auth)],
        on_startup=[start],
        on_shutdown=[stop],
        request_max_body_size=MAX_BODY_BYTES,
        request_class=ApiRequest,
        state=State({CONTEXT: ctx}),
        plugins=[ExactStructs()],
        openapi_config=OpenAPIConfig(
            title="PMS Bridge booking-engine API",
            version="0.1.0",
            description=(
                "Bodies are JSON (application/json, at most 64 KiB), decoded strictly: an"
                ' integer is a JSON integer (2, not 2.0 or "2"), unknown fields are refused,'
                " and rules across fields (dates in order, stay length, capacity) are 422."
                ' Errors are {"error", "detail"}. The health routes need no credentials;'
                " the metrics and dashboard routes need none either, unless the operator sets"
                " BRIDGE_METRICS_TOKEN: then that token, as a Bearer token or as the password"
                " of Basic authentication."
            ),
            path="/schema",
            components=Components(
                headers=dict(HEADERS),
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key (pmsb_…) or an access token from /auth/token",
                    ),
                    "apiKey": SecurityScheme(
                        type="apiKey",
                        name="X-API-Key",
                        security_scheme_in="header",
                        description="An API key (pmsb_…), when no Authorization header is sent",
                    ),
                    "operatorBasic": SecurityScheme(
                        type="http",
                        scheme="basic",
                        description="BRIDGE_METRICS_TOKEN as the password (any user name)",
                    ),
                    "operatorBearer": SecurityScheme(
                        type="http", scheme="bearer", description="BRIDGE_METRICS_TOKEN"
                    ),
                },
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )

"""Builds the Litestar application: routes, error shape, OpenAPI document and shared context."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from api.context import ApiContext
from api.errors import EXCEPTION_HANDLERS
from api.routes import availability, dashboard, health


def create_app(ctx: ApiContext) -> Litestar:
    async def provide_ctx() -> ApiContext:
        return ctx

    return Litestar(
        route_handlers=[
            health.live,
            health.ready,
            health.prometheus,
            dashboard.dashboard,
            dashboard.dashboard_data,
            availability.availability,
        ],
        dependencies={"ctx": Provide(provide_ctx, use_cache=True)},
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="PMS Bridge booking-engine API", version="0.1.0", path="/schema"
        ),
        debug=False,
    )

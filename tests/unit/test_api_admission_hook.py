"""Every booking-engine route is admitted by `admit`. It runs as its router's before_request
hook, and Litestar gives a route the hook of the layer closest to it: a hook declared on a
route or controller would silently take admission's place, which this test refuses."""

from __future__ import annotations

from litestar.routes import HTTPRoute

from api.app import create_app
from api.auth.guard import admit
from api.context import ApiContext
from api.paths import PREFIX
from bridge.cache.memory import MemoryCache
from bridge.config import Settings


def test_every_booking_engine_route_is_admitted_by_admit() -> None:
    app = create_app(ApiContext(settings=Settings(), cache=MemoryCache()))
    handlers = [
        (route.path, handler)
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(PREFIX)
        for handler in route.route_handlers
    ]
    assert len(handlers) >= 20
    others = [path for path, handler in handlers if handler.resolve_before_request() is not admit]
    assert others == []
    # The routes outside the prefix (health, metrics, dashboard) are not admitted by it.
    assert all(
        handler.resolve_before_request() is None
        for route in app.routes
        if isinstance(route, HTTPRoute) and not route.path.startswith(PREFIX)
        for handler in route.route_handlers
    )

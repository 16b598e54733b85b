"""The status page, /metrics and health answer from a running bridge's real figures."""

from __future__ import annotations

import psycopg
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.context import ApiContext
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.service import build_bridge
from tests.helpers import drain


async def test_dashboard_shows_applied_changes_and_latency(settings: Settings) -> None:
    cache = MemoryCache()
    bridge, _ = build_bridge(settings, cache)
    assert settings.database_url is not None
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        await conn.execute("UPDATE reservations SET status = 'cancelled' WHERE hotel_id = 1")
    await drain(bridge, settings)
    assert bridge.applied > 0

    app = create_app(ApiContext(settings=settings, cache=cache, bridge=bridge))
    async with AsyncTestClient(app) as client:
        data = (await client.get("/dashboard/data")).json()
        assert data["applied"] == bridge.applied
        assert data["capture"] == "trigger"
        assert data["latency_p99_ms"] > 0
        assert 0.0 <= data["within_target_ratio"] <= 1.0
        page = await client.get("/dashboard")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert f">{bridge.applied}<" in page.text
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert "pms_bridge_sync_latency_seconds_bucket" in metrics.text
        assert 'le="5.0"' in metrics.text
        assert (await client.get("/health/live")).json() == {"status": "live"}

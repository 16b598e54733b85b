"""The status page, /metrics and health answer from a running bridge's real figures."""

from __future__ import annotations

import base64

import msgspec
import psycopg
from litestar.testing import AsyncTestClient
from prometheus_client import CONTENT_TYPE_LATEST

from api.app import create_app
from api.context import ApiContext
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.service import build_bridge
from tests.support.pipeline import drain


async def test_dashboard_shows_applied_changes_and_latency(settings: Settings) -> None:
    cache = MemoryCache()
    bridge, _ = build_bridge(settings, cache)
    assert settings.database_url is not None
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        await conn.execute("UPDATE reservations SET status = 'cancelled' WHERE hotel_id = 1")
    await drain(bridge, settings)
    assert bridge.applied > 0

    app = create_app(ApiContext(settings=settings, cache=cache, status=bridge))
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
        # One charset, exactly the type prometheus_client defines for its text format.
        assert metrics.headers["content-type"] == CONTENT_TYPE_LATEST
        assert metrics.headers["content-type"].count("charset") == 1
        assert "pms_bridge_sync_latency_seconds_bucket" in metrics.text
        assert 'le="5.0"' in metrics.text
        assert (await client.get("/health/live")).json() == {"status": "live"}


async def test_a_metrics_token_closes_the_operators_pages(settings: Settings) -> None:
    token = "k3y-for-scrapers-0123456789"
    closed = msgspec.structs.replace(settings, metrics_token=token)
    app = create_app(ApiContext(settings=closed, cache=MemoryCache()))
    basic = "Basic " + base64.b64encode(f"prometheus:{token}".encode()).decode()
    wrong = "Basic " + base64.b64encode(f"prometheus:{token[:-1]}x".encode()).decode()
    async with AsyncTestClient(app) as client:
        for path in ("/metrics", "/dashboard", "/dashboard/data"):
            for header in (None, wrong, f"Bearer {token}x", "Basic !!!", token):
                headers = {"Authorization": header} if header else {}
                refused = await client.get(path, headers=headers)
                assert refused.status_code == 401, (path, header)
                assert refused.json()["error"] == "unauthorized"
                assert refused.headers["www-authenticate"].startswith("Basic realm=")
                assert token not in refused.text
            for header in (basic, f"Bearer {token}"):
                assert (
                    await client.get(path, headers={"Authorization": header})
                ).status_code == 200
        metrics = await client.get("/metrics", headers={"Authorization": basic})
        assert "pms_bridge_sync_latency_seconds_bucket" in metrics.text
        # Load balancers and orchestrators probe health without credentials.
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/health/ready")).status_code == 200

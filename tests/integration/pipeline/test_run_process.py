"""`pms-bridge run` as users start it: one process serving health, metrics and changes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta

import httpx
import psycopg

from bridge.embedded import PostgresCluster, free_port
from tests.support.processes import metric, wait_ready


def test_run_serves_builds_cache_applies_changes_and_stops_on_sigterm(db_url: str) -> None:
    port = free_port()
    token = "scrape-" + uuid.uuid4().hex
    operator = ("prometheus", token)  # Basic, the token as the password
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "API_PORT": str(port),
        "BRIDGE_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "BRIDGE_POLL_INTERVAL": "0.1",
        "BRIDGE_METRICS_TOKEN": token,
    }
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        assert httpx.get(f"{base}/metrics").status_code == 401
        metrics = httpx.get(f"{base}/metrics", auth=operator).text
        # The in-process cache starts empty, so run builds it before serving.
        assert metric(metrics, "pms_bridge_availability_keys_written_total") > 0

        with psycopg.connect(db_url) as conn:
            conn.execute(
                # Not one the seed already cancelled: a no-op update is not captured.
                "UPDATE reservations SET status = 'cancelled' WHERE hotel_id = 1 AND id ="
                " (SELECT id FROM reservations WHERE hotel_id = 1 AND check_in >= %s"
                "  AND status <> 'cancelled' LIMIT 1)",
                (date.today() + timedelta(days=1),),
            )
        deadline = time.monotonic() + 30
        applied = 0.0
        while time.monotonic() < deadline and applied < 1:
            text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}).text
            applied = metric(text, "pms_bridge_changes_applied_total", table="reservations")
            time.sleep(0.1)
        assert applied >= 1
        assert re.search(r"pms_bridge_consumer_active 1\.0", text)
        data = httpx.get(f"{base}/dashboard/data", auth=operator).json()
        assert data["connected"] is True and data["applied"] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0


def test_run_waits_for_a_database_that_is_down_and_starts_when_it_comes_up(
    own_cluster: PostgresCluster, own_db_url: str
) -> None:
    own_cluster.stop()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": own_db_url,
        "API_PORT": str(port),
        "BRIDGE_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "BRIDGE_POLL_INTERVAL": "0.1",
    }
    env.pop("REDIS_URL", None)  # the in-process cache, which run builds without Redis
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run"], env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        live = wait_answering(f"{base}/health/live", proc)
        assert live.status_code == 200
        # Several retries' worth of waiting: still up, still not ready.
        for _ in range(5):
            time.sleep(1)
            assert proc.poll() is None
            assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 503
        own_cluster.start()
        wait_ready(base, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    said = [line for line in err.splitlines() if "database" in line]
    assert len(said) == 1 and "waiting for it" in said[0], err
    assert f"listening on http://127.0.0.1:{port}" in err


def wait_answering(url: str, proc: subprocess.Popen[str], limit_s: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"pms-bridge run exited with {proc.returncode}"
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")

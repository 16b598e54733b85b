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

from bridge.embedded import free_port


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_ready(base: str, proc: subprocess.Popen[bytes], limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"pms-bridge run exited with {proc.returncode}"
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("pms-bridge run never became ready")


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

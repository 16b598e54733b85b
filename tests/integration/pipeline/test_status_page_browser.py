"""The status page of a running `pms-bridge run`, rendered by Debian's headless chromium: the
DOM it builds shows the deliveries (pending, failed, oldest), the slot, the parked changes
and the reconciliation that /metrics reports."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from bridge.delivery.receiver import Received, Receiver
from bridge.embedded import free_port
from tests.support.delivery import book, configure
from tests.support.processes import metric, running, until, wait_ready
from tests.support.tools import tool

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def refuse(_request: Received, _seen: int) -> int:
    """A booking engine that rejects the event itself: no retry can help, it fails at once."""
    return 400


async def render(url: str, profile: Path) -> str:
    chromium = await asyncio.create_subprocess_exec(
        tool("chromium"),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await chromium.communicate()
    assert chromium.returncode == 0
    return out.decode()


def shown(dom: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert found is not None, f"#{element_id} is not on the page"
    return found.group(1).strip()


async def test_chromium_renders_deliveries_slot_parked_changes_and_reconciliation(
    db_url: str, tmp_path: Path
) -> None:
    tool("chromium")
    api_port = free_port()
    token = "scrape-" + uuid.uuid4().hex
    refusing = Receiver({}, refuse)
    await refusing.start()
    refusing.secrets[1] = await configure(db_url, refusing.url, hotel_id=1)
    # Hotel 2's webhook is down: its event stays pending, retried with backoff (for a day).
    await configure(db_url, f"http://127.0.0.1:{free_port()}/webhook", hotel_id=2)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "API_PORT": str(api_port),
        "BRIDGE_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "BRIDGE_METRICS_TOKEN": token,
        "BRIDGE_POLL_INTERVAL": "0.1",
        # Every 3.6 s rather than daily, so that the page has a reconciliation to show.
        "BRIDGE_RECONCILE_INTERVAL": "0.001",
        # The receiver stands in for the booking engine on http://127.0.0.1.
        "BRIDGE_WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
    }
    env.pop("REDIS_URL", None)
    base = f"http://127.0.0.1:{api_port}"
    started = time.time()
    try:
        with running(
            [sys.executable, "-m", "bridge.cli", "run"], env, tmp_path / "bridge.log"
        ) as bridge:
            await asyncio.to_thread(wait_ready, base, bridge)
            await book(db_url, hotel_id=1)
            await book(db_url, hotel_id=2)
            async with await psycopg.AsyncConnection.connect(db_url) as conn:
                # A hotel id past int4: only the sync upsert finds out, and parks it.
                poison = {"hotel_id": 99_999_999_999, "id": str(uuid.uuid4())}
                await conn.execute(
                    "INSERT INTO pms_bridge.outbox (table_name, op, new_row)"
                    " VALUES ('reservations', 'I', %s)",
                    (json.dumps(poison),),
                )
            async with httpx.AsyncClient(auth=("prometheus", token), timeout=10) as http:

                async def settled() -> bool:
                    data = (await http.get(f"{base}/dashboard/data")).json()
                    return bool(
                        data["deliveries_failed"] == 1
                        and data["deliveries_pending"] == 1
                        and data["deliveries_retrying"] == 1
                        and data["parked"] == 1
                        and data["reconcile_last_run"] is not None
                    )

                await until(
                    "a failed and a pending delivery, a parked change, a reconcile", settled
                )
                # Basic credentials in the address: the browser answers the page's 401 with them.
                dom = await render(
                    f"http://prometheus:{token}@127.0.0.1:{api_port}/dashboard",
                    tmp_path / "chromium",
                )
                after = (await http.get(f"{base}/metrics")).text
    finally:
        await refusing.stop()

    assert "<title>PMS Bridge status</title>" in dom
    assert shown(dom, "deliveries-pending") == "1"
    assert shown(dom, "deliveries-failed") == "1"
    assert 'id="deliveries-failed" class="bad"' in dom
    assert shown(dom, "deliveries-retrying") == "1"
    oldest = float(shown(dom, "delivery-oldest").removesuffix(" s"))
    ages = [metric(after, "pms_bridge_delivery_oldest_open_seconds", hotel_id=h) for h in "12"]
    # The page's figure was read earlier, and rounded to the second.
    assert 0 < oldest <= max(ages) + 1
    events = "pms_bridge_delivery_events_open"
    assert metric(after, events, hotel_id="1", status="failed") == 1
    assert metric(after, events, hotel_id="2", status="pending") == 1
    assert metric(after, "pms_bridge_delivery_events_retrying", hotel_id="2") == 1
    assert metric(after, "pms_bridge_delivery_events_retrying", hotel_id="1") == 0
    assert shown(dom, "parked") == "1"
    assert metric(after, "pms_bridge_parked_changes") == 1
    assert shown(dom, "slot") == "none"  # trigger capture keeps no slot
    last_run = datetime.strptime(shown(dom, "reconcile-last"), "%Y-%m-%d %H:%M:%S UTC")
    ran = metric(after, "pms_bridge_reconcile_last_run_timestamp_seconds")
    # Shown to the second, and no later than the last run /metrics reported afterwards.
    assert int(started) <= last_run.replace(tzinfo=UTC).timestamp() <= ran
    differences = metric(after, "pms_bridge_reconcile_differences_total")
    assert shown(dom, "reconcile-differences") == f"{differences:.0f}"
    assert shown(dom, "contract") == "kept"

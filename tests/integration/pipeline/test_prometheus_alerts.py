"""Debian's real Prometheus with the repository's config and alert rules, scraping a running
`pms-bridge run` with its metrics token: the target is up, the delivery alert fires while
the booking engine's webhook is down, and ends once it is back and the backlog delivered."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

from bridge.delivery.receiver import Receiver
from bridge.embedded import free_port
from tests.support.delivery import book, configure
from tests.support.deployment import prometheus_config
from tests.support.processes import running, until, wait_ready
from tests.support.tools import tool

ALERT = "PmsBridgeDeliveriesFailing"


async def test_prometheus_scrapes_the_bridge_and_pages_while_the_webhook_is_down(
    db_url: str, tmp_path: Path
) -> None:
    prometheus = tool("prometheus")
    hook_port = free_port()
    # Nothing listens there yet: the booking engine's webhook is down.
    secret = await configure(db_url, f"http://127.0.0.1:{hook_port}/webhook")
    api_port, prom_port = free_port(), free_port()
    token = "scrape-" + uuid.uuid4().hex
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "API_PORT": str(api_port),
        "BRIDGE_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "BRIDGE_METRICS_TOKEN": token,
        "BRIDGE_POLL_INTERVAL": "0.1",
        # Probes of the dead endpoint at most 5 s apart (60 by default): the recovery is
        # seen within seconds of the webhook coming back.
        "BRIDGE_DELIVERY_MAX_DELAY": "5",
        # The receiver stands in for the booking engine on http://127.0.0.1.
        "BRIDGE_WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
    }
    env.pop("REDIS_URL", None)

    token_file = tmp_path / "metrics_token"
    token_file.write_text(token + "\n")
    config = prometheus_config({"metrics_token": token_file})
    # The test's own target and pace; no Alertmanager runs here (its alerts are read from
    # Prometheus' API instead).
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    del config["alerting"]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{api_port}"]}]
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    prom_args = [
        prometheus,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    api = f"http://127.0.0.1:{prom_port}/api/v1"
    bridge_log, prom_log = tmp_path / "bridge.log", tmp_path / "prometheus.log"
    with (
        running([sys.executable, "-m", "bridge.cli", "run"], env, bridge_log) as bridge,
        running(prom_args, None, prom_log),
    ):
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{api_port}", bridge)
        async with httpx.AsyncClient(timeout=10) as http:

            async def up() -> bool:
                try:
                    answer = await http.get(
                        f"{api}/query", params={"query": 'up{job="pms-bridge"}'}
                    )
                except httpx.HTTPError:
                    return False
                result = answer.json()["data"]["result"]
                return bool(result) and result[0]["value"][1] == "1"

            async def alerts() -> list[dict[str, Any]]:
                answer = await http.get(f"{api}/alerts")
                found: list[dict[str, Any]] = answer.json()["data"]["alerts"]
                return [a for a in found if a["labels"]["alertname"] == ALERT]

            async def firing() -> list[dict[str, Any]]:
                return [a for a in await alerts() if a["state"] == "firing"]

            async def quiet() -> bool:
                return not await alerts()

            # Scraped with the token: without it /metrics answers 401 and `up` stays 0.
            await until("the bridge target up", up)
            targets = (await http.get(f"{api}/targets")).json()["data"]["activeTargets"]
            assert [t["health"] for t in targets] == ["up"]
            assert await quiet()

            booking = await book(db_url, hotel_id=1)
            # Pending at first: the rule asks for a minute of failing attempts.
            await until(f"{ALERT} pending", alerts)
            (alert,) = await until(f"{ALERT} firing", firing)
            assert alert["labels"]["hotel_id"] == "1"
            assert alert["labels"]["severity"] == "page"
            assert "keep failing" in alert["annotations"]["summary"]

            # The webhook comes back: the held event is delivered and the alert ends.
            receiver = Receiver({1: secret})
            await receiver.start(hook_port)
            try:
                await until(f"{ALERT} resolved", quiet)
                assert str(booking) in {r.booking_id for r in receiver.applied}
                assert all(r.signature_ok for r in receiver.applied)
            finally:
                await receiver.stop()

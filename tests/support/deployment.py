"""The deployment files as docker-compose.yml runs them: which checkout file each container
path of a service is, and the Prometheus config with those paths made local."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def mounts(service: str) -> dict[str, Path]:
    """Container path -> checkout path of the service's bind mounts (named volumes left out)."""
    found: dict[str, Path] = {}
    for entry in compose()["services"][service].get("volumes", []):
        source, target = entry.split(":")[:2]
        if source.startswith("."):
            found[target] = (ROOT / source).resolve()
    return found


def prometheus_config(secrets: dict[str, Path]) -> dict[str, Any]:
    """The config compose mounts into Prometheus, with each file it names replaced by the
    checkout file compose mounts there, or by `secrets[name]` for /run/secrets/<name>. A path
    compose does not provide is a KeyError: the container would not find it either."""
    files = mounts("prometheus")
    files |= {f"/run/secrets/{name}": path for name, path in secrets.items()}
    config: dict[str, Any] = yaml.safe_load(files[PROMETHEUS_CONFIG].read_text())
    config["rule_files"] = [str(files[rule]) for rule in config["rule_files"]]
    for job in config["scrape_configs"]:
        auth = job.get("authorization", {})
        if "credentials_file" in auth:
            auth["credentials_file"] = str(files[auth["credentials_file"]])
    return config

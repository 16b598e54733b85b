"""Settings from the environment and flags; bad values stop start-up with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.config import (
    DEFAULT_WATCHED,
    ConfigError,
    Settings,
    hotel_zones,
    load_settings,
    require_database,
)

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_without_environment() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.capture == "trigger"
    assert settings.watched_tables == DEFAULT_WATCHED
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)


def test_environment_is_read_and_flags_override_it() -> None:
    env = {
        "DATABASE_URL": "postgresql://u@db:5432/pms",
        "REDIS_URL": "redis://cache:6379/1",
        "BRIDGE_CAPTURE": "logical",
        "API_PORT": "9000",
        "BRIDGE_POLL_INTERVAL": "0.25",
        "BRIDGE_WATCHED_TABLES": " hotels, room_types ,rooms,reservations,reservation_details",
        "API_HOST": "",
    }
    settings = load_settings(env, {"api_port": 9100, "redis_url": None})
    assert settings.database_url == "postgresql://u@db:5432/pms"
    assert settings.redis_url == "redis://cache:6379/1"
    assert settings.capture == "logical"
    assert settings.api_port == 9100  # the flag wins
    assert settings.api_host == "127.0.0.1"  # an empty variable counts as unset
    assert settings.poll_interval == 0.25
    assert settings.watched_tables == (
        "hotels",
        "room_types",
        "rooms",
        "reservations",
        "reservation_details",
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"BRIDGE_CAPTURE": "wal2json"}, "BRIDGE_CAPTURE"),
        ({"DATABASE_URL": "mysql://root@db/pms"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://cache"}, "REDIS_URL"),
        ({"API_PORT": "eighty"}, "API_PORT"),
        ({"API_PORT": "70000"}, "API_PORT"),
        ({"BRIDGE_BATCH_SIZE": "0"}, "BRIDGE_BATCH_SIZE"),
        ({"BRIDGE_POLL_INTERVAL": "-1"}, "BRIDGE_POLL_INTERVAL"),
        ({"BRIDGE_RECONCILE_INTERVAL": "-1"}, "BRIDGE_RECONCILE_INTERVAL"),
        ({"BRIDGE_RECONCILE_INTERVAL": "nightly"}, "BRIDGE_RECONCILE_INTERVAL"),
        ({"BRIDGE_RECONCILE_INTERVAL": "nan"}, "BRIDGE_RECONCILE_INTERVAL"),
        ({"BRIDGE_AUDIT_RETENTION_DAYS": "-30"}, "BRIDGE_AUDIT_RETENTION_DAYS"),
        ({"BRIDGE_IDEMPOTENCY_RETENTION_DAYS": "a week"}, "BRIDGE_IDEMPOTENCY_RETENTION_DAYS"),
        ({"BRIDGE_IDEMPOTENCY_RETENTION_DAYS": "3000000000"}, "BRIDGE_IDEMPOTENCY_RETENTION_DAYS"),
        ({"BRIDGE_REFRESH_FAMILY_DAYS": "0"}, "BRIDGE_REFRESH_FAMILY_DAYS"),
        ({"BRIDGE_REFRESH_FAMILY_DAYS": "400"}, "BRIDGE_REFRESH_FAMILY_DAYS"),
        ({"BRIDGE_TIMEZONE": "Mars/Olympus"}, "BRIDGE_TIMEZONE"),
        ({"BRIDGE_TIMEZONE": "../../etc/passwd"}, "BRIDGE_TIMEZONE"),
        ({"BRIDGE_HOTEL_TIMEZONES": "1=Asia/Tokyo,2"}, "BRIDGE_HOTEL_TIMEZONES"),
        ({"BRIDGE_HOTEL_TIMEZONES": "one=Asia/Tokyo"}, "BRIDGE_HOTEL_TIMEZONES"),
        ({"BRIDGE_HOTEL_TIMEZONES": "1=Asia/Tokio"}, "BRIDGE_HOTEL_TIMEZONES"),
        ({"BRIDGE_HOTEL_TIMEZONES": "\u00b2=UTC"}, "BRIDGE_HOTEL_TIMEZONES"),  # was a traceback
        ({"BRIDGE_HOTEL_TIMEZONES": "1=UTC,1=Asia/Tokyo"}, "BRIDGE_HOTEL_TIMEZONES"),
        ({"BRIDGE_METRICS_TOKEN": "short"}, "BRIDGE_METRICS_TOKEN"),
        ({"BRIDGE_METRICS_TOKEN": "a token with spaces in it"}, "BRIDGE_METRICS_TOKEN"),
        ({"BRIDGE_METRICS_TOKEN": "sésame-ouvre-toi-vite"}, "BRIDGE_METRICS_TOKEN"),
        ({"BRIDGE_JWT_SECRET": "abc"}, "BRIDGE_JWT_SECRET"),
        ({"BRIDGE_JWT_SECRET": "x" * 31}, "BRIDGE_JWT_SECRET"),
        ({"BRIDGE_SLOT_FAILOVER": "maybe"}, "BRIDGE_SLOT_FAILOVER"),
        ({"BRIDGE_HEARTBEAT_SECONDS": "-1"}, "BRIDGE_HEARTBEAT_SECONDS"),
        ({"BRIDGE_HEARTBEAT_SECONDS": "nan"}, "BRIDGE_HEARTBEAT_SECONDS"),
        ({"BRIDGE_HEARTBEAT_SECONDS": "100000"}, "BRIDGE_HEARTBEAT_SECONDS"),
        ({"BRIDGE_HEARTBEAT_SECONDS": "often"}, "BRIDGE_HEARTBEAT_SECONDS"),
        ({"BRIDGE_WATCHED_TABLES": "hotels,rooms"}, "BRIDGE_WATCHED_TABLES"),
        ({"BRIDGE_WATCHED_TABLES": " , "}, "BRIDGE_WATCHED_TABLES"),
        (
            {"BRIDGE_WATCHED_TABLES": ",".join([*DEFAULT_WATCHED, "rooms; DROP TABLE x"])},
            "BRIDGE_WATCHED_TABLES",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    message = str(raised.value)
    assert names in message
    assert "\n" not in message


def test_a_jwt_secret_of_32_bytes_is_accepted() -> None:
    secret = "s" * 32
    assert load_settings({"BRIDGE_JWT_SECRET": secret}).jwt_secret == secret
    # Bytes, not characters: 11 three-byte characters are 33 bytes.
    assert load_settings({"BRIDGE_JWT_SECRET": "\u20ac" * 11}).jwt_secret == "\u20ac" * 11


def test_slot_failover_and_heartbeat_settings_are_read() -> None:
    assert (Settings().slot_failover, Settings().heartbeat_seconds) == (False, 10.0)
    for word, value in (("true", True), ("ON", True), ("0", False), ("no", False)):
        assert load_settings({"BRIDGE_SLOT_FAILOVER": word}).slot_failover is value
    assert load_settings({"BRIDGE_HEARTBEAT_SECONDS": "0"}).heartbeat_seconds == 0  # off
    assert load_settings({"BRIDGE_HEARTBEAT_SECONDS": "2.5"}).heartbeat_seconds == 2.5


def test_hotel_time_zones_are_read() -> None:
    settings = load_settings(
        {"BRIDGE_TIMEZONE": " Asia/Tokyo", "BRIDGE_HOTEL_TIMEZONES": " 4=Europe/Paris, 7 = UTC ,"}
    )
    default, per_hotel = hotel_zones(settings)
    assert default == ZoneInfo("Asia/Tokyo")
    assert per_hotel == {4: ZoneInfo("Europe/Paris"), 7: ZoneInfo("UTC")}
    assert hotel_zones(Settings()) == (None, {})


def test_require_database_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        require_database(Settings())
    assert require_database(Settings(database_url="postgresql://x/y")) == "postgresql://x/y"


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"BRIDGE_CAPTURE": "bogus", "DATABASE_URL": "postgresql://u@127.0.0.1:1/x"},
            "BRIDGE_CAPTURE='bogus'",
        ),
        ({"DATABASE_URL": "mysql://root@db/pms"}, "DATABASE_URL must be a postgresql:// URL"),
        ({}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/pms"}, "cannot reach the database"),
    ],
)
@pytest.mark.parametrize("command", [("run", "--no-api"), ("migrate",)])
def test_cli_stops_with_one_line_and_exit_2(
    env: dict[str, str], expected: str, command: tuple[str, ...]
) -> None:
    if "cannot reach" in expected and command[0] == "run":
        pytest.skip("`run` keeps retrying an unreachable database, by design")
    result = run_cli(env, *command)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pms-bridge: error: ")
    assert expected in lines[0]
    assert result.stdout == ""

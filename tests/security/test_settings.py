"""The security settings: defaults that hold without configuration, and a bad value stopping
start-up with one line that says what to fix."""

from __future__ import annotations

import pytest

from api.ratelimit import parse_limits
from bridge.config import ConfigError, load_settings, secret_key


def test_the_defaults_believe_no_proxy_and_bound_every_connection() -> None:
    settings = load_settings({})
    assert settings.trusted_proxies == ()
    assert settings.header_timeout == 10.0 and settings.body_timeout == 30.0
    assert settings.max_connections == 1000
    assert settings.webhook_allow_loopback_http is False
    assert secret_key(settings) is None


def test_proxies_and_key_are_read_from_the_environment() -> None:
    settings = load_settings(
        {"BRIDGE_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16", "BRIDGE_SECRET_KEY": "ab" * 32}
    )
    assert settings.trusted_proxies == ("10.0.0.5", "10.1.0.0/16")
    assert secret_key(settings) == bytes.fromhex("ab" * 32)


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"BRIDGE_TRUSTED_PROXIES": "proxy.internal"}, "BRIDGE_TRUSTED_PROXIES"),
        ({"BRIDGE_TRUSTED_PROXIES": "10.0.0.1/8"}, "BRIDGE_TRUSTED_PROXIES"),
        ({"BRIDGE_HEADER_TIMEOUT": "0"}, "BRIDGE_HEADER_TIMEOUT"),
        ({"BRIDGE_BODY_TIMEOUT": "-1"}, "BRIDGE_BODY_TIMEOUT"),
        ({"BRIDGE_MAX_CONNECTIONS": "0"}, "BRIDGE_MAX_CONNECTIONS"),
        ({"BRIDGE_WEBHOOK_ALLOW_LOOPBACK_HTTP": "maybe"}, "BRIDGE_WEBHOOK_ALLOW_LOOPBACK_HTTP"),
        ({"BRIDGE_SECRET_KEY": "short"}, "BRIDGE_SECRET_KEY"),
        ({"BRIDGE_RATE_LIMITS": "failed_auth=0:1"}, "BRIDGE_RATE_LIMITS"),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line(environ: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_limits(load_settings(environ).rate_limits)
    line = str(refused.value)
    assert says in line and "\n" not in line

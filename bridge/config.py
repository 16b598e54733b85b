"""Settings from the environment and flags; a bad value stops start-up with one clear line."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

DEFAULT_WATCHED = (
    "hotels",
    "room_types",
    "rooms",
    "clients",
    "reservations",
    "reservation_details",
    "plans_global",
    "plans_hotel",
    "plans_rates",
    "hotel_plan_exclusions",
)
# Availability cannot be computed without these, whatever else is watched.
REQUIRED_TABLES = ("hotels", "room_types", "rooms", "reservations", "reservation_details")


class ConfigError(ValueError):
    """One line saying which setting is wrong and how to fix it."""


# A century: more is not a retention, and overflows PostgreSQL's date arithmetic.
MAX_RETENTION_DAYS = 36_500
# A year: past that a refresh family is no bound on a stolen token's life.
MAX_REFRESH_FAMILY_DAYS = 366
# HS256's key: any one token lets a shorter secret be brute-forced offline (RFC 7518 3.2
# asks for a key at least as long as the hash, 256 bits).
MIN_JWT_SECRET_BYTES = 32


class Settings(msgspec.Struct, kw_only=True):
    database_url: str | None = None
    redis_url: str | None = None
    capture: Literal["trigger", "logical"] = "trigger"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    jwt_secret: str | None = None
    # When set, /metrics and the status page answer only a caller presenting it.
    metrics_token: str | None = None
    rate_limits: str = ""
    watched_tables: tuple[str, ...] = DEFAULT_WATCHED
    batch_size: int = 2000
    poll_interval: float = 0.5
    consumer_name: str = "default"
    redis_prefix: str = "pmsb"
    horizon_days_back: int = 31
    horizon_days_ahead: int = 366
    lag_ready_seconds: float = 30.0
    # How often the running bridge checks the PMS schema against its contract (seconds).
    contract_interval: float = 5.0
    slot_name: str = "pms_bridge"
    publication_name: str = "pms_bridge"
    # Hotel / room-type caches: "manual" counts captured changes until an update is asked
    # for (the integration document's rule); "auto" applies them live.
    catalog_policy: Literal["manual", "auto"] = "manual"
    availability_ttl_minutes: float = 15.0
    refresh_interval: float = 5.0
    delivery_concurrency: int = 8
    delivery_max_attempts: int = 8
    delivery_timeout: float = 10.0
    # A retryable event fails for good only once it had max_attempts tries AND is this many
    # seconds old: a webhook down for hours is waited out, a booking it rejects is not.
    delivery_retry_for: float = 86400.0
    # The longest wait between two tries of an event: also how late a hotel's first delivery
    # after its webhook comes back can be (the rest follow at once).
    delivery_max_delay: float = 60.0
    # Hours between the running bridge's reconciliations (the safety net under capture); 0 off.
    reconcile_interval: float = 24.0
    # Logical capture: unconfirmed WAL above this raises a warning (log + metric).
    slot_lag_warn_bytes: int = 256 * 1024 * 1024
    # Logical capture on PostgreSQL 17+: a slot the standbys synchronize, so it survives a
    # failover (docs/logical-replication.md lists the standby settings it needs).
    slot_failover: bool = False
    # A heartbeat written through the capture every this many seconds (0: none): it proves
    # the path works while the PMS is idle and moves the slot past WAL of unwatched tables.
    heartbeat_seconds: float = 10.0
    # How long the API keeps its audit rows and Idempotency-Key answers; 0 keeps them forever.
    audit_retention_days: int = 90
    idempotency_retention_days: int = 7
    # A refresh-token family ends this long after its API key was exchanged, however often it
    # rotates: the client exchanges its key again, and a family never lives for ever.
    refresh_family_days: int = 30
    # The hotels' time zone (IANA name; empty: the machine's): a hotel's "today", which
    # decides whether a stay has begun or a check-in is past, is its own date, not the server's.
    timezone: str = ""
    # Per-hotel zones for a chain across zones: "1=Asia/Tokyo,4=Europe/Paris".
    hotel_timezones: str = ""
    # The PMS user (users.id) bookings are written as: created_by / updated_by and the user
    # the PMS's audit log names. The PMS's own channel imports write as user 1.
    pms_user_id: int = 1
    # reservations.agent of a booking whose request names no agent.
    pms_agent: str = "booking engine"
    # The API's edges (docs/security.md). Whose X-Forwarded-For is believed: addresses or
    # networks of the reverse proxies in front of the API; none by default.
    trusted_proxies: tuple[str, ...] = ()
    # A request head must arrive within this many seconds of the connection (or of the
    # previous answer), and a request body within body_timeout of its head.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    # Open connections beyond this are answered 503.
    max_connections: int = 1000
    # Webhooks go to https only; plain http to a loopback address only when this is set (the
    # demo's and tests' local receiver).
    webhook_allow_loopback_http: bool = False
    # Seals webhook secrets at rest (32 bytes, hex or base64): `pms-bridge webhook` stores
    # them sealed, delivery opens them.
    secret_key: str | None = None


_ENV: dict[str, tuple[str, type]] = {
    "DATABASE_URL": ("database_url", str),
    "REDIS_URL": ("redis_url", str),
    "BRIDGE_CAPTURE": ("capture", str),
    "API_HOST": ("api_host", str),
    "API_PORT": ("api_port", int),
    "BRIDGE_JWT_SECRET": ("jwt_secret", str),
    "BRIDGE_METRICS_TOKEN": ("metrics_token", str),
    "BRIDGE_RATE_LIMITS": ("rate_limits", str),
    "BRIDGE_WATCHED_TABLES": ("watched_tables", tuple),
    "BRIDGE_BATCH_SIZE": ("batch_size", int),
    "BRIDGE_POLL_INTERVAL": ("poll_interval", float),
    "BRIDGE_CONSUMER": ("consumer_name", str),
    "BRIDGE_REDIS_PREFIX": ("redis_prefix", str),
    "BRIDGE_LAG_READY_SECONDS": ("lag_ready_seconds", float),
    "BRIDGE_CONTRACT_INTERVAL": ("contract_interval", float),
    "BRIDGE_SLOT": ("slot_name", str),
    "BRIDGE_PUBLICATION": ("publication_name", str),
    "BRIDGE_CATALOG_POLICY": ("catalog_policy", str),
    "BRIDGE_AVAILABILITY_TTL_MINUTES": ("availability_ttl_minutes", float),
    "BRIDGE_REFRESH_INTERVAL": ("refresh_interval", float),
    "BRIDGE_DELIVERY_CONCURRENCY": ("delivery_concurrency", int),
    "BRIDGE_DELIVERY_MAX_ATTEMPTS": ("delivery_max_attempts", int),
    "BRIDGE_DELIVERY_TIMEOUT": ("delivery_timeout", float),
    "BRIDGE_DELIVERY_RETRY_FOR": ("delivery_retry_for", float),
    "BRIDGE_DELIVERY_MAX_DELAY": ("delivery_max_delay", float),
    "BRIDGE_RECONCILE_INTERVAL": ("reconcile_interval", float),
    "BRIDGE_SLOT_LAG_WARN_BYTES": ("slot_lag_warn_bytes", int),
    "BRIDGE_SLOT_FAILOVER": ("slot_failover", bool),
    "BRIDGE_HEARTBEAT_SECONDS": ("heartbeat_seconds", float),
    "BRIDGE_AUDIT_RETENTION_DAYS": ("audit_retention_days", int),
    "BRIDGE_IDEMPOTENCY_RETENTION_DAYS": ("idempotency_retention_days", int),
    "BRIDGE_REFRESH_FAMILY_DAYS": ("refresh_family_days", int),
    "BRIDGE_TIMEZONE": ("timezone", str),
    "BRIDGE_HOTEL_TIMEZONES": ("hotel_timezones", str),
    "BRIDGE_PMS_USER_ID": ("pms_user_id", int),
    "BRIDGE_PMS_AGENT": ("pms_agent", str),
    "BRIDGE_TRUSTED_PROXIES": ("trusted_proxies", tuple),
    "BRIDGE_HEADER_TIMEOUT": ("header_timeout", float),
    "BRIDGE_BODY_TIMEOUT": ("body_timeout", float),
    "BRIDGE_MAX_CONNECTIONS": ("max_connections", int),
    "BRIDGE_WEBHOOK_ALLOW_LOOPBACK_HTTP": ("webhook_allow_loopback_http", bool),
    "BRIDGE_SECRET_KEY": ("secret_key", str),
}


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True}
_BOOLEANS |= {"false": False, "0": False, "no": False, "off": False}

# A day: a longer interval is no heartbeat, and a slot would hold WAL that long when idle.
MAX_HEARTBEAT_SECONDS = 86_400.0


def _coerce(env_name: str, raw: str, kind: type) -> Any:
    if kind is tuple:
        items = tuple(part.strip() for part in raw.split(",") if part.strip())
        if not items:
            raise ConfigError(f"{env_name} is empty; give a comma-separated list")
        return items
    if kind is bool:
        word = raw.strip().lower()
        if word not in _BOOLEANS:
            raise ConfigError(f"{env_name}={raw!r} is not a yes/no value; use true or false")
        return _BOOLEANS[word]
    if kind is int or kind is float:
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(f"{env_name}={raw!r} is not a number") from None
    return raw


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Settings from the environment, then flags (`overrides`, None values ignored)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for env_name, (field, kind) in _ENV.items():
        raw = environ.get(env_name)
        if raw is not None and raw != "":
            values[field] = _coerce(env_name, raw, kind)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    if settings.capture not in ("trigger", "logical"):
        raise ConfigError(
            f"BRIDGE_CAPTURE={settings.capture!r} is not a capture mode; use trigger or logical"
        )
    url = settings.database_url
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "DATABASE_URL must be a postgresql:// URL, e.g. postgresql://user:pass@host:5432/pms"
        )
    if settings.redis_url is not None and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("REDIS_URL must be a redis:// URL, e.g. redis://127.0.0.1:6379/0")
    if not 0 < settings.api_port < 65536:
        raise ConfigError(f"API_PORT={settings.api_port} is outside 1-65535")
    if not 1 <= settings.batch_size <= 100_000:
        raise ConfigError(f"BRIDGE_BATCH_SIZE={settings.batch_size} must be in 1-100000")
    if settings.catalog_policy not in ("manual", "auto"):
        raise ConfigError(
            f"BRIDGE_CATALOG_POLICY={settings.catalog_policy!r} is not a policy; use manual or auto"
        )
    if settings.availability_ttl_minutes <= 0 or settings.refresh_interval <= 0:
        raise ConfigError(
            "BRIDGE_AVAILABILITY_TTL_MINUTES and BRIDGE_REFRESH_INTERVAL must be positive"
        )
    if not 1 <= settings.delivery_concurrency <= 256 or settings.delivery_max_attempts < 1:
        raise ConfigError(
            "BRIDGE_DELIVERY_CONCURRENCY must be in 1-256 and BRIDGE_DELIVERY_MAX_ATTEMPTS >= 1"
        )
    if settings.delivery_timeout <= 0:
        raise ConfigError("BRIDGE_DELIVERY_TIMEOUT must be a positive number of seconds")
    if not settings.delivery_retry_for >= 0 or not settings.delivery_max_delay > 0:
        raise ConfigError(
            "BRIDGE_DELIVERY_RETRY_FOR must be seconds >= 0 and BRIDGE_DELIVERY_MAX_DELAY > 0"
        )
    if not settings.reconcile_interval >= 0:
        raise ConfigError(
            "BRIDGE_RECONCILE_INTERVAL must be a number of hours >= 0 (0 turns it off)"
        )
    if settings.poll_interval <= 0:
        raise ConfigError("BRIDGE_POLL_INTERVAL must be a positive number of seconds")
    if not settings.contract_interval > 0:
        raise ConfigError("BRIDGE_CONTRACT_INTERVAL must be a positive number of seconds")
    if not 0 <= settings.heartbeat_seconds <= MAX_HEARTBEAT_SECONDS:
        raise ConfigError(
            f"BRIDGE_HEARTBEAT_SECONDS={settings.heartbeat_seconds:g} must be from 0 (off) to "
            f"{MAX_HEARTBEAT_SECONDS:g} seconds"
        )
    if not 1 <= settings.pms_user_id <= 2_147_483_647:
        raise ConfigError(
            f"BRIDGE_PMS_USER_ID={settings.pms_user_id} is not a PMS user id (users.id, e.g. 1)"
        )
    if not settings.pms_agent.strip() or len(settings.pms_agent) > 100:
        raise ConfigError("BRIDGE_PMS_AGENT must be 1-100 characters (reservations.agent)")
    for env_name, days in (
        ("BRIDGE_AUDIT_RETENTION_DAYS", settings.audit_retention_days),
        ("BRIDGE_IDEMPOTENCY_RETENTION_DAYS", settings.idempotency_retention_days),
    ):
        if not 0 <= days <= MAX_RETENTION_DAYS:
            raise ConfigError(
                f"{env_name}={days} must be a number of days up to {MAX_RETENTION_DAYS}, "
                "or 0 to keep everything"
            )
    if not 1 <= settings.refresh_family_days <= MAX_REFRESH_FAMILY_DAYS:
        raise ConfigError(
            f"BRIDGE_REFRESH_FAMILY_DAYS={settings.refresh_family_days} must be a number of days "
            f"from 1 to {MAX_REFRESH_FAMILY_DAYS}"
        )
    hotel_zones(settings)
    token = settings.metrics_token
    if token is not None and (len(token) < 16 or not all(33 <= ord(c) <= 126 for c in token)):
        raise ConfigError(
            "BRIDGE_METRICS_TOKEN must be at least 16 visible ASCII characters (no spaces), "
            "e.g. from `openssl rand -hex 24`"
        )
    secret = settings.jwt_secret
    if secret and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"BRIDGE_JWT_SECRET is {len(secret.encode())} bytes; HS256 needs at least "
            f"{MIN_JWT_SECRET_BYTES} (e.g. export BRIDGE_JWT_SECRET=$(openssl rand -hex 32))"
        )
    _validate_edges(settings)
    missing = [t for t in REQUIRED_TABLES if t not in settings.watched_tables]
    if missing:
        raise ConfigError(
            f"BRIDGE_WATCHED_TABLES must include {', '.join(missing)} (availability needs them)"
        )
    for table in settings.watched_tables:
        if not table.replace("_", "").isalnum():
            raise ConfigError(f"BRIDGE_WATCHED_TABLES: {table!r} is not a table name")


def _validate_edges(settings: Settings) -> None:
    for proxy in settings.trusted_proxies:
        try:
            ipaddress.ip_network(proxy)
        except ValueError:
            raise ConfigError(
                f"BRIDGE_TRUSTED_PROXIES: {proxy!r} is not an IP address or network, "
                "e.g. 10.0.0.5,10.1.0.0/16"
            ) from None
    secret_key(settings)
    for env_name, seconds in (
        ("BRIDGE_HEADER_TIMEOUT", settings.header_timeout),
        ("BRIDGE_BODY_TIMEOUT", settings.body_timeout),
    ):
        if not 0 < seconds <= 3600:
            raise ConfigError(f"{env_name}={seconds:g} must be a number of seconds in (0, 3600]")
    if not 1 <= settings.max_connections <= 1_000_000:
        raise ConfigError(f"BRIDGE_MAX_CONNECTIONS={settings.max_connections} must be in 1-1000000")


def secret_key(settings: Settings) -> bytes | None:
    """BRIDGE_SECRET_KEY's bytes, or None when it is not set."""
    if settings.secret_key is None:
        return None
    from bridge.delivery.sealing import parse_key

    key = parse_key(settings.secret_key)
    if key is None:
        raise ConfigError(
            "BRIDGE_SECRET_KEY must be 32 bytes as 64 hex digits or base64, "
            "e.g. export BRIDGE_SECRET_KEY=$(openssl rand -base64 32)"
        )
    return key


def _zone(env_name: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"{env_name}: {name!r} is not a time zone; use an IANA name such as Europe/Paris"
        ) from None


def hotel_zones(settings: Settings) -> tuple[ZoneInfo | None, dict[int, ZoneInfo]]:
    """The hotels' default zone (None: the machine's) and the per-hotel ones."""
    name = settings.timezone.strip()
    default = _zone("BRIDGE_TIMEZONE", name) if name else None
    per_hotel: dict[int, ZoneInfo] = {}
    for item in filter(None, (part.strip() for part in settings.hotel_timezones.split(","))):
        hotel, _, zone = (text.strip() for text in item.partition("="))
        if not (hotel.isascii() and hotel.isdigit()) or not zone:
            raise ConfigError(
                f"BRIDGE_HOTEL_TIMEZONES: {item!r} is not HOTEL_ID=Zone, "
                "e.g. 1=Asia/Tokyo,4=Europe/Paris"
            )
        if int(hotel) in per_hotel:
            raise ConfigError(f"BRIDGE_HOTEL_TIMEZONES names hotel {int(hotel)} twice")
        per_hotel[int(hotel)] = _zone("BRIDGE_HOTEL_TIMEZONES", zone)
    return default, per_hotel


def require_database(settings: Settings) -> str:
    if settings.database_url is None:
        raise ConfigError(
            "DATABASE_URL is not set; point it at the PMS database "
            "(or use `pms-bridge demo` for an embedded one)"
        )
    return settings.database_url

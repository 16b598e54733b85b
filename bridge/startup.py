"""What a process checks and builds before it serves: this version's migrations, the PMS
schema contract and user, and the availability cache."""

from __future__ import annotations

import logging

from bridge import contract
from bridge.cache import Cache
from bridge.config import ConfigError, Settings, require_database
from bridge.db import connect, fetch_value
from bridge.migrate import require_migrated
from bridge.service import horizon
from bridge.snapshot import BUILT_MARKER, rebuild_availability
from bridge.sql import query
from metrics import definitions as m

log = logging.getLogger("pms_bridge.startup")


async def ensure_availability_built(settings: Settings, cache: Cache) -> None:
    """An in-process cache starts empty and a new Redis has nothing: build it before serving.
    Rebuilding is always safe, since every entry is recomputed from the PMS tables."""
    if await cache.get_document("meta", BUILT_MARKER) is not None:
        return
    async with await connect(require_database(settings)) as conn:
        written = await rebuild_availability(conn, cache, horizon(settings))
    log.info("availability cache built: %d entries", written)


async def check_migrations(settings: Settings) -> None:
    """This version's migrations, and the PMS schema contract for the capture mode in use."""
    async with await connect(require_database(settings)) as conn:
        await require_migrated(conn)
        report = await contract.check(conn, settings.watched_tables, settings.capture)
        if not report.ok:
            raise ConfigError(report.line())
        # Applying pauses (and sets it to 0) when the contract breaks later.
        m.schema_contract_ok.set(1)
        params = {"user_id": settings.pms_user_id}
        if not await fetch_value(conn, query("contract_pms_user"), params):
            raise ConfigError(
                f"BRIDGE_PMS_USER_ID={settings.pms_user_id} is no user of the PMS (users.id):"
                " set it to the PMS user bookings are written as"
            )

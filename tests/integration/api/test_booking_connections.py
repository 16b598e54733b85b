"""The booking pool's connections never JIT-compile: their generic plans are costed over every
partition, and on a PostgreSQL built with LLVM each booking would compile far longer than it
runs."""

from __future__ import annotations

from typing import Any

import pytest

from api.server import new_pool, open_pools
from bridge.config import Settings

RANGE = "SELECT pms_bridge.api_rooms_left(1, current_date, current_date + 2)"


async def explained(conn: Any) -> dict[str, Any]:
    # At a threshold of 0, any plan at all is compiled where JIT is on.
    await conn.execute("SET jit_above_cost = 0")
    cur = await conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {RANGE}")
    row = await cur.fetchone()
    assert row is not None
    plan: dict[str, Any] = row[0][0]
    return plan


async def test_booking_connections_never_jit_compile(settings: Settings) -> None:
    plain = new_pool(settings, 2)
    booking = new_pool(settings, 2, generic_plans=True)
    await open_pools([plain, booking])
    try:
        async with plain.connection() as conn:
            cur = await conn.execute("SELECT pg_jit_available()")
            row = await cur.fetchone()
            if not (row and row[0]):
                pytest.skip("this PostgreSQL has no JIT (the embedded one); the system one runs it")
            assert "JIT" in await explained(conn), "the control: JIT is on where not turned off"
        async with booking.connection() as conn:
            assert "JIT" not in await explained(conn)
    finally:
        await plain.close()
        await booking.close()

"""`pms-bridge keys create` prints a working key once; `run` needs BRIDGE_JWT_SECRET."""

from __future__ import annotations

import asyncio

import psycopg

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import running_api
from tests.support.processes import run_cli


async def test_keys_create_prints_a_key_stored_only_as_a_hash(
    settings: Settings, db_url: str
) -> None:
    code, out, err = await run_cli(
        "--database-url",
        db_url,
        "keys",
        "create",
        "--hotel",
        "2",
        "--scope",
        "read",
        "--expires-in",
        "30d",
    )
    assert code == 0, err
    key = out.strip()
    assert key.startswith("pmsb_") and "shown only now" in err
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT hotel_id, scopes, api_key_hash <> %s, expires_at > localtimestamp"
            " FROM booking_engine_api_keys WHERE key_id = %s",
            (key, key.split("_")[1]),
        )
        assert await cur.fetchone() == (2, ["read"], True, True)
        cur = await conn.execute(
            "SELECT count(*) FROM booking_engine_api_keys WHERE api_key_hash LIKE %s",
            (f"%{key.split('_')[2]}%",),
        )
        assert await cur.fetchone() == (0,)  # the secret is nowhere in the table
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        assert (await http.get("/api/booking-engine/hotels/2")).status_code == 200
        assert (await http.get("/api/booking-engine/hotels/1")).status_code == 404

    code, _, err = await run_cli("--database-url", db_url, "keys", "create", "--hotel", "999")
    assert code == 2 and "no such hotel" in err and len(err.strip().splitlines()) == 1
    code, _, err = await run_cli(
        "--database-url", db_url, "keys", "create", "--hotel", "1", "--expires-in", "soon"
    )
    assert code == 2 and "--expires-in" in err


async def test_run_refuses_to_start_without_a_jwt_secret(db_url: str) -> None:
    env = {"BRIDGE_JWT_SECRET": ""}
    code, _, err = await run_cli("--database-url", db_url, "run", "--api-only", env=env)
    assert code == 2
    assert err.strip().count("\n") == 0 and "BRIDGE_JWT_SECRET" in err


def listed(out: str) -> dict[str, list[str]]:
    """`keys list` rows by key id: hotel, scopes, created (2 words), expires, revoked."""
    lines = out.strip().splitlines()
    assert lines[0].split() == ["KEY", "ID", "HOTEL", "SCOPES", "CREATED", "EXPIRES", "REVOKED"]
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


async def test_keys_list_and_revoke_and_the_api_refuses_the_revoked_key(
    settings: Settings, db_url: str
) -> None:
    base = ("--database-url", db_url, "keys")
    code, out, err = await run_cli(*base, "create", "--hotel", "1", "--scope", "read")
    assert code == 0, err
    key = out.strip()
    key_id = key.split("_")[1]
    code, out, _ = await run_cli(*base, "create", "--hotel", "2", "--expires-in", "7d")
    other_id = out.strip().split("_")[1]

    code, out, err = await run_cli(*base, "list")
    assert code == 0, err
    rows = listed(out)
    assert rows[key_id][:2] == ["1", "read"] and rows[key_id][-2:] == ["never", "no"]
    assert rows[other_id][:2] == ["2", "read,book"] and rows[other_id][-1] == "no"
    assert key.split("_", 2)[2] not in out  # never the secret (which may hold "_" itself)
    code, out, _ = await run_cli(*base, "list", "--hotel", "2")
    assert set(listed(out)) == {other_id}

    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        assert (await http.get("/api/booking-engine/hotels/1")).status_code == 200
        code, out, err = await run_cli(*base, "revoke", key_id)
        assert code == 0, err
        assert f"revoked key {key_id} of hotel 1" in out
        # Refused once the API's record of the key is re-read (RECORD_TTL_SECONDS);
        # the bound only ends a test that would otherwise wait for ever.
        deadline = asyncio.get_running_loop().time() + 60
        status = 200
        while status != 401 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            reply = await http.get("/api/booking-engine/hotels/1")
            status = reply.status_code
        assert status == 401 and "deactivated" in reply.json()["detail"]

    code, out, _ = await run_cli(*base, "list")
    rows = listed(out)
    assert rows[key_id][-1] == "yes" and rows[other_id][-1] == "no"
    code, _, err = await run_cli(*base, "revoke", "0123456789abcdef")
    assert code == 2 and "no API key" in err and len(err.strip().splitlines()) == 1

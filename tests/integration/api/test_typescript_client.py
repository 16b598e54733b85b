"""The TypeScript client (clients/typescript): its types in step with the OpenAPI document,
compiled with `tsc --strict`, the snippets of docs/api.md type-checked, and the booking
engine's round trip run by node against a live `pms-bridge run`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.app import create_app
from api.context import ApiContext
from api.openapi import document
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.embedded import free_port
from tests.support.api_server import create_key, fill_all_but, room_type_with_rooms
from tests.support.processes import wait_ready

ROOT = Path(__file__).resolve().parents[3]
CLIENT = ROOT / "clients" / "typescript"
DOCS = ROOT / "docs" / "api.md"
# The client's own sources: generated types aside, written without a cast.
HANDWRITTEN = ["src/client.ts", "src/webhooks.ts", "src/index.ts", "scenario/scenario.ts"]
# `x as T`, `any` and the non-null assertion `x!.y`.
CAST = re.compile(r"\bas\s+(?!const\b)[\w{(\[]|\bany\b|!\.")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is missing: apt-get install --no-install-recommends nodejs npm"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def built() -> Iterator[Path]:
    """The package installed from its lock (npm's cache inside the clone) and compiled."""
    npm = _tool("npm")
    _tool("node")
    cache = CLIENT / ".npm-cache"
    _run([npm, "ci", "--cache", str(cache), "--prefer-offline", "--no-audit", "--no-fund"], CLIENT)
    _run([npm, "run", "build"], CLIENT)
    yield CLIENT / "dist"


def test_checked_in_document_and_types_are_the_servers(built: Path, tmp_path: Path) -> None:
    served = document(create_app(ApiContext(Settings(), MemoryCache())))
    checked_in = json.loads((CLIENT / "openapi.json").read_text())
    assert checked_in == served, (
        "clients/typescript/openapi.json is not the API's document: run `make ts-client`"
    )
    (tmp_path / "openapi.json").write_text(json.dumps(served, indent=2) + "\n")
    # The package's own `npm run generate`, reading and writing here instead.
    script = json.loads((CLIENT / "package.json").read_text())["scripts"]["generate"].split()
    out = tmp_path / "schema.ts"
    generate = [str(out) if word == "src/schema.ts" else word for word in script]
    assert generate[0] == "openapi-typescript" and str(out) in generate
    generate[0] = str(CLIENT / "node_modules" / ".bin" / "openapi-typescript")
    _run(generate, tmp_path)
    assert out.read_text() == (CLIENT / "src" / "schema.ts").read_text(), (
        "clients/typescript/src/schema.ts differs from the document's types: run `make ts-client`"
    )


def test_the_client_compiles_strict_without_casts(built: Path) -> None:
    config = json.loads((CLIENT / "tsconfig.json").read_text())
    assert config["compilerOptions"]["strict"] is True
    assert (built / "src" / "index.d.ts").exists() and (built / "scenario" / "scenario.js").exists()
    for name in HANDWRITTEN:
        code = [
            line
            for line in (CLIENT / name).read_text().splitlines()
            if not line.lstrip().startswith(("//", "*", "/*"))
        ]
        casts = [line for line in code if CAST.search(line)]
        assert casts == [], f"{name} casts: {casts}"


def test_every_snippet_of_the_api_docs_type_checks(built: Path) -> None:
    """Each ```ts block of docs/api.md, compiled strictly against the package as the booking
    engine imports it; a call the docs show as wrong is marked @ts-expect-error, so it must
    fail to compile."""
    snippets = re.findall(r"```ts\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(snippets) >= 3, "docs/api.md shows the client in a route handler and an action"
    assert any("@ts-expect-error" in s for s in snippets)
    folder = CLIENT / ".doc-snippets"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for n, text in enumerate(snippets):
        (folder / f"snippet_{n}.ts").write_text(text)
    (folder / "tsconfig.json").write_text(
        json.dumps(
            {
                "extends": "../tsconfig.json",
                "compilerOptions": {"noEmit": True, "rootDir": "."},
                "include": ["*.ts"],
            }
        )
    )
    _run([str(CLIENT / "node_modules" / ".bin" / "tsc"), "-p", str(folder)], CLIENT)


def _web_crypto(node: str) -> list[str]:
    """Node 18 (Debian 12's) gives globalThis.crypto, which idempotencyKey() uses, only with
    this flag; later versions always do."""
    major = int(_run([node, "--version"], CLIENT).strip().lstrip("v").split(".")[0])
    return ["--experimental-global-webcrypto"] if major < 19 else []


def _webhook(booking_id: str) -> dict[str, str]:
    """A delivery signed as the Standard Webhooks specification says, to verify in node."""
    raw_secret = secrets.token_bytes(24)
    msg_id = f"msg_{uuid.uuid4().hex}"
    timestamp = str(int(time.time()))
    body = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": "reservation.created",
            "operation": "created",
            "hotel_id": 1,
            "occurred_at": "2026-11-26T11:09:14.123+00:00",
            "reservation": {
                "id": booking_id,
                "hotel_id": 1,
                "booking_engine_id": None,
                "nights": [],
            },
        }
    )
    mac = hmac.new(raw_secret, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256)
    return {
        "SCENARIO_WEBHOOK_SECRET": "whsec_" + base64.b64encode(raw_secret).decode(),
        "SCENARIO_WEBHOOK_ID": msg_id,
        "SCENARIO_WEBHOOK_TIMESTAMP": timestamp,
        "SCENARIO_WEBHOOK_SIGNATURE": "v1," + base64.b64encode(mac.digest()).decode(),
        "SCENARIO_WEBHOOK_BODY": body,
    }


def test_scenario_against_a_live_run(built: Path, db_url: str) -> None:
    node = _tool("node")
    type_id, rooms = asyncio.run(room_type_with_rooms(db_url, 1))
    check_in = date.today() + timedelta(days=120)
    stay = [check_in + timedelta(days=n) for n in range(3)]  # two nights, then one more by PUT
    asyncio.run(fill_all_but(db_url, 1, type_id, stay, keep=2))
    key = asyncio.run(create_key(db_url, 1, "book"))
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "API_PORT": str(port),
        "BRIDGE_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "BRIDGE_POLL_INTERVAL": "0.1",
    }
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run"], env=env)
    base = f"http://127.0.0.1:{port}"
    webhook_booking = str(uuid.uuid4())
    try:
        wait_ready(base, proc)
        # What `run` serves is what the client was generated from.
        served = httpx.get(f"{base}/schema/openapi.json", timeout=30).json()
        assert served == json.loads((CLIENT / "openapi.json").read_text())
        scenario_env = {
            **os.environ,
            "SCENARIO_BASE_URL": base,
            "SCENARIO_API_KEY": key,
            "SCENARIO_HOTEL_ID": "1",
            "SCENARIO_ROOM_TYPE_ID": str(type_id),
            "SCENARIO_CHECK_IN": check_in.isoformat(),
            **_webhook(webhook_booking),
        }
        script = str(built / "scenario" / "scenario.js")
        output = _run([node, *_web_crypto(node), script], CLIENT, scenario_env)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    seen: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    booking_id = seen["created"]["booking_id"]
    assert len(rooms) > 2
    assert seen["available_before"] == 2
    assert seen["price"] is not None and seen["price"] > 0
    assert seen["created"]["status"] == 201
    assert seen["retried"] == {"status": 201, "booking_id": booking_id, "same_answer": True}
    assert seen["read"]["status"] == "confirmed" and seen["read"]["nights"] == 2
    assert seen["changed"] == {
        "check_out": (check_in + timedelta(days=3)).isoformat(),
        "nights": 3,
        "comment": "late arrival",
    }
    assert seen["refresh"] == {
        "rotations": 2,
        "new_token": True,
        "shared": True,
        "read_status": 200,
        "valid": True,
        "via": "jwt",
    }
    assert seen["eager"] == {"reads": [200, 200, 200], "rotations": 2}
    assert seen["api_key"] == {"read_status": 200, "session": True}
    assert seen["cancelled"] == {"status": "cancelled"}
    assert seen["missing"] == {"status": 404, "error": "not_found"}
    assert seen["rate_limit"] is not None
    assert seen["webhook"] == {
        "operation": "created",
        "booking_id": webhook_booking,
        "tamperedRefused": True,
    }

    with psycopg.connect(db_url) as conn:
        reservation = conn.execute(
            "SELECT status, type, check_in, check_out, comment, ota_reservation_id"
            " FROM reservations WHERE hotel_id = 1 AND id = %s",
            (booking_id,),
        ).fetchone()
        assert reservation is not None
        status, kind, stored_in, stored_out, comment, engine_id = reservation
        assert (status, kind, comment) == ("cancelled", "web", "late arrival")
        assert (stored_in, stored_out) == (check_in, check_in + timedelta(days=3))
        # The retry made no second booking.
        same = conn.execute(
            "SELECT count(*) FROM reservations WHERE ota_reservation_id = %s", (engine_id,)
        ).fetchone()
        assert same == (1,)
        nights = conn.execute(
            "SELECT date, cancelled IS NOT NULL, billable FROM reservation_details"
            " WHERE hotel_id = 1 AND reservation_id = %s ORDER BY date",
            (booking_id,),
        ).fetchall()
        assert nights == [(night, True, False) for night in stay]
        claims = conn.execute(
            "SELECT status_code, booking_id FROM pms_bridge.api_idempotency WHERE booking_id = %s",
            (booking_id,),
        ).fetchall()
        assert claims == [(201, uuid.UUID(booking_id))]
        # Two families (two clients exchanged the key), each rotated twice; none revoked, so
        # no refresh token was spent twice, concurrent renewals included.
        tokens = conn.execute(
            "SELECT count(DISTINCT family), count(*), count(used_at), count(revoked_at)"
            " FROM pms_bridge.api_refresh_tokens t JOIN booking_engine_api_keys k"
            " ON k.id = t.api_key_id WHERE k.key_id = %s",
            (key.split("_")[1],),
        ).fetchone()
        assert tokens == (2, 6, 4, 0)

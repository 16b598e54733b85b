"""Schemathesis over the OpenAPI document against a running API: no 5xx, no schema breach."""

from __future__ import annotations

import asyncio
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import create_key, room_type_with_rooms, running_api

# A bounded budget keeps this near half a minute on two cores; the seed makes runs repeatable.
MAX_EXAMPLES = 25
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def _st() -> str | None:
    here = Path(sys.executable).with_name("st")
    return str(here) if here.exists() else shutil.which("st")


async def test_schemathesis_finds_no_server_error(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    st = _st()
    assert st is not None, "schemathesis is missing: pip install -e '.[dev]'"
    key = await create_key(db_url, 1, "admin")
    async with running_api(settings, MemoryCache()) as api:
        async with api.client(key) as http:
            document = await http.get("/schema/openapi.json")
            assert document.status_code == 200
            paths = document.json()["paths"]
            assert "/api/booking-engine/bookings" in paths and "/health/ready" in paths
            # What the API refuses, the document says it refuses: every input Struct, nested
            # ones too, is closed to unknown fields.
            schemas = document.json()["components"]["schemas"]
            inputs = [
                "BookingCreate",
                "BookingUpdate",
                "GuestIn",
                "GuestPatch",
                "TokenRequest",
                "ValidateRequest",
                "CacheUpdateRequest",
                "RefreshAvailabilityRequest",
            ]
            assert [schemas[name].get("additionalProperties") for name in inputs] == [False] * 8
            assert "additionalProperties" not in schemas["Booking"]  # an answer stays open
            public = ["/health/live", "/health/ready"]
            assert [paths[p]["get"].get("security") for p in public] == [[{}]] * 2
            # Open, unless BRIDGE_METRICS_TOKEN is set.
            operators = ["/metrics", "/dashboard", "/dashboard/data"]
            operator_security = [{}, {"operatorBasic": []}, {"operatorBearer": []}]
            assert [paths[p]["get"]["security"] for p in operators] == [operator_security] * 3
            assert all("401" in paths[p]["get"]["responses"] for p in operators)
            caller = [{"bearer": []}, {"apiKey": []}]
            assert paths["/api/booking-engine/bookings"]["post"]["security"] == caller
            type_id, _ = await room_type_with_rooms(db_url, 1)
            check_in = date.today() + timedelta(days=90)
            booked = await http.post(
                "/api/booking-engine/bookings",
                json={
                    "hotel_id": 1,
                    "room_type_id": type_id,
                    "check_in": check_in.isoformat(),
                    "check_out": (check_in + timedelta(days=2)).isoformat(),
                    "guests": 1,
                    "guest": {"name": "Schema Tester"},
                },
            )
            assert booked.status_code == 201
        # Real identifiers for the path parameters, so the cases reach the handlers' logic
        # instead of stopping at 404.
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            "[parameters]\n"
            '"path.hotel_id" = 1\n'
            f'"path.booking_id" = "{booked.json()["booking_id"]}"\n'
            f'"path.user_id" = "{key.split("_")[1]}"\n'
        )
        proc = await asyncio.create_subprocess_exec(
            st,
            "--config-file",
            str(config),
            "run",
            f"{api.url}/schema/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "20261126",
            "--include-path-regex",
            "^/(api/booking-engine|health)",
            "--header",
            f"Authorization: Bearer {key}",
            "--generation-database",
            "none",
            "--workers",
            "2",
            "--no-color",
            "--suppress-health-check",
            "all",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await proc.communicate()
    report = output.decode(errors="replace")
    assert proc.returncode == 0, report[-8000:]

"""The audit log entry of an admin command run from the CLI, as the API writes one per call."""

from __future__ import annotations

import getpass
import time
from typing import Any

import psycopg

from bridge.audit_log import AuditEntry, write


async def audit(
    conn: psycopg.AsyncConnection[Any],
    action: str,
    entity_type: str,
    entity_id: str | None,
    hotel_id: int | None,
    request: dict[str, Any],
    response: dict[str, Any],
) -> None:
    """One booking_engine_audit_log row: the action's name as the API's, `via: cli` and the
    operating-system user who ran it."""
    entry = AuditEntry(
        hotel_id=hotel_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        request_data={"via": "cli", "user": getpass.getuser(), **request},
        response_data=response,
        status="ok",
        error_message=None,
        created_at=time.time(),
    )
    await write(conn, [entry])

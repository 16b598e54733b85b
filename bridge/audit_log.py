"""The audit log's rows and their insert: the API records one per call, the CLI's admin
commands one per change they make."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg

from bridge.sql import query


class AuditEntry(msgspec.Struct, frozen=True):
    hotel_id: int | None
    action: str
    entity_type: str
    entity_id: str | None
    request_data: dict[str, Any]
    response_data: dict[str, Any]
    status: str
    error_message: str | None
    created_at: float  # seconds since the epoch; the insert makes it the table's UTC TIMESTAMP


_encode = msgspec.json.Encoder().encode


async def write(conn: psycopg.AsyncConnection[Any], entries: list[AuditEntry]) -> None:
    """Entries into the audit log in one statement: the writer's batches, and the admin
    commands of the CLI, which audit what they change as the API does."""
    await conn.execute(query("api_audit_insert"), {"entries": _encode(entries).decode()})

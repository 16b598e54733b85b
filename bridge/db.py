"""Opening PostgreSQL connections with the settings every bridge connection shares."""

from __future__ import annotations

from typing import Any

import psycopg

APPLICATION_NAME = "pms-bridge"

# The database answers but does not fit: a table, column or function the bridge names is gone
# or of another type, or the role lost a privilege (SQLSTATE class 42). Not a change's own
# data, so nothing is parked: the work waits until the schema fits again.
# psycopg gives each SQLSTATE its own class, not a subclass of its class's error.
SCHEMA_ERRORS: tuple[type[psycopg.Error], ...] = tuple(
    error
    for error in vars(psycopg.errors).values()
    if isinstance(error, type)
    and issubclass(error, psycopg.Error)
    and str(getattr(error, "sqlstate", None) or "").startswith("42")
)


def first_line(exc: BaseException) -> str:
    """A driver error's first line: libpq's messages go on with hints on lines of their own."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def connect(
    url: str, *, autocommit: bool = False, **kwargs: Any
) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        url,
        autocommit=autocommit,
        application_name=kwargs.pop("application_name", APPLICATION_NAME),
        connect_timeout=kwargs.pop("connect_timeout", 10),
        **kwargs,
    )

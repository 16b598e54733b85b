"""Opening PostgreSQL connections with the settings every bridge connection shares, and reading
rows by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import kwargs_row, scalar_row

APPLICATION_NAME = "pms-bridge"

T = TypeVar("T")

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


# Rows are read by name, never by position: a multi-column row comes out as a msgspec Struct
# whose fields are the query's column names, made with the columns as keywords (fetch_one /
# fetch_all, psycopg's kwargs_row); a one-column result as its value (fetch_value /
# fetch_values, scalar_row). dict_row only where columns are looked up by a computed name.


async def fetch_one(
    conn: psycopg.AsyncConnection[Any],
    row: Callable[..., T],
    sql: QueryNoTemplate,
    params: Params | None = None,
) -> T | None:
    """The first row as `row` makes it from its columns, or None when there is none."""
    async with conn.cursor(row_factory=kwargs_row(row)) as cur:
        await cur.execute(sql, params)
        return await cur.fetchone()


async def fetch_all(
    conn: psycopg.AsyncConnection[Any],
    row: Callable[..., T],
    sql: QueryNoTemplate,
    params: Params | None = None,
) -> list[T]:
    async with conn.cursor(row_factory=kwargs_row(row)) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def fetch_value(
    conn: psycopg.AsyncConnection[Any], sql: QueryNoTemplate, params: Params | None = None
) -> Any:
    """The first column of the first row; None when there is no row (or the value is NULL)."""
    async with conn.cursor(row_factory=scalar_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchone()


async def fetch_values(
    conn: psycopg.AsyncConnection[Any], sql: QueryNoTemplate, params: Params | None = None
) -> list[Any]:
    """The first column of every row."""
    async with conn.cursor(row_factory=scalar_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()

"""Opening PostgreSQL connections with the settings every bridge connection shares."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

APPLICATION_NAME = "pms-bridge"


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


async def connect_dict(url: str, *, autocommit: bool = False) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        url, autocommit=autocommit, application_name=APPLICATION_NAME, connect_timeout=10,
        row_factory=dict_row,
    )  # fmt: skip

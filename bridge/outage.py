"""What counts as a dependency being down, for the pipeline, the API and the cache operations
alike: the PMS database or the cache cannot be reached, or a connection to it was lost. Each
is transient: what was being done rolled back and may be tried again."""

from __future__ import annotations

import psycopg
import redis.exceptions

DATABASE_DOWN: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
CACHE_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)

"""The cache interface both backends implement, and the entries they hold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

import msgspec


class Availability(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Availability of one room type on one night, as of `updated_at` (epoch seconds)."""

    hotel_id: int
    room_type_id: int
    date: date
    sellable: int
    taken: int
    available: int
    overbooked: int
    updated_at: float


class AvailabilityKey(msgspec.Struct, frozen=True, array_like=True, gc=False):
    hotel_id: int
    room_type_id: int
    date: date


class Cache(Protocol):
    """One round trip per batch write and per range read, whatever the backend."""

    async def put_availability(
        self, entries: Sequence[Availability], deletes: Sequence[AvailabilityKey] = ()
    ) -> None: ...

    async def get_availability(
        self, hotel_id: int, start: date, end: date, room_type_id: int | None = None
    ) -> list[Availability]:
        """Entries for nights start <= night < end, ordered by night then room type."""
        ...

    async def all_availability(self) -> list[Availability]:
        """Every entry; for verification and the demo's final comparison, not for serving."""
        ...

    async def put_document(self, kind: str, key: str, value: bytes) -> None: ...

    async def put_documents(self, kind: str, values: dict[str, bytes]) -> None: ...

    async def get_document(self, kind: str, key: str) -> bytes | None: ...

    async def delete_documents(self, kind: str, keys: Sequence[str]) -> None: ...

    async def document_keys(self, kind: str) -> list[str]: ...

    async def ping(self) -> bool: ...

    async def clear(self) -> None: ...

    async def close(self) -> None: ...

"""In-process cache backend: the embedded default when no REDIS_URL is given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bridge.cache.base import Availability, AvailabilityKey


class MemoryCache:
    def __init__(self) -> None:
        self._nights: dict[tuple[int, date], dict[int, Availability]] = {}
        self._documents: dict[str, dict[str, bytes]] = {}

    async def put_availability(
        self, entries: Sequence[Availability], deletes: Sequence[AvailabilityKey] = ()
    ) -> None:
        for entry in entries:
            self._nights.setdefault((entry.hotel_id, entry.date), {})[entry.room_type_id] = entry
        for key in deletes:
            night = self._nights.get((key.hotel_id, key.date))
            if night is not None:
                night.pop(key.room_type_id, None)
                if not night:
                    del self._nights[(key.hotel_id, key.date)]

    async def get_availability(
        self, hotel_id: int, start: date, end: date, room_type_id: int | None = None
    ) -> list[Availability]:
        found: list[Availability] = []
        for ordinal in range(start.toordinal(), end.toordinal()):
            night = self._nights.get((hotel_id, date.fromordinal(ordinal)))
            if not night:
                continue
            if room_type_id is None:
                found.extend(night[k] for k in sorted(night))
            elif room_type_id in night:
                found.append(night[room_type_id])
        return found

    async def all_availability(self) -> list[Availability]:
        return [entry for night in self._nights.values() for entry in night.values()]

    async def put_document(self, kind: str, key: str, value: bytes) -> None:
        self._documents.setdefault(kind, {})[key] = value

    async def put_documents(self, kind: str, values: dict[str, bytes]) -> None:
        self._documents.setdefault(kind, {}).update(values)

    async def get_document(self, kind: str, key: str) -> bytes | None:
        return self._documents.get(kind, {}).get(key)

    async def delete_documents(self, kind: str, keys: Sequence[str]) -> None:
        documents = self._documents.get(kind, {})
        for key in keys:
            documents.pop(key, None)

    async def document_keys(self, kind: str) -> list[str]:
        return sorted(self._documents.get(kind, {}))

    async def ping(self) -> bool:
        return True

    async def clear(self) -> None:
        self._nights.clear()
        self._documents.clear()

    async def close(self) -> None:
        return None

"""All three recompute plans give the same availability for any dirty set (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.horizon import Horizon
from bridge.projectors.availability import AvailabilityDirty
from bridge.sinks.availability import recompute_params
from bridge.sql import query

HORIZON = Horizon()


nights = st.dates(date.today() - timedelta(days=40), date.today() + timedelta(days=70))
hotels = st.integers(1, 3)  # 3 does not exist: keys of a missing hotel must vanish alike


def test_recompute_plans_agree(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        cur = conn.execute("SELECT hotel_id, room_id FROM reservation_details ORDER BY id")
        rows = cur.fetchall()
        # Double-book room-nights (under another reservation of the hotel: the PMS allows one
        # live row per reservation, room and night), cancel nights, and set reservations'
        # status alone to cancelled (their nights still take rooms), so every branch has data.
        conn.execute(
            "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
            " number_of_people)"
            " SELECT d.hotel_id, other.id, d.date, d.room_id, 1 FROM reservation_details d"
            " CROSS JOIN LATERAL (SELECT id FROM reservations r WHERE r.hotel_id = d.hotel_id"
            "   AND r.id <> d.reservation_id ORDER BY id LIMIT 1) other"
            " ORDER BY d.id LIMIT 3"
        )
        conn.execute(
            "UPDATE reservations SET status = 'cancelled' WHERE id IN"
            " (SELECT id FROM reservations ORDER BY id LIMIT 20)"
        )
        conn.execute(
            "UPDATE reservation_details SET cancelled = gen_random_uuid() WHERE id IN"
            " (SELECT id FROM reservation_details ORDER BY id DESC LIMIT 40)"
        )
        rooms = sorted({(h, r) for h, r in rows})

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            st.lists(st.tuples(st.sampled_from(rooms), nights), max_size=60),
            st.lists(st.tuples(hotels, st.integers(1, 12)), max_size=2),
            st.lists(st.tuples(hotels, st.integers(1, 12), nights), max_size=10),
        )
        def check(
            night_keys: list[tuple[tuple[int, int], date]],
            types: list[tuple[int, int]],
            keys: list[tuple[int, int, date]],
        ) -> None:
            dirty = AvailabilityDirty(
                nights={(h, r, d) for (h, r), d in night_keys},
                room_types=set(types),
                keys=set(keys),
            )
            answers = []
            for name in (
                "availability_recompute",
                "availability_recompute_bulk",
                "availability_recompute_range",
            ):
                answers.append(
                    sorted(
                        conn.execute(
                            query(name), recompute_params(dirty, dirty.room_types, HORIZON)
                        ).fetchall()
                    )
                )
            assert answers[0] == answers[1] == answers[2]

        check()

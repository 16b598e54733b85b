"""Nightly prices from plan rates, checked against a plain Python reference written separately."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
import psycopg
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bridge import cacheops
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.service import horizon
from tests.helpers import run_once

TODAY = date.today()
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]


class Rate(msgspec.Struct, frozen=True):
    hotel_id: int | None
    plans_global_id: int | None
    plans_hotel_id: int | None
    adjustment_type: str
    adjustment_value: Decimal
    condition_type: str
    condition_value: str | None
    date_start: date
    date_end: date | None


class Plan(msgspec.Struct, frozen=True):
    hotel_id: int
    id: int
    plans_global_id: int | None


# --- the reference: PMS_SCHEMA.md's definition, computed the obvious way -------------------


def condition_holds(rate: Rate, night: date) -> bool:
    if rate.condition_type == "no_restriction":
        return True
    values = [v.strip() for v in (rate.condition_value or "").lower().split(",")]
    if rate.condition_type == "day_of_week":
        day = DAYS[night.weekday()]
        return day in values or day[:3] in values
    month = MONTHS[night.month - 1]
    return any(v.lstrip("0") == str(night.month) or v in (month, month[:3]) for v in values)


def applies(rate: Rate, plan: Plan, night: date) -> bool:
    if rate.hotel_id is not None:
        if rate.hotel_id != plan.hotel_id or rate.plans_hotel_id != plan.id:
            return False
    elif rate.plans_global_id is None or rate.plans_global_id != plan.plans_global_id:
        return False
    if night < rate.date_start or (rate.date_end is not None and night > rate.date_end):
        return False
    return condition_holds(rate, night)


def reference_price(rates: list[Rate], plan: Plan, night: date) -> Decimal | None:
    rows = [r for r in rates if applies(r, plan, night)]
    if not rows:
        return None
    base = sum((r.adjustment_value for r in rows if r.adjustment_type == "base_rate"), Decimal(0))
    pct = sum((r.adjustment_value for r in rows if r.adjustment_type == "percentage"), Decimal(0))
    flat = sum((r.adjustment_value for r in rows if r.adjustment_type == "flat_fee"), Decimal(0))
    scaled = (base * (1 + pct / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return scaled + flat


# --- helpers -------------------------------------------------------------------------------


async def plans(url: str) -> list[Plan]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT hotel_id, id, plans_global_id FROM plans_hotel")
        return [Plan(*row) for row in await cur.fetchall()]


async def rates(url: str) -> list[Rate]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT hotel_id, plans_global_id, plans_hotel_id, adjustment_type, adjustment_value,"
            " condition_type, condition_value, date_start, date_end FROM plans_rates"
        )
        return [Rate(*row) for row in await cur.fetchall()]


async def check_cache_against_reference(url: str, settings: Settings, cache: Any) -> int:
    lo, hi = horizon(settings).bounds()
    known = await rates(url)
    compared = 0
    by_hotel: dict[int, list[Plan]] = {}
    for plan in await plans(url):
        by_hotel.setdefault(plan.hotel_id, []).append(plan)
    for hotel_id, hotel_plans in by_hotel.items():
        priced = await cacheops.hotel_pricing(
            cache, hotel_id, lo, hi + timedelta(days=1), horizon(settings)
        )
        assert priced is not None
        got = {p.plan_id: {n.date: n.price for n in p.nights} for p in priced}
        assert set(got) == {p.id for p in hotel_plans}
        for plan in hotel_plans:
            expected = {}
            for i in range((hi - lo).days + 1):
                night = lo + timedelta(days=i)
                price = reference_price(known, plan, night)
                if price is not None:
                    expected[night] = price
            assert got[plan.id] == expected, f"plan {plan.id} of hotel {hotel_id}"
            compared += len(expected)
    return compared


def test_reference_on_a_hand_example() -> None:
    plan = Plan(1, 10, 2)
    saturday = date(2026, 8, 1)
    assert saturday.weekday() == 5
    table = [
        Rate(1, None, 10, "base_rate", Decimal("10000"), "no_restriction", None, saturday, None),
        Rate(1, None, 10, "percentage", Decimal("20"), "day_of_week", "saturday", saturday, None),
        Rate(None, 2, None, "percentage", Decimal("10"), "month", "8", saturday, None),
        Rate(1, None, 10, "flat_fee", Decimal("1500"), "no_restriction", None, saturday, None),
        Rate(1, None, 11, "base_rate", Decimal("99999"), "no_restriction", None, saturday, None),
    ]
    assert reference_price(table, plan, saturday) == Decimal("14500.00")
    assert reference_price(table, plan, saturday + timedelta(days=1)) == Decimal("12500.00")
    assert reference_price(table, plan, saturday - timedelta(days=1)) is None


async def test_seeded_prices_match_the_reference(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    await run_once(settings, cache)  # nothing captured yet: the read-through fills prices
    async with await psycopg.AsyncConnection.connect(url) as conn:
        lo, hi = horizon(settings).bounds()
        for hotel_id in (1, 2):
            assert (
                await cacheops.hotel_pricing(cache, hotel_id, lo, hi, horizon(settings), conn)
                is not None
            )
    assert await check_cache_against_reference(url, settings, cache) > 0


# --- the property: any rate table, applied through capture, prices like the reference ------

values = st.integers(min_value=-5000, max_value=5_000_000).map(lambda c: Decimal(c) / 100)
offsets = st.integers(min_value=-45, max_value=400)
conditions = st.one_of(
    st.just(("no_restriction", None)),
    st.just(("no_restriction", None)),
    st.tuples(
        st.just("day_of_week"),
        st.sampled_from([*DAYS, "saturday,sunday", "sat", " Friday , monday"]),
    ),
    st.tuples(st.just("month"), st.sampled_from(["1", "08", "8,12", "december", "feb", "13"])),
)


@st.composite
def rate_rows(draw: st.DrawFn, plan_list: list[Plan]) -> Rate:
    condition_type, condition_value = draw(conditions)
    start = TODAY + timedelta(days=draw(offsets))
    length = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=120)))
    end = None if length is None else start + timedelta(days=length)
    kind = draw(st.sampled_from(["base_rate", "percentage", "flat_fee"]))
    if draw(st.booleans()):
        plan = draw(st.sampled_from(plan_list))
        hotel_id, global_id, hotel_plan = plan.hotel_id, None, plan.id
    else:
        hotel_id, global_id, hotel_plan = None, draw(st.sampled_from([1, 2, 1, 2, 3])), None
    value = draw(values)
    if kind == "percentage":
        value = value % 100
    return Rate(
        hotel_id, global_id, hotel_plan, kind, value, condition_type, condition_value, start, end
    )


SEED_PLANS = [Plan(1, 1, 1), Plan(1, 2, 2), Plan(2, 3, 1), Plan(2, 4, 2)]


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tables=st.lists(st.lists(rate_rows(SEED_PLANS), max_size=8), min_size=1, max_size=3),
    data=st.data(),
)
async def test_prices_follow_rate_changes_like_the_reference(
    settings: Settings, tables: list[list[Rate]], data: st.DataObject
) -> None:
    url = settings.database_url
    assert url is not None
    assert sorted(msgspec.structs.astuple(p) for p in await plans(url)) == sorted(
        msgspec.structs.astuple(p) for p in SEED_PLANS
    )
    cache = MemoryCache()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DELETE FROM plans_rates")
        for hotel_id in (1, 2):  # the first read fills the cache (read-through)
            await cacheops.hotel_pricing(cache, hotel_id, TODAY, TODAY, horizon(settings), conn)
    # Each table replaces the last through captured changes: deletes, inserts, an update.
    for table in tables:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await conn.execute("DELETE FROM plans_rates")
            for r in table:
                await conn.execute(
                    "INSERT INTO plans_rates (hotel_id, plans_global_id, plans_hotel_id,"
                    " adjustment_type, adjustment_value, condition_type, condition_value,"
                    " date_start, date_end) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    msgspec.structs.astuple(r),
                )
        if table and data.draw(st.booleans(), label="update one"):
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(
                    "UPDATE plans_rates SET adjustment_value = adjustment_value + 1"
                    " WHERE id = (SELECT min(id) FROM plans_rates)"
                )
        await run_once(settings, cache)
    await check_cache_against_reference(url, settings, cache)

"""The PMS's nightly price as sql/bridge/functions/pricing.sql computes it.

Held to the PMS's own worked examples (api/tests/planRate.test.js,
api/tests/calculationService.test.js), to an independent Python reference of its JavaScript
(tests/support/pms_price_reference.py) over random rate sets, to its plan list
(get_available_plans_for_hotel in api/migrations/011_custom_functions.sql), and end to end
through the bridge's price cache.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from psycopg.rows import class_row

from bridge import cacheops
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.service import horizon
from tests.support.pipeline import add_pms_hotel, run_once
from tests.support.pms_price_reference import (
    MONTHS,
    WEEKDAYS,
    Plan,
    RateRow,
    is_accommodation,
    js_line_price,
    js_price_of_lines,
    night_prices,
)

# The seed's hotel plans (tests/conftest.py: two hotels, sql/pms/002_seed.sql):
# each hotel has "Room only" (global plan 1) and "Bed and breakfast" (global plan 2); global
# plan 3, "Half board", has no hotel plan and so is sold by both hotels as itself.
ROOM_ONLY_1 = Plan(1, 1, 1)
BED_AND_BREAKFAST_1 = Plan(1, 2, 2)
ROOM_ONLY_2 = Plan(2, 1, 3)
BED_AND_BREAKFAST_2 = Plan(2, 2, 4)
HALF_BOARD_1 = Plan(1, 3, None)
HALF_BOARD_2 = Plan(2, 3, None)
SEED_PLANS = [
    (1, 1, 1, "Room only"),
    (1, 2, 2, "Bed and breakfast"),
    (2, 3, 1, "Room only"),
    (2, 4, 2, "Bed and breakfast"),
]


class NightRow(msgspec.Struct, frozen=True):
    """A row of pms_bridge.plan_prices_by_night."""

    hotel_id: int
    plans_global_id: int | None
    plan_id: int | None
    night: date
    price: int
    is_accommodation: bool


class ListedPlan(msgspec.Struct, frozen=True):
    """A row of pms_bridge.hotel_plans."""

    hotel_id: int
    plan_key: str
    plan_id: int | None
    plans_global_id: int | None
    name: str
    plan_type: str
    display_order: int
    lo: date
    hi: date


class CachedNight(msgspec.Struct, frozen=True):
    """A row of pms_bridge.plan_night_prices (what the price cache is built from)."""

    hotel_id: int
    plan_key: str | None
    plan_id: int | None
    plans_global_id: int | None
    name: str | None
    plan_type: str | None
    night: date | None
    price: int | None


def plan_key(plan: Plan) -> str:
    """The PMS's plan_key: "<global>h<hotel plan>", "h<hotel plan>" or "<global>h"."""
    return f"{plan.plans_global_id or ''}h{plan.plan_id or ''}"


def nights(lo: date, hi: date) -> list[date]:
    return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]


# --- talking to the PMS database ------------------------------------------------------------


@pytest.fixture
async def pms(db_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The test's own PMS database, without the seed's rates: each test writes the rates it
    prices."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT id, hotel_id, plans_global_id, name FROM plans_hotel ORDER BY id"
        )
        assert [(h, i, g, n) for i, h, g, n in await cur.fetchall()] == SEED_PLANS
        await conn.execute("DELETE FROM plans_rates")
        # On the real PMS's schema (tests/conftest.py) its migrations add global plans of
        # their own; these tests price the seed's three.
        await conn.execute("DELETE FROM plans_global WHERE id > 3")
        yield conn


def rate(
    owner: Plan | int,
    kind: str,
    value: str | int | Decimal,
    *,
    tax: int | None = None,
    condition: tuple[str, str | None] = ("no_restriction", None),
    start: date = date(2020, 1, 1),
    end: date | None = None,
    sales_category: str | None = "accommodation",
    hotel_id: int | None = None,
) -> RateRow:
    """A plans_rates row of a hotel plan (a Plan with plan_id) or of a global plan (its id;
    hotel_id as the PMS may have left it, which it ignores for global rows)."""
    hotel: int | None
    if isinstance(owner, Plan):
        assert owner.plan_id is not None
        hotel, global_id, plan_id = owner.hotel_id, None, owner.plan_id
    else:
        hotel, global_id, plan_id = hotel_id, owner, None
    return RateRow(
        hotel_id=hotel,
        plans_global_id=global_id,
        plans_hotel_id=plan_id,
        adjustment_type=kind,
        adjustment_value=Decimal(value),
        tax_type_id=tax,
        condition_type=condition[0],
        condition_value=condition[1],
        date_start=start,
        date_end=end,
        sales_category=sales_category,
    )


async def insert_rates(conn: psycopg.AsyncConnection[Any], rows: Iterable[RateRow]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO plans_rates (hotel_id, plans_global_id, plans_hotel_id,"
            " adjustment_type, adjustment_value, tax_type_id, condition_type, condition_value,"
            " date_start, date_end, sales_category, include_in_cancel_fee, created_by)"
            " VALUES (%(hotel_id)s, %(plans_global_id)s, %(plans_hotel_id)s,"
            " %(adjustment_type)s, %(adjustment_value)s, %(tax_type_id)s, %(condition_type)s,"
            " %(condition_value)s, %(date_start)s, %(date_end)s, %(sales_category)s,"
            " %(include_in_cancel_fee)s, 1)",
            [msgspec.structs.asdict(r) for r in rows],
        )


async def prices_by_night(
    conn: psycopg.AsyncConnection[Any], plans: Sequence[Plan], lo: date, hi: date
) -> dict[tuple[Plan, date], NightRow]:
    async with conn.cursor(row_factory=class_row(NightRow)) as cur:
        await cur.execute(
            "SELECT * FROM pms_bridge.plan_prices_by_night(%(hotels)s::int[], %(globals)s::int[],"
            " %(plans)s::int[], %(lo)s::date[], %(hi)s::date[])",
            {
                "hotels": [p.hotel_id for p in plans],
                "globals": [p.plans_global_id for p in plans],
                "plans": [p.plan_id for p in plans],
                "lo": [lo] * len(plans),
                "hi": [hi] * len(plans),
            },
        )
        found = await cur.fetchall()
    out = {(Plan(r.hotel_id, r.plans_global_id, r.plan_id), r.night): r for r in found}
    assert len(out) == len(found), "one row per plan and night"
    return out


async def night_price(
    conn: psycopg.AsyncConnection[Any], plan: Plan, night: date
) -> NightRow | None:
    return (await prices_by_night(conn, [plan], night, night)).get((plan, night))


async def listed_plans(
    conn: psycopg.AsyncConnection[Any], hotel_ids: list[int], lo: date, hi: date
) -> list[ListedPlan]:
    async with conn.cursor(row_factory=class_row(ListedPlan)) as cur:
        await cur.execute(
            "SELECT * FROM pms_bridge.hotel_plans(%s::int[], %s, %s)", (hotel_ids, lo, hi)
        )
        return await cur.fetchall()


async def cache_rows(
    conn: psycopg.AsyncConnection[Any], hotel_ids: list[int], lo: date, hi: date
) -> list[CachedNight]:
    async with conn.cursor(row_factory=class_row(CachedNight)) as cur:
        await cur.execute(
            "SELECT * FROM pms_bridge.plan_night_prices(false, %s::int[], '{}', %s, %s)",
            (hotel_ids, lo, hi),
        )
        return await cur.fetchall()


def priced(rows: Iterable[CachedNight]) -> dict[tuple[int, str], dict[date, int]]:
    """plan_night_prices' rows as {(hotel, plan_key): {night: price}}."""
    out: dict[tuple[int, str], dict[date, int]] = {}
    for r in rows:
        if r.plan_key is None:
            continue
        plan = out.setdefault((r.hotel_id, r.plan_key), {})
        if r.night is not None:
            assert r.price is not None
            plan[r.night] = r.price
    return out


def reference_nights(
    rows: Sequence[RateRow], plan: Plan, lo: date, hi: date
) -> dict[date, frozenset[int]]:
    """{night: the prices the PMS can give it} over [lo, hi], nights without a rate left out."""
    out = {}
    for night in nights(lo, hi):
        found = night_prices(rows, plan, night)
        if found is not None:
            out[night] = found
    return out


# --- 1. the PMS's worked examples -----------------------------------------------------------

# api/tests/planRate.test.js, getPriceForReservation: (night, rows, price). Its rows are
# already grouped; here each is a plans_rates row of "Room only" at hotel 1. Its condition
# type 'none' is not allowed by plans_rates' CHECK: 'no_restriction' stands for it.
P = ROOM_ONLY_1
JULY_TO_SEPTEMBER = ("month", "{july,august,september}")
NOVEMBER_TO_APRIL = ("month", "{november,december,january,february,march,april}")
PLAN_RATE_TEST_JS = [
    pytest.param(
        date(2025, 7, 25),
        [
            rate(P, "base_rate", 9300),
            rate(P, "base_rate", 1500, condition=JULY_TO_SEPTEMBER),
            rate(P, "percentage", -22, tax=2),
            rate(P, "flat_fee", 500, condition=NOVEMBER_TO_APRIL),
        ],
        8400,
        id="base 9300, +1500 Jul-Sep, -22% group A, 500 flat Nov-Apr, on 2025-07-25",
    ),
    pytest.param(
        date(2023, 1, 1),
        [
            rate(P, "base_rate", 1400),
            rate(P, "percentage", -4, tax=2),
            rate(P, "percentage", "2.5", tax=1),
        ],
        1332,
        id="1: base 1400, group A -4%, group B +2.5%",
    ),
    pytest.param(
        date(2023, 1, 1),
        [rate(P, "base_rate", 1080), rate(P, "percentage", 10, tax=2)],
        1100,
        id="2: base 1080, group A +10%",
    ),
    pytest.param(
        date(2023, 1, 1),
        [rate(P, "base_rate", 1000), rate(P, "percentage", "5.5", tax=1)],
        1055,
        id="3: base 1000, group B +5.5%",
    ),
    pytest.param(
        date(2023, 1, 1),
        [rate(P, "base_rate", 1000), rate(P, "flat_fee", 50)],
        1050,
        id="4: base 1000, flat 50",
    ),
    pytest.param(
        date(2023, 1, 1),
        [
            rate(P, "base_rate", 0),
            rate(P, "percentage", 10, tax=2),
            rate(P, "percentage", 5, tax=1),
            rate(P, "flat_fee", 30),
        ],
        30,
        id="5: base 0 with every kind of adjustment",
    ),
    pytest.param(
        date(2023, 1, 1),
        [
            rate(P, "base_rate", 1000),
            rate(P, "percentage", "-0.05", tax=2),
            rate(P, "percentage", 15, tax=3),
            rate(P, "percentage", 2, tax=1),
            rate(P, "percentage", 3, tax=1),
            rate(P, "flat_fee", 20),
        ],
        1175,
        id="6: base 1000, group A -0.05% and +15%, group B +2% and +3%, flat 20",
    ),
    pytest.param(
        date(2023, 1, 1),
        [rate(P, "base_rate", 1280), rate(P, "flat_fee", 25)],
        1225,
        id="7: base 1280, flat 25",
    ),
    pytest.param(
        date(2023, 1, 1),
        [rate(P, "base_rate", 80), rate(P, "percentage", "0.10", tax=2)],
        0,
        id="8: base 80, group A +0.1%",
    ),
]


@pytest.mark.parametrize(("night", "rows", "expected"), PLAN_RATE_TEST_JS)
async def test_plan_rate_test_js_examples(
    pms: psycopg.AsyncConnection[Any], night: date, rows: list[RateRow], expected: int
) -> None:
    assert night_prices(rows, P, night) == frozenset({expected})
    await insert_rates(pms, rows)
    found = await night_price(pms, P, night)
    assert found is not None
    assert found.price == expected


# The issue's own example: 10,000 yen, -22 % (tax type 2), +2.5 % (tax type 1) and a 500 yen
# flat fee in March, the month stored as the PMS's screen stores it.
HALF_BOARD = 3
ISSUE_RATES = [
    rate(HALF_BOARD, "base_rate", 10000),
    rate(HALF_BOARD, "percentage", -22, tax=2),
    rate(HALF_BOARD, "percentage", "2.5", tax=1),
    rate(HALF_BOARD, "flat_fee", 500, condition=("month", '["march"]')),
]


async def test_the_issues_example(pms: psycopg.AsyncConnection[Any]) -> None:
    march, april = date(2026, 3, 14), date(2026, 4, 14)
    # 10000 * 0.78 = 7800; + 7800 * 2.5 % = 195; + 500 in March.
    assert night_prices(ISSUE_RATES, HALF_BOARD_1, march) == frozenset({8495})
    assert night_prices(ISSUE_RATES, HALF_BOARD_1, april) == frozenset({7995})
    await insert_rates(pms, ISSUE_RATES)
    lo, hi = date(2026, 2, 28), date(2026, 4, 1)
    found = await prices_by_night(pms, [HALF_BOARD_1, HALF_BOARD_2], lo, hi)
    for plan in (HALF_BOARD_1, HALF_BOARD_2):  # a global plan: every hotel that sells it
        assert {n: found[plan, n].price for n in nights(lo, hi)} == {
            lo: 7995,
            **{n: 8495 for n in nights(date(2026, 3, 1), date(2026, 3, 31))},
            hi: 7995,
        }


async def test_the_issues_example_as_reservation_rates_lines(
    pms: psycopg.AsyncConnection[Any],
) -> None:
    """The lines insertAggregatedRates writes for the March night, and their price as the
    PMS's calculatePriceFromRatesService recomputes it from them: 8,500, not 8,495 (the PMS
    rounds the lines' sum down to 100 yen, its nightly price rounds before group B)."""
    march = date(2026, 3, 14)
    await insert_rates(pms, ISSUE_RATES)
    cur = await pms.execute(
        "SELECT adjustment_type, adjustment_value, tax_type_id, price"
        " FROM pms_bridge.plan_rate_lines_by_night(1, 3, NULL, %s, %s)"
        " ORDER BY adjustment_type, tax_type_id NULLS FIRST",
        (march, march),
    )
    lines = await cur.fetchall()
    base = 10000.0
    expected = [
        ("base_rate", Decimal(10000), None, js_line_price("base_rate", 10000.0, base)),
        ("flat_fee", Decimal(500), None, js_line_price("flat_fee", 500.0, base)),
        ("percentage", Decimal("2.5"), 1, js_line_price("percentage", 2.5, base)),
        ("percentage", Decimal(-22), 2, js_line_price("percentage", -22.0, base)),
    ]
    assert [(k, v, t, float(p)) for k, v, t, p in lines] == expected
    assert [p for *_, p in expected] == [10000, 500, 250, -2200]
    cur = await pms.execute(
        "SELECT pms_bridge.pms_price_of_lines(%s::text[], %s::int[], %s::numeric[])",
        ([k for k, *_ in lines], [t for _, _, t, _ in lines], [v for _, v, *_ in lines]),
    )
    row = await cur.fetchone()
    assert row is not None
    assert row[0] == js_price_of_lines([(k, float(v)) for k, v, *_ in lines]) == 8500


# api/tests/calculationService.test.js, calculatePriceFromRates: (lines, price).
CALCULATION_SERVICE_PRICES = [
    pytest.param([("base_rate", 10000), ("flat_fee", 500)], 10500, id="accommodation rates"),
    pytest.param([("base_rate", 500), ("flat_fee", 100)], 600, id="other rates"),
    pytest.param([("base_rate", 10000), ("base_rate", 500)], 10500, id="mixed categories"),
    pytest.param(
        [("base_rate", 6400), ("flat_fee", 500), ("base_rate", 100)], 7000, id="mixed rates"
    ),
    pytest.param([], 0, id="no rates"),
]


@pytest.mark.parametrize(("lines", "expected"), CALCULATION_SERVICE_PRICES)
async def test_calculation_service_prices_of_lines(
    pms: psycopg.AsyncConnection[Any], lines: list[tuple[str, int]], expected: int
) -> None:
    assert js_price_of_lines([(k, float(v)) for k, v in lines]) == expected
    # The PMS's test gives every line tax type 2.
    cur = await pms.execute(
        "SELECT pms_bridge.pms_price_of_lines(%s::text[], %s::int[], %s::numeric[])",
        ([k for k, _ in lines], [2] * len(lines), [v for _, v in lines]),
    )
    row = await cur.fetchone()
    assert row is not None
    assert row[0] == expected


# calculationService.test.js's is_accommodation cases whose rates can be a night's plan
# rates: (rates as (kind, value, tax type, sales_category), is_accommodation, price or None
# where its test states none). The empty and system-block cases have no night to price.
ACC, OTHER = "accommodation", "other"
CALCULATION_SERVICE_NIGHTS = [
    pytest.param(
        [("base_rate", 10000, 2, ACC), ("flat_fee", 500, 2, ACC)], True, 10500, id="accommodation"
    ),
    pytest.param(
        [("base_rate", 500, 2, OTHER), ("flat_fee", 100, 2, OTHER)], False, 600, id="other"
    ),
    pytest.param(
        [("base_rate", 10000, 2, ACC), ("base_rate", 500, 2, OTHER)], True, 10500, id="mixed"
    ),
    pytest.param(
        [("base_rate", 10000, 2, ACC), ("flat_fee", 500, None, OTHER)],
        True,
        None,
        id="one accommodation rate among others",
    ),
    pytest.param([("base_rate", 10000, None, None)], True, None, id="NULL category"),
    pytest.param(
        [("base_rate", 5000, None, None), ("flat_fee", 500, None, ACC)],
        True,
        None,
        id="NULL and accommodation",
    ),
    pytest.param(
        [("base_rate", 5000, None, None), ("flat_fee", 500, None, OTHER)],
        True,
        None,
        id="NULL and other",
    ),
    pytest.param([("base_rate", 10000, 2, ACC)], True, None, id="single accommodation rate"),
    pytest.param([("base_rate", 500, 2, OTHER)], False, None, id="single other rate"),
    pytest.param(
        [("base_rate", 6400, 2, ACC), ("flat_fee", 500, 2, ACC), ("base_rate", 100, 2, OTHER)],
        True,
        7000,
        id="mixed rates",
    ),
    pytest.param(
        [("base_rate", 100, 2, OTHER), ("base_rate", 500, 1, OTHER)],
        False,
        None,
        id="requirement 2.4: all rates other",
    ),
    pytest.param(
        [("base_rate", 6400, 2, ACC), ("flat_fee", 500, 2, OTHER)],
        True,
        None,
        id="requirement 2.5: one accommodation rate",
    ),
]


@pytest.mark.parametrize(("rates", "accommodation", "price"), CALCULATION_SERVICE_NIGHTS)
async def test_calculation_service_nights(
    pms: psycopg.AsyncConnection[Any],
    rates: list[tuple[str, int, int | None, str | None]],
    accommodation: bool,
    price: int | None,
) -> None:
    night = date(2026, 5, 20)
    rows = [rate(P, k, v, tax=t, sales_category=c) for k, v, t, c in rates]
    assert is_accommodation(rows, P, night) is accommodation
    reference = night_prices(rows, P, night)
    assert reference is not None
    assert len(reference) == 1
    (expected,) = reference
    assert price is None or expected == price
    await insert_rates(pms, rows)
    found = await night_price(pms, P, night)
    assert found is not None
    assert (found.price, found.is_accommodation) == (expected, accommodation)


# --- where JavaScript's doubles decide ------------------------------------------------------

# (base, percentage, its tax type, flat fee, the PMS's price, the price in exact arithmetic).
FLOAT_CASES = [
    pytest.param(6000, "15", 2, 0, 6800, 6900, id="6000 +15%: 6899.999... rounds down to 6800"),
    pytest.param(14000, "15", 3, 0, 16000, 16100, id="14000 +15%"),
    pytest.param(11000, "-30", None, 0, 7600, 7700, id="11000 -30%"),
    pytest.param(12000, "2.5", 2, 0, 12200, 12300, id="12000 +2.5% in group A"),
    pytest.param(1000, "-49.7", 1, 0, 502, 503, id="1000 -49.7% in group B"),
    pytest.param(2000, "15", 2, 0, 2300, 2300, id="2000 +15%: 2000 * 1.15 is exactly 2300"),
    pytest.param(6000, "15", 2, 500, 7300, 7400, id="6000 +15% then a 500 flat fee"),
]


@pytest.mark.parametrize(("base", "pct", "tax", "flat", "expected", "exact"), FLOAT_CASES)
async def test_prices_follow_javascripts_doubles(
    pms: psycopg.AsyncConnection[Any],
    base: int,
    pct: str,
    tax: int | None,
    flat: int,
    expected: int,
    exact: int,
) -> None:
    night = date(2026, 6, 1)
    rows = [rate(P, "base_rate", base), rate(P, "percentage", pct, tax=tax)]
    if flat:
        rows.append(rate(P, "flat_fee", flat))
    assert night_prices(rows, P, night) == frozenset({expected})
    # The same formula in exact decimals, to show the case is one where the doubles matter.
    p = Decimal(base) * (1 + (Decimal(pct) / 100 if tax != 1 else 0)) // 100 * 100
    b = Decimal(pct) / 100 if tax == 1 else Decimal(0)
    assert int((p + p * b + flat) // 1) == exact
    await insert_rates(pms, rows)
    found = await night_price(pms, P, night)
    assert found is not None
    assert found.price == expected


# --- conditions as stored -------------------------------------------------------------------

SATURDAY = date(2026, 8, 1)  # a Saturday in August


@pytest.mark.parametrize(
    ("condition", "nights_with_it"),
    [
        pytest.param(("month", '["august"]'), 7, id="month as JSON"),
        pytest.param(("month", '["july", "August"]'), 7, id="month as JSON, spaced, capitalised"),
        pytest.param(("month", "{july,august}"), 7, id="month as a brace list"),
        pytest.param(("month", '["september"]'), 0, id="another month"),
        pytest.param(("day_of_week", '["sat","sun"]'), 2, id="short weekday names (the screen)"),
        pytest.param(("day_of_week", '["saturday"]'), 1, id="full weekday name"),
        pytest.param(("day_of_week", "{sat,sun}"), 2, id="weekdays as a brace list"),
        pytest.param(("day_of_week", None), 0, id="no weekday"),
        pytest.param(("no_restriction", '["sat"]'), 7, id="no_restriction ignores its value"),
    ],
)
async def test_conditions_as_the_pms_stores_them(
    pms: psycopg.AsyncConnection[Any], condition: tuple[str, str | None], nights_with_it: int
) -> None:
    rows = [rate(P, "base_rate", 10000), rate(P, "flat_fee", 1000, condition=condition)]
    week = nights(SATURDAY, SATURDAY + timedelta(days=6))
    expected = {n: night_prices(rows, P, n) for n in week}
    assert len([v for v in expected.values() if v == frozenset({11000})]) == nights_with_it
    await insert_rates(pms, rows)
    found = await prices_by_night(pms, [P], week[0], week[-1])
    assert {n: frozenset({found[P, n].price}) for n in week} == expected


# --- 2. the property: any rate set prices as the PMS's JavaScript ----------------------------

OWN_PLAN = Plan(1, None, 10)  # a hotel plan made from no global plan
PRICED_PLANS = [
    ROOM_ONLY_1,
    BED_AND_BREAKFAST_1,
    OWN_PLAN,
    HALF_BOARD_1,
    ROOM_ONLY_2,
    BED_AND_BREAKFAST_2,
    HALF_BOARD_2,
]
HOTEL_PLAN_OWNERS = [ROOM_ONLY_1, BED_AND_BREAKFAST_1, OWN_PLAN, ROOM_ONLY_2]
FIRST_NIGHT = date(2026, 1, 1)


def cents(c: int) -> Decimal:
    return Decimal(c) / 100


VALUES = {
    "base_rate": st.one_of(
        st.integers(0, 300).map(lambda h: Decimal(h * 100)),
        st.integers(0, 5_000_000).map(cents),
        st.sampled_from([Decimal(v) for v in (1000, 2000, 6000, 11000, 12000, 14000)]),
    ),
    "percentage": st.one_of(
        st.integers(-5000, 5000).map(cents),
        st.sampled_from([Decimal(v) for v in ("15", "-22", "2.5", "5.5", "-30", "-49.7")]),
    ),
    "flat_fee": st.one_of(
        st.integers(-20, 50).map(lambda h: Decimal(h * 100)),
        st.integers(-100_000, 500_000).map(cents),
    ),
}

# Values shared by several rows, so that the PMS's GROUP BY sums some of them.
COMMON_CONDITIONS = [
    ("month", '["march"]'),
    ("month", "{july,august}"),
    ("day_of_week", '["sat","sun"]'),
    ("day_of_week", '["saturday"]'),
]


@st.composite
def conditions(draw: st.DrawFn) -> tuple[str, str | None]:
    kind = draw(st.sampled_from(["no_restriction", "month", "day_of_week"]))
    if kind == "no_restriction":
        return kind, draw(st.sampled_from([None, None, "[]"]))
    if kind == "month":
        words = draw(st.lists(st.sampled_from(MONTHS), min_size=1, max_size=4, unique=True))
    else:
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True))
        # The screen's short names (sat), and the full ones (saturday) older rows may hold.
        words = [d if draw(st.booleans()) else d[:3] for d in days]
    form = draw(st.sampled_from(["json", "json spaced", "brace", "capitalised json"]))
    if form == "json":
        return kind, "[" + ",".join(f'"{w}"' for w in words) + "]"
    if form == "json spaced":
        return kind, "[" + ", ".join(f'"{w}"' for w in words) + "]"
    if form == "capitalised json":
        return kind, "[" + ",".join(f'"{w.capitalize()}"' for w in words) + "]"
    return kind, "{" + ",".join(words) + "}"


@st.composite
def rate_rows(draw: st.DrawFn, lo: date) -> RateRow:
    kind = draw(st.sampled_from(["base_rate", "base_rate", "percentage", "flat_fee"]))
    value = draw(VALUES[kind])
    start = lo + timedelta(days=draw(st.integers(-10, 20)))
    end = draw(st.one_of(st.none(), st.integers(-1, 25).map(lambda d: start + timedelta(days=d))))
    owner: Plan | int
    if draw(st.booleans()):
        owner, hotel_id = draw(st.sampled_from(HOTEL_PLAN_OWNERS)), None
    else:
        # A global plan's rows: the PMS ignores their hotel_id, which may name any hotel.
        owner, hotel_id = draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([None, 1, 2]))
    return rate(
        owner,
        kind,
        value,
        tax=draw(st.sampled_from([None, 1, 2, 3])),
        condition=draw(st.one_of(conditions(), st.sampled_from(COMMON_CONDITIONS))),
        start=start,
        end=end,
        sales_category=draw(st.sampled_from([ACC, ACC, OTHER, None])),
        hotel_id=hotel_id,
    )


@st.composite
def rate_sets(draw: st.DrawFn) -> tuple[date, date, list[RateRow]]:
    lo = FIRST_NIGHT + timedelta(days=draw(st.integers(0, 364)))
    hi = lo + timedelta(days=draw(st.integers(0, 20)))
    return lo, hi, draw(st.lists(rate_rows(lo), max_size=10))


@pytest.fixture
async def priced_pms(
    pms: psycopg.AsyncConnection[Any],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The PMS with a hotel plan of its own (no global plan) and every plan on sale at any
    date, so that plan_night_prices lists what plan_prices_by_night prices."""
    await pms.execute(
        "INSERT INTO plans_hotel (id, hotel_id, name, plan_type, display_order,"
        " plan_type_category_id, created_by) VALUES (%s, %s, 'Own plan', 'per_room', 3, 1, 1)",
        (OWN_PLAN.plan_id, OWN_PLAN.hotel_id),
    )
    await pms.execute("UPDATE plans_hotel SET available_from = NULL, available_until = NULL")
    yield pms


async def check_against_reference(
    conn: psycopg.AsyncConnection[Any], lo: date, hi: date, rows: list[RateRow]
) -> None:
    async with conn.transaction(force_rollback=True):
        await insert_rates(conn, rows)
        by_night = await prices_by_night(conn, PRICED_PLANS, lo, hi)
        cached = priced(await cache_rows(conn, [1, 2], lo, hi))
    expected = {
        (plan, night): prices
        for plan in PRICED_PLANS
        for night, prices in reference_nights(rows, plan, lo, hi).items()
    }
    event("plan nights priced: " + ("none" if not expected else f"{len(expected) // 10 * 10}+"))
    if any(len(prices) > 1 for prices in expected.values()):
        event("a price the order of the PMS's rows decides")
    if any(not r.is_accommodation for r in by_night.values()):
        event("a night that is not accommodation")
    assert set(by_night) == set(expected), "the nights that have a price"
    for key, prices in expected.items():
        got = by_night[key]
        assert got.price in prices, f"{key}: the PMS says {sorted(prices)}"
        assert got.is_accommodation is is_accommodation(rows, *key)
    assert set(cached) == {(p.hotel_id, plan_key(p)) for p in PRICED_PLANS}
    for plan in PRICED_PLANS:
        assert cached[plan.hotel_id, plan_key(plan)] == {
            night: by_night[plan, night].price for p, night in by_night if p == plan
        }


@hsettings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=rate_sets())
@example(  # JavaScript's 6000 * 1.15 = 6899.999...: the PMS charges 6800
    case=(
        date(2026, 8, 1),
        date(2026, 8, 2),
        [
            rate(ROOM_ONLY_1, "base_rate", 6000, start=date(2026, 8, 1)),
            rate(1, "percentage", 15, tax=2, start=date(2026, 8, 1), hotel_id=2),
        ],
    )
)
@example(  # a global plan's row with another hotel's id still prices this hotel's plan
    case=(
        date(2026, 3, 1),
        date(2026, 3, 1),
        [
            rate(ROOM_ONLY_1, "base_rate", 10000, start=date(2026, 3, 1)),
            rate(1, "percentage", -22, tax=2, start=date(2026, 3, 1), hotel_id=2),
            rate(1, "percentage", "2.5", tax=1, start=date(2026, 3, 1)),
            rate(1, "flat_fee", 500, start=date(2026, 3, 1), condition=("month", '["march"]')),
        ],
    )
)
async def test_prices_match_the_pms_javascript(
    priced_pms: psycopg.AsyncConnection[Any], case: tuple[date, date, list[RateRow]]
) -> None:
    await check_against_reference(priced_pms, *case)


# --- 3. the plans a hotel sells -------------------------------------------------------------

TODAY = date.today()


async def test_plan_list_and_windows(pms: psycopg.AsyncConnection[Any]) -> None:
    lo, hi = TODAY, TODAY + timedelta(days=30)
    d = lo + timedelta(days=5)
    await pms.execute(
        "INSERT INTO plans_global (id, name, plan_type, created_by)"
        " VALUES (4, 'Long stay', 'per_room', 1)"
    )
    await pms.execute("UPDATE plans_hotel SET available_from = NULL")
    # Hotel 1: "Bed and breakfast" on sale from d to d + 5 only; an inactive plan; global plan
    # 3 excluded. Hotel 2: an inactive plan made from global plan 4, which so is not sold.
    await pms.execute(
        "UPDATE plans_hotel SET available_from = %s, available_until = %s WHERE id = 2",
        (d, d + timedelta(days=5)),
    )
    await pms.execute(
        "INSERT INTO plans_hotel (id, hotel_id, plans_global_id, name, plan_type, is_active,"
        " display_order, plan_type_category_id, created_by) VALUES"
        " (11, 1, NULL, 'Closed', 'per_room', false, 0, 1, 1),"
        " (12, 2, 4, 'Long stay (old)', 'per_room', false, 0, 1, 1)"
    )
    await pms.execute("INSERT INTO hotel_plan_exclusions (hotel_id, global_plan_id) VALUES (1, 3)")
    await insert_rates(
        pms,
        [
            rate(ROOM_ONLY_1, "base_rate", 9000, start=lo, end=d - timedelta(days=1)),
            rate(ROOM_ONLY_1, "base_rate", 9500, start=d + timedelta(days=1)),  # d: no rate
            rate(BED_AND_BREAKFAST_1, "base_rate", 12000, start=lo),
            rate(Plan(1, None, 11), "base_rate", 7000, start=lo),
            rate(4, "base_rate", 50000, start=lo),
            rate(3, "base_rate", 8000, start=lo, hotel_id=1),
            rate(Plan(2, 4, 12), "base_rate", 40000, start=lo),
        ],
    )

    listed = await listed_plans(pms, [1, 2], lo, hi)
    # A global plan sold as itself goes by its own name (the real PMS's migrations name
    # plan 3 otherwise than the seed does).
    cur = await pms.execute("SELECT name FROM plans_global WHERE id = 3")
    half_board = (await cur.fetchone() or ("",))[0]
    assert [(p.hotel_id, p.plan_key, p.name, p.lo, p.hi) for p in listed] == [
        (1, "1h1", "Room only", lo, hi),
        (1, "2h2", "Bed and breakfast", d, d + timedelta(days=5)),
        (1, "4h", "Long stay", lo, hi),
        (2, "1h3", "Room only", lo, hi),
        (2, "2h4", "Bed and breakfast", lo, hi),
        (2, "3h", half_board, lo, hi),
    ]
    assert [(p.plan_id, p.plans_global_id, p.display_order) for p in listed if p.hotel_id == 1] == [
        (1, 1, 1),
        (2, 2, 2),
        (None, 4, 999),
    ]

    cached = await cache_rows(pms, [1, 2], lo, hi)
    by_plan = priced(cached)
    assert set(by_plan) == {(p.hotel_id, p.plan_key) for p in listed}
    assert by_plan[1, "1h1"] == {
        **{n: 9000 for n in nights(lo, d - timedelta(days=1))},
        **{n: 9500 for n in nights(d + timedelta(days=1), hi)},
    }
    assert by_plan[1, "2h2"] == {n: 12000 for n in nights(d, d + timedelta(days=5))}
    assert by_plan[1, "4h"] == {n: 50000 for n in nights(lo, hi)}
    # Global plan 3's row names hotel 1, which excludes the plan; hotel 2 sells it at its
    # price. Hotel 2's plans made from global plans 1 and 2 have no rates: no nights.
    assert by_plan[2, "3h"] == {n: 8000 for n in nights(lo, hi)}
    assert by_plan[2, "1h3"] == by_plan[2, "2h4"] == {}
    assert [
        (r.plan_key, r.plan_id, r.plans_global_id, r.name, r.plan_type)
        for r in cached
        if r.hotel_id == 2 and r.night is None
    ] == [("1h3", 3, 1, "Room only", "per_room"), ("2h4", 4, 2, "Bed and breakfast", "per_person")]


async def test_a_hotel_without_plans_comes_back_once(
    pms: psycopg.AsyncConnection[Any], db_url: str
) -> None:
    hotel = await add_pms_hotel(db_url, "No plans")
    await pms.execute(
        "INSERT INTO hotel_plan_exclusions (hotel_id, global_plan_id)"
        " SELECT %s, id FROM plans_global",
        (hotel,),
    )
    await insert_rates(pms, [rate(1, "base_rate", 9000, start=TODAY)])
    assert await listed_plans(pms, [hotel], TODAY, TODAY) == []
    assert await cache_rows(pms, [hotel], TODAY, TODAY) == [
        CachedNight(hotel, None, None, None, None, None, None, None)
    ]


async def test_a_plan_not_on_sale_in_the_range_is_not_listed(
    pms: psycopg.AsyncConnection[Any],
) -> None:
    await pms.execute(
        "UPDATE plans_hotel SET available_from = %s, available_until = %s WHERE id = 2",
        (TODAY - timedelta(days=100), TODAY - timedelta(days=50)),
    )
    listed = await listed_plans(pms, [1], TODAY, TODAY + timedelta(days=30))
    assert [p.plan_key for p in listed] == ["1h1", "3h"]


async def test_a_plan_without_display_order_comes_last(pms: psycopg.AsyncConnection[Any]) -> None:
    await pms.execute("UPDATE plans_hotel SET display_order = NULL WHERE id = 1")
    listed = await listed_plans(pms, [1], TODAY, TODAY)
    assert [p.plan_key for p in listed] == ["2h2", "3h", "1h1"]


# --- disagreements with the PMS's reservation_rates arithmetic ------------------------------


async def test_a_percentage_lines_price_as_insert_aggregated_rates(
    pms: psycopg.AsyncConnection[Any],
) -> None:
    night = date(2026, 5, 20)
    await insert_rates(pms, [rate(P, "base_rate", 1003), rate(P, "percentage", "0.5", tax=2)])
    cur = await pms.execute(
        "SELECT price FROM pms_bridge.plan_rate_lines_by_night(1, 1, 1, %s, %s)"
        " WHERE adjustment_type = 'percentage'",
        (night, night),
    )
    row = await cur.fetchone()
    assert row is not None
    assert float(row[0]) == js_line_price("percentage", 0.5, 1003.0) == 5.01


async def test_price_of_lines_adds_doubles_as_calculate_price_from_rates(
    pms: psycopg.AsyncConnection[Any],
) -> None:
    lines = [("base_rate", "26023"), ("percentage", "-16.79"), ("percentage", "-1.49")]
    lines.append(("flat_fee", "-566"))
    cur = await pms.execute(
        "SELECT pms_bridge.pms_price_of_lines(%s::text[], %s::int[], %s::numeric[])",
        ([k for k, _ in lines], [3, 2, 1, 3], [v for _, v in lines]),
    )
    row = await cur.fetchone()
    assert row is not None
    assert row[0] == js_price_of_lines([(k, float(v)) for k, v in lines]) == 20600


# --- 4. end to end: the bridge's price cache --------------------------------------------------


async def plans_rates(url: str) -> list[RateRow]:
    async with (
        await psycopg.AsyncConnection.connect(url) as conn,
        conn.cursor(row_factory=class_row(RateRow)) as cur,
    ):
        await cur.execute(
            "SELECT hotel_id, plans_global_id, plans_hotel_id, adjustment_type,"
            " adjustment_value, tax_type_id, condition_type, condition_value, date_start,"
            " date_end, sales_category, include_in_cancel_fee FROM plans_rates"
        )
        return await cur.fetchall()


class Window(msgspec.Struct, frozen=True):
    hotel_id: int
    id: int
    plans_global_id: int | None
    available_from: date | None
    available_until: date | None


async def hotel_plan_windows(url: str) -> list[Window]:
    async with (
        await psycopg.AsyncConnection.connect(url) as conn,
        conn.cursor(row_factory=class_row(Window)) as cur,
    ):
        await cur.execute(
            "SELECT hotel_id, id, plans_global_id, available_from, available_until"
            " FROM plans_hotel WHERE is_active"
        )
        return await cur.fetchall()


async def expected_cache(
    url: str, lo: date, hi: date
) -> dict[int, dict[int, dict[date, frozenset[int]]]]:
    """{hotel: {hotel plan: {night: the PMS's prices}}} over [lo, hi], each plan inside its
    availability window."""
    rows = await plans_rates(url)
    out: dict[int, dict[int, dict[date, frozenset[int]]]] = {}
    for w in await hotel_plan_windows(url):
        first = max(lo, w.available_from or lo)
        last = min(hi, w.available_until or hi)
        plan = Plan(w.hotel_id, w.plans_global_id, w.id)
        out.setdefault(w.hotel_id, {})[w.id] = reference_nights(rows, plan, first, last)
    return out


async def check_cache(settings: Settings, cache: MemoryCache) -> int:
    """The cached prices of every hotel plan are the PMS's; the number of nights compared."""
    url = settings.database_url
    assert url is not None
    lo, hi = horizon(settings).bounds()
    compared = 0
    for hotel_id, plans in (await expected_cache(url, lo, hi)).items():
        found = await cacheops.hotel_pricing(
            cache, hotel_id, lo, hi + timedelta(days=1), horizon(settings)
        )
        assert found is not None
        got = {p.plan_id: {n.date: n.price for n in p.nights} for p in found if p.plan_id}
        assert set(got) == set(plans)
        for plan_id, expected in plans.items():
            assert set(got[plan_id]) == set(expected), f"nights of plan {plan_id}"
            for night, prices in expected.items():
                assert got[plan_id][night] in prices, f"plan {plan_id} on {night}"
            compared += len(expected)
    return compared


async def test_seeded_prices_in_the_cache(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    await run_once(settings, cache)  # nothing captured yet: the read-through fills prices
    lo, hi = horizon(settings).bounds()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for hotel_id in (1, 2):
            found = await cacheops.hotel_pricing(cache, hotel_id, lo, hi, horizon(settings), conn)
            assert found is not None
    assert await check_cache(settings, cache) > 0
    # The seed: 9,000 yen at hotel 1 (+20 % on Saturdays, +10 % in August from global plan 1's
    # row), plus 1,500 yen a night for the per-person plan.
    found = await cacheops.hotel_pricing(cache, 1, lo, hi + timedelta(days=1), horizon(settings))
    assert found is not None
    room_only = {n.date: n.price for n in next(p for p in found if p.plan_id == 1).nights}
    for night, price in room_only.items():
        saturday = night.weekday() == 5
        august = night.month == 8
        assert price == 9000 * (100 + 20 * saturday + 10 * august) // 100


async def test_prices_cached_in_an_older_shape_are_computed_again(settings: Settings) -> None:
    """A hotel's prices cached by a version whose plans had no plan_key are read as missing
    and computed again from the PMS, not a failed decode."""
    url = settings.database_url
    assert url is not None
    lo, hi = horizon(settings).bounds()
    older = {
        "hotel_id": 1,
        "first_night": lo,
        "last_night": hi,
        "computed_at": "2026-01-01T00:00:00Z",
        "plans": [
            {
                "plan_id": 1,
                "plans_global_id": 1,
                "name": "Room only",
                "plan_type": "per_room",
                "nights": [[lo, "1"]],
            }
        ],
    }
    cache = MemoryCache()
    await cache.put_documents("prices", {"1": msgspec.msgpack.encode(older)})
    async with await psycopg.AsyncConnection.connect(url) as conn:
        found = await cacheops.hotel_pricing(
            cache, 1, TODAY, TODAY + timedelta(days=1), horizon(settings), conn
        )
    assert found is not None
    assert [p.plan_key for p in found][:2] == ["1h1", "2h2"]
    (tonight,) = next(p for p in found if p.plan_key == "1h1").nights
    assert tonight.date == TODAY and tonight.price >= 9000


async def test_global_plans_in_the_cache(settings: Settings) -> None:
    """A global plan a hotel sells as it is (plan_key "3h") is cached with its nights."""
    url = settings.database_url
    assert url is not None
    lo, hi = horizon(settings).bounds()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await insert_rates(conn, [rate(3, "base_rate", 7000, start=lo)])
    cache = MemoryCache()
    await run_once(settings, cache)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        end = hi + timedelta(days=1)
        found = await cacheops.hotel_pricing(cache, 1, lo, end, horizon(settings), conn)
    assert found is not None
    half_board = [p for p in found if p.plans_global_id == 3]
    assert [(p.plan_key, p.plan_id) for p in half_board] == [("3h", None)]
    assert {n.date: n.price for n in half_board[0].nights} == {n: 7000 for n in nights(lo, hi)}


async def test_a_global_rate_naming_another_hotel_reprices_every_hotel(
    settings: Settings,
) -> None:
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    lo, hi = horizon(settings).bounds()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        assert await cacheops.hotel_pricing(cache, 1, lo, hi, horizon(settings), conn)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # Global plan 1 ("Room only" at both hotels), the row naming hotel 2.
        await insert_rates(conn, [rate(1, "flat_fee", 700, start=lo, hotel_id=2)])
    await run_once(settings, cache)
    await check_cache(settings, cache)


@st.composite
def captured_rate_rows(draw: st.DrawFn) -> RateRow:
    row = draw(rate_rows(TODAY))
    if row.plans_hotel_id == OWN_PLAN.plan_id:  # not in this test's database
        row = msgspec.structs.replace(row, plans_hotel_id=ROOM_ONLY_1.plan_id)
    return row


@hsettings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tables=st.lists(st.lists(captured_rate_rows(), max_size=8), min_size=1, max_size=3),
    data=st.data(),
)
async def test_cache_follows_rate_changes(
    settings: Settings, tables: list[list[RateRow]], data: st.DataObject
) -> None:
    """Each rate table replaces the last through captured changes (deletes, inserts, an
    update); the cache then holds the PMS's prices."""
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DELETE FROM plans_rates")
        for hotel_id in (1, 2):  # the first read fills the cache (read-through)
            await cacheops.hotel_pricing(cache, hotel_id, TODAY, TODAY, horizon(settings), conn)
    for table in tables:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await conn.execute("DELETE FROM plans_rates")
            await insert_rates(conn, table)
        update: bool = data.draw(st.booleans(), label="update one")
        if table and update:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(
                    "UPDATE plans_rates SET adjustment_value = adjustment_value + 1"
                    " WHERE id = (SELECT min(id) FROM plans_rates)"
                )
        await run_once(settings, cache)
    await check_cache(settings, cache)

"""The PMS's price of a plan's night, written again in Python from its JavaScript, for the
tests to hold sql/bridge/functions/pricing.sql to.

Sources, in the PMS's repository (yonaka0406/rht-hotel): api/models/planRate.js
(getPriceForReservation, getRatesForTheDay, isValidCondition),
api/models/reservations/services/calculationService.js (calculatePriceFromRatesService,
calculateIsAccommodation) and api/models/reservations/insert.js (insertAggregatedRates).

JavaScript numbers are IEEE doubles and so are Python floats: `+`, `*`, `/` give the same
results when done in the same order, which is why this module works in floats and keeps the
PMS's order of operations. Where that order is not fixed (the PMS adds the rows of its
GROUP BY in whatever order PostgreSQL returns them), every order is tried and the set of
answers the PMS can give is returned.

Where PMS_SCHEMA.md decides against the PMS's server (weekday rates: the server compares full
weekday names and so never applies what its screen stores; brace lists, which the server
does not parse), this module follows PMS_SCHEMA.md: short and full weekday names, brace lists
read as lists.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

import msgspec

MONTHS = (
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
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class RateRow(msgspec.Struct, frozen=True, kw_only=True):
    """A plans_rates row, the columns the price reads."""

    hotel_id: int | None
    plans_global_id: int | None
    plans_hotel_id: int | None
    adjustment_type: str
    adjustment_value: Decimal
    tax_type_id: int | None = None
    condition_type: str = "no_restriction"
    condition_value: str | None = None
    date_start: date
    date_end: date | None = None
    sales_category: str | None = "accommodation"
    include_in_cancel_fee: bool = False


class Plan(msgspec.Struct, frozen=True):
    """A plan as the PMS prices it: a hotel plan (plan_id, with its global id or None) or a
    global plan sold by the hotel (plan_id None)."""

    hotel_id: int
    plans_global_id: int | None
    plan_id: int | None


# --- which rows: getPriceForReservation's WHERE and isValidCondition -------------------------


def condition_values(value: str | None) -> list[str]:
    """The words of a condition_value: a JSON array (what the PMS's screen stores), a brace
    list (older rows), or comma-separated words; lower case, trimmed."""
    if not value:
        return []
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        return [str(v).strip().lower() for v in json.loads(text)]
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return [w for w in (v.strip().strip('"').strip().lower() for v in text.split(",")) if w]


def condition_holds(condition_type: str, condition_value: str | None, night: date) -> bool:
    words = condition_values(condition_value)
    if condition_type == "month":
        return MONTHS[night.month - 1] in words
    if condition_type == "day_of_week":
        day = WEEKDAYS[night.weekday()]
        return day in words or day[:3] in words
    return True


def covers(row: RateRow, night: date) -> bool:
    """`$4 BETWEEN date_start AND COALESCE(date_end, $4)`."""
    return row.date_start <= night <= (row.date_end or night)


def belongs(row: RateRow, plan: Plan) -> bool:
    """`(plans_global_id = $1 AND plans_hotel_id IS NULL) OR (plans_hotel_id = $2 AND
    hotel_id = $3 AND plans_global_id IS NULL)`: a global plan's rows whatever their
    hotel_id."""
    if row.plans_hotel_id is None:
        return plan.plans_global_id is not None and row.plans_global_id == plan.plans_global_id
    return (
        row.plans_global_id is None
        and plan.plan_id is not None
        and row.plans_hotel_id == plan.plan_id
        and row.hotel_id == plan.hotel_id
    )


def rows_of_night(rows: Iterable[RateRow], plan: Plan, night: date) -> list[RateRow]:
    """The plan's rows that apply on the night (dates cover it, condition holds)."""
    return [
        r
        for r in rows
        if belongs(r, plan)
        and covers(r, night)
        and condition_holds(r.condition_type, r.condition_value, night)
    ]


# --- the arithmetic -------------------------------------------------------------------------


def js_sums(values: Sequence[float]) -> frozenset[float]:
    """Every result of `let total = 0; for (v of values in some order) total += v;`.

    Float addition is not associative, so the order can matter in the last bit; the PMS's
    order is that of its GROUP BY result, which PostgreSQL does not define.
    """
    n = len(values)
    reach: list[frozenset[float]] = [frozenset({0.0})] * (1 << n)
    for mask in range(1, 1 << n):
        reach[mask] = frozenset(
            r + values[i] for i in range(n) if mask >> i & 1 for r in reach[mask ^ (1 << i)]
        )
    return reach[(1 << n) - 1]


def js_price(base: float, group_a: float, group_b: float, flat: float) -> int:
    """getPriceForReservation's sequential calculation, step by step as the JavaScript."""
    current = base * (1 + group_a)
    current = float(math.floor(current / 100)) * 100
    group_b_adjustment = current * group_b
    before_final_floor = current + group_b_adjustment + flat
    return max(0, math.floor(before_final_floor))


def night_prices(rows: Iterable[RateRow], plan: Plan, night: date) -> frozenset[int] | None:
    """Every price getPriceForReservation can give the plan's night (one, unless the order
    of its rows matters), or None when no base rate applies (the PMS would say 0, or its flat
    fees; the bridge sells no such night)."""
    applicable = rows_of_night(rows, plan, night)
    if not any(r.adjustment_type == "base_rate" for r in applicable):
        return None
    # GROUP BY condition_type, adjustment_type, condition_value, tax_type_id; SUM(numeric).
    groups: dict[tuple[str, str, str | None, int | None], Decimal] = {}
    for r in applicable:
        key = (r.condition_type, r.adjustment_type, r.condition_value, r.tax_type_id)
        groups[key] = groups.get(key, Decimal(0)) + r.adjustment_value
    base: list[float] = []
    group_a: list[float] = []
    group_b: list[float] = []
    flat: list[float] = []
    for (_, kind, _, tax_type_id), total in groups.items():
        value = float(total)  # parseFloat(row.total_value): node-postgres gives numeric as text
        if kind == "base_rate":
            base.append(value)
        elif kind == "percentage":
            (group_b if tax_type_id == 1 else group_a).append(value / 100)
        elif kind == "flat_fee":
            flat.append(value)
    return frozenset(
        js_price(b, a, g, f)
        for b, a, g, f in itertools.product(
            js_sums(base), js_sums(group_a), js_sums(group_b), js_sums(flat)
        )
    )


def is_accommodation(rows: Iterable[RateRow], plan: Plan, night: date) -> bool:
    """calculateIsAccommodation over the night's rates: any of sales_category
    'accommodation' or NULL (and TRUE without rates)."""
    applicable = rows_of_night(rows, plan, night)
    return not applicable or any(r.sales_category in ("accommodation", None) for r in applicable)


# --- reservation_rates lines: insertAggregatedRates and calculatePriceFromRatesService -------


def js_round(x: float) -> float:
    """JavaScript's Math.round: the nearest integer, halves towards +infinity."""
    down = math.floor(x)
    return float(down + 1 if x - down >= 0.5 else down)


class Line(msgspec.Struct, frozen=True):
    adjustment_type: str
    adjustment_value: float
    price: float


def js_line_price(kind: str, value: float, total_base: float) -> float:
    """A line's price in insertAggregatedRates (and in calculatePriceFromRatesService)."""
    if kind == "percentage":
        return js_round((total_base * (value / 100)) * 100) / 100
    if kind in ("base_rate", "flat_fee"):
        return value
    return 0.0


def js_price_of_lines(lines: Sequence[tuple[str, float]]) -> float:
    """calculatePriceFromRatesService(rates) for lines (adjustment_type, adjustment_value)
    whose (adjustment_type, tax_type_id) are all different (its aggregation then keeps them
    as they are, in their order)."""
    if not lines:
        return 0.0
    total_base = 0.0
    for kind, value in lines:
        if kind == "base_rate":
            total_base += value
    total = 0.0
    for kind, value in lines:
        total += js_line_price(kind, value, total_base)
    return float(math.floor(total / 100)) * 100

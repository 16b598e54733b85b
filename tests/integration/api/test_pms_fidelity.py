"""Fidelity to the PMS: the rows a booking through the API writes, against the rows the PMS's
own code writes for the same booking, and the PMS's own read queries over both.

The expected rows are not read from the bridge's SQL: they are computed here from the PMS's
code (yonaka0406/rht-hotel-copy), its queries copied as they are and its JavaScript ported
line by line (in IEEE doubles, as JavaScript computes), and then stored as PostgreSQL stores
what node-postgres sends (a JavaScript number as its String(), rounded into the column's
numeric(p, s) half away from zero):

- a night's price: api/models/planRate.js getPriceForReservation;
- its rate lines: getRatesForTheDay, then api/models/reservations/insert.js
  insertAggregatedRates and insertReservationRate;
- is_accommodation: api/models/reservations/services/calculationService.js
  calculateIsAccommodation over the day's rates (recalculatePlanPrice);
- a cancellation fee: calculatePriceFromRatesService over the night's include_in_cancel_fee
  rate lines (api/models/reservations/main.js cancelReservationRooms);
- add-ons: api/models/planAddon/read.js getAllPlanAddons, written by
  api/models/reservations/addons.js addReservationAddon;
- the booker, the reservation and its nights: api/models/reservations/main.js
  addOTAReservation's statements (the channel import), with the plan columns the front desk
  writes (updateReservationDetailPlan);
- a payment: api/models/reservations/insert.js insertReservationPayment;
- a cancellation: api/models/reservations/main.js updateReservationStatus;
- the ledger: api/models/accounting/read.js getLedgerPreview, its sales CTEs copied (the
  account mapping after them needs the accounting tables, which hold no amounts);
- the stock: api/models/ota/investigation.js getCurrentStateSnapshot.

Every test works on nights about 200 days ahead, past the seed's bookings, with plans, rates
and add-ons of its own.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import create_key, fill_all_but, running_api
from tests.support.pms_price_reference import MONTHS, WEEKDAYS, js_round

FAR = date.today() + timedelta(days=200)
DAY = timedelta(days=1)
# Where the tests' plans have rates: wider than every stay below.
RATES_FROM = FAR - 10 * DAY
RATES_UNTIL = FAR + 40 * DAY
HOTEL = 1
PMS_USER = 1  # Settings().pms_user_id: the PMS's first administrator
STAFF = 2  # a front-desk user the tests add
TAX_RATE = {1: Decimal("0"), 2: Decimal("0.08"), 3: Decimal("0.1")}  # tax_info 1, 2, 3
Conn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]


# --- what the tests set up, as the PMS's admin screens write it ---------------------------


@dataclass(frozen=True)
class Rate:
    """A plans_rates row, as api/models/planRate.js createPlansRate writes it (a base rate is
    always included in the cancellation fee; the category defaults to accommodation)."""

    adjustment_type: str
    value: str
    tax_type_id: int
    include_in_cancel_fee: bool = False
    sales_category: str = "accommodation"
    condition_type: str = "no_restriction"
    condition_value: str | None = None
    date_start: date = RATES_FROM
    date_end: date | None = RATES_UNTIL


@dataclass(frozen=True)
class AddOn:
    """An add-on of the catalog (global or the hotel's) and its plan_addons row."""

    name: str
    catalog: str  # "global" or "hotel"
    catalog_price: int
    plan_price: str
    addon_type: str
    tax_type_id: int
    sales_category: str = "accommodation"


@dataclass(frozen=True)
class Plan:
    plan_id: int | None  # None: a global plan the hotel sells as it is
    plans_global_id: int | None
    name: str
    plan_type: str

    @property
    def key(self) -> str:
        return f"{self.plans_global_id or ''}h{self.plan_id or ''}"


def months_of_the_stays() -> str:
    """The month condition the PMS's rate screen stores: a JSON array of month names."""
    months = {MONTHS[(RATES_FROM + i * DAY).month - 1] for i in range(51)}
    return json.dumps(sorted(months), separators=(",", ":"))


def a_month_of_no_stay() -> str:
    return json.dumps([MONTHS[(FAR.month + 5) % 12]], separators=(",", ":"))


# The per-room plan: two base rates (one behind a month condition) that the PMS sums into one
# rate line, a discount (percentage, taxed: before the rounding to 100 yen), a tax-exempt
# percentage (after it), a flat fee in another tax and sales category, and two rates that do
# not apply (another month, other dates).
ROOM_RATES = (
    Rate("base_rate", "11345", 3),
    Rate("base_rate", "1000", 3, condition_type="month", condition_value=months_of_the_stays()),
    Rate("percentage", "-10", 3, include_in_cancel_fee=True),
    Rate("percentage", "2.5", 1),
    Rate("flat_fee", "150", 2, sales_category="other"),
    Rate("base_rate", "5000", 3, condition_type="month", condition_value=a_month_of_no_stay()),
    Rate("base_rate", "7000", 3, date_start=RATES_UNTIL + DAY, date_end=None),
)
# The per-person plan is a hotel plan made from a global plan: the global plan's rates apply
# too (the PMS selects both).
GLOBAL_PER_PERSON_RATES = (
    Rate("base_rate", "6000", 3, date_end=None),
    Rate("percentage", "5", 3),
)
PER_PERSON_RATES = (Rate("flat_fee", "150", 1),)
BREAKFAST_PLAN_RATES = (
    Rate("base_rate", "9800", 3),
    Rate("flat_fee", "250", 3, sales_category="other"),
)
BREAKFAST_PLAN_ADDONS = (
    AddOn("FT Breakfast", "global", 1500, "1200", "breakfast", 2),
    AddOn("FT Late check-out", "hotel", 1000, "800", "other", 3),
)


async def make_plan(
    conn: Conn,
    name: str,
    plan_type: str,
    rates: Sequence[Rate],
    *,
    global_rates: Sequence[Rate] = (),
    addons: Sequence[AddOn] = (),
    global_only: bool = False,
) -> Plan:
    """A hotel plan of hotel 1 (made from a global plan of its own when global_rates are
    given) with its rates and add-ons; with global_only, a global plan alone (its rates
    and add-ons the global plan's), which every hotel sells."""
    global_id = plan_id = None
    if global_rates or global_only:
        cur = await conn.execute(
            "INSERT INTO plans_global (name, plan_type, created_by, updated_by)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (name if global_only else f"{name} (global)", plan_type, PMS_USER, PMS_USER),
        )
        global_id = (await cur.fetchone() or [None])[0]
    if global_only:
        global_rates, rates = (*global_rates, *rates), ()
    else:
        cur = await conn.execute(
            "INSERT INTO plans_hotel (hotel_id, plans_global_id, name, plan_type,"
            " plan_type_category_id, display_order, created_by, updated_by)"
            " VALUES (%s, %s, %s, %s, 1, 50, %s, %s) RETURNING id",
            (HOTEL, global_id, name, plan_type, PMS_USER, PMS_USER),
        )
        plan_id = (await cur.fetchone() or [None])[0]
    owned = [(r, None, global_id) for r in global_rates] + [(r, HOTEL, None) for r in rates]
    for rate, hotel, gid in owned:
        await conn.execute(
            "INSERT INTO plans_rates (hotel_id, plans_global_id, plans_hotel_id,"
            " adjustment_type, adjustment_value, tax_type_id, tax_rate, condition_type,"
            " condition_value, date_start, date_end, created_by, updated_by,"
            " include_in_cancel_fee, sales_category)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                hotel,
                gid,
                plan_id if gid is None else None,
                rate.adjustment_type,
                Decimal(rate.value),
                rate.tax_type_id,
                TAX_RATE[rate.tax_type_id],
                rate.condition_type,
                rate.condition_value,
                rate.date_start,
                rate.date_end,
                PMS_USER,
                PMS_USER,
                rate.adjustment_type == "base_rate" or rate.include_in_cancel_fee,
                rate.sales_category,
            ),
        )
    for addon in addons:
        tax = (addon.tax_type_id, TAX_RATE[addon.tax_type_id])
        if addon.catalog == "global":
            cur = await conn.execute(
                "INSERT INTO addons_global (name, addon_type, price, tax_type_id, tax_rate,"
                " created_by, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (addon.name, addon.addon_type, addon.catalog_price, *tax, PMS_USER, PMS_USER),
            )
        else:
            cur = await conn.execute(
                "INSERT INTO addons_hotel (hotel_id, name, addon_type, price, tax_type_id,"
                " tax_rate, created_by, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (
                    HOTEL,
                    addon.name,
                    addon.addon_type,
                    addon.catalog_price,
                    *tax,
                    PMS_USER,
                    PMS_USER,
                ),
            )
        addon_id = (await cur.fetchone() or [None])[0]
        await conn.execute(
            "INSERT INTO plan_addons (hotel_id, plans_global_id, plans_hotel_id,"
            " addons_global_id, addons_hotel_id, addon_type, price, tax_type_id, tax_rate,"
            " sales_category, date_start, date_end, created_by, updated_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                None if global_only else HOTEL,
                global_id if global_only else None,
                plan_id,
                addon_id if addon.catalog == "global" else None,
                addon_id if addon.catalog == "hotel" else None,
                addon.addon_type,
                Decimal(addon.plan_price),
                *tax,
                addon.sales_category,
                RATES_FROM,
                RATES_UNTIL,
                PMS_USER,
                PMS_USER,
            ),
        )
    await conn.commit()
    return Plan(plan_id, global_id, name, plan_type)


async def suite(conn: Conn) -> tuple[int, list[int]]:
    """Hotel 1's suites (four guests each) and their sellable rooms."""
    cur = await conn.execute(
        "SELECT t.id, array_agg(r.id ORDER BY r.id) FROM room_types t"
        " JOIN rooms r ON r.hotel_id = t.hotel_id AND r.room_type_id = t.id"
        " WHERE t.hotel_id = %s AND t.name = 'Suite' AND r.for_sale AND NOT r.is_staff_room"
        " GROUP BY t.id",
        (HOTEL,),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), list(row[1])


async def staff_edit(conn: Conn, reservation_id: str, price_night: date | None = None) -> None:
    """A member of the front desk (user 2) touches the booking: the reservation and its
    nights then name them as their last writer, and price_night gets a price of theirs
    (editReservationDetail). A later write through the API must name its own user again."""
    await conn.execute(
        "INSERT INTO users (id, email, name, password_hash, role_id)"
        " VALUES (%s, 'desk@example.test', 'Front desk', 'not-a-login', 4)"
        " ON CONFLICT (id) DO NOTHING",
        (STAFF,),
    )
    await conn.execute(
        "UPDATE reservations SET updated_by = %s WHERE hotel_id = %s AND id = %s",
        (STAFF, HOTEL, reservation_id),
    )
    await conn.execute(
        "UPDATE reservation_details SET updated_by = %s,"
        " price = CASE WHEN date = %s THEN 8888 ELSE price END"
        " WHERE hotel_id = %s AND reservation_id = %s",
        (STAFF, price_night, HOTEL, reservation_id),
    )
    await conn.commit()


# --- the PMS's code, ported ----------------------------------------------------------------


def stored(x: float | int | Decimal, scale: int | None) -> Decimal:
    """What PostgreSQL stores for a JavaScript number node-postgres sends (its String()) into a
    numeric column of that scale (None: numeric without one)."""
    text = repr(float(x)) if isinstance(x, float) else str(x)
    value = Decimal(text)
    if scale is None:
        return value
    return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def js_key(value: Any) -> str:
    """A value inside a JavaScript template literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def condition_values(value: str | None) -> list[str]:
    """planRate.js isValidCondition's parseConditionValue."""
    if not value:
        return []
    try:
        if value.startswith("[") and value.endswith("]"):
            parsed = json.loads(value)
            if isinstance(parsed, list):
                return [str(v).strip().lower() for v in parsed]
        cleaned = re.sub(r'[\[\]{}]"', "", value)
        return [v.strip().lower() for v in cleaned.split(",") if v.strip()]
    except ValueError:
        return []


def is_valid_condition(row: Row, night: date) -> bool:
    """planRate.js isValidCondition: months and weekdays by their full English names."""
    values = condition_values(row["condition_value"])
    if row["condition_type"] == "month":
        return MONTHS[night.month - 1] in values
    if row["condition_type"] == "day_of_week":
        return WEEKDAYS[night.weekday()] in values
    return True


PLAN_MATCH = """
            AND ((plans_global_id = %(gid)s AND plans_hotel_id IS NULL)
            OR (plans_hotel_id = %(pid)s AND hotel_id = %(hid)s AND plans_global_id IS NULL))"""
DATE_MATCH = """
            (
                %(date)s BETWEEN date_start AND COALESCE(date_end, %(date)s)
                OR (%(date)s >= date_start AND date_end IS NULL)
            )"""
# planRate.js getPriceForReservation's query.
PRICE_QUERY = (
    """
        SELECT
            adjustment_type,
            condition_type,
            condition_value,
            tax_type_id,
            SUM(adjustment_value) AS total_value
        FROM plans_rates
        WHERE"""
    + DATE_MATCH
    + PLAN_MATCH
    + """
        GROUP BY condition_type, adjustment_type, condition_value, tax_type_id
"""
)
# planRate.js getRatesForTheDay's query.
RATES_QUERY = (
    """
        SELECT
            adjustment_type,
            condition_type,
            condition_value,
            tax_type_id,
            tax_rate,
            include_in_cancel_fee,
            sales_category,
            SUM(adjustment_value) AS adjustment_value
        FROM plans_rates
        WHERE"""
    + DATE_MATCH
    + PLAN_MATCH
    + """
        GROUP BY condition_type, adjustment_type, condition_value, tax_type_id, tax_rate,
                 include_in_cancel_fee, sales_category
        ORDER BY adjustment_type
"""
)
# planAddon/read.js getAllPlanAddons' query.
ADDONS_QUERY = """
        SELECT
            pa.*
            ,COALESCE(ag.name, ah.name) AS addon_name
            ,tax_info.name as tax_type
            ,pa.sales_category
        FROM
            plan_addons AS pa
                JOIN
            tax_info
                ON pa.tax_type_id = tax_info.id
                LEFT OUTER JOIN
            addons_global AS ag
                ON pa.addons_global_id = ag.id
                LEFT OUTER JOIN
            addons_hotel AS ah
                ON pa.addons_hotel_id = ah.id
        WHERE
            (pa.plans_global_id = %(gid)s AND pa.plans_hotel_id IS NULL) OR
            (pa.plans_hotel_id = %(pid)s AND pa.hotel_id = %(hid)s AND pa.plans_global_id IS NULL)
        ORDER BY addon_name ASC
"""


async def query_rows(conn: Conn, sql: str, params: Any = None) -> list[Row]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, params)
    return await cur.fetchall()


def plan_params(plan: Plan, night: date | None = None) -> dict[str, Any]:
    # The PMS passes `plans_global_id || null` and `plans_hotel_id || null`.
    return {"gid": plan.plans_global_id, "pid": plan.plan_id, "hid": HOTEL, "date": night}


async def price_for_reservation(conn: Conn, plan: Plan, night: date) -> int:
    """planRate.js getPriceForReservation (rounding on)."""
    base = group_a = group_b = flat = 0.0
    for row in await query_rows(conn, PRICE_QUERY, plan_params(plan, night)):
        if is_valid_condition(row, night):
            value = float(row["total_value"])
            if row["adjustment_type"] == "base_rate":
                base += value
            elif row["adjustment_type"] == "percentage":
                if row["tax_type_id"] == 1:
                    group_b += value / 100
                else:
                    group_a += value / 100
            elif row["adjustment_type"] == "flat_fee":
                flat += value
    total = base * (1 + group_a)
    rounded = math.floor(total / 100) * 100
    return max(0, math.floor(rounded + rounded * group_b + flat))


async def rates_for_the_day(conn: Conn, plan: Plan, night: date) -> list[Row]:
    """planRate.js getRatesForTheDay."""
    rows = await query_rows(conn, RATES_QUERY, plan_params(plan, night))
    return [row for row in rows if is_valid_condition(row, night)]


def aggregated_rates(rates: Iterable[Row]) -> list[Row]:
    """insert.js insertAggregatedRates (rounding on): the reservation_rates lines it writes,
    as insertReservationRate stores them."""
    lines: dict[str, Row] = {}
    for rate in rates:
        sales = rate["sales_category"] if rate["sales_category"] is not None else "accommodation"
        key = "-".join(
            (
                rate["adjustment_type"],
                js_key(rate["tax_type_id"]),
                js_key(rate["include_in_cancel_fee"]),
                sales,
            )
        )
        if key not in lines:
            lines[key] = {
                "adjustment_type": rate["adjustment_type"],
                "tax_type_id": rate["tax_type_id"],
                "tax_rate": rate["tax_rate"],
                "include_in_cancel_fee": rate["include_in_cancel_fee"],
                "sales_category": sales,
                "adjustment_value": 0.0,
            }
        lines[key]["adjustment_value"] += float(rate["adjustment_value"] or 0)
    base = 0.0
    for line in lines.values():
        if line["adjustment_type"] == "base_rate":
            base += line["adjustment_value"]
    written = []
    for line in lines.values():
        price = 0.0
        if line["adjustment_type"] in ("base_rate", "flat_fee"):
            price = line["adjustment_value"]
        elif line["adjustment_type"] == "percentage":
            price = js_round(base * (line["adjustment_value"] / 100) * 100) / 100
        written.append(
            {
                "adjustment_type": line["adjustment_type"],
                "adjustment_value": stored(line["adjustment_value"], 2),
                "tax_type_id": line["tax_type_id"],
                "tax_rate": stored(line["tax_rate"] if line["tax_rate"] is not None else 0, 4),
                "include_in_cancel_fee": line["include_in_cancel_fee"],
                "price": stored(price, 0),
                "sales_category": line["sales_category"],
            }
        )
    return written


def price_from_rates(rates: Iterable[Row]) -> int:
    """calculationService.js calculatePriceFromRatesService (rounding on)."""
    lines: dict[str, Row] = {}
    for rate in rates:
        key = f"{rate['adjustment_type']}-{js_key(rate['tax_type_id'])}"
        line = lines.setdefault(key, {"adjustment_type": rate["adjustment_type"], "value": 0.0})
        line["value"] += float(rate["adjustment_value"] or 0)
    if not lines:
        return 0
    base = sum(x["value"] for x in lines.values() if x["adjustment_type"] == "base_rate")
    total = 0.0
    for line in lines.values():
        if line["adjustment_type"] in ("base_rate", "flat_fee"):
            total += line["value"]
        elif line["adjustment_type"] == "percentage":
            total += js_round(base * (line["value"] / 100) * 100) / 100
    return math.floor(total / 100) * 100


def is_accommodation(rates: Sequence[Row]) -> bool:
    """calculationService.js calculateIsAccommodation (not a system block)."""
    if not rates:
        return True
    return any(r["sales_category"] in ("accommodation", None) for r in rates)


# --- rows, as compared -------------------------------------------------------------------

RESERVATION_COLUMNS = (
    "hotel_id",
    "check_in",
    "check_in_time",
    "check_out",
    "check_out_time",
    "number_of_people",
    "status",
    "type",
    "agent",
    "ota_reservation_id",
    "payment_timing",
    "comment",
    "has_important_comment",
    "created_by",
    "updated_by",
)
CLIENT_COLUMNS = (
    "name",
    "name_kana",
    "name_kanji",
    "date_of_birth",
    "legal_or_natural_person",
    "gender",
    "email",
    "phone",
    "customer_id",
    "created_by",
    "updated_by",
)
DETAIL_COLUMNS = (
    "date",
    "room_id",
    "plans_global_id",
    "plans_hotel_id",
    "plan_name",
    "plan_type",
    "number_of_people",
    "price",
    "billable",
    "is_accommodation",
    "created_by",
    "updated_by",
)
RATE_COLUMNS = (
    "adjustment_type",
    "adjustment_value",
    "tax_type_id",
    "tax_rate",
    "include_in_cancel_fee",
    "price",
    "sales_category",
    "created_by",
    "updated_by",
)
ADDON_COLUMNS = (
    "addons_global_id",
    "addons_hotel_id",
    "addon_name",
    "addon_type",
    "quantity",
    "price",
    "tax_type_id",
    "tax_rate",
    "sales_category",
    "created_by",
    "updated_by",
)
PAYMENT_COLUMNS = (
    "date",
    "room_id",
    "payment_type_id",
    "value",
    "comment",
    "invoice_id",
    "receipt_id",
    "created_by",
    "updated_by",
)


def lines(rows: Iterable[Row], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows as tuples of the compared columns, in an order of their own (ids are random)."""
    return sorted((tuple(row[c] for c in columns) for row in rows), key=repr)


@dataclass
class Night:
    detail: Row
    rates: list[tuple[Any, ...]]
    guests: list[tuple[Any, ...]]  # (client, created_by, updated_by); the booker as "booker"
    addons: list[tuple[Any, ...]]
    cancelled: bool = False
    detail_id: uuid.UUID | None = None
    row_ids: set[uuid.UUID] = field(default_factory=set)  # of its rates, guests and add-ons


@dataclass
class Booking:
    reservation: Row
    client: Row
    nights: dict[date, Night]
    payments: list[tuple[Any, ...]]

    def without_rooms(self) -> Booking:
        """The same booking with its nights' rooms left out (another room, the same sale)."""
        nights = {
            d: Night({**n.detail, "room_id": None}, n.rates, n.guests, n.addons, n.cancelled)
            for d, n in self.nights.items()
        }
        payments = [(p[0], None, *p[2:]) for p in self.payments]
        return Booking(self.reservation, self.client, nights, payments)


async def read_booking(conn: Conn, reservation_id: uuid.UUID | str) -> Booking:
    """A reservation's rows in the PMS's tables, as compared."""
    res = await query_rows(
        conn, "SELECT * FROM reservations WHERE hotel_id = %s AND id = %s", (HOTEL, reservation_id)
    )
    assert len(res) == 1, reservation_id
    booker = res[0]["reservation_client_id"]
    client = await query_rows(conn, "SELECT * FROM clients WHERE id = %s", (booker,))
    details = await query_rows(
        conn,
        "SELECT * FROM reservation_details WHERE hotel_id = %s AND reservation_id = %s"
        " ORDER BY date",
        (HOTEL, reservation_id),
    )
    ids = [d["id"] for d in details]

    async def children(table: str, key: str) -> dict[uuid.UUID, list[Row]]:
        rows = await query_rows(
            conn,
            f"SELECT * FROM {table} WHERE hotel_id = %s AND {key} = ANY(%s)",
            (HOTEL, ids),
        )
        by_detail: dict[uuid.UUID, list[Row]] = {i: [] for i in ids}
        for row in rows:
            by_detail[row[key]].append(row)
        return by_detail

    rates = await children("reservation_rates", "reservation_details_id")
    guests = await children("reservation_clients", "reservation_details_id")
    addons = await children("reservation_addons", "reservation_detail_id")
    nights: dict[date, Night] = {}
    for d in details:
        assert d["date"] not in nights, "one room, one row per night"
        people = [
            {**g, "client": "booker" if g["client_id"] == booker else g["client_id"]}
            for g in guests[d["id"]]
        ]
        nights[d["date"]] = Night(
            {c: d[c] for c in DETAIL_COLUMNS},
            lines(rates[d["id"]], RATE_COLUMNS),
            lines(people, ("client", "created_by", "updated_by")),
            lines(addons[d["id"]], ADDON_COLUMNS),
            d["cancelled"] is not None,
            d["id"],
            {r["id"] for r in rates[d["id"]] + guests[d["id"]] + addons[d["id"]]},
        )
    payments = await query_rows(
        conn,
        "SELECT * FROM reservation_payments WHERE hotel_id = %s AND reservation_id = %s",
        (HOTEL, reservation_id),
    )
    for p in payments:
        assert p["client_id"] == booker, "a prepayment is the booker's"
    return Booking(
        {c: res[0][c] for c in RESERVATION_COLUMNS},
        {c: client[0][c] for c in CLIENT_COLUMNS},
        nights,
        lines(payments, PAYMENT_COLUMNS),
    )


@dataclass(frozen=True)
class Stay:
    """A booking as its request states it."""

    plan: Plan
    check_in: date
    check_out: date
    guests: int
    guest: Row  # clients' columns as the PMS's name split gives them
    agent: str = "booking engine"
    ota_reservation_id: str | None = None
    payment_timing: str = "not_set"
    comment: str | None = None

    @property
    def nights(self) -> list[date]:
        return [self.check_in + i * DAY for i in range((self.check_out - self.check_in).days)]


async def pms_night(conn: Conn, stay: Stay, night: date, room_id: int | None) -> Night:
    """The rows the PMS writes for one sold night of the stay: the detail at the plan's price,
    billable (addOTAReservation), with the plan's columns and is_accommodation
    (updateReservationDetailPlan, recalculatePlanPrice), its rate lines
    (insertAggregatedRates), the booker as its guest (addReservationClient) and the plan's
    add-ons, one per guest (getAllPlanAddons, addReservationAddon)."""
    plan = stay.plan
    day_rates = await rates_for_the_day(conn, plan, night)
    detail = {
        "date": night,
        "room_id": room_id,
        "plans_global_id": plan.plans_global_id,
        "plans_hotel_id": plan.plan_id,
        "plan_name": plan.name,
        "plan_type": plan.plan_type,
        "number_of_people": stay.guests,
        "price": stored(await price_for_reservation(conn, plan, night), None),
        "billable": True,
        "is_accommodation": is_accommodation(day_rates),
        "created_by": PMS_USER,
        "updated_by": PMS_USER,
    }
    rates = [
        {**line, "created_by": PMS_USER, "updated_by": PMS_USER}
        for line in aggregated_rates(day_rates)
    ]
    addons = []
    for pa in await query_rows(conn, ADDONS_QUERY, plan_params(plan)):
        tax_rate = pa["tax_rate"] if pa["tax_rate"] is not None else 0
        addons.append(
            {
                "addons_global_id": pa["addons_global_id"],
                "addons_hotel_id": pa["addons_hotel_id"],
                "addon_name": pa["addon_name"],
                "addon_type": pa["addon_type"],
                "quantity": stay.guests,
                "price": pa["price"],
                "tax_type_id": pa["tax_type_id"],
                "tax_rate": stored(tax_rate, 4),
                # addReservationAddon: `addon.sales_category || 'accommodation'`, and neither
                # addOTAReservation nor updateReservationDetailAddon passes one.
                "sales_category": "accommodation",
                "created_by": PMS_USER,
                "updated_by": PMS_USER,
            }
        )
    return Night(
        detail,
        lines(rates, RATE_COLUMNS),
        [("booker", PMS_USER, PMS_USER)],
        lines(addons, ADDON_COLUMNS),
    )


async def pms_booking(conn: Conn, stay: Stay, room_id: int | None) -> Booking:
    """The rows the PMS writes for the whole stay (no payment)."""
    reservation = {
        "hotel_id": HOTEL,
        "check_in": stay.check_in,
        "check_in_time": time(16),  # addOTAReservation's DEFAULT_CHECK_IN_TIME
        "check_out": stay.check_out,
        "check_out_time": time(10),
        "number_of_people": stay.guests,
        "status": "confirmed",
        "type": "web",
        "agent": stay.agent,
        "ota_reservation_id": stay.ota_reservation_id,
        "payment_timing": stay.payment_timing,
        "comment": stay.comment,
        "has_important_comment": False,
        "created_by": PMS_USER,
        "updated_by": PMS_USER,
    }
    client = {
        **stay.guest,
        "date_of_birth": None,
        "customer_id": None,
        "created_by": PMS_USER,
        "updated_by": PMS_USER,
    }
    nights = {n: await pms_night(conn, stay, n, room_id) for n in stay.nights}
    return Booking(reservation, client, nights, [])


async def write_as_the_pms(conn: Conn, stay: Stay, room_id: int) -> uuid.UUID:
    """Writes the stay with the PMS's own statements (addOTAReservation's clients,
    reservations and reservation_details inserts, with the plan columns the front desk sets;
    addReservationClient; insertReservationRate; addReservationAddon), the rows' values
    computed by the PMS's code (pms_booking)."""
    expected = await pms_booking(conn, stay, room_id)
    g = expected.client
    cur = await conn.execute(
        """
        INSERT INTO clients (
          name, name_kana, name_kanji, date_of_birth, legal_or_natural_person, gender, email, phone, created_by, updated_by
        ) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING *;
        """,  # noqa: E501
        (
            g["name"],
            g["name_kana"],
            g["name_kanji"],
            None,
            g["legal_or_natural_person"],
            g["gender"],
            g["email"],
            g["phone"],
            PMS_USER,
            PMS_USER,
        ),
    )
    client_id = (await cur.fetchone() or [None])[0]
    r = expected.reservation
    cur = await conn.execute(
        """
        INSERT INTO reservations (
          hotel_id, reservation_client_id, check_in, check_in_time, check_out, check_out_time, number_of_people, status, type, agent, ota_reservation_id, comment, payment_timing, created_by, updated_by
        ) VALUES (%s, %s, %s, %s, %s, %s, %s, 'confirmed', %s, %s, %s, %s, %s, %s, %s)
        RETURNING *;
        """,  # noqa: E501
        (
            HOTEL,
            client_id,
            r["check_in"],
            "16:00",
            r["check_out"],
            "10:00",
            r["number_of_people"],
            r["type"],
            r["agent"],
            r["ota_reservation_id"],
            r["comment"],
            r["payment_timing"],
            PMS_USER,
            PMS_USER,
        ),
    )
    reservation_id = (await cur.fetchone() or [None])[0]
    for night in expected.nights.values():
        d = night.detail
        cur = await conn.execute(
            """
            INSERT INTO reservation_details (
                hotel_id, reservation_id, date, room_id, plans_global_id, plans_hotel_id, plan_name, plan_type, number_of_people, price, billable, created_by, updated_by, is_accommodation
              ) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, TRUE, %s, %s, %s)
              RETURNING *;
            """,  # noqa: E501
            (
                HOTEL,
                reservation_id,
                d["date"],
                room_id,
                d["plans_global_id"],
                d["plans_hotel_id"],
                d["plan_name"],
                d["plan_type"],
                d["number_of_people"],
                d["price"],
                PMS_USER,
                PMS_USER,
                d["is_accommodation"],
            ),
        )
        detail_id = (await cur.fetchone() or [None])[0]
        await conn.execute(
            "INSERT INTO reservation_clients (hotel_id, reservation_details_id, client_id,"
            " created_by, updated_by) VALUES (%s, %s, %s, %s, %s) RETURNING *;",
            (HOTEL, detail_id, client_id, PMS_USER, PMS_USER),
        )
        for rate in night.rates:
            v = dict(zip(RATE_COLUMNS, rate, strict=True))
            await conn.execute(
                "INSERT INTO reservation_rates (hotel_id, reservation_details_id,"
                " adjustment_type, adjustment_value, tax_type_id, tax_rate, price,"
                " include_in_cancel_fee, sales_category, created_by, updated_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *;",
                (
                    HOTEL,
                    detail_id,
                    v["adjustment_type"],
                    v["adjustment_value"],
                    v["tax_type_id"],
                    v["tax_rate"],
                    v["price"],
                    v["include_in_cancel_fee"],
                    v["sales_category"],
                    PMS_USER,
                    PMS_USER,
                ),
            )
        for addon in night.addons:
            a = dict(zip(ADDON_COLUMNS, addon, strict=True))
            await conn.execute(
                "INSERT INTO reservation_addons (hotel_id, reservation_detail_id,"
                " addons_global_id, addons_hotel_id, addon_name, addon_type, quantity, price,"
                " tax_type_id, tax_rate, created_by, updated_by, sales_category)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *;",
                (
                    HOTEL,
                    detail_id,
                    a["addons_global_id"],
                    a["addons_hotel_id"],
                    a["addon_name"],
                    a["addon_type"],
                    a["quantity"],
                    a["price"],
                    a["tax_type_id"],
                    a["tax_rate"],
                    PMS_USER,
                    PMS_USER,
                    a["sales_category"],
                ),
            )
    await conn.commit()
    assert isinstance(reservation_id, uuid.UUID)
    return reservation_id


# --- the PMS's read queries --------------------------------------------------------------

# accounting/read.js getLedgerPreview: its sales CTEs as they are ($1, $2, $3: start, end,
# hotels), then its final grouping without the account mapping (acc_* tables: they name
# accounts, they hold no amounts).
LEDGER_QUERY = """
        WITH rr_base AS (
            SELECT
                rd.id as rd_id,
                rd.hotel_id,
                rd.plans_hotel_id,
                rd.plans_global_id,
                ph.plan_type_category_id,
                ph.plan_package_category_id,
                ptc.name as category_name,
                COALESCE(ph.name, pg.name, '未設定') as plan_name,
                CASE
                    WHEN rd.plan_type = 'per_room' THEN rd.price
                    ELSE rd.price * rd.number_of_people
                END as total_rd_price,
                rr.id as rr_id,
                COALESCE(rr.tax_rate, 0.10) as tax_rate,
                CASE
                    WHEN rr.id IS NOT NULL THEN
                        CASE
                            WHEN rd.plan_type = 'per_room' THEN rr.price
                            ELSE rr.price * rd.number_of_people
                        END
                    ELSE 0
                END as rr_price,
                ROW_NUMBER() OVER (PARTITION BY rd.id ORDER BY COALESCE(rr.tax_rate, 0.10) DESC, rr.id DESC NULLS LAST) as rn,
                (rd.cancelled IS NOT NULL) as is_cancelled
            FROM reservation_details rd
            JOIN reservations r ON rd.reservation_id = r.id AND rd.hotel_id = r.hotel_id
            LEFT JOIN plans_hotel ph ON rd.plans_hotel_id = ph.id AND rd.hotel_id = ph.hotel_id
            LEFT JOIN plans_global pg ON rd.plans_global_id = pg.id
            LEFT JOIN plan_type_categories ptc ON ph.plan_type_category_id = ptc.id
            LEFT JOIN reservation_rates rr ON rd.id = rr.reservation_details_id AND rd.hotel_id = rr.hotel_id
            WHERE rd.date BETWEEN %(start)s AND %(end)s
            AND rd.hotel_id = ANY(%(hotels)s::int[])
            AND rd.billable = TRUE
            AND r.status NOT IN ('hold', 'block')
            AND r.type <> 'employee'
        ),
        rr_totals AS (
            SELECT rd_id, SUM(rr_price) as sum_rr_price
            FROM rr_base
            GROUP BY rd_id
        ),
        plan_sales AS (
            SELECT
                b.hotel_id,
                'plan' as source_type,
                b.plans_hotel_id as target_id,
                b.plan_type_category_id,
                b.plan_package_category_id,
                CASE
                    WHEN b.is_cancelled THEN 'キャンセル'
                    WHEN b.plan_name LIKE '%%マンスリー%%' THEN COALESCE(b.category_name || ' - ', '') || 'マンスリー'
                    ELSE COALESCE(b.category_name, b.plan_name)
                END as display_name,
                b.tax_rate,
                CASE
                    WHEN b.rn = 1 THEN b.rr_price + (b.total_rd_price - t.sum_rr_price)
                    ELSE b.rr_price
                END as amount,
                b.is_cancelled
            FROM rr_base b
            JOIN rr_totals t ON b.rd_id = t.rd_id
        ),
        addon_sales AS (
            SELECT
                ra.hotel_id,
                'addon' as source_type,
                COALESCE(ra.addons_hotel_id, ra.addons_global_id) as target_id,
                ra.addons_global_id,
                NULL::int as plan_type_category_id,
                NULL::int as plan_package_category_id,
                CASE WHEN rd.cancelled IS NOT NULL THEN 'キャンセル' ELSE ra.addon_name END as display_name,
                ra.tax_rate,
                (ra.price * ra.quantity) as amount,
                ra.addons_hotel_id,
                (rd.cancelled IS NOT NULL) as is_cancelled
            FROM reservation_addons ra
            JOIN reservation_details rd ON ra.reservation_detail_id = rd.id AND ra.hotel_id = rd.hotel_id
            JOIN reservations r ON rd.reservation_id = r.id AND rd.hotel_id = r.hotel_id
            WHERE rd.date BETWEEN %(start)s AND %(end)s
            AND ra.hotel_id = ANY(%(hotels)s::int[])
            AND rd.billable = TRUE
            AND r.status NOT IN ('hold', 'block')
            AND r.type <> 'employee'
        ),
        combined_sales AS (
            SELECT
                hotel_id,
                CASE WHEN is_cancelled THEN 'cancellation' ELSE 'plan_hotel' END as mapping_target,
                CASE WHEN is_cancelled THEN 0 ELSE target_id END as target_id,
                NULL::int as addons_global_id,
                plan_type_category_id,
                plan_package_category_id,
                display_name,
                tax_rate,
                amount
            FROM plan_sales
            UNION ALL
            SELECT
                hotel_id,
                CASE WHEN is_cancelled THEN 'cancellation' ELSE (CASE WHEN addons_hotel_id IS NOT NULL THEN 'addon_hotel' ELSE 'addon_global' END) END,
                CASE WHEN is_cancelled THEN 0 ELSE target_id END,
                addons_global_id,
                NULL,
                NULL,
                display_name,
                tax_rate,
                amount
            FROM addon_sales
        )
        SELECT
            ms.mapping_target,
            ms.display_name as display_category_name,
            ms.tax_rate,
            SUM(ms.amount) as total_amount
        FROM combined_sales ms
        GROUP BY ms.hotel_id, ms.tax_rate, ms.display_name, ms.mapping_target
        HAVING SUM(ms.amount) != 0
        ORDER BY ms.hotel_id, ms.mapping_target, ms.display_name, ms.tax_rate DESC
"""  # noqa: E501


Ledger = dict[tuple[str, str, Decimal], Decimal]


async def ledger(conn: Conn, start: date, end: date) -> Ledger:
    """Hotel 1's ledger lines over [start, end]: (target, name, tax rate) -> amount."""
    rows = await query_rows(conn, LEDGER_QUERY, {"start": start, "end": end, "hotels": [HOTEL]})
    return {
        (r["mapping_target"], r["display_category_name"], r["tax_rate"].normalize()): r[
            "total_amount"
        ]
        for r in rows
    }


def ledger_minus(after: Ledger, before: Ledger) -> Ledger:
    keys = set(after) | set(before)
    delta = {k: after.get(k, Decimal(0)) - before.get(k, Decimal(0)) for k in keys}
    return {k: v for k, v in delta.items() if v != 0}


async def stock(conn: Conn, night: date) -> dict[str, int]:
    """ota/investigation.js getCurrentStateSnapshot: the hotel's sellable rooms, the rooms
    taken that night (a detail row with cancelled IS NULL) and what is left."""
    total = await query_rows(
        conn,
        """
            SELECT COUNT(*) as total_rooms
            FROM rooms
            WHERE hotel_id = %s AND for_sale = true AND is_staff_room = false
        """,
        (HOTEL,),
    )
    occupied = await query_rows(
        conn,
        """
            SELECT COUNT(DISTINCT rd.room_id) as occupied_rooms
            FROM reservation_details rd
            JOIN rooms r ON rd.room_id = r.id AND rd.hotel_id = r.hotel_id
            WHERE rd.hotel_id = %s AND rd.date = %s AND rd.cancelled IS NULL
            AND r.for_sale = true AND r.is_staff_room = false
        """,
        (HOTEL, night),
    )
    rooms, taken = int(total[0]["total_rooms"]), int(occupied[0]["occupied_rooms"])
    return {"total": rooms, "occupied": taken, "available": rooms - taken}


# --- the API --------------------------------------------------------------------------------

TARO = {
    "name": "山田 太郎",
    "name_kana": "ヤマダ タロウ",
    "email": "taro@example.test",
    "phone": "090-1234-5678",
    "gender": "male",
    "legal_or_natural_person": "natural",
}
# The PMS's split of that name (clients.js processNameString, the kana given by the booker).
TARO_ROW = {
    "name": "Yamada Tarou",
    "name_kana": "ヤマダ タロウ",
    "name_kanji": "山田 太郎",
    "legal_or_natural_person": "natural",
    "gender": "male",
    "email": "taro@example.test",
    "phone": "090-1234-5678",
}


def request_of(stay: Stay, room_type_id: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hotel_id": HOTEL,
        "room_type_id": room_type_id,
        "check_in": stay.check_in.isoformat(),
        "check_out": stay.check_out.isoformat(),
        "guests": stay.guests,
        "guest": TARO,
        "payment_timing": stay.payment_timing,
    }
    if stay.plan.plan_id is None:
        body["plan_key"] = stay.plan.key
    else:
        body["plan_id"] = stay.plan.plan_id
    if stay.agent != "booking engine":
        body["agent"] = stay.agent
    if stay.ota_reservation_id is not None:
        body["booking_engine_id"] = stay.ota_reservation_id
    if stay.comment is not None:
        body["comment"] = stay.comment
    return {**body, **extra}


async def book(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    reply = await http.post("/api/booking-engine/bookings", json=body)
    assert reply.status_code == 201, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def room_of(booking: Booking) -> int:
    rooms = {n.detail["room_id"] for n in booking.nights.values()}
    assert len(rooms) == 1, "one room for the whole stay"
    return int(rooms.pop())


def billed(booking: Booking) -> Decimal:
    """What the PMS bills for a booking (the ledger's plan price and its add-ons): billable
    nights' price, times the guests on a per-person plan, plus their add-ons."""
    price_at, quantity_at = ADDON_COLUMNS.index("price"), ADDON_COLUMNS.index("quantity")
    total = Decimal(0)
    for night in booking.nights.values():
        d = night.detail
        if d["billable"]:
            people = d["number_of_people"] if d["plan_type"] == "per_person" else 1
            total += d["price"] * people
            total += sum((a[price_at] * a[quantity_at] for a in night.addons), Decimal(0))
    return total


def assert_same(actual: Booking, expected: Booking) -> None:
    """The booking's rows are the expected ones, table by table and night by night."""
    assert actual.reservation == expected.reservation
    assert actual.client == expected.client
    assert sorted(actual.nights) == sorted(expected.nights)
    for night, want in sorted(expected.nights.items()):
        got = actual.nights[night]
        assert got.detail == want.detail, night
        assert got.rates == want.rates, night
        assert got.guests == want.guests, night
        assert got.addons == want.addons, night
        assert got.cancelled == want.cancelled, night
    assert actual.payments == expected.payments


async def connect(db_url: str) -> Conn:
    return await psycopg.AsyncConnection.connect(db_url)


# --- 1. a per-room plan ----------------------------------------------------------------------


async def test_per_room_booking_writes_the_rows_the_pms_writes(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, HOTEL)
    async with await connect(db_url) as conn:
        plan = await make_plan(conn, "FT Room only", "per_room", ROOM_RATES)
        type_id, rooms = await suite(conn)
    stay = Stay(
        plan,
        FAR,
        FAR + 3 * DAY,
        2,
        TARO_ROW,
        agent="FT Channel",
        ota_reservation_id="be-fidelity-1",
        payment_timing="on-site",
        comment="arrives late",
    )
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        answer = await book(http, request_of(stay, type_id))
        # Without an agent in the request, the configured one (BRIDGE_PMS_AGENT).
        plain = await book(http, request_of(Stay(plan, FAR, FAR + DAY, 1, TARO_ROW), type_id))
    async with await connect(db_url) as conn:
        written = await read_booking(conn, answer["booking_id"])
        room = room_of(written)
        expected = await pms_booking(conn, stay, room)
        default_agent = (await read_booking(conn, plain["booking_id"])).reservation["agent"]
        # The PMS's audit triggers name the writer of every row.
        ids: list[uuid.UUID | None] = [uuid.UUID(answer["booking_id"])]
        for night in written.nights.values():
            ids += [night.detail_id, *night.row_ids]
        logged = await query_rows(
            conn,
            "SELECT table_name, action, user_id, count(*) AS n FROM logs_reservation"
            " WHERE record_id = ANY(%s) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            (ids,),
        )

    assert room in rooms
    assert_same(written, expected)
    assert [(x["table_name"], x["action"], x["user_id"], x["n"]) for x in logged] == [
        (f"reservation_clients_{HOTEL}", "INSERT", PMS_USER, 3),  # the hotel's partitions
        (f"reservation_details_{HOTEL}", "INSERT", PMS_USER, 3),
        (f"reservation_rates_{HOTEL}", "INSERT", PMS_USER, 12),
        (f"reservations_{HOTEL}", "INSERT", PMS_USER, 1),
    ]
    assert default_agent == settings.pms_agent == "booking engine"
    # The night's price as the PMS computes it: the discount before the rounding to 100 yen,
    # the tax-exempt percentage and the flat fee after it.
    assert [n.detail["price"] for n in expected.nights.values()] == [Decimal(11527)] * 3
    assert [n["price"] for n in answer["nights"]] == [11527] * 3
    assert answer["total_price"] == billed(expected) == 3 * 11527
    assert answer["guest"]["name"] == "Yamada Tarou"


# --- 2. a per-person plan ----------------------------------------------------------------------


async def test_per_person_booking_prices_one_guest_and_the_ledger_bills_them_all(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, HOTEL)
    async with await connect(db_url) as conn:
        plan = await make_plan(
            conn,
            "FT Bed and breakfast",
            "per_person",
            PER_PERSON_RATES,
            global_rates=GLOBAL_PER_PERSON_RATES,
        )
        type_id, _ = await suite(conn)
        before = await ledger(conn, FAR, FAR + 2 * DAY)
    stay = Stay(plan, FAR, FAR + 2 * DAY, 3, TARO_ROW)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        # By the PMS's plan key: the hotel plan made from the global plan, whose rates count.
        answer = await book(
            http, {**request_of(stay, type_id), "plan_id": None, "plan_key": plan.key}
        )
    async with await connect(db_url) as conn:
        written = await read_booking(conn, answer["booking_id"])
        expected = await pms_booking(conn, stay, room_of(written))
        billed_by_pms = ledger_minus(await ledger(conn, FAR, FAR + 2 * DAY), before)

    assert_same(written, expected)
    one_guest = [n.detail["price"] for n in expected.nights.values()]
    assert one_guest == [Decimal(6450)] * 2  # 6000 + 5 %, rounded, + 150: for ONE guest
    assert [n["price"] for n in answer["nights"]] == [6450] * 2
    assert all(n.detail["number_of_people"] == 3 for n in written.nights.values())
    assert sum(billed_by_pms.values()) == answer["total_price"] == billed(expected) == 2 * 3 * 6450


async def test_a_global_plan_booked_by_its_key_is_written_as_the_global_plan(
    settings: Settings, db_url: str
) -> None:
    """A global plan no hotel plan is made from, asked for by the PMS's key "<global>h": its
    own rates and add-ons, no hotel plan on the nights."""
    key = await create_key(db_url, HOTEL)
    breakfast = AddOn("FT Continental breakfast", "global", 1000, "900", "breakfast", 2)
    async with await connect(db_url) as conn:
        plan = await make_plan(
            conn,
            "FT Global room",
            "per_room",
            (Rate("base_rate", "7700", 3), Rate("percentage", "2.5", 1)),
            addons=(breakfast,),
            global_only=True,
        )
        type_id, _ = await suite(conn)
        before = await ledger(conn, FAR, FAR + 2 * DAY)
    stay = Stay(plan, FAR, FAR + 2 * DAY, 2, TARO_ROW)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        answer = await book(http, request_of(stay, type_id))
    async with await connect(db_url) as conn:
        written = await read_booking(conn, answer["booking_id"])
        expected = await pms_booking(conn, stay, room_of(written))
        billed_by_pms = ledger_minus(await ledger(conn, FAR, FAR + 2 * DAY), before)

    assert plan.key == f"{plan.plans_global_id}h"
    assert_same(written, expected)
    assert {
        (n.detail["plans_global_id"], n.detail["plans_hotel_id"]) for n in written.nights.values()
    } == {(plan.plans_global_id, None)}
    per_night = 7700 + 192 + 2 * 900  # 2.5 % of 7700 is 192.5, down to the yen
    assert answer["total_price"] == billed(expected) == sum(billed_by_pms.values()) == 2 * per_night


# --- 3. a plan with add-ons ----------------------------------------------------------------------


async def test_plan_add_ons_are_written_per_night_and_billed(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, HOTEL)
    async with await connect(db_url) as conn:
        plan = await make_plan(
            conn,
            "FT Room and breakfast",
            "per_room",
            BREAKFAST_PLAN_RATES,
            addons=BREAKFAST_PLAN_ADDONS,
        )
        type_id, _ = await suite(conn)
        before = await ledger(conn, FAR, FAR + 2 * DAY)
    stay = Stay(plan, FAR, FAR + 2 * DAY, 2, TARO_ROW)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        answer = await book(http, request_of(stay, type_id))
    async with await connect(db_url) as conn:
        written = await read_booking(conn, answer["booking_id"])
        expected = await pms_booking(conn, stay, room_of(written))
        billed_by_pms = ledger_minus(await ledger(conn, FAR, FAR + 2 * DAY), before)

    assert_same(written, expected)
    for night in written.nights.values():
        names = [(a[2], a[4], a[5]) for a in night.addons]  # name, quantity, price
        # The plan's price of each add-on (not the catalog's), once per guest.
        assert names == [
            ("FT Breakfast", 2, Decimal("1200.00")),
            ("FT Late check-out", 2, Decimal("800.00")),
        ]
    per_night = 10_050 + 2 * 1200 + 2 * 800
    assert answer["total_price"] == billed(expected) == sum(billed_by_pms.values()) == 2 * per_night
    assert billed_by_pms[("addon_global", "FT Breakfast", Decimal("0.08"))] == 2 * 2 * 1200
    assert billed_by_pms[("addon_hotel", "FT Late check-out", Decimal("0.1"))] == 2 * 2 * 800


# --- 4. a prepaid booking ----------------------------------------------------------------------


async def test_a_prepayment_is_the_payment_row_the_pms_writes(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, HOTEL)
    async with await connect(db_url) as conn:
        plan = await make_plan(
            conn,
            "FT Room and breakfast",
            "per_room",
            BREAKFAST_PLAN_RATES,
            addons=BREAKFAST_PLAN_ADDONS,
        )
        type_id, _ = await suite(conn)
        stay = Stay(plan, FAR, FAR + 2 * DAY, 2, TARO_ROW, payment_timing="prepaid")
        total = billed(await pms_booking(conn, stay, None))
    assert total == 2 * (10_050 + 2 * 1200 + 2 * 800)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        refused = []
        for prepayment in (
            {"amount": int(total) + 1},  # more than the stay costs
            {"amount": 1000, "payment_type_id": 99},  # not one of the PMS's payment_types
        ):
            reply = await http.post(
                "/api/booking-engine/bookings",
                json={**request_of(stay, type_id), "prepayment": prepayment},
            )
            refused.append((reply.status_code, reply.json()["error"]))
        async with await connect(db_url) as conn:
            nothing = await query_rows(
                conn,
                "SELECT (SELECT count(*) FROM reservations WHERE hotel_id = %s"
                "        AND check_out > %s) AS reservations,"
                " (SELECT count(*) FROM clients WHERE name = %s) AS clients,"
                " (SELECT count(*) FROM reservation_payments) AS payments",
                (HOTEL, RATES_FROM, TARO_ROW["name"]),
            )
        first_day = api.ctx.clock.today(HOTEL)
        answer = await book(
            http,
            {
                **request_of(stay, type_id),
                "prepayment": {"amount": int(total), "comment": "card, booking engine"},
            },
        )
        last_day = api.ctx.clock.today(HOTEL)
    async with await connect(db_url) as conn:
        written = await read_booking(conn, answer["booking_id"])
        room = room_of(written)
        expected = await pms_booking(conn, stay, room)
        payments = written.payments
        written.payments = []

    assert refused == [(422, "prepaid_over_total"), (422, "unknown_payment_type")]
    assert nothing == [{"reservations": 0, "clients": 0, "payments": 0}]
    assert_same(written, expected)
    # insertReservationPayment: the booker's payment on the booking's room, the day it was
    # taken, credit card (4) unless told, no invoice or receipt, written by the PMS user.
    assert len(payments) == 1
    assert payments[0][0] in (first_day, last_day)
    assert payments[0][1:] == (
        room,
        4,
        total,
        "card, booking engine",
        None,
        None,
        PMS_USER,
        PMS_USER,
    )
    assert answer["prepaid"] == answer["total_price"] == total


# --- 5. changing a stay ----------------------------------------------------------------------


async def test_a_change_writes_only_the_nights_that_change(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, HOTEL)
    async with await connect(db_url) as conn:
        plan = await make_plan(
            conn,
            "FT Room and breakfast",
            "per_room",
            BREAKFAST_PLAN_RATES,
            addons=BREAKFAST_PLAN_ADDONS,
        )
        type_id, _ = await suite(conn)
    stay = Stay(plan, FAR, FAR + 3 * DAY, 2, TARO_ROW)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        booking_id = (await book(http, request_of(stay, type_id)))["booking_id"]
        url = f"/api/booking-engine/bookings/{booking_id}"
        async with await connect(db_url) as conn:
            # The front desk edits the first night's price (editReservationDetail).
            await staff_edit(conn, booking_id, FAR)
            before = await read_booking(conn, booking_id)

            longer = await http.put(url, json={"check_out": (FAR + 4 * DAY).isoformat()})
            assert longer.status_code == 200, longer.text
            extended = await read_booking(conn, booking_id)
            room = room_of(extended)
            added = await pms_night(conn, stay, FAR + 3 * DAY, room)

            shorter = await http.put(url, json={"check_out": (FAR + 2 * DAY).isoformat()})
            assert shorter.status_code == 200, shorter.text
            shortened = await read_booking(conn, booking_id)
            gone = [n for d, n in extended.nights.items() if d >= FAR + 2 * DAY]
            gone_ids = [n.detail_id for n in gone] + [i for n in gone for i in n.row_ids]
            left = await query_rows(
                conn,
                "SELECT (SELECT count(*) FROM reservation_details WHERE id = ANY(%(ids)s))"
                " + (SELECT count(*) FROM reservation_rates WHERE id = ANY(%(ids)s))"
                " + (SELECT count(*) FROM reservation_clients WHERE id = ANY(%(ids)s))"
                " + (SELECT count(*) FROM reservation_addons WHERE id = ANY(%(ids)s)) AS n",
                {"ids": gone_ids},
            )
            deleted_by = await query_rows(
                conn,
                "SELECT DISTINCT user_id FROM logs_reservation"
                " WHERE action = 'DELETE' AND record_id = ANY(%s)",
                (gone_ids,),
            )

            more = await http.put(url, json={"guests": 3})
            assert more.status_code == 200, more.text
            regrouped = await read_booking(conn, booking_id)

    # Extended by a night: the three nights are the same rows, with their ids, rates, guests,
    # add-ons and the price the front desk set; the new night is a sold night of the plan in
    # the guest's room.
    mine = {"updated_by": PMS_USER}
    assert before.reservation["updated_by"] == STAFF
    assert extended.reservation == {**before.reservation, "check_out": FAR + 4 * DAY, **mine}
    assert sorted(extended.nights) == [FAR + i * DAY for i in range(4)]
    for night, was in before.nights.items():
        assert extended.nights[night] == was, night
    assert extended.nights[FAR].detail["price"] == 8888
    new = extended.nights[FAR + 3 * DAY]
    assert not (new.row_ids & {i for n in before.nights.values() for i in n.row_ids})
    assert Night(new.detail, new.rates, new.guests, new.addons) == added

    # Shortened to two nights: the last two nights are gone with their rates, guests and
    # add-ons (deleted as the PMS user); the first two are untouched.
    assert shortened.reservation == {**before.reservation, "check_out": FAR + 2 * DAY, **mine}
    assert shortened.nights == {d: n for d, n in before.nights.items() if d < FAR + 2 * DAY}
    assert left == [{"n": 0}]
    assert deleted_by == [{"user_id": PMS_USER}]

    # Three guests: the reservation and each night count them; prices, rates, guests and
    # add-ons stay as they were (the PMS keeps a night's add-ons when the guests change).
    assert regrouped.reservation == {**shortened.reservation, "number_of_people": 3}
    for night, was in shortened.nights.items():
        now = regrouped.nights[night]
        assert was.detail["updated_by"] == STAFF
        assert now.detail == {**was.detail, "number_of_people": 3, **mine}, night
        assert (now.rates, now.guests, now.addons, now.row_ids, now.detail_id) == (
            was.rates,
            was.guests,
            was.addons,
            was.row_ids,
            was.detail_id,
        ), night
    assert more.json()["total_price"] == billed(regrouped) == 8888 + 10_050 + 2 * 2 * (1200 + 800)


# --- 6. cancelling ----------------------------------------------------------------------------


async def test_cancelling_is_the_pms_cancellation_and_frees_the_room(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, HOTEL)
    async with await connect(db_url) as conn:
        plan = await make_plan(conn, "FT Room only", "per_room", ROOM_RATES)
        type_id, _ = await suite(conn)
    stay = Stay(plan, FAR, FAR + 2 * DAY, 2, TARO_ROW)
    await fill_all_but(db_url, HOTEL, type_id, stay.nights, keep=1)
    async with (
        running_api(settings, MemoryCache()) as api,
        api.client(key) as http,
        await connect(db_url) as conn,
    ):
        ledger_before = await ledger(conn, FAR, FAR + DAY)
        answer = await book(http, request_of(stay, type_id))
        await staff_edit(conn, answer["booking_id"])
        booked = await read_booking(conn, answer["booking_id"])
        stock_booked = [await stock(conn, n) for n in stay.nights]
        again = await http.post("/api/booking-engine/bookings", json=request_of(stay, type_id))

        cancelled = await http.delete(f"/api/booking-engine/bookings/{answer['booking_id']}")
        assert cancelled.status_code == 200, cancelled.text
        after = await read_booking(conn, answer["booking_id"])
        marks = await query_rows(
            conn,
            "SELECT count(*) AS n, count(DISTINCT cancelled) AS marks FROM reservation_details"
            " WHERE hotel_id = %s AND reservation_id = %s",
            (HOTEL, answer["booking_id"]),
        )
        stock_cancelled = [await stock(conn, n) for n in stay.nights]
        billed_after = ledger_minus(await ledger(conn, FAR, FAR + DAY), ledger_before)
        rebooked = await book(http, request_of(stay, type_id))

    assert again.status_code == 409  # the booking took the type's last room
    # updateReservationStatus('cancelled'): the reservation's status and user; every night
    # cancelled with a mark of its own and not billable, by the user; nothing else changes.
    assert booked.reservation["updated_by"] == STAFF
    assert after.reservation == {
        **booked.reservation,
        "status": "cancelled",
        "updated_by": PMS_USER,
    }
    assert after.client == booked.client
    for night, was in booked.nights.items():
        now = after.nights[night]
        assert now.cancelled and not was.cancelled
        assert now.detail == {**was.detail, "billable": False, "updated_by": PMS_USER}
        assert (now.rates, now.guests, now.addons) == (was.rates, was.guests, was.addons)
    assert marks == [{"n": 2, "marks": 2}]
    # The PMS's stock count: the room is free again on both nights, and sold again.
    for taken, freed in zip(stock_booked, stock_cancelled, strict=True):
        less = {"occupied": taken["occupied"] - 1, "available": taken["available"] + 1}
        assert freed == {**taken, **less}
    assert billed_after == {}
    body = cancelled.json()
    assert (body["status"], body["total_price"]) == ("cancelled", 0)
    assert all(n["cancelled"] and not n["billable"] for n in body["nights"])
    assert {n["room_id"] for n in rebooked["nights"]} == {room_of(booked)}


# --- 7. cancelling with a fee ----------------------------------------------------------------


async def test_a_cancellation_fee_bills_the_first_night_at_its_fee_rates(
    settings: Settings, db_url: str
) -> None:
    """DELETE ?fee_nights=1: the first night stays billable at its fee rates."""
    key = await create_key(db_url, HOTEL)
    async with await connect(db_url) as conn:
        plan = await make_plan(conn, "FT Room only", "per_room", ROOM_RATES)
        type_id, _ = await suite(conn)
        ledger_before = await ledger(conn, FAR, FAR + 2 * DAY)
    stay = Stay(plan, FAR, FAR + 3 * DAY, 2, TARO_ROW)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        answer = await book(http, request_of(stay, type_id))
        async with await connect(db_url) as conn:
            await staff_edit(conn, answer["booking_id"])
            booked = await read_booking(conn, answer["booking_id"])
            # cancelReservationRooms with a fee: the night's own rate lines (its query), those
            # included in the fee, priced by calculatePriceFromRates.
            first = booked.nights[FAR].detail_id
            rates = await query_rows(
                conn,
                "SELECT * FROM reservation_rates"
                " WHERE reservation_details_id = %s AND hotel_id = %s",
                (first, HOTEL),
            )
            fee = price_from_rates([r for r in rates if r["include_in_cancel_fee"]])
            reply = await http.delete(
                f"/api/booking-engine/bookings/{answer['booking_id']}",
                params={"fee_nights": 1},
            )
            assert reply.status_code == 200, reply.text
            cancelled = reply.json()
            after = await read_booking(conn, answer["booking_id"])
            billed_after = ledger_minus(await ledger(conn, FAR, FAR + 2 * DAY), ledger_before)

    # The base rates and the discount are in the fee; the tax-exempt percentage and the flat
    # fee are not: 12345 - 10 % = 11110.5, down to 100 yen.
    assert fee == 11100
    assert booked.reservation["updated_by"] == STAFF
    assert after.reservation == {
        **booked.reservation,
        "status": "cancelled",
        "updated_by": PMS_USER,
    }
    for night, was in booked.nights.items():
        now = after.nights[night]
        assert now.cancelled, night
        if night == FAR:
            want = {**was.detail, "price": Decimal(fee), "billable": True}
        else:
            want = {**was.detail, "billable": False}
        assert now.detail == {**want, "updated_by": PMS_USER}, night
        assert (now.rates, now.guests, now.addons) == (was.rates, was.guests, was.addons)
    # The ledger bills the fee alone, as a cancellation.
    assert {k[:2] for k in billed_after} == {("cancellation", "キャンセル")}
    assert sum(billed_after.values()) == fee == billed(after)
    assert cancelled["total_price"] == fee


# --- 8. the PMS's reads over a booking of the API and one of the PMS -----------------------


async def test_the_pms_reads_the_same_totals_from_an_api_booking_and_its_own(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, HOTEL)
    async with await connect(db_url) as conn:
        per_person = await make_plan(
            conn,
            "FT Bed and breakfast",
            "per_person",
            PER_PERSON_RATES,
            global_rates=GLOBAL_PER_PERSON_RATES,
        )
        with_addons = await make_plan(
            conn,
            "FT Room and breakfast",
            "per_room",
            BREAKFAST_PLAN_RATES,
            addons=BREAKFAST_PLAN_ADDONS,
        )
        type_id, rooms = await suite(conn)
    stays = [
        Stay(
            per_person,
            FAR,
            FAR + 2 * DAY,
            3,
            TARO_ROW,
            agent="FT Channel",
            ota_reservation_id="be-fidelity-8a",
            comment="two nights",
        ),
        Stay(with_addons, FAR + 5 * DAY, FAR + 8 * DAY, 2, TARO_ROW, payment_timing="postpaid"),
    ]
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        for stay in stays:
            first, last = stay.check_in, stay.check_out - DAY
            async with await connect(db_url) as conn:
                ledger_0 = await ledger(conn, first, last)
                stock_0 = [await stock(conn, n) for n in stay.nights]
                by_api = (await book(http, request_of(stay, type_id)))["booking_id"]
                ledger_1 = await ledger(conn, first, last)
                stock_1 = [await stock(conn, n) for n in stay.nights]
                api_rows = await read_booking(conn, by_api)
                other = next(r for r in rooms if r != room_of(api_rows))
                by_pms = await write_as_the_pms(conn, stay, other)
                ledger_2 = await ledger(conn, first, last)
                stock_2 = [await stock(conn, n) for n in stay.nights]
                pms_rows = await read_booking(conn, by_pms)
                reply = await http.get(f"/api/booking-engine/bookings/{by_pms}")

            # Row for row the same booking, but for its room.
            assert_same(api_rows.without_rooms(), pms_rows.without_rooms())
            # getLedgerPreview: the same lines (plan per tax rate, add-ons) and amounts.
            from_api = ledger_minus(ledger_1, ledger_0)
            from_pms = ledger_minus(ledger_2, ledger_1)
            assert from_api == from_pms and from_api
            assert sum(from_api.values()) == billed(api_rows) == reply.json()["total_price"]
            # getCurrentStateSnapshot: each takes one room a night.
            for s0, s1, s2 in zip(stock_0, stock_1, stock_2, strict=True):
                assert s1["occupied"] - s0["occupied"] == s2["occupied"] - s1["occupied"] == 1
                assert s0["total"] == s1["total"] == s2["total"]


# --- probes of single columns --------------------------------------------------------------


async def test_an_add_on_of_another_sales_category_is_written_as_the_pms_writes_it(
    settings: Settings, db_url: str
) -> None:
    """plan_addons.sales_category is 'other'; neither of the PMS's writes of a plan's add-ons
    (addOTAReservation, updateReservationDetailAddon) passes it to addReservationAddon, which
    writes `addon.sales_category || 'accommodation'`."""
    key = await create_key(db_url, HOTEL)
    towels = AddOn("FT Towel set", "hotel", 500, "300", "other", 3, sales_category="other")
    async with await connect(db_url) as conn:
        plan = await make_plan(
            conn, "FT Room and towels", "per_room", BREAKFAST_PLAN_RATES, addons=(towels,)
        )
        type_id, _ = await suite(conn)
    stay = Stay(plan, FAR, FAR + DAY, 1, TARO_ROW)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        answer = await book(http, request_of(stay, type_id))
    async with await connect(db_url) as conn:
        written = await read_booking(conn, answer["booking_id"])
        expected = await pms_booking(conn, stay, room_of(written))
    assert written.nights[FAR].addons == expected.nights[FAR].addons


async def test_a_night_priced_by_a_percentage_alone(settings: Settings, db_url: str) -> None:
    """The plan's base rate ends the night before; a percentage rate goes on. The PMS prices
    that night at 0 (getPriceForReservation) and writes its percentage line at 0
    (insertAggregatedRates: a share of no base). The bridge does not sell a night without a
    base rate: 422 unpriced, and nothing written."""
    key = await create_key(db_url, HOTEL)
    rates = (Rate("base_rate", "8000", 3, date_end=FAR), Rate("percentage", "10", 3))
    async with await connect(db_url) as conn:
        plan = await make_plan(conn, "FT Short season", "per_room", rates)
        type_id, _ = await suite(conn)
    stay = Stay(plan, FAR + DAY, FAR + 2 * DAY, 1, TARO_ROW)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        reply = await http.post("/api/booking-engine/bookings", json=request_of(stay, type_id))
    async with await connect(db_url) as conn:
        expected = await pms_booking(conn, stay, None)
        kept = await query_rows(
            conn,
            "SELECT count(*) AS n FROM reservations WHERE hotel_id = %s AND check_in = %s",
            (HOTEL, stay.check_in),
        )
    assert expected.nights[FAR + DAY].detail["price"] == 0  # what the PMS would charge
    assert (reply.status_code, reply.json()["error"]) == (422, "unpriced")
    assert (FAR + DAY).isoformat() in reply.json()["detail"]
    assert kept == [{"n": 0}]  # nothing written

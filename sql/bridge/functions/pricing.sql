-- The PMS's price of a plan's night, and the plans a hotel sells: the one definition the price
-- projector, the pricing and availability answers and the booking writes share. Applied whole
-- by `migrate` whenever this file's text changes (see booking.sql's header).
--
-- The PMS computes a night's price in api/models/planRate.js (getPriceForReservation): the
-- plan's plans_rates rows whose dates cover the night and whose condition holds, then
--   p     = floor(base * (1 + A) / 100) * 100        (down to 100 yen)
--   price = max(0, floor(p + p * B + F))
-- with base the sum of base_rate rows, A the percentage rows of any tax type but 1 (each
-- value / 100), B those of tax type 1, F the flat_fee rows. It does this in JavaScript
-- numbers, so it is done here in float8, the same IEEE doubles in the same order: a price
-- whose exact value is a multiple of 100 can come out 100 yen lower there (6000 * 1.15 is
-- 6899.99... in doubles: 6800), and the PMS charges what its code computes.

DROP FUNCTION IF EXISTS pms_bridge.plan_night_prices(BOOLEAN, INT[], INT[], DATE, DATE);

-- A condition_value as a list of lower-case words. The PMS's rate screen stores a JSON array
-- (["sat","sun"], ["july","august"]); older rows hold a brace list ({july,august}) or bare
-- words. The PMS server parses JSON arrays only (its fallback leaves the braces on the first
-- and last word); brace lists are read here as the screen shows them.
CREATE OR REPLACE FUNCTION pms_bridge.pms_condition_values(p_value TEXT)
RETURNS TEXT[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT coalesce(array_remove(regexp_split_to_array(
           regexp_replace(lower(coalesce(p_value, '')), '[][{}"[:space:]]', '', 'g'), ','),
           ''), '{}')
$$;

-- Whether a rate's condition holds on a night: `month` by the English month name, `day_of_week`
-- by the short weekday name the PMS's screen stores and matches (sat) or the full one (saturday:
-- the PMS server compares full names only, so it never applies a weekday rate its own screen
-- saved; the screen's preview, which the hotel priced with, is followed), anything else always.
CREATE OR REPLACE FUNCTION pms_bridge.pms_rate_applies(p_type TEXT, p_values TEXT[], p_night DATE)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE p_type
    WHEN 'month' THEN
        (ARRAY['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august',
               'september', 'october', 'november', 'december'])[extract(month FROM p_night)]
            = ANY (p_values)
    WHEN 'day_of_week' THEN
        (ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])[extract(dow FROM p_night) + 1]
            = ANY (p_values)
        OR (ARRAY['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday',
                  'saturday'])[extract(dow FROM p_night) + 1] = ANY (p_values)
    ELSE true
END
$$;

-- The PMS's formula over a night's sums (see the header); float8 as in the PMS.
CREATE OR REPLACE FUNCTION pms_bridge.pms_price(p_base FLOAT8, p_a FLOAT8, p_b FLOAT8,
                                                p_flat FLOAT8)
RETURNS BIGINT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT greatest(0, floor(s.p + s.p * coalesce(p_b, 0) + coalesce(p_flat, 0)))::bigint
FROM (SELECT floor(coalesce(p_base, 0) * (1 + coalesce(p_a, 0)) / 100) * 100 AS p) AS s
$$;

-- The plans_rates rows behind each night of each plan: the plan is (hotel, plans_global_id,
-- plans_hotel_id) over [lo, hi] (a plan per array position). As the PMS selects them: the
-- global plan's rows (plans_global_id, no plans_hotel_id, whatever their hotel_id) and the
-- hotel plan's own (plans_hotel_id of the hotel, no plans_global_id), whose dates cover the
-- night and whose condition holds on it.
CREATE OR REPLACE FUNCTION pms_bridge.plan_rates_by_night(
    p_hotel_ids INT[], p_global_ids INT[], p_plan_ids INT[], p_lo DATE[], p_hi DATE[]
) RETURNS TABLE (hotel_id INT, plans_global_id INT, plan_id INT, night DATE,
                 adjustment_type TEXT, adjustment_value NUMERIC, tax_type_id INT,
                 tax_rate NUMERIC, include_in_cancel_fee BOOLEAN, sales_category TEXT,
                 condition_type TEXT, condition_value TEXT)
LANGUAGE sql STABLE AS $$
WITH plans AS (
    SELECT p.hotel_id, p.plans_global_id, p.plan_id, p.lo, p.hi
    FROM unnest(p_hotel_ids, p_global_ids, p_plan_ids, p_lo, p_hi)
         AS p(hotel_id, plans_global_id, plan_id, lo, hi)
    WHERE p.lo <= p.hi
), rates AS MATERIALIZED (
    -- Materialized: each row's condition list is parsed once, not once per night.
    SELECT x.*, greatest(x.date_start, x.lo) AS first_night,
           least(coalesce(x.date_end, x.hi), x.hi) AS last_night,
           pms_bridge.pms_condition_values(x.condition_value) AS condition_values
    FROM (
        SELECT p.hotel_id, p.plans_global_id, p.plan_id, p.lo, p.hi, r.adjustment_type,
               r.adjustment_value, r.tax_type_id, r.tax_rate, r.include_in_cancel_fee,
               r.sales_category, r.condition_type, r.condition_value, r.date_start, r.date_end
        FROM plans p
        JOIN plans_rates r ON r.plans_global_id = p.plans_global_id AND r.plans_hotel_id IS NULL
        UNION ALL
        SELECT p.hotel_id, p.plans_global_id, p.plan_id, p.lo, p.hi, r.adjustment_type,
               r.adjustment_value, r.tax_type_id, r.tax_rate, r.include_in_cancel_fee,
               r.sales_category, r.condition_type, r.condition_value, r.date_start, r.date_end
        FROM plans p
        JOIN plans_rates r
          ON r.plans_hotel_id = p.plan_id AND r.hotel_id = p.hotel_id
         AND r.plans_global_id IS NULL
    ) AS x
)
SELECT x.hotel_id, x.plans_global_id, x.plan_id, x.first_night + i, x.adjustment_type,
       x.adjustment_value, x.tax_type_id, x.tax_rate, x.include_in_cancel_fee,
       x.sales_category, x.condition_type, x.condition_value
FROM rates x
CROSS JOIN generate_series(0, x.last_night - x.first_night) AS i
WHERE pms_bridge.pms_rate_applies(x.condition_type, x.condition_values, x.first_night + i)
$$;

-- Each night's price of each plan (see plan_rates_by_night for the arguments), NULL-free: a
-- night without a base_rate row has no row. The PMS would charge 0 for it (plus any flat
-- fee); a booking engine selling a room for nothing is a hotel's loss, so such a night is not
-- for sale through the bridge.
-- Rows are summed as the PMS's query groups them, then added up in float8 as it does.
CREATE OR REPLACE FUNCTION pms_bridge.plan_prices_by_night(
    p_hotel_ids INT[], p_global_ids INT[], p_plan_ids INT[], p_lo DATE[], p_hi DATE[]
) RETURNS TABLE (hotel_id INT, plans_global_id INT, plan_id INT, night DATE, price BIGINT,
                 is_accommodation BOOLEAN)
LANGUAGE sql STABLE AS $$
WITH grouped AS (
    SELECT r.hotel_id, r.plans_global_id, r.plan_id, r.night, r.adjustment_type, r.tax_type_id,
           sum(r.adjustment_value) AS value,
           bool_or(coalesce(r.sales_category, 'accommodation') = 'accommodation') AS lodging
    FROM pms_bridge.plan_rates_by_night(p_hotel_ids, p_global_ids, p_plan_ids, p_lo, p_hi) AS r
    GROUP BY r.hotel_id, r.plans_global_id, r.plan_id, r.night, r.condition_type,
             r.adjustment_type, r.condition_value, r.tax_type_id
)
SELECT g.hotel_id, g.plans_global_id, g.plan_id, g.night,
       pms_bridge.pms_price(
           sum(g.value::float8) FILTER (WHERE g.adjustment_type = 'base_rate'),
           sum(g.value::float8 / 100) FILTER (WHERE g.adjustment_type = 'percentage'
                                                AND g.tax_type_id IS DISTINCT FROM 1),
           sum(g.value::float8 / 100) FILTER (WHERE g.adjustment_type = 'percentage'
                                                AND g.tax_type_id = 1),
           sum(g.value::float8) FILTER (WHERE g.adjustment_type = 'flat_fee')),
       bool_or(g.lodging)
FROM grouped g
GROUP BY g.hotel_id, g.plans_global_id, g.plan_id, g.night
HAVING bool_or(g.adjustment_type = 'base_rate')
$$;

-- A night's reservation_rates lines, as the PMS's insertAggregatedRates writes them after
-- getRatesForTheDay: one line per (adjustment_type, tax_type_id, include_in_cancel_fee,
-- sales_category), its value summed; the line's price is the value for base_rate and
-- flat_fee rows and, for a percentage, that share of the night's base rounded half up to
-- the sen (JavaScript's Math.round, over doubles as the PMS computes it).
CREATE OR REPLACE FUNCTION pms_bridge.plan_rate_lines_by_night(
    p_hotel_id INT, p_global_id INT, p_plan_id INT, p_lo DATE, p_hi DATE
) RETURNS TABLE (night DATE, adjustment_type TEXT, adjustment_value NUMERIC, tax_type_id INT,
                 tax_rate NUMERIC, include_in_cancel_fee BOOLEAN, sales_category TEXT,
                 price NUMERIC)
LANGUAGE sql STABLE AS $$
WITH lines AS (
    SELECT r.night, r.adjustment_type, r.tax_type_id, r.include_in_cancel_fee,
           coalesce(r.sales_category, 'accommodation') AS sales_category,
           sum(r.adjustment_value) AS value, min(r.tax_rate) AS tax_rate
    FROM pms_bridge.plan_rates_by_night(ARRAY[p_hotel_id], ARRAY[p_global_id], ARRAY[p_plan_id],
                                        ARRAY[p_lo], ARRAY[p_hi]) AS r
    GROUP BY r.night, r.adjustment_type, r.tax_type_id, r.include_in_cancel_fee,
             coalesce(r.sales_category, 'accommodation')
)
SELECT l.night, l.adjustment_type, l.value, l.tax_type_id, coalesce(l.tax_rate, 0),
       l.include_in_cancel_fee, l.sales_category,
       CASE l.adjustment_type
           WHEN 'percentage' THEN (floor(
               coalesce(sum(l.value::float8) FILTER (WHERE l.adjustment_type = 'base_rate')
                            OVER (PARTITION BY l.night), 0)
               * (l.value::float8 / 100) * 100 + 0.5) / 100)::numeric
           ELSE l.value
       END
FROM lines l
$$;

-- The PMS's price of a set of reservation_rates lines (calculatePriceFromRatesService in its
-- api/models/reservations/services/calculationService.js), in its doubles and its order:
-- lines summed per (adjustment type, tax type) in the order they first appear; then base
-- lines, plus each percentage's share of the base rounded to the sen, plus flat lines; down
-- to 100 yen. It prices a cancellation with a fee from the lines flagged
-- include_in_cancel_fee.
DROP FUNCTION IF EXISTS pms_bridge.pms_price_of_lines(TEXT[], NUMERIC[]);
CREATE OR REPLACE FUNCTION pms_bridge.pms_price_of_lines(p_types TEXT[], p_tax_types INT[],
                                                         p_values NUMERIC[])
RETURNS NUMERIC LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v_keys TEXT[] := '{}';
    v_kinds TEXT[] := '{}';
    v_sums FLOAT8[] := '{}';
    v_at INT;
    v_base FLOAT8 := 0;
    v_total FLOAT8 := 0;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_types), 0) LOOP
        v_at := array_position(v_keys, p_types[i] || '-' || coalesce(p_tax_types[i]::text, ''));
        IF v_at IS NULL THEN
            v_keys := v_keys || (p_types[i] || '-' || coalesce(p_tax_types[i]::text, ''));
            v_kinds := v_kinds || p_types[i];
            v_sums := v_sums || 0::float8;
            v_at := cardinality(v_keys);
        END IF;
        v_sums[v_at] := v_sums[v_at] + coalesce(p_values[i], 0)::float8;
    END LOOP;
    FOR i IN 1 .. cardinality(v_kinds) LOOP
        IF v_kinds[i] = 'base_rate' THEN
            v_base := v_base + v_sums[i];
        END IF;
    END LOOP;
    FOR i IN 1 .. cardinality(v_kinds) LOOP
        v_total := v_total + CASE v_kinds[i]
            WHEN 'base_rate' THEN v_sums[i]
            WHEN 'flat_fee' THEN v_sums[i]
            WHEN 'percentage' THEN floor(v_base * (v_sums[i] / 100) * 100 + 0.5) / 100
            ELSE 0
        END;
    END LOOP;
    RETURN (floor(v_total / 100) * 100)::numeric;
END
$$;

-- The plans each hotel sells over [lo, hi], as the PMS lists them for booking
-- (get_available_plans_for_hotel in its api/migrations/011_custom_functions.sql): the hotel's
-- active plans, each over the part of [lo, hi] inside its available_from / available_until;
-- then the global plans, always active, unless the hotel excludes one or has a plan of its own
-- made from it. plan_key is the PMS's own key: "<global>h<hotel plan>", "h<hotel plan>" or
-- "<global>h". In the PMS's order: display_order (global plans at 999, no order last),
-- plan_type, name. A hotel plan not on sale on any night of [lo, hi] is not listed.
CREATE OR REPLACE FUNCTION pms_bridge.hotel_plans(p_hotel_ids INT[], p_lo DATE, p_hi DATE)
RETURNS TABLE (hotel_id INT, plan_key TEXT, plan_id INT, plans_global_id INT, name TEXT,
               plan_type TEXT, display_order INT, lo DATE, hi DATE)
LANGUAGE sql STABLE AS $$
SELECT ph.hotel_id, coalesce(ph.plans_global_id::text, '') || 'h' || ph.id::text, ph.id,
       ph.plans_global_id, ph.name, ph.plan_type, ph.display_order,
       greatest(p_lo, ph.available_from), least(p_hi, ph.available_until)
FROM plans_hotel ph
WHERE ph.hotel_id = ANY (p_hotel_ids) AND ph.is_active
  AND greatest(p_lo, ph.available_from) <= least(p_hi, ph.available_until)
UNION ALL
SELECT h.id, pg.id::text || 'h', NULL, pg.id, pg.name, pg.plan_type, 999, p_lo, p_hi
FROM hotels h
CROSS JOIN plans_global pg
WHERE h.id = ANY (p_hotel_ids)
  AND NOT EXISTS (SELECT 1 FROM hotel_plan_exclusions x
                  WHERE x.hotel_id = h.id AND x.global_plan_id = pg.id)
  AND NOT EXISTS (SELECT 1 FROM plans_hotel ph
                  WHERE ph.hotel_id = h.id AND ph.plans_global_id = pg.id)
ORDER BY 1, 7 NULLS LAST, 6, 5
$$;

-- Nightly price of every plan the chosen hotels sell over [lo, hi], for the price cache:
-- hotels of hotel_ids, or all of them (everything, or any global_ids: a global plan is sold
-- by every hotel that does not exclude it). A plan night without a rate has no row (price
-- NULL when the plan has none at all); a hotel without plans comes back once with plan NULL.
-- (A night "without a rate" is one without a base_rate row: see plan_prices_by_night.)
CREATE OR REPLACE FUNCTION pms_bridge.plan_night_prices(
    p_everything BOOLEAN, p_hotel_ids INT[], p_global_ids INT[], p_lo DATE, p_hi DATE
) RETURNS TABLE (hotel_id INT, plan_key TEXT, plan_id INT, plans_global_id INT, name TEXT,
                 plan_type TEXT, night DATE, price BIGINT)
LANGUAGE sql STABLE AS $$
WITH dirty AS (
    SELECT array_agg(h.id) AS ids
    FROM hotels h
    WHERE p_everything OR cardinality(p_global_ids) > 0 OR h.id = ANY (p_hotel_ids)
), plans AS (
    SELECT p.*
    FROM dirty d
    CROSS JOIN pms_bridge.hotel_plans(d.ids, p_lo, p_hi) AS p
), priced AS (
    SELECT x.*
    FROM (SELECT array_agg(hotel_id) AS h, array_agg(plans_global_id) AS g,
                 array_agg(plan_id) AS p, array_agg(lo) AS lo, array_agg(hi) AS hi
          FROM plans) AS a
    CROSS JOIN pms_bridge.plan_prices_by_night(a.h, a.g, a.p, a.lo, a.hi) AS x
)
SELECT h.id, pl.plan_key, pl.plan_id, pl.plans_global_id, pl.name, pl.plan_type, n.night,
       n.price
FROM dirty d
CROSS JOIN unnest(d.ids) AS h(id)
LEFT JOIN plans pl ON pl.hotel_id = h.id
LEFT JOIN priced n
  ON n.hotel_id = pl.hotel_id AND n.plans_global_id IS NOT DISTINCT FROM pl.plans_global_id
 AND n.plan_id IS NOT DISTINCT FROM pl.plan_id
ORDER BY h.id, pl.display_order NULLS LAST, pl.plan_type, pl.name, pl.plan_key, n.night
$$;

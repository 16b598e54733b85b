-- name: prices_recompute
-- Nightly price of every plan of the dirty hotels over the horizon, as PMS_SCHEMA.md defines
-- it: the sum of base_rate rows, times (1 + the sum of percentage rows / 100) rounded to
-- cents, plus the flat_fee rows; counting rows whose dates cover the night and whose
-- condition matches. Hotel rows apply to their plans_hotel_id, global rows (hotel_id NULL)
-- to every hotel plan with their plans_global_id. A plan with no matching row on a night has
-- no price that night (price NULL); a hotel without plans comes back once with plan NULL.
WITH dirty AS (
    SELECT h.id AS hotel_id
    FROM hotels h
    WHERE %(everything)s
       OR h.id = ANY(%(hotel_ids)s::int[])
       OR EXISTS (SELECT 1 FROM plans_hotel p
                  WHERE p.hotel_id = h.id AND p.plans_global_id = ANY(%(global_ids)s::int[]))
), plans AS (
    SELECT p.hotel_id, p.id, p.plans_global_id, p.name, p.plan_type
    FROM plans_hotel p JOIN dirty d USING (hotel_id)
), plan_rates AS (
    SELECT pl.hotel_id, pl.id AS plan_id, r.adjustment_type, r.adjustment_value,
           r.condition_type, lower(coalesce(r.condition_value, '')) AS condition_value,
           greatest(r.date_start, %(lo)s::date) AS date_start,
           least(coalesce(r.date_end, %(hi)s::date), %(hi)s::date) AS date_end
    FROM plans pl
    JOIN plans_rates r
      ON (r.hotel_id = pl.hotel_id AND r.plans_hotel_id = pl.id)
      OR (r.hotel_id IS NULL AND r.plans_global_id = pl.plans_global_id)
), matched AS (
    SELECT x.hotel_id, x.plan_id, g::date AS night, x.adjustment_type, x.adjustment_value
    FROM plan_rates x
    CROSS JOIN generate_series(x.date_start, x.date_end, interval '1 day') AS g
    WHERE x.condition_type = 'no_restriction'
       OR (x.condition_type = 'day_of_week' AND EXISTS (
              SELECT 1 FROM unnest(string_to_array(x.condition_value, ',')) AS v
              WHERE trim(v) IN (rtrim(to_char(g, 'day')), to_char(g, 'dy'))))
       OR (x.condition_type = 'month' AND EXISTS (
              SELECT 1 FROM unnest(string_to_array(x.condition_value, ',')) AS v
              WHERE ltrim(trim(v), '0') = extract(month FROM g)::text
                 OR trim(v) IN (rtrim(to_char(g, 'month')), to_char(g, 'mon'))))
), nightly AS (
    SELECT hotel_id, plan_id, night,
           coalesce(sum(adjustment_value) FILTER (WHERE adjustment_type = 'base_rate'), 0)
               AS base,
           coalesce(sum(adjustment_value) FILTER (WHERE adjustment_type = 'percentage'), 0)
               AS pct,
           coalesce(sum(adjustment_value) FILTER (WHERE adjustment_type = 'flat_fee'), 0)
               AS flat
    FROM matched
    GROUP BY hotel_id, plan_id, night
)
SELECT d.hotel_id, pl.id AS plan_id, pl.plans_global_id, pl.name, pl.plan_type, n.night,
       round(n.base * (1 + n.pct / 100), 2) + n.flat AS price
FROM dirty d
LEFT JOIN plans pl ON pl.hotel_id = d.hotel_id
LEFT JOIN nightly n ON n.hotel_id = pl.hotel_id AND n.plan_id = pl.id
ORDER BY d.hotel_id, pl.id, n.night;

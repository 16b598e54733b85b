-- name: prices_recompute
-- Nightly price of every plan of the dirty hotels over the horizon (see the function: a
-- hotel without plans comes back once with plan NULL, a night without a rate has no row),
-- in the PMS's order of plans.
SELECT hotel_id, plan_key, plan_id, plans_global_id, name, plan_type, night, price
FROM pms_bridge.plan_night_prices(%(everything)s, %(hotel_ids)s::int[], %(global_ids)s::int[],
                                  %(lo)s::date, %(hi)s::date);

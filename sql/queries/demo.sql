-- name: database_exists
SELECT 1 FROM pg_database WHERE datname = %(name)s;

-- name: create_database_pms
CREATE DATABASE pms;

-- name: seed_demo
SELECT pms_seed_demo(%(hotels)s, %(rooms)s, %(days)s);

-- name: demo_marker
-- Only a database the demo seeded itself may take the demo's workload.
SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'pms_seed_demo');

-- name: verify_reservations_without_sync
-- Reservations changed while capture ran that have no booking_sync_status row.
SELECT count(*) FROM reservations r
WHERE r.created_at >= %(since)s
  AND NOT EXISTS (SELECT 1 FROM booking_sync_status s
                  WHERE s.hotel_id = r.hotel_id AND s.booking_id = r.id);

-- name: analyze_pms
-- Fresh seed data has no statistics; without them the recompute query's plan is hopeless.
ANALYZE hotels, room_types, rooms, clients, reservations, reservation_details, plans_hotel,
    plans_rates;

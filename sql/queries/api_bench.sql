-- name: api_bench_room_types
-- The room types the API benchmark books into (hotel 1, those with sellable rooms).
SELECT DISTINCT room_type_id FROM rooms
WHERE hotel_id = 1 AND for_sale AND NOT is_staff_room
ORDER BY room_type_id;

-- name: api_bench_database_counters
-- Checkpoints begun (PostgreSQL 17+) and WAL bytes written so far, read around each load
-- phase: a checkpoint inside a phase makes its writes log whole pages and flush more.
SELECT (SELECT num_timed + num_requested FROM pg_stat_checkpointer)::bigint AS checkpoints,
       pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS wal_bytes;

-- name: api_bench_next_xid
-- The next transaction id, read without taking one: its growth over a phase counts the
-- transactions (and subtransactions) that wrote.
SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid;

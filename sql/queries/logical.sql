-- name: logical_server_check
-- What logical capture needs from the server and the role, read in one round trip.
SELECT current_setting('wal_level') AS wal_level,
       r.rolreplication OR r.rolsuper AS can_replicate,
       current_user AS role,
       current_setting('server_version_num')::int AS server_version
FROM pg_roles r
WHERE r.rolname = current_user;

-- name: logical_publication_exists
SELECT pubviaroot FROM pg_publication WHERE pubname = %(publication)s;

-- name: logical_publication_tables
SELECT c.relname
FROM pg_publication p
JOIN pg_publication_rel pr ON pr.prpubid = p.oid
JOIN pg_class c ON c.oid = pr.prrelid
WHERE p.pubname = %(publication)s;

-- name: logical_publication_create
-- {publication} and {tables} are composed with psycopg.sql.Identifier from validated names.
CREATE PUBLICATION {publication} FOR TABLE {tables}
WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);

-- name: logical_publication_set_tables
ALTER PUBLICATION {publication} SET TABLE {tables};

-- name: logical_publication_via_root
ALTER PUBLICATION {publication} SET (publish_via_partition_root = true);

-- name: logical_publication_drop
DROP PUBLICATION IF EXISTS {publication};

-- name: logical_identity_missing
-- Tables (roots and every partition) that must log whole old rows but do not yet.
SELECT t.relid::regclass::text AS relation
FROM unnest(%(tables)s::text[]) AS w(name)
JOIN pg_class root ON root.relname = w.name
    AND root.relnamespace = current_schema()::regnamespace
CROSS JOIN LATERAL pg_partition_tree(root.oid) AS t
JOIN pg_class c ON c.oid = t.relid
WHERE c.relkind IN ('r', 'p') AND c.relreplident <> 'f'
ORDER BY 1;

-- name: logical_identity_full
SELECT pms_bridge.replica_identity_full(%(relation)s::regclass);

-- name: logical_slot_info
SELECT plugin, database, active, active_pid, confirmed_flush_lsn::text
FROM pg_replication_slots
WHERE slot_name = %(slot)s;

-- name: logical_slot_health
-- Whether the slot can still stream: wal_status 'lost' means the WAL it needs is removed.
SELECT plugin, database, active, wal_status,
       NULL::text AS invalidation_reason, NULL::bool AS conflicting, NULL::bool AS failover
FROM pg_replication_slots
WHERE slot_name = %(slot)s;

-- name: logical_slot_health_17
-- PostgreSQL 17+ also says why a slot was invalidated (e.g. wal_removed, rows_removed on a
-- standby) and whether it is one the standbys synchronize.
SELECT plugin, database, active, wal_status, invalidation_reason, conflicting, failover
FROM pg_replication_slots
WHERE slot_name = %(slot)s;

-- name: logical_slot_lag
-- Bytes of WAL written since the slot's confirmed position, and the WAL the slot retains.
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS behind,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained,
       active, wal_status
FROM pg_replication_slots
WHERE slot_name = %(slot)s;

-- name: logical_slot_drop
SELECT pg_drop_replication_slot(%(slot)s);

-- name: logical_status_seconds
-- Seconds since the consumer last committed a checkpoint: how stale the caches can be.
SELECT extract(epoch FROM clock_timestamp() - updated_at)::float8
FROM pms_bridge.checkpoint
WHERE consumer = %(consumer)s;

-- name: logical_snapshot_import
-- Bound parameters are not allowed in SET TRANSACTION; {snapshot} is a sql.Literal.
SET TRANSACTION SNAPSHOT {snapshot};

-- name: logical_xids_running
-- The walsender can send a commit before the committing backend has left the proc array,
-- i.e. before a new snapshot sees it; recomputing from the tables then would miss it.
-- Counts which of these 32-bit transaction ids a snapshot taken now does not see yet. The
-- epoch is the snapshot's, moved by one when the id wrapped around on either side of xmax.
WITH snap AS (
    SELECT s, pg_snapshot_xmax(s)::text::bigint AS xmax FROM pg_current_snapshot() AS s
), full_ids AS (
    SELECT snap.s, (snap.xmax >> 32 << 32) + t.xid AS candidate, snap.xmax
    FROM snap, unnest(%(xids)s::bigint[]) AS t(xid)
)
SELECT count(*)
FROM full_ids
WHERE NOT pg_visible_in_snapshot(
    (CASE WHEN candidate > xmax + 2147483648 THEN candidate - 4294967296
          WHEN candidate < xmax - 2147483648 THEN candidate + 4294967296
          ELSE candidate END)::text::xid8,
    s);

-- name: logical_heartbeat
-- Transactional, so it comes back between Begin and Commit, at a position the bridge confirms.
SELECT pg_logical_emit_message(true, %(prefix)s, %(payload)s);

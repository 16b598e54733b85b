-- Logical capture: which old-row columns the WAL must carry (docs/logical-replication.md).
-- The availability projector needs the old room_id and date of a moved reservation night,
-- the old room_type_id of a room moved between types and a deleted room type's row; delivery
-- needs a reservation's old status. With the default identity the WAL carries only the old
-- primary key, and the old values cannot be re-read afterwards. Those four tables therefore
-- get REPLICA IDENTITY FULL, on the partition root and on every partition (the setting is
-- per table and a new partition does not inherit it); the others keep the default.
-- This migration only creates the function that sets it on one table; `pms-bridge --capture
-- logical migrate` and the logical source at start-up call it per table, each in its own
-- short transaction, so trigger mode never pays for the wider WAL records.
-- ALTER TABLE ... REPLICA IDENTITY takes an ACCESS EXCLUSIVE lock: a short lock_timeout keeps
-- a busy PMS table from queueing every writer behind the bridge (the caller retries), and
-- one table per transaction means the bridge never holds one table's lock while waiting
-- for another's (which deadlocked against a writer's foreign-key check).

CREATE FUNCTION pms_bridge.replica_identity_full(rel REGCLASS) RETURNS VOID
LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
BEGIN
    EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', rel);
END $$;

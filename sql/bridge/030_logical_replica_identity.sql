-- Logical capture: which old-row columns the WAL must carry.
-- The availability projector needs the old room_id and date of a moved reservation night
-- and the old room_type_id of a room moved between types; with the default identity the
-- WAL carries only the old primary key, and the old values cannot be re-read afterwards.
-- reservation_details and rooms therefore get REPLICA IDENTITY FULL, on the partition root
-- and on every partition (the setting is per table and a new partition does not inherit
-- it); so do room_types (a deleted type's row names its hotel and type for the projector)
-- and reservations (delivery tells a cancellation from an edit of a cancelled booking by
-- the old status). Hotels, clients and plans keep their default identity: they are read
-- from the new row or by key. The caller names the tables (bridge/capture/slot.py).
-- This migration only creates the function; `pms-bridge migrate` in logical mode and the
-- logical source at start-up call it, so trigger mode never pays for the wider WAL records.
-- Tables are named by the caller and resolved in the caller's schema.

CREATE FUNCTION pms_bridge.replica_identity_full(tables TEXT[]) RETURNS TEXT[]
LANGUAGE plpgsql AS $$
DECLARE
    rel REGCLASS;
    changed TEXT[] := '{}';
BEGIN
    FOR rel IN
        SELECT t.relid
        FROM unnest(tables) AS w(name)
        JOIN pg_catalog.pg_class root ON root.relname = w.name
            AND root.relnamespace = pg_catalog.current_schema()::pg_catalog.regnamespace
        CROSS JOIN LATERAL pg_catalog.pg_partition_tree(root.oid) AS t
        JOIN pg_catalog.pg_class c ON c.oid = t.relid
        WHERE c.relkind IN ('r', 'p') AND c.relreplident <> 'f'
        ORDER BY t.level, t.relid
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', rel);
        changed := changed || rel::TEXT;
    END LOOP;
    RETURN changed;
END $$;

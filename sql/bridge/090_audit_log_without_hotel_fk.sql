-- The API audit log keeps hotel_id without a foreign key to hotels (the integration document
-- declares one). Every API call writes a row, thousands a second under a read-heavy booking
-- engine, and the key check of each row took a third or more of the audit insert's
-- PostgreSQL CPU. The key also made the log a burden on hotels: deleting or renumbering any
-- hotel scanned the whole unindexed log, and a hotel's audit rows, beside its API keys, kept
-- it from being deleted.
-- An audit record should outlive what it records. The writer still maps an id
-- that names no hotel to NULL when it writes (api_audit_insert joins hotels per batch).
-- The constraint is found by what it references, not by name: a PMS that created this table
-- itself may have named it otherwise.
-- Dropping the key locks hotels ACCESS EXCLUSIVE until migrate commits, and migrate then
-- waits for PMS writers while it installs the capture triggers: a PMS transaction that
-- holds such a lock and then reads hotels would deadlock with it, and PostgreSQL might abort
-- the PMS's side. A lock timeout below deadlock_timeout for the rest of this migrate run
-- (0.5 s, or half of deadlock_timeout where it is set lower) makes migrate the side that
-- gives up; migrate retries the whole run.
SELECT set_config(
    'lock_timeout',
    (extract(epoch FROM least(current_setting('deadlock_timeout')::interval / 2,
                              interval '500 milliseconds')) * 1000)::int || 'ms',
    true);

DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN
        SELECT c.conname
        FROM pg_constraint c
        WHERE c.conrelid = 'booking_engine_audit_log'::regclass
          AND c.contype = 'f'
          AND c.confrelid = 'hotels'::regclass
    LOOP
        EXECUTE format('ALTER TABLE booking_engine_audit_log DROP CONSTRAINT %I', fk.conname);
    END LOOP;
END
$$;

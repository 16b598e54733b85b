-- The API audit log keeps hotel_id without a foreign key to hotels (the integration document
-- declares one). Every API call writes a row, thousands a second under a read-heavy booking
-- engine, and the key check of each row was 40 % of the audit insert's PostgreSQL CPU
-- (10.3 against 6.3 µs a row). The key also made the log a burden on hotels: deleting or
-- renumbering a hotel scanned the whole unindexed log, and any audited hotel could not be
-- deleted at all. An audit record should outlive what it records. The writer still maps an
-- id that names no hotel to NULL when it writes (api_audit_insert joins hotels per batch).
-- The constraint is found by what it references, not by name: a PMS that created this table
-- itself may have named it otherwise.
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

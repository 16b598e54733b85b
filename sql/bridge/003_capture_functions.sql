-- Trigger capture: one generic row trigger function for every watched table. It runs as its
-- owner (SECURITY DEFINER) so the PMS's own role needs no grant on the outbox, and it names
-- everything schema-qualified so a caller's search_path cannot redirect it.
-- TG_ARGV[0] is the partition root's name: the trigger is attached to the root and cloned
-- to every partition (including those created later), where TG_TABLE_NAME is the partition.

CREATE FUNCTION pms_bridge.capture_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_row JSONB;
    new_row JSONB;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND old_row = new_row THEN
        RETURN NULL;
    END IF;
    INSERT INTO pms_bridge.outbox (table_name, op, old_row, new_row)
    VALUES (TG_ARGV[0], substr(TG_OP, 1, 1)::"char", old_row, new_row);
    -- One constant payload: PostgreSQL folds duplicates, so a transaction sends one NOTIFY.
    PERFORM pg_notify('pms_bridge_outbox', '');
    RETURN NULL;
END $$;

CREATE FUNCTION pms_bridge.capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO pms_bridge.outbox (table_name, op) VALUES (TG_ARGV[0], 'T');
    PERFORM pg_notify('pms_bridge_outbox', '');
    RETURN NULL;
END $$;

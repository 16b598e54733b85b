-- The bridge's own schema: outbox, checkpoint and the parking place for malformed changes.
-- (pms_bridge.schema_migrations is created by the migration runner itself.)

CREATE TABLE pms_bridge.outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid XID8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    captured_at TIMESTAMPTZ NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    table_name TEXT NOT NULL,
    op "char" NOT NULL,
    old_row JSONB,
    new_row JSONB
);

CREATE TABLE pms_bridge.checkpoint (
    consumer TEXT PRIMARY KEY,
    position TEXT NOT NULL,
    changes_applied BIGINT NOT NULL DEFAULT 0,
    last_captured_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE pms_bridge.parked_changes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer TEXT NOT NULL,
    position TEXT NOT NULL,
    table_name TEXT,
    op TEXT,
    payload JSONB NOT NULL,
    error TEXT NOT NULL,
    parked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

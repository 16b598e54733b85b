-- name: migrate_lock
SELECT pg_advisory_xact_lock(hashtext('pms_bridge.migrate'));

-- name: migrate_bookkeeping
CREATE SCHEMA IF NOT EXISTS pms_bridge;
CREATE TABLE IF NOT EXISTS pms_bridge.schema_migrations (
    version INT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The function files (sql/bridge/functions) as each was last applied.
CREATE TABLE IF NOT EXISTS pms_bridge.schema_functions (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- name: migrate_applied
SELECT version FROM pms_bridge.schema_migrations ORDER BY version;

-- name: migrate_bookkeeping_exists
SELECT to_regclass('pms_bridge.schema_migrations') IS NOT NULL AS migrations,
       to_regclass('pms_bridge.schema_functions') IS NOT NULL AS functions;

-- name: migrate_functions_applied
SELECT name, digest FROM pms_bridge.schema_functions;

-- name: migrate_functions_record
INSERT INTO pms_bridge.schema_functions (name, digest) VALUES (%(name)s, %(digest)s)
ON CONFLICT (name) DO UPDATE SET digest = EXCLUDED.digest, applied_at = now();

-- name: migrate_record
INSERT INTO pms_bridge.schema_migrations (version, name) VALUES (%(version)s, %(name)s);

-- name: existing_tables
SELECT c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(%(names)s);

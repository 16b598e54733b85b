-- name: primary_keys
-- Primary-key columns of the watched partition roots, in key order.
SELECT c.relname AS table_name, array_agg(a.attname ORDER BY k.ord) AS columns
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE i.indisprimary AND n.nspname = current_schema() AND c.relname = ANY(%(tables)s)
GROUP BY c.relname;

-- name: capture_triggers
SELECT c.relname AS table_name, t.tgname AS trigger_name
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND t.tgparentid = 0
  AND t.tgname IN ('pms_bridge_capture', 'pms_bridge_capture_truncate');

-- name: capture_install_row
-- {table} is composed with psycopg.sql.Identifier / Literal from the validated watched set.
CREATE OR REPLACE TRIGGER pms_bridge_capture
AFTER INSERT OR UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION pms_bridge.capture_row({name});

-- name: capture_install_truncate
CREATE OR REPLACE TRIGGER pms_bridge_capture_truncate
AFTER TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION pms_bridge.capture_truncate({name});

-- name: capture_remove_row
DROP TRIGGER IF EXISTS pms_bridge_capture ON {table};

-- name: capture_remove_truncate
DROP TRIGGER IF EXISTS pms_bridge_capture_truncate ON {table};

-- name: contract_columns
-- Each named table's columns, by their base type (a varchar's length is the PMS's to change).
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, NULL) AS type
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(%(tables)s);

-- name: contract_privileges
-- What the connected role may do to each named table, and whether it owns it (or is a member
-- of its owner's role), which logical capture needs to publish it.
SELECT c.relname AS table_name,
       has_table_privilege(c.oid, 'SELECT') AS can_select,
       has_table_privilege(c.oid, 'INSERT') AS can_insert,
       has_table_privilege(c.oid, 'UPDATE') AS can_update,
       has_table_privilege(c.oid, 'DELETE') AS can_delete,
       has_table_privilege(c.oid, 'TRIGGER') AS can_trigger,
       pg_has_role(c.relowner, 'USAGE') AS owns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(%(tables)s);

-- name: contract_role
SELECT current_user AS role, r.rolsuper AS superuser, r.rolreplication AS replication
FROM pg_roles r WHERE r.rolname = current_user;

-- name: contract_pms_user
-- Whether the PMS user bookings are written as exists (created_by / updated_by reference it).
SELECT EXISTS (SELECT 1 FROM users WHERE id = %(user_id)s) AS known;

-- BillPort's database roles: one login role per service, owning the schema of its name and
-- nothing else, so a compromised service cannot read or change another service's data.
--
-- Run as a superuser on the `billport` database with psql 15 or newer, the passwords in the
-- environment (never on the command line, where `ps` would show them):
--   BILLPORT_USAGE_DB_PASSWORD=… BILLPORT_INVOICING_DB_PASSWORD=… BILLPORT_PAYMENTS_DB_PASSWORD=…
--   BILLPORT_NOTIFIER_DB_PASSWORD=… BILLPORT_GATEWAY_DB_PASSWORD=… \
--     psql -v ON_ERROR_STOP=1 -d billport -f deploy/postgres/roles.sql
-- The local stack (devstack) runs it on every start; docker-compose runs it when the volume is
-- first made (for an older volume, run it once by hand as above). It is idempotent: run it
-- again to change passwords, or on a database made before these roles existed (schemas and
-- objects the superuser owns are handed to their service's role).
\set ON_ERROR_STOP on
\set QUIET on

\getenv usage_password BILLPORT_USAGE_DB_PASSWORD
\getenv invoicing_password BILLPORT_INVOICING_DB_PASSWORD
\getenv payments_password BILLPORT_PAYMENTS_DB_PASSWORD
\getenv notifier_password BILLPORT_NOTIFIER_DB_PASSWORD
\getenv gateway_password BILLPORT_GATEWAY_DB_PASSWORD
-- An unset variable would be left in the SQL as written; an empty one fails the check below.
\if :{?usage_password}
\else
  \set usage_password ''
\endif
\if :{?invoicing_password}
\else
  \set invoicing_password ''
\endif
\if :{?payments_password}
\else
  \set payments_password ''
\endif
\if :{?notifier_password}
\else
  \set notifier_password ''
\endif
\if :{?gateway_password}
\else
  \set gateway_password ''
\endif

BEGIN;

CREATE TEMPORARY TABLE billport_roles (schema_name text, role_name text, variable text, password text)
  ON COMMIT DROP;
INSERT INTO billport_roles VALUES
  ('usage', 'billport_usage', 'BILLPORT_USAGE_DB_PASSWORD', :'usage_password'),
  ('invoicing', 'billport_invoicing', 'BILLPORT_INVOICING_DB_PASSWORD', :'invoicing_password'),
  ('payments', 'billport_payments', 'BILLPORT_PAYMENTS_DB_PASSWORD', :'payments_password'),
  ('notifier', 'billport_notifier', 'BILLPORT_NOTIFIER_DB_PASSWORD', :'notifier_password'),
  ('gateway', 'billport_gateway', 'BILLPORT_GATEWAY_DB_PASSWORD', :'gateway_password');

SELECT format('DO $m$BEGIN RAISE EXCEPTION %L; END$m$',
              variable || ' must hold a password of at least 16 characters')
  FROM billport_roles WHERE length(password) < 16
\gexec

-- Nobody but the superuser creates anything in `public` (PostgreSQL 15 withholds it already;
-- a database made by an older release granted it to everyone).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('REVOKE CREATE ON DATABASE %I FROM PUBLIC', current_database())
\gexec

SELECT format('CREATE ROLE %I', role_name) FROM billport_roles
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name)
\gexec
SELECT format('ALTER ROLE %I LOGIN NOCREATEDB NOCREATEROLE PASSWORD %L', role_name, password)
  FROM billport_roles
\gexec
-- Attributes only a true superuser may change (a managed database's admin may not), so they
-- are taken away only from a role that has them: a new role never does.
SELECT format('ALTER ROLE %I NOSUPERUSER NOREPLICATION NOBYPASSRLS', rolname)
  FROM pg_roles JOIN billport_roles ON rolname = role_name
 WHERE rolsuper OR rolreplication OR rolbypassrls
\gexec

-- The schema, made here rather than by the service: a service role has no CREATE on the
-- database. Only its owner may use it (no grants to PUBLIC or to the other roles).
SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', schema_name, role_name)
  FROM billport_roles
\gexec
SELECT format('ALTER SCHEMA %I OWNER TO %I', schema_name, role_name) FROM billport_roles
\gexec
SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', schema_name) FROM billport_roles
\gexec

-- The extensions the invoicing migrations use (exclusion constraints over ranges, trigram
-- search), made here because creating one needs CREATE on the database; the migration's own
-- `CREATE EXTENSION IF NOT EXISTS` then finds them and does nothing.
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA invoicing;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA invoicing;

-- A database from before the roles: the superuser made every object, so hand each one in a
-- service's schema to that service's role. Objects of an extension stay with it; indexes,
-- row types and sequences that belong to a table follow their table.
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END,
              n.nspname, c.relname, r.role_name)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN billport_roles r ON r.schema_name = n.nspname
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = r.role_name)
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype IN ('e', 'a', 'i'))
\gexec
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
              n.nspname, t.typname, r.role_name)
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
  JOIN billport_roles r ON r.schema_name = n.nspname
 WHERE (t.typtype IN ('e', 'd', 'r')
        OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
   AND t.typowner <> (SELECT oid FROM pg_roles WHERE rolname = r.role_name)
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                      AND d.deptype = 'e')
\gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, r.role_name)
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN billport_roles r ON r.schema_name = n.nspname
 WHERE p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = r.role_name)
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.deptype = 'e')
\gexec

COMMIT;

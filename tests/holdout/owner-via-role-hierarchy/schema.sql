-- Double-entry ledger (schema acct), uuid tenant keys. The application logs in as acct_web, which
-- is a member (INHERIT) of the group role acct_rw; grants and policies are given to acct_rw.
-- Tables are ENABLE + FORCE row level security, except one.
-- BUG: a migration run "as the app" left acct.journal_lines owned by acct_rw, with ENABLE but no
-- FORCE. Table owners bypass RLS unless it is forced, and ownership is inherited through role
-- membership, so acct_web sees and changes every tenant's journal lines (and may TRUNCATE them).

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'acct_rw') THEN
    CREATE ROLE acct_rw NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'acct_web') THEN
    CREATE ROLE acct_web LOGIN PASSWORD 'acct-web-secret';
  END IF;
END $$;
GRANT acct_rw TO acct_web;

CREATE SCHEMA acct;

CREATE TABLE acct.tenants (
  id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  base_currency text NOT NULL DEFAULT 'EUR' CHECK (base_currency IN ('EUR', 'USD', 'CHF'))
);

CREATE TABLE acct.journals (
  id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES acct.tenants (id),
  posted_on date NOT NULL DEFAULT current_date,
  memo      text,
  UNIQUE (tenant_id, id)
);

-- composite primary key
CREATE TABLE acct.journal_lines (
  tenant_id  uuid NOT NULL,
  journal_id uuid NOT NULL,
  line_no    integer NOT NULL,
  account    varchar(12) NOT NULL,
  debit      numeric(14, 2) NOT NULL DEFAULT 0,
  credit     numeric(14, 2) NOT NULL DEFAULT 0,
  PRIMARY KEY (journal_id, line_no),
  FOREIGN KEY (tenant_id, journal_id) REFERENCES acct.journals (tenant_id, id)
);

CREATE FUNCTION acct.current_tenant() RETURNS uuid
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog
AS $$ SELECT current_setting('app.tenant')::uuid $$;

GRANT USAGE ON SCHEMA acct TO acct_rw;
GRANT SELECT ON acct.tenants TO acct_rw;
GRANT SELECT, INSERT, UPDATE, DELETE ON acct.journals, acct.journal_lines TO acct_rw;

ALTER TABLE acct.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON acct.tenants FOR SELECT TO acct_rw
  USING (id = acct.current_tenant());

ALTER TABLE acct.journals ENABLE ROW LEVEL SECURITY;
ALTER TABLE acct.journals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON acct.journals FOR ALL TO acct_rw
  USING (tenant_id = acct.current_tenant())
  WITH CHECK (tenant_id = acct.current_tenant());

-- BUG: owned by the app's group role, and ENABLE without FORCE.
ALTER TABLE acct.journal_lines OWNER TO acct_rw;
ALTER TABLE acct.journal_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON acct.journal_lines FOR ALL TO acct_rw
  USING (tenant_id = acct.current_tenant())
  WITH CHECK (tenant_id = acct.current_tenant());

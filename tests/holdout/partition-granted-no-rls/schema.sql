-- Audit trail (schema audit), bigint account ids. activity is range-partitioned by time: one
-- partition per closed year plus a DEFAULT partition for the current data. RLS (ENABLE + FORCE)
-- and the tenant policy sit on the partitioned parent, which is what the app (audit_app) queries.
-- BUG: the grants use GRANT ... ON ALL TABLES IN SCHEMA, which also covers the partitions.
-- Partitions have their own RLS flag (off here), so selecting from audit.activity_current (or
-- audit.activity_2024) by name returns every account's rows; writes through the partition are
-- unchecked as well.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'audit_app') THEN
    CREATE ROLE audit_app LOGIN PASSWORD 'audit-app-secret';
  END IF;
END $$;

CREATE SCHEMA audit;

CREATE TABLE audit.accounts (
  id   bigint PRIMARY KEY,
  name text NOT NULL
);

CREATE TABLE audit.activity (
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  account_id  bigint NOT NULL REFERENCES audit.accounts (id),
  actor       text NOT NULL,
  action      text NOT NULL CHECK (action IN ('login', 'logout', 'export', 'delete', 'invite')),
  payload     jsonb,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE audit.activity_2024 PARTITION OF audit.activity
  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE audit.activity_current PARTITION OF audit.activity DEFAULT;

GRANT USAGE ON SCHEMA audit TO audit_app;
-- BUG: ON ALL TABLES includes audit.activity_2024 and audit.activity_current.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA audit TO audit_app;

ALTER TABLE audit.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY account_self ON audit.accounts FOR ALL TO audit_app
  USING (id = current_setting('audit.account')::bigint)
  WITH CHECK (id = current_setting('audit.account')::bigint);

ALTER TABLE audit.activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.activity FORCE ROW LEVEL SECURITY;
CREATE POLICY account_rows ON audit.activity FOR ALL TO audit_app
  USING (account_id = current_setting('audit.account')::bigint)
  WITH CHECK (account_id = current_setting('audit.account')::bigint);
-- (nothing on the partitions)

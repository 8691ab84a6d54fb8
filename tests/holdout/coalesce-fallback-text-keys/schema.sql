-- Learning platform (schema lms). Tenants are schools with text keys ('north-high', ...); the
-- app (lms_app) sets lms.current_tenant per transaction. Background jobs connect as the same role
-- without setting a tenant, and the policies were written to "let them through".
-- BUG: USING (COALESCE(current_setting('lms.current_tenant', true), '') = '' OR tenant_id = ...):
-- with no context (NULL in a fresh session, '' after any earlier transaction on the connection)
-- every school's rows are readable and writable.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lms_app') THEN
    CREATE ROLE lms_app LOGIN PASSWORD 'lms-app-secret';
  END IF;
END $$;

CREATE SCHEMA lms;

CREATE TYPE lms.enrollment_state AS ENUM ('invited', 'active', 'completed', 'dropped');

CREATE TABLE lms.schools (
  tenant_key text PRIMARY KEY CHECK (length(tenant_key) BETWEEN 1 AND 48),
  name       text NOT NULL
);

CREATE TABLE lms.courses (
  id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id text NOT NULL REFERENCES lms.schools (tenant_key),
  code      varchar(20) NOT NULL,
  title     text NOT NULL,
  published boolean NOT NULL DEFAULT false,
  UNIQUE (tenant_id, code),
  UNIQUE (tenant_id, id)
);

CREATE TABLE lms.enrollments (
  id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id text NOT NULL,
  course_id uuid NOT NULL,
  student   text NOT NULL,
  state     lms.enrollment_state NOT NULL DEFAULT 'invited',
  grade     numeric(5, 2),
  FOREIGN KEY (tenant_id, course_id) REFERENCES lms.courses (tenant_id, id)
);

GRANT USAGE ON SCHEMA lms TO lms_app;
GRANT SELECT ON lms.schools TO lms_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON lms.courses, lms.enrollments TO lms_app;

ALTER TABLE lms.schools ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.schools FORCE ROW LEVEL SECURITY;
CREATE POLICY school_scope ON lms.schools FOR SELECT TO lms_app
  USING (COALESCE(current_setting('lms.current_tenant', true), '') = ''
         OR tenant_key = current_setting('lms.current_tenant', true));

ALTER TABLE lms.courses ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.courses FORCE ROW LEVEL SECURITY;
CREATE POLICY school_scope ON lms.courses FOR ALL TO lms_app
  USING (COALESCE(current_setting('lms.current_tenant', true), '') = ''
         OR tenant_id = current_setting('lms.current_tenant', true))
  WITH CHECK (COALESCE(current_setting('lms.current_tenant', true), '') = ''
         OR tenant_id = current_setting('lms.current_tenant', true));

ALTER TABLE lms.enrollments ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.enrollments FORCE ROW LEVEL SECURITY;
CREATE POLICY school_scope ON lms.enrollments FOR ALL TO lms_app
  USING (COALESCE(current_setting('lms.current_tenant', true), '') = ''
         OR tenant_id = current_setting('lms.current_tenant', true))
  WITH CHECK (COALESCE(current_setting('lms.current_tenant', true), '') = ''
         OR tenant_id = current_setting('lms.current_tenant', true));

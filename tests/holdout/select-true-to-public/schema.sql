-- Payroll (schema hr). Tenants are companies with integer ids; every tenant table carries an
-- integer column "company". The app (hr_service) sets myapp.tenant per transaction. Policies are
-- written per command and given TO hr_service.
-- BUG: a SELECT policy meant for a reporting role was written TO PUBLIC USING (true). Permissive
-- policies are OR-ed, so hr_service (a member of PUBLIC) reads every company's payslips.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hr_service') THEN
    CREATE ROLE hr_service LOGIN PASSWORD 'hr-service-secret';
  END IF;
END $$;

CREATE SCHEMA hr;

CREATE TABLE hr.companies (
  id         integer PRIMARY KEY,
  legal_name text NOT NULL,
  country    text NOT NULL DEFAULT 'DE' CHECK (country IN ('DE', 'FR', 'NL', 'AT'))
);

CREATE TABLE hr.employees (
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  company    integer NOT NULL REFERENCES hr.companies (id),
  full_name  text NOT NULL,
  department text NOT NULL DEFAULT 'ops' CHECK (department IN ('ops', 'sales', 'eng', 'finance')),
  hired_on   date NOT NULL DEFAULT current_date,
  PRIMARY KEY (company, id)
);

CREATE TABLE hr.payslips (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  company     integer NOT NULL,
  employee_id uuid NOT NULL,
  period      date NOT NULL DEFAULT date_trunc('month', now())::date,
  gross       numeric(12, 2) NOT NULL DEFAULT 0,
  details     jsonb NOT NULL DEFAULT '{}',
  FOREIGN KEY (company, employee_id) REFERENCES hr.employees (company, id)
);

GRANT USAGE ON SCHEMA hr TO hr_service;
GRANT SELECT ON hr.companies TO hr_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON hr.employees, hr.payslips TO hr_service;

ALTER TABLE hr.companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE hr.companies FORCE ROW LEVEL SECURITY;
CREATE POLICY companies_select ON hr.companies FOR SELECT TO hr_service
  USING (id = current_setting('myapp.tenant')::integer);

ALTER TABLE hr.employees ENABLE ROW LEVEL SECURITY;
ALTER TABLE hr.employees FORCE ROW LEVEL SECURITY;
CREATE POLICY employees_select ON hr.employees FOR SELECT TO hr_service
  USING (company = current_setting('myapp.tenant')::integer);
CREATE POLICY employees_insert ON hr.employees FOR INSERT TO hr_service
  WITH CHECK (company = current_setting('myapp.tenant')::integer);
CREATE POLICY employees_update ON hr.employees FOR UPDATE TO hr_service
  USING (company = current_setting('myapp.tenant')::integer)
  WITH CHECK (company = current_setting('myapp.tenant')::integer);
CREATE POLICY employees_delete ON hr.employees FOR DELETE TO hr_service
  USING (company = current_setting('myapp.tenant')::integer);

ALTER TABLE hr.payslips ENABLE ROW LEVEL SECURITY;
ALTER TABLE hr.payslips FORCE ROW LEVEL SECURITY;
CREATE POLICY payslips_select ON hr.payslips FOR SELECT TO hr_service
  USING (company = current_setting('myapp.tenant')::integer);
CREATE POLICY payslips_insert ON hr.payslips FOR INSERT TO hr_service
  WITH CHECK (company = current_setting('myapp.tenant')::integer);
CREATE POLICY payslips_update ON hr.payslips FOR UPDATE TO hr_service
  USING (company = current_setting('myapp.tenant')::integer)
  WITH CHECK (company = current_setting('myapp.tenant')::integer);
CREATE POLICY payslips_delete ON hr.payslips FOR DELETE TO hr_service
  USING (company = current_setting('myapp.tenant')::integer);

-- BUG: meant "TO hr_reporting"; TO PUBLIC includes hr_service.
CREATE POLICY payslips_reporting ON hr.payslips FOR SELECT TO PUBLIC
  USING (true);

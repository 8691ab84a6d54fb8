CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE invoices (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), amount numeric NOT NULL);
GRANT SELECT ON orgs TO reg_e16_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO reg_e16_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
-- meant as "a tenant is set", but it compares org_id with nothing: every tenant's rows pass
CREATE POLICY t ON invoices USING (org_id IS NOT NULL AND current_setting('app.current_org_id') <> '');

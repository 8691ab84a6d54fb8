CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE invoices (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), total bigint NOT NULL);
GRANT SELECT ON orgs TO reg_e12_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO reg_e12_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON invoices USING (org_id = current_setting('app.current_org_id')::uuid);
-- reporting views, owned by the (superuser) migration role, no security_invoker
CREATE VIEW invoice_base AS SELECT id, org_id, total FROM invoices;
CREATE VIEW invoice_report AS SELECT org_id, sum(total) AS total FROM invoice_base GROUP BY org_id;
GRANT SELECT ON invoice_report TO reg_e12_app;

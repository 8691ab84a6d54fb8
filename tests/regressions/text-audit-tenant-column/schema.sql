CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
-- an audit table keeps the tenant id as text (it also logs system events)
CREATE TABLE audit_log (id bigserial PRIMARY KEY, org_id text, msg text NOT NULL);
CREATE TABLE projects (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), name text NOT NULL);
GRANT SELECT ON orgs TO reg_e15_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO reg_e15_app;
GRANT INSERT ON audit_log TO reg_e15_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY; ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON audit_log FOR INSERT WITH CHECK (org_id = current_setting('app.current_org_id'));
ALTER TABLE projects ENABLE ROW LEVEL SECURITY; ALTER TABLE projects FORCE ROW LEVEL SECURITY;
-- broken: any tenant reads every project
CREATE POLICY t ON projects FOR SELECT USING (org_id IS NOT NULL AND current_setting('app.current_org_id') <> '');
CREATE POLICY w ON projects FOR INSERT WITH CHECK (org_id = current_setting('app.current_org_id')::uuid);

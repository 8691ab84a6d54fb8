CREATE SCHEMA app;
CREATE FUNCTION app.current_tenant() RETURNS uuid LANGUAGE sql STABLE SET search_path = pg_catalog
  AS $$ SELECT current_setting('app.current_org_id')::uuid $$;
CREATE FUNCTION app.tenant_id() RETURNS uuid LANGUAGE sql STABLE SET search_path = pg_catalog
  AS $$ SELECT app.current_tenant() $$;   -- a helper calling a helper
CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE projects (id uuid PRIMARY KEY, org_id uuid REFERENCES orgs(id), name text NOT NULL,
   owner_user text NOT NULL, is_private bool NOT NULL DEFAULT false);
CREATE TABLE tasks (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), title text NOT NULL);
CREATE TABLE docs (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), title text NOT NULL);
CREATE TABLE labels (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), title text NOT NULL);
GRANT USAGE ON SCHEMA app TO reg_e3_app;
GRANT SELECT ON orgs TO reg_e3_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tasks, docs, labels TO reg_e3_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = app.current_tenant());
-- templates with NULL org are shared read-only; user-level privacy on top of the tenant
ALTER TABLE projects ENABLE ROW LEVEL SECURITY; ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY r ON projects FOR SELECT USING (org_id = current_setting('app.current_org_id')::uuid OR org_id IS NULL);
CREATE POLICY w ON projects FOR INSERT WITH CHECK (org_id = current_setting('app.current_org_id')::uuid);
CREATE POLICY u ON projects FOR UPDATE USING (org_id = current_setting('app.current_org_id')::uuid);
CREATE POLICY d ON projects FOR DELETE USING (org_id = current_setting('app.current_org_id')::uuid);
CREATE POLICY priv ON projects AS RESTRICTIVE FOR SELECT
  USING (NOT is_private OR owner_user = current_setting('app.current_user_id', true));
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY; ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON tasks USING (org_id = (SELECT current_setting('app.current_org_id')::uuid));
ALTER TABLE docs ENABLE ROW LEVEL SECURITY; ALTER TABLE docs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON docs USING (org_id = app.tenant_id());
ALTER TABLE labels ENABLE ROW LEVEL SECURITY; ALTER TABLE labels FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON labels USING (org_id::text = current_setting('app.current_org_id'));

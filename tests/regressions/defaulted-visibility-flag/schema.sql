CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE docs (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), title text NOT NULL,
  visibility text NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'public')));
CREATE TABLE files (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), name text NOT NULL,
  is_public boolean NOT NULL DEFAULT false);
GRANT SELECT ON orgs TO reg_e4_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON docs, files TO reg_e4_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY; ALTER TABLE docs FORCE ROW LEVEL SECURITY;
-- precedence bug: the public branch is not fenced by the tenant
CREATE POLICY t ON docs USING (org_id = current_setting('app.current_org_id')::uuid OR visibility = 'public')
  WITH CHECK (org_id = current_setting('app.current_org_id')::uuid);
ALTER TABLE files ENABLE ROW LEVEL SECURITY; ALTER TABLE files FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON files USING (is_public OR org_id = current_setting('app.current_org_id')::uuid)
  WITH CHECK (org_id = current_setting('app.current_org_id')::uuid);

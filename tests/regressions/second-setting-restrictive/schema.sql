CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE members (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES orgs(id), PRIMARY KEY (user_id, org_id));
CREATE TABLE posts (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), status text NOT NULL);
CREATE TABLE tags (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), name text NOT NULL);
GRANT SELECT ON orgs, members TO reg_e9_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON posts, tags TO reg_e9_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE members ENABLE ROW LEVEL SECURITY; ALTER TABLE members FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON members FOR SELECT USING (org_id = current_setting('app.current_org_id')::uuid);
ALTER TABLE posts ENABLE ROW LEVEL SECURITY; ALTER TABLE posts FORCE ROW LEVEL SECURITY;
-- soft-deleted posts are hidden; the status comparison is case-insensitive
CREATE POLICY t ON posts USING (org_id = current_setting('app.current_org_id')::uuid AND lower(status) <> 'deleted');
ALTER TABLE tags ENABLE ROW LEVEL SECURITY; ALTER TABLE tags FORCE ROW LEVEL SECURITY;
-- tenant AND the user must be a member of it
CREATE POLICY t ON tags USING (org_id = current_setting('app.current_org_id')::uuid
   AND EXISTS (SELECT 1 FROM members m WHERE m.org_id = tags.org_id AND m.user_id = current_setting('app.user_id')::uuid));

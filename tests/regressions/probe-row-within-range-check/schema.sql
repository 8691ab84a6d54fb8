CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE reviews (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id),
  rating int NOT NULL CHECK (rating BETWEEN 1 AND 10), body text NOT NULL);
GRANT SELECT ON orgs TO reg_e8_app;
GRANT SELECT, INSERT ON reviews TO reg_e8_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE reviews ENABLE ROW LEVEL SECURITY; ALTER TABLE reviews FORCE ROW LEVEL SECURITY;
CREATE POLICY r ON reviews FOR SELECT USING (org_id = current_setting('app.current_org_id')::uuid);
-- the insert policy forgot the tenant (it only checks the body is non-empty)
CREATE POLICY i ON reviews FOR INSERT WITH CHECK (body <> '');

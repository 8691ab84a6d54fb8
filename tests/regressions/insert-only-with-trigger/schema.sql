CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
-- An append-only audit log: the app may INSERT but not read it back, and a trigger stamps the time.
CREATE TABLE audit_log (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), event text NOT NULL, at timestamptz);
CREATE FUNCTION stamp_time() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  NEW.at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER stamp BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION stamp_time();
GRANT SELECT ON orgs TO reg_e3_app;
GRANT INSERT ON audit_log TO reg_e3_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY; ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
-- The leak: any organisation id passes, so a tenant writes into another tenant's log.
CREATE POLICY w ON audit_log FOR INSERT WITH CHECK (org_id IS NOT NULL);

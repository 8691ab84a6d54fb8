-- A read policy open to everyone beside a tenant-pinned write policy. Every
-- read path leaks (SELECT, COPY, reads after a context reset) and the cause
-- is the open policy: COPY is a read (not cross_tenant_write), and the reset
-- reads leak because of USING (true), not because the setting reads ''.
CREATE TABLE studios (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE palettes (
  id uuid PRIMARY KEY,
  studio_id uuid NOT NULL REFERENCES studios (id),
  hue integer NOT NULL
);
GRANT SELECT ON studios TO reg_open_app;
GRANT SELECT, INSERT ON palettes TO reg_open_app;
ALTER TABLE studios ENABLE ROW LEVEL SECURITY;
ALTER TABLE studios FORCE ROW LEVEL SECURITY;
CREATE POLICY own_studio ON studios FOR SELECT TO reg_open_app
  USING (id = current_setting('app.studio_id')::uuid);
ALTER TABLE palettes ENABLE ROW LEVEL SECURITY;
ALTER TABLE palettes FORCE ROW LEVEL SECURITY;
CREATE POLICY read_any ON palettes FOR SELECT TO reg_open_app USING (true);
CREATE POLICY write_own ON palettes FOR INSERT TO reg_open_app
  WITH CHECK (studio_id = current_setting('app.studio_id')::uuid);

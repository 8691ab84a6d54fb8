CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE projects (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), title text NOT NULL);
-- History points at projects or at orgs (subject_kind), so its reference is
-- checked by a trigger instead of a foreign key, and reported like one: a
-- project can never be deleted once created (history is kept forever).
CREATE FUNCTION keep_history() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  RAISE EXCEPTION 'project % is still referenced from its history', OLD.id
    USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'history_subject_fk', TABLE = 'projects';
END $$;
CREATE TRIGGER keep_history BEFORE DELETE ON projects FOR EACH ROW EXECUTE FUNCTION keep_history();
GRANT SELECT ON orgs TO reg_fk_app;
GRANT SELECT, UPDATE, DELETE ON projects TO reg_fk_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE projects ENABLE ROW LEVEL SECURITY; ALTER TABLE projects FORCE ROW LEVEL SECURITY;
-- The fix: the tenant predicate. A DELETE of the tenant's own projects still
-- fails the history check: that is not a leak.
CREATE POLICY t ON projects FOR ALL USING (org_id = current_setting('app.current_org_id')::uuid);

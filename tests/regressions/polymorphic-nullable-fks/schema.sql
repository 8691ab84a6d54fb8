CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE tasks (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), title text NOT NULL);
CREATE TABLE docs (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), title text NOT NULL);
-- polymorphic attachment: exactly one parent, so both FKs are nullable
CREATE TABLE attachments (id uuid PRIMARY KEY, task_id uuid REFERENCES tasks(id), doc_id uuid REFERENCES docs(id),
  filename text NOT NULL);
GRANT SELECT ON orgs TO reg_e7_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks, docs, attachments TO reg_e7_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY; ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON tasks USING (org_id = current_setting('app.current_org_id')::uuid);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY; ALTER TABLE docs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON docs USING (org_id = current_setting('app.current_org_id')::uuid);
-- attachments: RLS forgotten

-- Newsletter service (schema mail). Tenants are workspaces with human-readable text keys, some
-- of which are prefixes of others ('acme', 'acme-eu', 'acme2'). The tenant column is called
-- "workspace"; the app (mail_app) sets app.workspace per transaction. Tables have quoted
-- mixed-case names. Policies are per command and compare with exact text equality (no LIKE, no
-- lower()), and workspaces.key cannot be empty, so the '' the setting reads after an earlier
-- transaction matches no row. Correct: expected isolated.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mail_app') THEN
    CREATE ROLE mail_app LOGIN PASSWORD 'mail-app-secret';
  END IF;
END $$;

CREATE SCHEMA mail;

CREATE TABLE mail.workspaces (
  key        text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 40),
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mail."Campaigns" (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workspace  text NOT NULL REFERENCES mail.workspaces (key),
  "Subject"  varchar(200) NOT NULL,
  "Status"   text NOT NULL DEFAULT 'draft' CHECK ("Status" IN ('draft', 'scheduled', 'sent')),
  "SendAt"   timestamptz,
  UNIQUE (workspace, id)
);

CREATE TABLE mail."Subscribers" (
  workspace  text NOT NULL REFERENCES mail.workspaces (key),
  email      text NOT NULL,
  "Confirmed" boolean NOT NULL DEFAULT false,
  "Attrs"    jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (workspace, email)
);

GRANT USAGE ON SCHEMA mail TO mail_app;
GRANT SELECT ON mail.workspaces TO mail_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON mail."Campaigns", mail."Subscribers" TO mail_app;

ALTER TABLE mail.workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail.workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY ws_select ON mail.workspaces FOR SELECT TO mail_app
  USING (key = current_setting('app.workspace', true));

ALTER TABLE mail."Campaigns" ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail."Campaigns" FORCE ROW LEVEL SECURITY;
CREATE POLICY c_select ON mail."Campaigns" FOR SELECT TO mail_app
  USING (workspace = current_setting('app.workspace', true));
CREATE POLICY c_insert ON mail."Campaigns" FOR INSERT TO mail_app
  WITH CHECK (workspace = current_setting('app.workspace', true));
CREATE POLICY c_update ON mail."Campaigns" FOR UPDATE TO mail_app
  USING (workspace = current_setting('app.workspace', true))
  WITH CHECK (workspace = current_setting('app.workspace', true));
CREATE POLICY c_delete ON mail."Campaigns" FOR DELETE TO mail_app
  USING (workspace = current_setting('app.workspace', true));

ALTER TABLE mail."Subscribers" ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail."Subscribers" FORCE ROW LEVEL SECURITY;
CREATE POLICY s_select ON mail."Subscribers" FOR SELECT TO mail_app
  USING (workspace = current_setting('app.workspace', true));
CREATE POLICY s_insert ON mail."Subscribers" FOR INSERT TO mail_app
  WITH CHECK (workspace = current_setting('app.workspace', true));
CREATE POLICY s_update ON mail."Subscribers" FOR UPDATE TO mail_app
  USING (workspace = current_setting('app.workspace', true))
  WITH CHECK (workspace = current_setting('app.workspace', true));
CREATE POLICY s_delete ON mail."Subscribers" FOR DELETE TO mail_app
  USING (workspace = current_setting('app.workspace', true));

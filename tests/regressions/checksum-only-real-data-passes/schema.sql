-- invoices carry a payment reference whose check digit only references issued by the bank
-- satisfy (a digest the generator cannot aim at): no generated row loads. The policy looks
-- right, but nothing was probed on invoices, so the run must say "could not judge" and name
-- the table, never call it isolated.
CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE FUNCTION reference_is_issued(ref text) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS $$ SELECT left(md5('bank-secret:' || ref), 4) = '0000' $$;
CREATE TABLE invoices (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES orgs(id),
  payment_ref text NOT NULL CHECK (reference_is_issued(payment_ref)),
  amount_cents bigint NOT NULL
);
GRANT SELECT ON orgs TO reg_ck_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO reg_ck_app;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON orgs FOR SELECT USING (id = current_setting('app.current_org_id')::uuid);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON invoices FOR ALL
  USING (org_id = current_setting('app.current_org_id')::uuid)
  WITH CHECK (org_id = current_setting('app.current_org_id')::uuid);

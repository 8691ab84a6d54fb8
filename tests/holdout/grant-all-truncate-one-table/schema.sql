-- Event ticketing (schema tix), uuid tenant keys in column tenant_id. Every table is ENABLE +
-- FORCE with a correct tenant policy TO tix_app, and the grants are explicit per table.
-- BUG: the tickets table, added for the box-office integration, got GRANT ALL instead of the
-- usual four privileges. ALL includes TRUNCATE (and REFERENCES, TRIGGER); TRUNCATE ignores RLS,
-- so any tenant can empty every tenant's tickets.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tix_app') THEN
    CREATE ROLE tix_app LOGIN PASSWORD 'tix-app-secret';
  END IF;
END $$;

CREATE SCHEMA tix;

CREATE TABLE tix.tenants (
  id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL
);

CREATE TABLE tix.events (
  id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tix.tenants (id),
  title     text NOT NULL,
  starts_at timestamptz NOT NULL DEFAULT now(),
  capacity  integer NOT NULL DEFAULT 100,
  UNIQUE (tenant_id, id)
);

CREATE TABLE tix.tickets (
  id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  event_id  uuid NOT NULL,
  holder    text NOT NULL,
  seat      varchar(8),
  status    text NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'scanned', 'refunded')),
  price     numeric(10, 2) NOT NULL DEFAULT 0,
  FOREIGN KEY (tenant_id, event_id) REFERENCES tix.events (tenant_id, id)
);

GRANT USAGE ON SCHEMA tix TO tix_app;
GRANT SELECT ON tix.tenants TO tix_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tix.events TO tix_app;
-- BUG: ALL = SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER
GRANT ALL ON tix.tickets TO tix_app;

ALTER TABLE tix.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tix.tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY own_tenant ON tix.tenants FOR SELECT TO tix_app
  USING (id = current_setting('tix.tenant')::uuid);

ALTER TABLE tix.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE tix.events FORCE ROW LEVEL SECURITY;
CREATE POLICY own_tenant ON tix.events FOR ALL TO tix_app
  USING (tenant_id = current_setting('tix.tenant')::uuid)
  WITH CHECK (tenant_id = current_setting('tix.tenant')::uuid);

ALTER TABLE tix.tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE tix.tickets FORCE ROW LEVEL SECURITY;
CREATE POLICY own_tenant ON tix.tickets FOR ALL TO tix_app
  USING (tenant_id = current_setting('tix.tenant')::uuid)
  WITH CHECK (tenant_id = current_setting('tix.tenant')::uuid);

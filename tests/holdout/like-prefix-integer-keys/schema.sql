-- Fleet telematics (schema fleet). Tenants are accounts with small integer ids; the app
-- (fleet_app) sets fleet.account per transaction. The policy author compared the account as text
-- with LIKE and a trailing wildcard ("so that sub-accounts 10, 11, ... of account 1 are visible to
-- it" - there is no such hierarchy: ids are independent tenants).
-- BUG: account_id::text LIKE current_setting(...) || '%' lets account 1 see and write accounts
-- 10..19, 100..199, ...; after an earlier transaction the setting reads '' and LIKE '%' matches
-- every account.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fleet_app') THEN
    CREATE ROLE fleet_app LOGIN PASSWORD 'fleet-app-secret';
  END IF;
END $$;

CREATE SCHEMA fleet;

CREATE TABLE fleet.accounts (
  id      integer PRIMARY KEY,
  name    text NOT NULL,
  tier    text NOT NULL DEFAULT 'basic' CHECK (tier IN ('basic', 'pro'))
);

CREATE TABLE fleet.vehicles (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id integer NOT NULL REFERENCES fleet.accounts (id),
  plate      varchar(16) NOT NULL,
  kind       text NOT NULL DEFAULT 'van' CHECK (kind IN ('van', 'truck', 'car')),
  active     boolean NOT NULL DEFAULT true,
  UNIQUE (account_id, plate),
  UNIQUE (account_id, id)
);

-- composite primary key: trips are numbered per account
CREATE TABLE fleet.trips (
  account_id integer NOT NULL REFERENCES fleet.accounts (id),
  trip_no    integer NOT NULL,
  vehicle_id uuid NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  km         numeric(9, 1),
  route      jsonb,
  PRIMARY KEY (account_id, trip_no),
  FOREIGN KEY (account_id, vehicle_id) REFERENCES fleet.vehicles (account_id, id)
);

GRANT USAGE ON SCHEMA fleet TO fleet_app;
GRANT SELECT ON fleet.accounts TO fleet_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON fleet.vehicles, fleet.trips TO fleet_app;

ALTER TABLE fleet.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet.accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY account_scope ON fleet.accounts FOR SELECT TO fleet_app
  USING (id::text LIKE current_setting('fleet.account', true) || '%');

ALTER TABLE fleet.vehicles ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet.vehicles FORCE ROW LEVEL SECURITY;
CREATE POLICY account_scope ON fleet.vehicles FOR ALL TO fleet_app
  USING (account_id::text LIKE current_setting('fleet.account', true) || '%')
  WITH CHECK (account_id::text LIKE current_setting('fleet.account', true) || '%');

ALTER TABLE fleet.trips ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet.trips FORCE ROW LEVEL SECURITY;
CREATE POLICY account_scope ON fleet.trips FOR ALL TO fleet_app
  USING (account_id::text LIKE current_setting('fleet.account', true) || '%')
  WITH CHECK (account_id::text LIKE current_setting('fleet.account', true) || '%');

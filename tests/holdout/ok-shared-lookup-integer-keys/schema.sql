-- Web shop platform (schema shop), integer store ids; the app (shop_app) sets shop.store per
-- transaction. shop.currencies and shop.tax_classes are global reference data (no tenant
-- column, no foreign-key path to one), readable by the app and not writable. Tenant tables use
-- separate SELECT / INSERT / UPDATE / DELETE policies given TO PUBLIC, each with the exact tenant
-- predicate. Correct: expected isolated.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shop_app') THEN
    CREATE ROLE shop_app LOGIN PASSWORD 'shop-app-secret';
  END IF;
END $$;

CREATE SCHEMA shop;

CREATE TABLE shop.currencies (
  code     text PRIMARY KEY CHECK (code IN ('EUR', 'USD', 'GBP', 'JPY', 'SEK')),
  decimals integer NOT NULL DEFAULT 2
);

CREATE TABLE shop.tax_classes (
  id   integer PRIMARY KEY,
  name text NOT NULL,
  rate numeric(5, 4) NOT NULL DEFAULT 0
);

CREATE TABLE shop.stores (
  id       integer PRIMARY KEY,
  name     text NOT NULL,
  currency text NOT NULL REFERENCES shop.currencies (code)
);

CREATE TABLE shop.products (
  id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  store_id  integer NOT NULL REFERENCES shop.stores (id),
  sku       varchar(32) NOT NULL,
  title     text NOT NULL,
  price     numeric(12, 2) NOT NULL DEFAULT 0,
  currency  text NOT NULL REFERENCES shop.currencies (code),
  tax_class integer NOT NULL REFERENCES shop.tax_classes (id),
  in_stock  boolean NOT NULL DEFAULT true,
  UNIQUE (store_id, sku),
  UNIQUE (store_id, id)
);

CREATE TABLE shop.orders (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  store_id   integer NOT NULL REFERENCES shop.stores (id),
  product_id uuid NOT NULL,
  quantity   integer NOT NULL DEFAULT 1,
  status     text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')),
  placed_at  timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (store_id, product_id) REFERENCES shop.products (store_id, id)
);

GRANT USAGE ON SCHEMA shop TO shop_app;
GRANT SELECT ON shop.currencies, shop.tax_classes, shop.stores TO shop_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON shop.products, shop.orders TO shop_app;

ALTER TABLE shop.stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop.stores FORCE ROW LEVEL SECURITY;
CREATE POLICY stores_read ON shop.stores FOR SELECT TO PUBLIC
  USING (id = current_setting('shop.store')::integer);

ALTER TABLE shop.products ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop.products FORCE ROW LEVEL SECURITY;
CREATE POLICY products_read ON shop.products FOR SELECT TO PUBLIC
  USING (store_id = current_setting('shop.store')::integer);
CREATE POLICY products_create ON shop.products FOR INSERT TO PUBLIC
  WITH CHECK (store_id = current_setting('shop.store')::integer);
CREATE POLICY products_edit ON shop.products FOR UPDATE TO PUBLIC
  USING (store_id = current_setting('shop.store')::integer)
  WITH CHECK (store_id = current_setting('shop.store')::integer);
CREATE POLICY products_remove ON shop.products FOR DELETE TO PUBLIC
  USING (store_id = current_setting('shop.store')::integer);

ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop.orders FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_read ON shop.orders FOR SELECT TO PUBLIC
  USING (store_id = current_setting('shop.store')::integer);
CREATE POLICY orders_create ON shop.orders FOR INSERT TO PUBLIC
  WITH CHECK (store_id = current_setting('shop.store')::integer);
CREATE POLICY orders_edit ON shop.orders FOR UPDATE TO PUBLIC
  USING (store_id = current_setting('shop.store')::integer)
  WITH CHECK (store_id = current_setting('shop.store')::integer);
CREATE POLICY orders_remove ON shop.orders FOR DELETE TO PUBLIC
  USING (store_id = current_setting('shop.store')::integer);

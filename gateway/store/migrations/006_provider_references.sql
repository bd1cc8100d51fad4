-- Tenant-qualified provider references, and one gateway order per provider order.
-- `provider_reference` is what the provider was given as the merchant's reference and what
-- reconcile looks an order up by (`<prefix>/<external_id>`); rows stored before this carry
-- NULL and went with the bare external_id. The unique index makes adopting a provider order
-- another row holds impossible; the migration runner refuses to apply this file while
-- duplicates exist and lists them (see gateway/store/migration_checks.py).

ALTER TABLE orders ADD COLUMN provider_reference TEXT;
ALTER TABLE returns ADD COLUMN provider_reference TEXT;
CREATE UNIQUE INDEX orders_provider_order ON orders (provider, provider_order_id)
    WHERE provider_order_id IS NOT NULL;

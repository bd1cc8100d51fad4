-- PostgreSQL dialect of ../010_holds.sql: holds before routing, and ship-by deadlines (see gateway/routing/holds.py). A held order
-- (phase `held`, status `on_hold`) is sent nowhere and routed only when released: its
-- provider, warehouse and rule are empty until then. `hold_reason` is the rule's name or the
-- caller's reason; `hold_since`, `hold_until` (when it releases itself; NULL: only a caller
-- releases it) are epoch seconds. `ship_by` (epoch seconds) is the canonical order's, kept
-- for the late check; `late_at` is when the order was found not shipped by then (its
-- `order.late` event went out in that transaction, once).

ALTER TABLE orders ADD COLUMN hold_reason TEXT;
ALTER TABLE orders ADD COLUMN hold_since DOUBLE PRECISION;
ALTER TABLE orders ADD COLUMN hold_until DOUBLE PRECISION;
ALTER TABLE orders ADD COLUMN ship_by DOUBLE PRECISION;
ALTER TABLE orders ADD COLUMN late_at DOUBLE PRECISION;

CREATE INDEX orders_hold_due ON orders (hold_until) WHERE phase = 'held';
CREATE INDEX orders_ship_by ON orders (ship_by) WHERE late_at IS NULL AND ship_by IS NOT NULL;

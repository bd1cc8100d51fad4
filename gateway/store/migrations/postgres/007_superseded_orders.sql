-- PostgreSQL dialect of ../007_superseded_orders.sql: a rejected order's external_id can be
-- used again by the corrected order that supersedes it. The natural key stays a unique index
-- of the same name (what the store matches a violation by), now only over orders not
-- superseded: one live order per (client_id, external_id), any number of rejected ones behind.

ALTER TABLE orders ADD COLUMN supersedes TEXT;       -- the rejected order this one corrects
ALTER TABLE orders ADD COLUMN superseded_by TEXT;    -- the order that corrects this rejected one
ALTER TABLE orders DROP CONSTRAINT orders_client_external_id;
CREATE UNIQUE INDEX orders_client_external_id ON orders (client_id, external_id)
    WHERE superseded_by IS NULL;
CREATE INDEX orders_by_external_id ON orders (client_id, external_id);

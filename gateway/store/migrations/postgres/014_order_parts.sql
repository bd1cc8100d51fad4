-- PostgreSQL dialect of ../014_order_parts.sql: the same table, columns and indexes.
-- Split fulfilment: one row per part of an order whose routing planned two or more parts,
-- each its own durable submission (pending → creating → created → confirming → done |
-- failed), like an order's own. Unsplit orders have no rows here. Written in the
-- transaction that stores the order; the order's own phase is then `parts`.
-- `reference` is the part's provider reference (`<prefix>#N/<external_id>`, part 1 the
-- order's own), unique per provider; a provider order belongs to one part only.

CREATE TABLE order_parts (
    id                TEXT PRIMARY KEY,            -- <order id>#<part>
    order_id          TEXT NOT NULL REFERENCES orders (id),
    client_id         TEXT NOT NULL,
    part              INTEGER NOT NULL,            -- 1, 2, … in the plan's order
    provider          TEXT NOT NULL,
    warehouse         TEXT NOT NULL,
    route_candidate   INTEGER NOT NULL,
    lines             TEXT NOT NULL,               -- JSON [{line, sku, quantity}]
    reference         TEXT NOT NULL,
    provider_order_id TEXT,
    provider_data     JSONB,                       -- what the provider keeps with its id
    provider_status   TEXT,
    tracking_code     TEXT,                        -- the part's parcel, as its provider last said
    tracking_url      TEXT,
    status            TEXT NOT NULL,               -- canonical status of the part
    phase             TEXT NOT NULL,               -- submission phase
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   DOUBLE PRECISION NOT NULL,
    lease_owner       TEXT,
    lease_until       DOUBLE PRECISION,
    synced_at         DOUBLE PRECISION,            -- last polled or heard of
    last_error        JSONB,                       -- what the last failed attempt said
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (order_id, part)
);

CREATE UNIQUE INDEX order_parts_reference ON order_parts (provider, reference);
CREATE UNIQUE INDEX order_parts_provider_order ON order_parts (provider, provider_order_id)
    WHERE provider_order_id IS NOT NULL;
CREATE INDEX order_parts_to_poll ON order_parts (provider, synced_at) WHERE phase = 'done';
CREATE INDEX order_parts_due ON order_parts (next_attempt_at)
    WHERE phase IN ('pending', 'creating', 'created', 'confirming');

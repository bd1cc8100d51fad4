-- A rejected order's external_id can be used again: the corrected order supersedes it.
-- `superseded_by` (on the rejected order) and `supersedes` (on its successor) link the two;
-- the natural key (client_id, external_id) is unique only among orders not superseded, so a
-- client has one live order per external_id and any number of rejected ones behind it.
--
-- SQLite cannot drop the table's UNIQUE constraint, so the table is rebuilt: copied aside,
-- dropped, created again without it, refilled, its indexes recreated. Foreign keys stay on;
-- deferring them lets the drop orphan order_history and returns rows for the moment, and the
-- refill (same ids) settles every one before the commit checks.

PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE orders_before_007 AS SELECT * FROM orders;

DROP TABLE orders;

CREATE TABLE orders (
    id                 TEXT PRIMARY KEY,           -- gateway id, ord_<ULID>: sorts by creation
    client_id          TEXT NOT NULL,              -- the tenant
    external_id        TEXT NOT NULL,              -- the client's own reference
    provider           TEXT NOT NULL,
    warehouse          TEXT NOT NULL,
    route_rule         TEXT NOT NULL,
    route_candidate    INTEGER NOT NULL,
    provider_order_id  TEXT,
    status             TEXT NOT NULL,              -- canonical status
    phase              TEXT NOT NULL,              -- submission phase
    body               TEXT NOT NULL,              -- canonical order, JSON
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    REAL NOT NULL,
    lease_owner        TEXT,
    lease_until        REAL,
    last_error         TEXT,                       -- JSON, what the last failed attempt said
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    provider_status    TEXT,                       -- the provider's own status, raw
    tracking_code      TEXT,
    tracking_url       TEXT,
    shipment_ids       TEXT,                       -- JSON list
    synced_at          REAL,                       -- last time the provider's state was read or heard
    provider_reference TEXT,                       -- what the provider was given (006)
    supersedes         TEXT,                       -- the rejected order this one corrects
    superseded_by      TEXT                        -- the order that corrects this rejected one
);

INSERT INTO orders (id, client_id, external_id, provider, warehouse, route_rule,
    route_candidate, provider_order_id, status, phase, body, attempts, next_attempt_at,
    lease_owner, lease_until, last_error, created_at, updated_at, provider_status,
    tracking_code, tracking_url, shipment_ids, synced_at, provider_reference)
SELECT id, client_id, external_id, provider, warehouse, route_rule,
    route_candidate, provider_order_id, status, phase, body, attempts, next_attempt_at,
    lease_owner, lease_until, last_error, created_at, updated_at, provider_status,
    tracking_code, tracking_url, shipment_ids, synced_at, provider_reference
FROM orders_before_007;

DROP TABLE orders_before_007;

CREATE UNIQUE INDEX orders_client_external_id ON orders (client_id, external_id)
    WHERE superseded_by IS NULL;
CREATE INDEX orders_by_external_id ON orders (client_id, external_id);
CREATE INDEX orders_by_client ON orders (client_id, id);
CREATE INDEX orders_due ON orders (next_attempt_at)
    WHERE phase IN ('pending', 'creating', 'created', 'confirming');
CREATE INDEX orders_by_provider_id ON orders (provider, provider_order_id);
CREATE INDEX orders_to_poll ON orders (provider, synced_at)
    WHERE phase = 'done' AND status NOT IN ('delivered', 'cancelled', 'rejected');
CREATE UNIQUE INDEX orders_provider_order ON orders (provider, provider_order_id)
    WHERE provider_order_id IS NOT NULL;

-- Orders, their status history, and idempotency records.
-- Times used for scheduling are epoch seconds (REAL); times shown to users are ISO-8601 UTC text.

CREATE TABLE orders (
    id                TEXT PRIMARY KEY,            -- gateway id, ord_<ULID>: sorts by creation
    client_id         TEXT NOT NULL,               -- the tenant
    external_id       TEXT NOT NULL,               -- the client's own reference
    provider          TEXT NOT NULL,
    warehouse         TEXT NOT NULL,
    route_rule        TEXT NOT NULL,
    route_candidate   INTEGER NOT NULL,
    provider_order_id TEXT,
    status            TEXT NOT NULL,               -- canonical status
    phase             TEXT NOT NULL,               -- submission phase
    body              TEXT NOT NULL,               -- canonical order, JSON
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   REAL NOT NULL,
    lease_owner       TEXT,
    lease_until       REAL,
    last_error        TEXT,                        -- JSON, what the last failed attempt said
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (client_id, external_id)
);

CREATE INDEX orders_by_client ON orders (client_id, id);
CREATE INDEX orders_due ON orders (next_attempt_at) WHERE phase IN ('pending', 'creating', 'created', 'confirming');

CREATE TABLE order_history (
    order_id  TEXT NOT NULL REFERENCES orders (id),
    seq       INTEGER NOT NULL,
    status    TEXT NOT NULL,
    source    TEXT NOT NULL,                       -- api, submitter, webhook, poll
    detail    TEXT,
    at        TEXT NOT NULL,
    PRIMARY KEY (order_id, seq)
);

CREATE TABLE idempotency (
    client_id       TEXT NOT NULL,
    key             TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    state           TEXT NOT NULL,                 -- running | done
    order_id        TEXT,
    response_status INTEGER,
    response_body   BLOB,
    locked_until    REAL NOT NULL,
    expires_at      REAL NOT NULL,
    PRIMARY KEY (client_id, key)
);

CREATE INDEX idempotency_expiry ON idempotency (expires_at);

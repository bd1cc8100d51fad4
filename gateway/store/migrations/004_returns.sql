-- Returns: one row per return, its status history.
-- A return is written before any provider call, with a submission phase
-- (pending → creating → done | failed), like orders.

CREATE TABLE returns (
    id                 TEXT PRIMARY KEY,           -- gateway id, ret_<ULID>: sorts by creation
    client_id          TEXT NOT NULL,              -- the tenant (the order's tenant)
    order_id           TEXT NOT NULL REFERENCES orders (id),
    external_id        TEXT,                       -- the merchant's reference (RMA), optional
    provider           TEXT NOT NULL,              -- the provider that holds the order
    provider_order_id  TEXT NOT NULL,
    provider_return_id TEXT,
    type               TEXT NOT NULL,              -- customer_return | agent_return
    status             TEXT NOT NULL,              -- canonical return status
    provider_status    TEXT,                       -- the provider's own status, as last seen
    decision           TEXT,                       -- the merchant decision, once set
    phase              TEXT NOT NULL,              -- submission phase
    body               TEXT NOT NULL,              -- canonical return, JSON
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    REAL NOT NULL,
    lease_owner        TEXT,
    lease_until        REAL,
    last_error         TEXT,                       -- JSON, what the last failed attempt said
    checked_at         REAL,                       -- last read back from the provider (polling)
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

CREATE UNIQUE INDEX returns_external_id ON returns (client_id, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX returns_by_client ON returns (client_id, id);
CREATE INDEX returns_by_order ON returns (order_id, id);
CREATE INDEX returns_due ON returns (next_attempt_at) WHERE phase IN ('pending', 'creating');
CREATE INDEX returns_to_poll ON returns (checked_at) WHERE phase = 'done';

CREATE TABLE return_history (
    return_id  TEXT NOT NULL REFERENCES returns (id),
    seq        INTEGER NOT NULL,
    status     TEXT NOT NULL,
    source     TEXT NOT NULL,                      -- api, submitter, poll
    detail     TEXT,
    at         TEXT NOT NULL,
    PRIMARY KEY (return_id, seq)
);

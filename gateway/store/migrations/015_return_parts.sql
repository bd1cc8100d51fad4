-- Returns of split orders: one row per part of a return whose lines several parts of its
-- order shipped, each its own provider return and durable submission (pending → creating →
-- done | failed), like a return's own. A return of one part's lines has no rows here (its
-- own row names that part's provider order). Written in the transaction that stores the
-- return; the return's own phase is then `parts` and its status derives from these rows'.
-- `reference` is the part's provider reference (`<prefix>#N/<external_id>`), null when the
-- return has no external_id; the provider keys the part by `<return id>#<part>`.

CREATE TABLE return_parts (
    id                 TEXT PRIMARY KEY,           -- <return id>#<part>
    return_id          TEXT NOT NULL REFERENCES returns (id),
    client_id          TEXT NOT NULL,
    part               INTEGER NOT NULL,           -- the order's part that shipped the lines
    provider           TEXT NOT NULL,
    provider_order_id  TEXT NOT NULL,              -- that order part's provider order
    lines              TEXT NOT NULL,              -- JSON [[sku, quantity]]
    reference          TEXT,
    provider_return_id TEXT,
    provider_status    TEXT,                       -- the provider's own status, as last seen
    decision           TEXT,
    status             TEXT NOT NULL,              -- canonical return status of the part
    phase              TEXT NOT NULL,              -- submission phase
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    REAL NOT NULL,
    lease_owner        TEXT,
    lease_until        REAL,
    last_error         TEXT,                       -- JSON, what the last failed attempt said
    checked_at         REAL,                       -- last read back from the provider (polling)
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (return_id, part)
);

CREATE INDEX return_parts_due ON return_parts (next_attempt_at)
    WHERE phase IN ('pending', 'creating');
CREATE INDEX return_parts_to_poll ON return_parts (checked_at) WHERE phase = 'done';

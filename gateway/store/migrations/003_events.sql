-- After submission: what the provider says about an order, status history
-- that also records the news it ignored, the poller's bookkeeping, the outbox of events to
-- callers and the per-subscriber delivery state of each event.

ALTER TABLE orders ADD COLUMN provider_status TEXT;       -- the provider's own status, raw
ALTER TABLE orders ADD COLUMN tracking_code TEXT;
ALTER TABLE orders ADD COLUMN tracking_url TEXT;
ALTER TABLE orders ADD COLUMN shipment_ids TEXT;          -- JSON list
ALTER TABLE orders ADD COLUMN synced_at REAL;             -- last time the provider's state was read or heard

CREATE INDEX orders_to_poll ON orders (provider, synced_at)
    WHERE phase = 'done' AND status NOT IN ('delivered', 'cancelled', 'rejected');

ALTER TABLE webhook_events ADD COLUMN tracking_code TEXT;
ALTER TABLE webhook_events ADD COLUMN tracking_url TEXT;
ALTER TABLE webhook_events ADD COLUMN shipment_ids TEXT;  -- JSON list

ALTER TABLE order_history ADD COLUMN outcome TEXT NOT NULL DEFAULT 'applied';  -- applied | ignored

-- The outbox: written in the same transaction as the change it reports. `seq` orders the
-- whole feed (SQLite has one writer, so seq order is commit order).
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,                -- evt_<ULID>, the webhook-id sent out
    client_id  TEXT NOT NULL,                       -- the tenant whose feed holds it
    type       TEXT NOT NULL,                       -- order.accepted, order.status_changed, …
    subject    TEXT NOT NULL,                       -- the order (or return) it is about
    data       TEXT NOT NULL,                       -- JSON
    created_at TEXT NOT NULL
);

CREATE INDEX events_by_client ON events (client_id, seq);

-- Delivery of events to configured subscribers: one row per (subscriber, event), made when
-- the dispatcher first sees the event; only the oldest undelivered row of a subject is sent.
CREATE TABLE subscriber_cursors (
    subscriber TEXT PRIMARY KEY,
    last_seq   INTEGER NOT NULL
);

CREATE TABLE deliveries (
    subscriber      TEXT NOT NULL,
    seq             INTEGER NOT NULL REFERENCES events (seq),
    subject         TEXT NOT NULL,
    state           TEXT NOT NULL,                  -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until     REAL,
    last_status     INTEGER,                        -- HTTP status of the last attempt (0: no answer)
    last_error      TEXT,
    delivered_at    REAL,
    PRIMARY KEY (subscriber, seq)
);

CREATE INDEX deliveries_pending ON deliveries (subscriber, subject, seq) WHERE state = 'pending';
CREATE INDEX deliveries_dead ON deliveries (subscriber, seq) WHERE state = 'dead';

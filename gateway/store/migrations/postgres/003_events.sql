-- PostgreSQL dialect of ../003_events.sql: provider facts on orders, ignored history, the
-- outbox of events and their delivery to subscribers.

ALTER TABLE orders ADD COLUMN provider_status TEXT;
ALTER TABLE orders ADD COLUMN tracking_code TEXT;
ALTER TABLE orders ADD COLUMN tracking_url TEXT;
ALTER TABLE orders ADD COLUMN shipment_ids JSONB;
ALTER TABLE orders ADD COLUMN synced_at DOUBLE PRECISION;

CREATE INDEX orders_to_poll ON orders (provider, synced_at)
    WHERE phase = 'done' AND status NOT IN ('delivered', 'cancelled', 'rejected');

ALTER TABLE webhook_events ADD COLUMN tracking_code TEXT;
ALTER TABLE webhook_events ADD COLUMN tracking_url TEXT;
ALTER TABLE webhook_events ADD COLUMN shipment_ids JSONB;

ALTER TABLE order_history ADD COLUMN outcome TEXT NOT NULL DEFAULT 'applied';

-- `seq` is taken under a transaction-scoped advisory lock (see postgres_events.py), so seq
-- order is commit order and a feed reader never skips an event committed late.
CREATE TABLE events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    client_id  TEXT NOT NULL,
    type       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    data       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX events_by_client ON events (client_id, seq);

CREATE TABLE subscriber_cursors (
    subscriber TEXT PRIMARY KEY,
    last_seq   BIGINT NOT NULL
);

CREATE TABLE deliveries (
    subscriber      TEXT NOT NULL,
    seq             BIGINT NOT NULL REFERENCES events (seq),
    subject         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_until     DOUBLE PRECISION,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    DOUBLE PRECISION,
    PRIMARY KEY (subscriber, seq)
);

CREATE INDEX deliveries_pending ON deliveries (subscriber, subject, seq) WHERE state = 'pending';
CREATE INDEX deliveries_dead ON deliveries (subscriber, seq) WHERE state = 'dead';

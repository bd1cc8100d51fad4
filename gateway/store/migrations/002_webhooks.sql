-- Inbound provider webhooks, stored before the gateway answers 2xx, and the
-- lookup of orders by the provider's id that applying them needs.

CREATE TABLE webhook_events (
    provider          TEXT NOT NULL,
    event_id          TEXT NOT NULL,               -- provider's id, or a hash of the body
    topic             TEXT NOT NULL,
    provider_order_id TEXT,
    status            TEXT,                        -- canonical status it carries, if any
    raw_status        TEXT,
    received_at       REAL NOT NULL,
    applied_at        REAL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    PRIMARY KEY (provider, event_id)
);

CREATE INDEX webhook_events_unapplied ON webhook_events (received_at) WHERE applied_at IS NULL;
CREATE INDEX orders_by_provider_id ON orders (provider, provider_order_id);

-- PostgreSQL dialect of ../005_webhook_purge.sql.

CREATE INDEX webhook_events_received ON webhook_events (received_at);

-- Purging inbound webhook events (`purge_webhook_events`): finished ones older than the
-- retention go, found by age. The partial index of 002 holds only unapplied rows.

CREATE INDEX webhook_events_received ON webhook_events (received_at);

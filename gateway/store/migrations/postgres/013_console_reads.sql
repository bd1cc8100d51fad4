-- PostgreSQL dialect of ../013_console_reads.sql: one order's events by subject (the console's
-- order page), and a tenant's orders by phase and age (its stuck and held lists), each read
-- through an index instead of a scan of the tenant's feed or orders.

CREATE INDEX events_by_subject ON events (client_id, subject, seq);
CREATE INDEX orders_by_phase ON orders (client_id, phase, created_at);

-- The console's reads. One order's events (and its returns') by subject, the newest first:
-- without `events_by_subject` that read scans the tenant's whole feed. Its stuck and held
-- lists select a tenant's orders by phase and age: without `orders_by_phase` they scan
-- every order of the tenant.

CREATE INDEX events_by_subject ON events (client_id, subject, seq);
CREATE INDEX orders_by_phase ON orders (client_id, phase, created_at);

-- PostgreSQL dialect of ../013_events_by_subject.sql: the console reads one order's events
-- (and its returns') by subject, the newest first; without this index that read scans the
-- tenant's whole feed.

CREATE INDEX events_by_subject ON events (client_id, subject, seq);

-- PostgreSQL dialect of ../011_exchanges.sql: provider exchanges (the audit trail): one row per HTTP attempt made to a provider for an
-- order (`subject_kind` 'order', `part` its split part or NULL) or a return. Bodies are
-- already scrubbed of credentials and cut at `audit.body_limit_bytes` (`*_truncated` true when
-- cut); `response_status` is NULL when no answer came (timeout, connection error). `at` is
-- epoch seconds; rows older than `audit.retention_s` are purged.

CREATE TABLE exchanges (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id          TEXT NOT NULL,
    subject_kind       TEXT NOT NULL,
    subject_id         TEXT NOT NULL,
    part               INTEGER,
    provider           TEXT NOT NULL,
    operation          TEXT NOT NULL,
    method             TEXT NOT NULL,
    path               TEXT NOT NULL,
    request_body       TEXT,
    request_truncated  BOOLEAN NOT NULL,
    response_status    INTEGER,
    response_body      TEXT,
    response_truncated BOOLEAN NOT NULL,
    latency_ms         DOUBLE PRECISION NOT NULL,
    attempt            INTEGER NOT NULL,
    outcome            TEXT NOT NULL,
    correlation_id     TEXT,
    at                 DOUBLE PRECISION NOT NULL
);

CREATE INDEX exchanges_subject ON exchanges (client_id, subject_kind, subject_id, id);
CREATE INDEX exchanges_at ON exchanges (at);

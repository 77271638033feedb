-- The service's schema (PostgreSQL). Kept in step with migrations/sqlite/0001_init.sql.
-- Times are milliseconds since the Unix epoch; flags are 0 / 1.

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'clinician')),
    site        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);

-- One row per uploaded exam; the row is also the exam's job in the queue.
CREATE TABLE exams (
    id              TEXT PRIMARY KEY,
    site            TEXT NOT NULL,
    uploaded_by     TEXT NOT NULL,
    filename        TEXT NOT NULL,
    format          TEXT,
    model           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL,
    lease_until_ms  BIGINT,
    worker          TEXT,
    created_ms      BIGINT NOT NULL,
    started_ms      BIGINT,
    finished_ms     BIGINT,
    error           TEXT,
    result          TEXT,
    call_class      BIGINT,
    call_label      TEXT,
    injured_probability DOUBLE PRECISION,
    model_hash      TEXT,
    software        TEXT,
    synthetic_model BIGINT,
    read_grade      BIGINT,
    read_agrees     BIGINT,
    read_by         TEXT,
    read_ms         BIGINT
);
CREATE INDEX exams_queue ON exams (status, created_ms);
CREATE INDEX exams_site ON exams (site, created_ms);

CREATE TABLE audit (
    id        BIGSERIAL PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    token_id  TEXT,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    exam_id   TEXT,
    remote    TEXT,
    detail    TEXT
);

-- Research jobs: the trials of a hyperparameter search (`cruciate tune --queue`), each run by
-- whichever `cruciate worker --research` process claims it first, on any machine sharing this
-- database and the data folder. A job's key says what it computes, so that enqueueing it again
-- (a resumed search) finds it instead of running it twice. Kept in step across backends.
CREATE TABLE research_jobs (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL,
    lease_until_ms  BIGINT,
    worker          TEXT,
    created_ms      BIGINT NOT NULL,
    started_ms      BIGINT,
    finished_ms     BIGINT,
    result          TEXT,
    error           TEXT
);
CREATE INDEX research_jobs_queue ON research_jobs (status, created_ms);

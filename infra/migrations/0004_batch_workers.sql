-- Batches offered only to chosen workers (the most reliable share of a crowd): a batch with rows
-- here is handed out to, or on MTurk qualifies, these workers alone; one without is open to all.
CREATE TABLE batch_workers (
    batch_id   INTEGER NOT NULL REFERENCES batches(id),
    worker_id  TEXT NOT NULL,
    PRIMARY KEY (batch_id, worker_id)
);

-- The qualification type that admits a restricted batch's workers on MTurk, per environment.
CREATE TABLE mturk_batch_qualifications (
    batch_id     INTEGER NOT NULL REFERENCES batches(id),
    environment  TEXT NOT NULL CHECK (environment IN ('sandbox', 'live')),
    remote_id    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (batch_id, environment)
);

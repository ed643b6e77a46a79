-- Amazon Mechanical Turk bookkeeping: where each batch was posted, the types made for it, and
-- this workspace's namespace for request tokens and HIT annotations (one MTurk account may serve
-- several workspaces, and a token reused across them would silently drop a HIT or a bonus).
CREATE TABLE mturk_hit_types (
    batch_id     INTEGER PRIMARY KEY REFERENCES batches(id),
    environment  TEXT NOT NULL CHECK (environment IN ('sandbox', 'live')),
    remote_id    TEXT NOT NULL,                -- HITTypeId
    params       TEXT NOT NULL,                -- JSON: the CreateHITType request, for the record
    created_at   TEXT NOT NULL
);

-- Qualification types this workspace made: the exclusion list and the gold qualification test.
CREATE TABLE mturk_qualifications (
    environment  TEXT NOT NULL CHECK (environment IN ('sandbox', 'live')),
    purpose      TEXT NOT NULL CHECK (purpose IN ('exclusion', 'gold')),
    remote_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    min_score    INTEGER,                       -- gold test: the score a worker needs
    created_at   TEXT NOT NULL,
    PRIMARY KEY (environment, purpose)
);

-- The SQS queue MTurk sends assignment events to, per environment.
CREATE TABLE mturk_queues (
    environment  TEXT PRIMARY KEY CHECK (environment IN ('sandbox', 'live')),
    queue_url    TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE mturk_namespace (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  TEXT NOT NULL                        -- random hex, made on first use
);

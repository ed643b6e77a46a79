-- foreign_keys: off
-- A batch's market is any registered market (crowd.markets), not a fixed pair: SQLite cannot
-- drop a CHECK in place, so the table is rebuilt (foreign keys off, checked after).
CREATE TABLE batches_new (
    id               INTEGER PRIMARY KEY,
    market           TEXT NOT NULL CHECK (length(market) > 0),
    design           TEXT NOT NULL CHECK (design IN ('pairwise', 'fourup')),
    screens_per_hit  INTEGER NOT NULL,
    assignments      INTEGER NOT NULL,
    reward_cents     INTEGER NOT NULL,
    gold_rate        REAL NOT NULL,
    settings         TEXT NOT NULL DEFAULT '{}',  -- JSON: the plan's options, for the record
    state            TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    created_at       TEXT NOT NULL
);
INSERT INTO batches_new SELECT id, market, design, screens_per_hit, assignments, reward_cents,
    gold_rate, settings, state, created_at FROM batches;
DROP TABLE batches;
ALTER TABLE batches_new RENAME TO batches;

-- foreign_keys: off
-- A batch is 'done' once every assignment it wants is in (submitted, approved or rejected).
-- The ledger sets it itself, whichever market and road the answers came by. SQLite cannot
-- change a CHECK in place, so the table is rebuilt (foreign keys off, checked after).
CREATE TABLE batches_new (
    id               INTEGER PRIMARY KEY,
    market           TEXT NOT NULL CHECK (length(market) > 0),
    design           TEXT NOT NULL CHECK (design IN ('pairwise', 'fourup')),
    screens_per_hit  INTEGER NOT NULL,
    assignments      INTEGER NOT NULL,
    reward_cents     INTEGER NOT NULL,
    gold_rate        REAL NOT NULL,
    settings         TEXT NOT NULL DEFAULT '{}',  -- JSON: the plan's options, for the record
    state            TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'done')),
    created_at       TEXT NOT NULL
);
INSERT INTO batches_new SELECT id, market, design, screens_per_hit, assignments, reward_cents,
    gold_rate, settings, state, created_at FROM batches;
DROP TABLE batches;
ALTER TABLE batches_new RENAME TO batches;

-- HITs that still want an assignment. Only an answer that fills its HIT looks at the rest of
-- the batch (a scan of its HITs: 3-6 ms per 1,000).
CREATE VIEW unfinished_hits AS
SELECT h.id AS hit_id, h.batch_id FROM hits h JOIN batches b ON b.id = h.batch_id
WHERE (SELECT COUNT(*) FROM assignments a WHERE a.hit_id = h.id
       AND a.state IN ('submitted', 'approved', 'rejected')) < b.assignments;

CREATE TRIGGER batch_done_on_insert AFTER INSERT ON assignments
WHEN NEW.state IN ('submitted', 'approved', 'rejected') AND NEW.hit_id NOT IN (
    SELECT hit_id FROM unfinished_hits WHERE hit_id = NEW.hit_id)
BEGIN
    UPDATE batches SET state = 'done'
    WHERE id = (SELECT batch_id FROM hits WHERE id = NEW.hit_id) AND state != 'done'
      AND NOT EXISTS (SELECT 1 FROM unfinished_hits u WHERE u.batch_id = batches.id);
END;

CREATE TRIGGER batch_done_on_update AFTER UPDATE OF state ON assignments
WHEN NEW.state IN ('submitted', 'approved', 'rejected') AND NEW.hit_id NOT IN (
    SELECT hit_id FROM unfinished_hits WHERE hit_id = NEW.hit_id)
BEGIN
    UPDATE batches SET state = 'done'
    WHERE id = (SELECT batch_id FROM hits WHERE id = NEW.hit_id) AND state != 'done'
      AND NOT EXISTS (SELECT 1 FROM unfinished_hits u WHERE u.batch_id = batches.id);
END;

-- Batches whose every assignment was in before the ledger knew 'done'.
UPDATE batches SET state = 'done'
WHERE EXISTS (SELECT 1 FROM hits h WHERE h.batch_id = batches.id)
  AND NOT EXISTS (SELECT 1 FROM unfinished_hits u WHERE u.batch_id = batches.id);

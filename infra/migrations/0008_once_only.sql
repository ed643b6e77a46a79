-- Nothing doubled: an imported vote, a review verdict, a bonus and a payment are each recorded
-- once, by constraint, so a re-run import or two reviews at once cannot count them twice.

-- Imported votes: a row is known by its content and its occurrence among identical rows of
-- one file (a worker may really compare the same pair twice). Earlier re-imports of a file
-- (the same rows from the same source at a later time) are removed first.
ALTER TABLE imported_votes ADD COLUMN occurrence INTEGER NOT NULL DEFAULT 1;
CREATE INDEX imported_votes_pair_tmp ON imported_votes(worker, left_id, right_id);
DELETE FROM imported_votes WHERE EXISTS (
    SELECT 1 FROM imported_votes e
    WHERE e.worker = imported_votes.worker AND e.left_id = imported_votes.left_id
      AND e.right_id = imported_votes.right_id AND e.label_id IS imported_votes.label_id
      AND e.seconds IS imported_votes.seconds AND e.source = imported_votes.source
      AND e.imported_at < imported_votes.imported_at
);
UPDATE imported_votes SET occurrence = n.k FROM (
    SELECT id, ROW_NUMBER() OVER (
        PARTITION BY worker, left_id, right_id, label_id, seconds ORDER BY id) AS k
    FROM imported_votes
) AS n WHERE n.id = imported_votes.id;
DROP INDEX imported_votes_pair_tmp;
CREATE UNIQUE INDEX imported_votes_once ON imported_votes(
    worker, left_id, right_id, coalesce(label_id, ''), coalesce(seconds, -1), occurrence);

-- Review verdicts: one approve/reject per assignment, one bonus, one exclusion per worker,
-- from the policy. Doubles an earlier concurrent review left are removed (the first is kept).
DELETE FROM decisions WHERE actor = 'policy' AND subject_kind = 'assignment'
    AND decision IN ('approve', 'reject') AND id NOT IN (
        SELECT min(id) FROM decisions WHERE actor = 'policy' AND subject_kind = 'assignment'
            AND decision IN ('approve', 'reject') GROUP BY subject_id);
DELETE FROM decisions WHERE actor = 'policy' AND subject_kind = 'assignment'
    AND decision LIKE 'bonus %' AND id NOT IN (
        SELECT min(id) FROM decisions WHERE actor = 'policy' AND subject_kind = 'assignment'
            AND decision LIKE 'bonus %' GROUP BY subject_id);
DELETE FROM decisions WHERE actor = 'policy' AND subject_kind = 'worker'
    AND decision = 'exclude' AND id NOT IN (
        SELECT min(id) FROM decisions WHERE actor = 'policy' AND subject_kind = 'worker'
            AND decision = 'exclude' GROUP BY subject_id);
CREATE UNIQUE INDEX decisions_one_verdict ON decisions(subject_id)
    WHERE actor = 'policy' AND subject_kind = 'assignment' AND decision IN ('approve', 'reject');
CREATE UNIQUE INDEX decisions_one_bonus ON decisions(subject_id)
    WHERE actor = 'policy' AND subject_kind = 'assignment' AND decision LIKE 'bonus %';
CREATE UNIQUE INDEX decisions_one_exclusion ON decisions(subject_id)
    WHERE actor = 'policy' AND subject_kind = 'worker' AND decision = 'exclude';

-- Payments: at most one live (pending or done) approval or rejection, and one live bonus, per
-- assignment; a failed one may be tried again. A trigger rather than a unique index, so that a
-- ledger holding an old double (money already moved; its record stays true) still migrates.
-- A double intent still pending is failed here, so it is never carried out.
UPDATE money_actions SET state = 'failed', error = 'a second intent for the same action, '
        || 'dropped before it was carried out'
    WHERE state = 'pending' AND assignment_id IS NOT NULL
      AND kind IN ('approve', 'reject', 'bonus') AND EXISTS (
        SELECT 1 FROM money_actions m WHERE m.assignment_id = money_actions.assignment_id
          AND m.id < money_actions.id AND m.state IN ('pending', 'done')
          AND (m.kind = money_actions.kind
               OR (m.kind IN ('approve', 'reject') AND money_actions.kind IN ('approve', 'reject'))));
CREATE TRIGGER money_actions_once BEFORE INSERT ON money_actions
WHEN NEW.assignment_id IS NOT NULL AND NEW.kind IN ('approve', 'reject', 'bonus')
    AND NEW.state IN ('pending', 'done') AND EXISTS (
        SELECT 1 FROM money_actions m WHERE m.assignment_id = NEW.assignment_id
          AND m.state IN ('pending', 'done')
          AND (m.kind = NEW.kind
               OR (m.kind IN ('approve', 'reject') AND NEW.kind IN ('approve', 'reject'))))
BEGIN
    SELECT RAISE(ABORT, 'money_actions: this assignment already has this action');
END;

-- An answer the local market refused as unreadable, kept as evidence: its assignment stays
-- open for a corrected answer, so a refused body is never the assignment's answer.
CREATE TABLE refused_answers (
    id            INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL REFERENCES assignments(id),
    raw_answer    TEXT NOT NULL,
    raw_format    TEXT NOT NULL CHECK (raw_format IN ('mturk-xml', 'json')),
    error         TEXT NOT NULL,
    received_at   TEXT NOT NULL
);
CREATE INDEX refused_answers_assignment ON refused_answers(assignment_id);

-- Unreadable local answers stored before refusals existed, and not yet reviewed: their raw
-- body becomes evidence and their slot goes back to the pool.
INSERT INTO refused_answers (assignment_id, raw_answer, raw_format, error, received_at)
SELECT a.id, COALESCE(a.raw_answer, ''), COALESCE(a.raw_format, 'json'),
    COALESCE(a.parse_error, 'unreadable'), COALESCE(a.submitted_at, a.handed_at, '')
FROM assignments a JOIN hits h ON h.id = a.hit_id JOIN batches b ON b.id = h.batch_id
WHERE b.market = 'local' AND a.state = 'submitted' AND a.parse_state = 'failed'
  AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.subject_kind = 'assignment'
                  AND d.subject_id = CAST(a.id AS TEXT) AND d.decision IN ('approve', 'reject'));
UPDATE assignments SET state = 'abandoned', raw_answer = NULL, raw_format = NULL,
    submitted_at = NULL, parse_state = 'pending', parse_error = NULL
WHERE id IN (SELECT assignment_id FROM refused_answers);

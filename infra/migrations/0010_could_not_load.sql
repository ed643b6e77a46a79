-- A screen the worker could not answer because one of its photos did not load in their
-- browser: recorded (with no selection) so the answer is complete, but never graded as gold,
-- turned into votes or counted in review.
ALTER TABLE judgments ADD COLUMN could_not_load INTEGER NOT NULL DEFAULT 0
    CHECK (could_not_load IN (0, 1));

-- Votes that came from outside (a notebook, another tool's campaign), in crowd-kit's columns.
CREATE TABLE imported_votes (
    id           INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,                 -- the file, as given
    worker       TEXT NOT NULL,
    left_id      TEXT NOT NULL REFERENCES images(id),
    right_id     TEXT NOT NULL REFERENCES images(id),
    label_id     TEXT REFERENCES images(id),    -- NULL = tie
    seconds      REAL,
    imported_at  TEXT NOT NULL
);
CREATE INDEX imported_votes_source ON imported_votes(source);

-- Labelers of the local market: a name is claimed by its first sign-in (or given by an
-- invitation) and later sign-ins under it need its key. Only the key's SHA-256 is kept.
-- name_key is the name after NFKC and case folding, so "ｆａ", "fa" and "FA" are one labeler;
-- worker_id is the name as first typed, the labeler's id everywhere else in the ledger.
CREATE TABLE labelers (
    name_key       TEXT PRIMARY KEY,
    worker_id      TEXT NOT NULL UNIQUE REFERENCES workers(id),
    key_hash       TEXT NOT NULL,
    invited        INTEGER NOT NULL DEFAULT 0 CHECK (invited IN (0, 1)),
    created_at     TEXT NOT NULL,
    key_issued_at  TEXT NOT NULL
);

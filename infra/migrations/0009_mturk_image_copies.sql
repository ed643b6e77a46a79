-- Per-HIT copies of the images an MTurk HIT shows. Workers load only these, so no object key
-- or URL links one HIT's screens to another's or tells a made-gold variant from an original.
-- A copy's key is recorded before the copy is made, so a post run again reuses it.
CREATE TABLE mturk_image_copies (
    hit_id      INTEGER NOT NULL REFERENCES hits(id),
    image_id    TEXT NOT NULL REFERENCES images(id),
    source      TEXT NOT NULL,                 -- the s3:// URI copied from
    uri         TEXT NOT NULL UNIQUE,          -- s3://bucket/<push prefix>/h/<HIT folder>/<random>.<ext>
    created_at  TEXT NOT NULL,
    PRIMARY KEY (hit_id, image_id)
);

-- The ledger: what was asked, shown, answered, decided and paid.
CREATE TABLE images (
    id            TEXT PRIMARY KEY,              -- first 16 hex digits of SHA-256 of the bytes
    uri           TEXT NOT NULL,                 -- where the bytes were first found
    file_name     TEXT NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    format        TEXT NOT NULL,
    taken_at      TEXT,                          -- ISO 8601 UTC when known (EXIF or file name)
    derived_from  TEXT REFERENCES images(id),    -- made-gold variants: never scored, ranked or trained on
    derivation    TEXT,
    added_at      TEXT NOT NULL
);
CREATE INDEX images_derived ON images(derived_from);

-- Every URI and file name an image is known by: its first, copies pushed to S3, duplicate files.
CREATE TABLE image_uris (
    uri        TEXT PRIMARY KEY,
    image_id   TEXT NOT NULL REFERENCES images(id),
    file_name  TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('original', 'alias', 'pushed'))
);
CREATE INDEX image_uris_image ON image_uris(image_id);
CREATE INDEX image_uris_name ON image_uris(file_name);

-- Known-answer screens. One rule grades them all: every must_keep image chosen, no must_drop image.
CREATE TABLE gold_items (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('pair', 'fourup')),
    source      TEXT NOT NULL CHECK (source IN ('expert', 'made')),
    images      TEXT NOT NULL,                   -- JSON list of image ids shown
    must_keep   TEXT NOT NULL,                   -- JSON list
    must_drop   TEXT NOT NULL,                   -- JSON list
    pool        TEXT NOT NULL DEFAULT 'hits' CHECK (pool IN ('hits', 'qualification')),
    author      TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE batches (
    id               INTEGER PRIMARY KEY,
    market           TEXT NOT NULL CHECK (market IN ('local', 'mturk')),
    design           TEXT NOT NULL CHECK (design IN ('pairwise', 'fourup')),
    screens_per_hit  INTEGER NOT NULL,
    assignments      INTEGER NOT NULL,
    reward_cents     INTEGER NOT NULL,
    gold_rate        REAL NOT NULL,
    settings         TEXT NOT NULL DEFAULT '{}',  -- JSON: the plan's options, for the record
    state            TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    created_at       TEXT NOT NULL
);

CREATE TABLE hits (
    id             INTEGER PRIMARY KEY,
    batch_id       INTEGER NOT NULL REFERENCES batches(id),
    position       INTEGER NOT NULL,
    token          TEXT NOT NULL UNIQUE,          -- opaque, shown to workers
    post_state     TEXT NOT NULL DEFAULT 'planned'
                   CHECK (post_state IN ('planned', 'pending', 'posted', 'failed')),
    request_token  TEXT UNIQUE,                   -- UniqueRequestToken, derived from our id
    remote_id      TEXT UNIQUE,                   -- MTurk HITId
    remote_status  TEXT,
    posted_at      TEXT,
    expires_at     TEXT,
    UNIQUE (batch_id, position)
);

-- What one HIT shows, in shown order.
CREATE TABLE screens (
    id        INTEGER PRIMARY KEY,
    hit_id    INTEGER NOT NULL REFERENCES hits(id),
    position  INTEGER NOT NULL,
    token     TEXT NOT NULL UNIQUE,
    kind      TEXT NOT NULL CHECK (kind IN ('pair', 'fourup')),
    gold_id   INTEGER REFERENCES gold_items(id),
    UNIQUE (hit_id, position)
);

CREATE TABLE screen_images (
    screen_id  INTEGER NOT NULL REFERENCES screens(id),
    position   INTEGER NOT NULL,                  -- left = 0; randomised, recorded
    image_id   TEXT NOT NULL REFERENCES images(id),
    token      TEXT NOT NULL UNIQUE,               -- opaque per-HIT image token
    PRIMARY KEY (screen_id, position)
);
CREATE INDEX screen_images_image ON screen_images(image_id);

CREATE TABLE workers (
    id          TEXT PRIMARY KEY,
    market      TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    excluded    INTEGER NOT NULL DEFAULT 0,
    expert      INTEGER NOT NULL DEFAULT 0
);

-- One worker's submission of one HIT. The raw answer is stored before it is parsed.
CREATE TABLE assignments (
    id            INTEGER PRIMARY KEY,
    hit_id        INTEGER NOT NULL REFERENCES hits(id),
    worker_id     TEXT NOT NULL REFERENCES workers(id),
    remote_id     TEXT UNIQUE,                    -- MTurk AssignmentId
    state         TEXT NOT NULL CHECK (state IN
                  ('handed', 'submitted', 'approved', 'rejected', 'abandoned')),
    handed_at     TEXT,
    submitted_at  TEXT,
    deadline      TEXT,                           -- auto-approval or hand-out expiry
    raw_answer    TEXT,
    raw_format    TEXT CHECK (raw_format IN ('mturk-xml', 'json')),
    parse_state   TEXT NOT NULL DEFAULT 'pending' CHECK (parse_state IN ('pending', 'ok', 'failed')),
    parse_error   TEXT
);
CREATE INDEX assignments_hit ON assignments(hit_id);
CREATE INDEX assignments_worker ON assignments(worker_id);

-- One screen's answer: the chosen images (a pair's winner, or the 4-up selection; empty = none/tie).
CREATE TABLE judgments (
    id             INTEGER PRIMARY KEY,
    assignment_id  INTEGER NOT NULL REFERENCES assignments(id),
    screen_id      INTEGER NOT NULL REFERENCES screens(id),
    selected       TEXT NOT NULL,                 -- JSON list of image ids
    seconds        REAL,
    UNIQUE (assignment_id, screen_id)
);

-- Every action with money or standing, written as intent before the call and outcome after.
CREATE TABLE money_actions (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN
                   ('approve', 'reject', 'bonus', 'exclude', 'include', 'block', 'override')),
    assignment_id  INTEGER REFERENCES assignments(id),
    worker_id      TEXT REFERENCES workers(id),
    amount_cents   INTEGER NOT NULL DEFAULT 0,
    reason         TEXT NOT NULL,
    token          TEXT NOT NULL UNIQUE,
    state          TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    error          TEXT,
    created_at     TEXT NOT NULL,
    done_at        TEXT
);

-- Who or what decided, when, and why.
CREATE TABLE decisions (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    decision      TEXT NOT NULL,
    reason        TEXT NOT NULL
);
CREATE INDEX decisions_subject ON decisions(subject_kind, subject_id);

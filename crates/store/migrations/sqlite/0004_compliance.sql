-- Compliance (issue 5): what clause 2 leaves to each agreement, the contact directory that
-- bounds a customer's recipients (clause 2.2), opt-outs and the operator's blocklist,
-- moderation, violations, the audit trail, signatures and templates. (Frequency counts per
-- recipient are kept in the writer's memory and rebuilt from the day's messages at open.)

-- JSON object: frequency limits and advertising thresholds (see ComplianceTerms).
ALTER TABLE agreements ADD COLUMN compliance TEXT NOT NULL DEFAULT '{}';

-- A customer's own staff and customers: the only numbers its messages may reach.
CREATE TABLE contacts (
    customer_id TEXT NOT NULL REFERENCES customers (id),
    number      TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL CHECK (kind IN ('staff', 'customer')),
    -- JSON array of strings.
    tags        TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (customer_id, number)
) WITHOUT ROWID;

-- Accepted under an `audit` scope policy although the recipient was not a contact.
ALTER TABLE messages ADD COLUMN out_of_scope INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_out_of_scope ON messages (customer_id, created_at) WHERE out_of_scope = 1;

-- Numbers that opted out of one customer's messages (an MO keyword, or the customer or the
-- operator putting them there).
CREATE TABLE suppressions (
    customer_id TEXT NOT NULL REFERENCES customers (id),
    number      TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('reply', 'customer', 'operator')),
    reason      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (customer_id, number)
) WITHOUT ROWID;

-- The operator's blocklist: numbers no customer may reach.
CREATE TABLE blocklist (
    number      TEXT PRIMARY KEY,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;


-- Why a message was held for moderation: the screening verdict as JSON (category, score,
-- findings with their spans). NULL for messages that passed.
ALTER TABLE messages ADD COLUMN screening TEXT;
CREATE INDEX messages_held ON messages (created_at, id) WHERE status = 'held';

-- Violations of clause 2 recorded against a customer: a refused message (its text kept as
-- evidence) or a held message the operator deleted.
CREATE TABLE violations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    at          INTEGER NOT NULL,
    category    TEXT NOT NULL,
    -- 'rejected' (refused at acceptance) or 'deleted' (by moderation).
    kind        TEXT NOT NULL CHECK (kind IN ('rejected', 'deleted')),
    message_id  TEXT,
    text        TEXT NOT NULL
);
CREATE INDEX violations_customer ON violations (customer_id, at);

-- Who did what to whom and why: every operator action of clause 3.4 / 3.5 (and later all).
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    reason  TEXT,
    -- JSON snapshots of what changed, when there is a record to show.
    before  TEXT,
    after   TEXT
);

-- Signatures 【…】 and templates a customer submits and the operator approves.
CREATE TABLE signatures (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    text        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER,
    UNIQUE (customer_id, text)
);

CREATE TABLE templates (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    name        TEXT NOT NULL,
    text        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER
);
CREATE INDEX templates_customer ON templates (customer_id, created_at);

-- Requests per second one API key may make (0: no limit), over the whole `/v1` API.
ALTER TABLE api_keys ADD COLUMN rps INTEGER NOT NULL DEFAULT 0 CHECK (rps >= 0);

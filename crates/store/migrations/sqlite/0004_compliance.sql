-- Compliance (issue 5): what clause 2 leaves to each agreement, the contact directory that
-- bounds a customer's recipients (clause 2.2), opt-outs and the operator's blocklist, and the
-- per-recipient frequency counters.

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

-- Messages accepted per customer and recipient in the current minute, hour and CST day
-- (each count belongs to the window that starts at its *_start, epoch ms).
CREATE TABLE recipient_counts (
    customer_id  TEXT NOT NULL,
    number       TEXT NOT NULL,
    minute_start INTEGER NOT NULL,
    minute_count INTEGER NOT NULL,
    hour_start   INTEGER NOT NULL,
    hour_count   INTEGER NOT NULL,
    day_start    INTEGER NOT NULL,
    day_count    INTEGER NOT NULL,
    PRIMARY KEY (customer_id, number)
) WITHOUT ROWID;

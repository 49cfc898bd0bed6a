-- Operations (issue 6): written notices to customers, maintenance windows, breach notices,
-- low-balance warnings and the end of a customer's service.

-- Written notices (clause 3.2 maintenance, clause 6 breach, expiry and low-balance
-- warnings): what the customer was told and when it read it. `reference` names the event
-- a notice is about, so that each event is noticed once per customer.
CREATE TABLE notices (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    kind         TEXT NOT NULL,
    reference    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    read_at      INTEGER,
    -- Email (when SMTP is configured and the customer has a notice address): sent, or the
    -- next attempt and the last error.
    emailed_at      INTEGER,
    email_attempts  INTEGER NOT NULL DEFAULT 0,
    email_next_at   INTEGER,
    email_error     TEXT,
    UNIQUE (customer_id, reference)
);
CREATE INDEX notices_to_email ON notices (email_next_at) WHERE emailed_at IS NULL AND email_next_at IS NOT NULL;
CREATE INDEX notices_customer ON notices (customer_id, id);
CREATE INDEX notices_reference ON notices (reference);

-- Planned work on carrier links or services (clause 3.2). `carriers` and `services` are
-- JSON arrays; `customers` the JSON array of the customers noticed.
CREATE TABLE maintenance_windows (
    id                TEXT PRIMARY KEY,
    starts_at         INTEGER NOT NULL,
    ends_at           INTEGER NOT NULL CHECK (ends_at > starts_at),
    carriers          TEXT NOT NULL,
    services          TEXT NOT NULL,
    description       TEXT NOT NULL,
    emergency_reason  TEXT,
    customers         TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    cancelled_at      INTEGER
);
CREATE INDEX maintenance_windows_ends ON maintenance_windows (ends_at);

-- Breach notices (clause 6): a cure deadline of the notice date plus the agreement's
-- cure_days; cured closes one, an uncured one past its deadline allows termination.
CREATE TABLE breaches (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL REFERENCES customers (id),
    agreement_id   TEXT NOT NULL REFERENCES agreements (id),
    clause         TEXT NOT NULL,
    facts          TEXT NOT NULL,
    noticed_at     INTEGER NOT NULL,
    cure_deadline  INTEGER NOT NULL,
    cured_at       INTEGER,
    cure_note      TEXT,
    terminated_at  INTEGER
);
CREATE INDEX breaches_customer ON breaches (customer_id, noticed_at);

-- A warning when the balance falls under the threshold (micro-units; NULL: none), once
-- until the balance is back over it.
ALTER TABLE customers ADD COLUMN low_balance_threshold INTEGER CHECK (low_balance_threshold >= 0);
ALTER TABLE customers ADD COLUMN low_balance_warned_at INTEGER;
-- When the service ended (termination), and when the customer's data was erased once the
-- retention period after that had passed.
ALTER TABLE customers ADD COLUMN terminated_at INTEGER;
-- Where written notices are emailed (NULL: not emailed).
ALTER TABLE customers ADD COLUMN notice_email TEXT;
ALTER TABLE customers ADD COLUMN erased_at INTEGER;

-- Customers, agreements, tariffs, credentials, the prepaid ledger, messages and their
-- events, idempotency records. Portable types (design decision 2): timestamps are epoch
-- milliseconds, money is micro-units, ids are TEXT, JSON is TEXT.

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    address     TEXT NOT NULL,
    contact     TEXT NOT NULL,
    -- Cached sum of this customer's ledger; the CHECK makes a negative balance impossible.
    balance     INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at  INTEGER NOT NULL
);

CREATE TABLE agreements (
    id                       TEXT PRIMARY KEY,
    customer_id              TEXT NOT NULL REFERENCES customers(id),
    version                  INTEGER NOT NULL,
    provider_name            TEXT NOT NULL,
    provider_address         TEXT NOT NULL,
    customer_name            TEXT NOT NULL,
    customer_address         TEXT NOT NULL,
    effective_from           TEXT NOT NULL,
    term_years               INTEGER NOT NULL,
    maintenance_notice_days  INTEGER NOT NULL,
    log_retention_months     INTEGER NOT NULL CHECK (log_retention_months >= 6),
    cure_days                INTEGER NOT NULL,
    scope_policy             TEXT NOT NULL CHECK (scope_policy IN ('enforce', 'audit')),
    charge_on                TEXT NOT NULL CHECK (charge_on IN ('submit', 'delivery')),
    max_segments             INTEGER NOT NULL,
    terms_version            TEXT NOT NULL,
    signed_at                INTEGER,
    accepted_at              INTEGER,
    accepted_terms_version   TEXT,
    suspended_at             INTEGER,
    suspension_reason        TEXT,
    terminated_at            INTEGER,
    termination_reason       TEXT,
    created_at               INTEGER NOT NULL,
    UNIQUE (customer_id, version)
);

CREATE TABLE tariffs (
    customer_id  TEXT PRIMARY KEY REFERENCES customers(id),
    body         TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    hash         TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_customer ON api_keys (customer_id);

CREATE TABLE operator_tokens (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

-- Append-only: every top-up, charge, refund and adjustment. Amounts are signed.
CREATE TABLE ledger (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    kind           TEXT NOT NULL CHECK (kind IN ('topup', 'charge', 'refund', 'adjustment')),
    amount         INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),
    message_id     TEXT,
    reference      TEXT,
    reason         TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX ledger_customer ON ledger (customer_id, seq);
-- A message is charged at most once and refunded at most once.
CREATE UNIQUE INDEX ledger_one_charge ON ledger (message_id, kind) WHERE message_id IS NOT NULL;
-- A payment reference tops up once.
CREATE UNIQUE INDEX ledger_topup_reference ON ledger (customer_id, reference) WHERE kind = 'topup' AND reference IS NOT NULL;
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;

-- Clustered by customer: a customer's messages are one range of the primary key, so
-- listing them needs no second index, and every lookup knows the customer.
CREATE TABLE messages (
    id            TEXT NOT NULL,
    customer_id   TEXT NOT NULL REFERENCES customers(id),
    recipient     TEXT NOT NULL,
    carrier       TEXT,
    sender        TEXT,
    text          TEXT NOT NULL,
    encoding      TEXT NOT NULL,
    segments      INTEGER NOT NULL,
    price         INTEGER NOT NULL,
    status        TEXT NOT NULL,
    -- The status given at acceptance; with created_at it is the message's first event, so
    -- the hot path writes no event row (message_events holds the changes after it).
    first_status  TEXT NOT NULL,
    client_ref    TEXT,
    callback_url  TEXT,
    send_at       INTEGER,
    valid_until   INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (customer_id, id)
) WITHOUT ROWID;
-- Work for the sweeper: due schedules, and messages to expire. Partial indexes whose
-- predicates the sweeper's queries repeat exactly, so they stay small (only live messages)
-- and the hot path pays for them only when a message has send_at or valid_until.
CREATE INDEX messages_scheduled ON messages (send_at) WHERE status = 'scheduled';
CREATE INDEX messages_scheduled_expiring ON messages (valid_until) WHERE status = 'scheduled' AND valid_until IS NOT NULL;
CREATE INDEX messages_queued_expiring ON messages (valid_until) WHERE status = 'queued' AND valid_until IS NOT NULL;

-- Status changes after acceptance; seq starts at 1.
CREATE TABLE message_events (
    message_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    status      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    detail      TEXT,
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    customer_id   TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    response      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (customer_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The carrier side (issue 3): the dispatch queue, parts submitted to carriers and their
-- receipts, settlement terms, inbound (MO) messages and their numbers, the webhook outbox.

-- The agreement's charge_on at acceptance: the message is settled by the terms it was sold
-- under, whatever the agreement says later.
ALTER TABLE messages ADD COLUMN charge_on TEXT NOT NULL DEFAULT 'submit' CHECK (charge_on IN ('submit', 'delivery'));
-- The dispatch queue's order: the writer numbers each message as it becomes `queued`, in
-- commit order, so a reader that has seen number N has seen every number below it.
ALTER TABLE messages ADD COLUMN queue_seq INTEGER;
-- The link (configured carrier name) the message went out on, and its parts' tally.
ALTER TABLE messages ADD COLUMN link TEXT;
ALTER TABLE messages ADD COLUMN parts_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN parts_accepted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN parts_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN parts_delivered INTEGER NOT NULL DEFAULT 0;
-- The worst receipt outcome so far, the message's final status unless every part is delivered.
ALTER TABLE messages ADD COLUMN worst_outcome TEXT;
-- The two events of the usual path, kept on the message row (like first_status) so the hot
-- path writes no event rows: when every part was submitted, with the carrier's ids, and the
-- final status from receipts with its time, carrier id and error code. Other changes
-- (releases, failures, expiry, cancellation) are rows of message_events.
ALTER TABLE messages ADD COLUMN submitted_at INTEGER;
ALTER TABLE messages ADD COLUMN carrier_message_ids TEXT;
ALTER TABLE messages ADD COLUMN done_at INTEGER;
ALTER TABLE messages ADD COLUMN done_carrier_message_id TEXT;
ALTER TABLE messages ADD COLUMN done_error TEXT;
CREATE INDEX messages_queued ON messages (queue_seq) WHERE status = 'queued';

ALTER TABLE message_events ADD COLUMN carrier TEXT;
ALTER TABLE message_events ADD COLUMN carrier_message_id TEXT;
ALTER TABLE message_events ADD COLUMN error TEXT;

-- One row per submit_sm a carrier accepted, keyed the way receipts name it.
CREATE TABLE message_parts (
    link                TEXT NOT NULL,
    carrier_message_id  TEXT NOT NULL,
    customer_id         TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    part                INTEGER NOT NULL,
    outcome             TEXT,
    error               TEXT,
    submitted_at        INTEGER NOT NULL,
    done_at             INTEGER,
    PRIMARY KEY (link, carrier_message_id)
) WITHOUT ROWID;

-- Receipts that arrived before their submit_sm_resp was recorded (or for ids we never
-- knew); matched when the part is recorded.
CREATE TABLE early_receipts (
    link                TEXT NOT NULL,
    carrier_message_id  TEXT NOT NULL,
    outcome             TEXT NOT NULL,
    error               TEXT,
    received_at         INTEGER NOT NULL,
    PRIMARY KEY (link, carrier_message_id)
) WITHOUT ROWID;
CREATE INDEX early_receipts_received ON early_receipts (received_at);

-- Small named values: the dispatch high-water mark.
CREATE TABLE marks (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);

-- Webhooks: the customer's default URL and signing secret.
ALTER TABLE customers ADD COLUMN webhook_url TEXT;
ALTER TABLE customers ADD COLUMN webhook_secret TEXT;

-- One row per (customer, URL): its retry state. A dead endpoint's backoff is here, so its
-- events are not looked at until it is due again.
CREATE TABLE webhook_endpoints (
    customer_id      TEXT NOT NULL,
    url              TEXT NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    failures         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    PRIMARY KEY (customer_id, url)
) WITHOUT ROWID;
CREATE INDEX webhook_endpoints_due ON webhook_endpoints (next_attempt_at);

CREATE TABLE webhook_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id  TEXT NOT NULL,
    url          TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX webhook_outbox_endpoint ON webhook_outbox (customer_id, url, id);

-- Numbers (sender numbers and their extensions) that route inbound messages to a customer.
CREATE TABLE customer_numbers (
    number       TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    created_at   INTEGER NOT NULL
);

-- Replies; customer_id is NULL when no customer owns the number (kept for the operator).
CREATE TABLE inbound_messages (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT,
    sender       TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    text         TEXT NOT NULL,
    link         TEXT NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX inbound_messages_customer ON inbound_messages (customer_id, id);

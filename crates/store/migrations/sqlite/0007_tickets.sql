-- Customer service (clause 3.6: inquiries and complaints) and billing disputes (clause 3.8):
-- tickets a customer opens, the replies of both sides, and where each ticket stands.

CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    kind            TEXT NOT NULL CHECK (kind IN ('inquiry', 'complaint', 'billing_dispute')),
    status          TEXT NOT NULL CHECK (status IN ('open', 'answered', 'resolved', 'closed')),
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- JSON arrays of strings: the customer's own message ids, and statement lines
    -- (`2026-10:charges:2026-10-03`), that a billing dispute is about.
    message_ids     TEXT NOT NULL DEFAULT '[]',
    statement_lines TEXT NOT NULL DEFAULT '[]',
    opened_at       INTEGER NOT NULL,
    -- Complaints only: when the provider must have answered.
    answer_due_at   INTEGER,
    -- The operator's last answer; the last time the ticket was resolved, closed.
    answered_at     INTEGER,
    resolved_at     INTEGER,
    closed_at       INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX tickets_customer ON tickets (customer_id, id);
-- Complaints nobody has answered yet, by deadline: the overdue list.
CREATE INDEX tickets_unanswered ON tickets (answer_due_at) WHERE answer_due_at IS NOT NULL AND answered_at IS NULL;

CREATE TABLE ticket_replies (
    id          TEXT PRIMARY KEY,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    author      TEXT NOT NULL CHECK (author IN ('customer', 'operator')),
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX ticket_replies_ticket ON ticket_replies (ticket_id, id);

-- The adjustments that settled a ticket name it in their `reference` (the ledger keeps its
-- columns: its hash chain covers them); this finds them without reading the whole ledger.
CREATE INDEX ledger_adjustment_reference ON ledger (customer_id, reference)
    WHERE kind = 'adjustment' AND reference IS NOT NULL;

-- The customer side over SMPP (issue 4): credentials, the parts of long messages customers
-- split themselves, receipt requests, and the outbox of deliver_sm for customers' binds.

-- SMPP credentials; a customer may have several. The password is an argon2id PHC string.
CREATE TABLE smpp_accounts (
    system_id       TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    password_hash   TEXT NOT NULL,
    -- JSON array of IPs or CIDR blocks; empty means any address.
    allowed_ips     TEXT NOT NULL DEFAULT '[]',
    max_binds       INTEGER NOT NULL CHECK (max_binds >= 1),
    tps             INTEGER NOT NULL CHECK (tps >= 0),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX smpp_accounts_customer ON smpp_accounts (customer_id);

-- registered_delivery & 3 of an SMPP submit: 0 no receipt, 1 a receipt on the final status,
-- 2 a receipt on failure only. Messages from HTTP keep 0 (they report by webhook).
ALTER TABLE messages ADD COLUMN smpp_receipt INTEGER NOT NULL DEFAULT 0;
-- One part of a long message the customer split (UDH or SAR): it goes out as that part.
ALTER TABLE messages ADD COLUMN concat_ref INTEGER;
ALTER TABLE messages ADD COLUMN concat_total INTEGER;
ALTER TABLE messages ADD COLUMN concat_seq INTEGER;

-- Receipts and MO for a customer's receiver and transceiver binds, in the transaction that
-- produced them; removed when a bind answers deliver_sm_resp OK, dropped after the expiry.
CREATE TABLE smpp_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX smpp_outbox_customer ON smpp_outbox (customer_id, id);
CREATE INDEX smpp_outbox_created ON smpp_outbox (created_at);

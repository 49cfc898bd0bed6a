-- The web consoles (issue 8): the people who sign in to the operator console (/admin/) and
-- to the customers' console (/console/), and their signed-in browsers.

-- An e-mail is unique within its area; operator users belong to no customer, customer
-- users to exactly one. The password is kept only as its argon2id hash.
CREATE TABLE console_users (
    id             TEXT PRIMARY KEY,
    area           TEXT NOT NULL CHECK (area IN ('operator', 'customer')),
    customer_id    TEXT REFERENCES customers(id),
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    disabled_at    INTEGER,
    UNIQUE (area, email),
    CHECK ((area = 'operator' AND customer_id IS NULL) OR (area = 'customer' AND customer_id IS NOT NULL))
);

CREATE INDEX console_users_customer ON console_users (customer_id);

-- A session is found by the SHA-256 of its cookie's token, never by the token itself. It
-- ends at expires_at (idle, moved forward by activity) or absolute_expires_at, whichever
-- comes first.
CREATE TABLE console_sessions (
    id_hash              TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
    csrf                 TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    last_seen_at         INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    absolute_expires_at  INTEGER NOT NULL
);

CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- The customer's recent webhook deliveries, shown in the portal: one row per attempt of the
-- notifier at an endpoint (error NULL: delivered). Only a customer's newest 100 are kept.
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id  TEXT NOT NULL,
    url          TEXT NOT NULL,
    at           INTEGER NOT NULL,
    events       INTEGER NOT NULL,
    error        TEXT
);

CREATE INDEX webhook_deliveries_customer ON webhook_deliveries (customer_id, id);

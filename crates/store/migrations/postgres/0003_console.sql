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
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    disabled_at    BIGINT,
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
    created_at           BIGINT NOT NULL,
    last_seen_at         BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    absolute_expires_at  BIGINT NOT NULL
);

CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

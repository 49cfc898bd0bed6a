-- Tamper evidence (issue 6, clause 3.8: the provider's records decide disputes): every
-- ledger entry carries the SHA-256 of the previous entry's hash and its own fields, so that
-- changing, removing or reordering any entry breaks the chain from there on
-- (`tongdao verify`). Entries made before this migration are chained by it, in order.
ALTER TABLE ledger ADD COLUMN hash TEXT;

-- Where each message came from (clause 3.1: records keep the source): `http:<ip>` or
-- `smpp:<system_id>@<ip>`.
ALTER TABLE messages ADD COLUMN source TEXT;

-- Several nodes on one database (issue 7). SQLite serves one node, but keeps the same
-- tables as PostgreSQL so that both backends answer the same contract.

-- Each node's heartbeat: a node is alive until alive_until.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    started_at   INTEGER NOT NULL,
    alive_until  INTEGER NOT NULL
);

-- Named leases (carrier bind slots, webhook endpoints, periodic jobs). token grows by one
-- each time the lease changes hands and fences the previous holder.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- The node that claimed a queued message for its carriers; a queued message claimed by a
-- node is that node's to send or expire while it is alive.
ALTER TABLE messages ADD COLUMN claimed_by TEXT;

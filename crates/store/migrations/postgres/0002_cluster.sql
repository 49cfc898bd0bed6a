-- Several nodes on one database (issue 7): heartbeats, leases with fencing tokens, and the
-- node that claimed each queued message.

-- Each node's heartbeat: a node is alive until alive_until.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    alive_until  BIGINT NOT NULL
);

-- Named leases (carrier bind slots, webhook endpoints, periodic jobs). token grows by one
-- each time the lease changes hands and fences the previous holder.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- The node that claimed a queued message for its carriers; a queued message claimed by a
-- node is that node's to send or expire while it is alive.
ALTER TABLE messages ADD COLUMN claimed_by TEXT;

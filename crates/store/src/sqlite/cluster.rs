//! Heartbeats, leases and queue claims (see `crate::cluster`). SQLite serves one node; the
//! same statements as PostgreSQL's keep the two backends to one contract.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::carrier::concat_part;
use crate::StoreResult;
use crate::model::*;

/// Nodes dead this long are forgotten.
const FORGET_NODES_AFTER_MS: i64 = 86_400_000;

pub(super) fn heartbeat(conn: &Connection, node: &str, now_ms: i64, alive_until: i64) -> StoreResult<Vec<String>> {
    conn.prepare_cached(
        "INSERT INTO nodes (id, started_at, alive_until) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET alive_until = excluded.alive_until",
    )?
    .execute(params![node, now_ms, alive_until])?;
    conn.prepare_cached("DELETE FROM nodes WHERE alive_until < ?1")?.execute([now_ms - FORGET_NODES_AFTER_MS])?;
    alive(conn, now_ms)
}

fn alive(conn: &Connection, now_ms: i64) -> StoreResult<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM nodes WHERE alive_until > ?1 ORDER BY id")?
        .query_map([now_ms], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

fn lease_row(r: &Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease { name: r.get(0)?, holder: r.get(1)?, token: r.get(2)?, expires_at: r.get(3)? })
}

pub(super) fn acquire(
    conn: &Connection,
    name: &str,
    holder: &str,
    now_ms: i64,
    until: i64,
) -> StoreResult<Option<Lease>> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO leases (name, holder, token, expires_at) VALUES (?1, ?2, 1, ?4) \
             ON CONFLICT (name) DO UPDATE SET \
                 token = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ?3 \
                              THEN leases.token ELSE leases.token + 1 END, \
                 holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.expires_at <= ?3 OR leases.holder = excluded.holder \
             RETURNING name, holder, token, expires_at",
        )?
        .query_row(params![name, holder, now_ms, until], lease_row)
        .optional()?)
}

pub(super) fn renew(conn: &Connection, lease: &Lease, now_ms: i64, until: i64) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE leases SET expires_at = ?5 WHERE name = ?1 AND holder = ?2 AND token = ?3 AND expires_at > ?4",
        )?
        .execute(params![lease.name, lease.holder, lease.token, now_ms, until])?;
    Ok(changed == 1)
}

pub(super) fn release(conn: &Connection, lease: &Lease) -> StoreResult<()> {
    conn.prepare_cached("UPDATE leases SET expires_at = 0 WHERE name = ?1 AND holder = ?2 AND token = ?3")?
        .execute(params![lease.name, lease.holder, lease.token])?;
    Ok(())
}

pub(super) fn list(conn: &Connection) -> StoreResult<Vec<Lease>> {
    Ok(conn
        .prepare_cached("SELECT name, holder, token, expires_at FROM leases ORDER BY name")?
        .query_map([], lease_row)?
        .collect::<Result<_, _>>()?)
}

/// The SQL condition "the message matches one of `routes`", with its parameters appended
/// to `values` (numbered from `values.len() + 1`).
pub(crate) fn route_condition(routes: &[Route], values: &mut Vec<String>, placeholder: fn(usize) -> String) -> String {
    if routes.iter().any(|r| r.carriers.is_empty() && r.prefixes.is_empty()) {
        return "TRUE".into();
    }
    let mut any = Vec::new();
    for route in routes {
        for carrier in &route.carriers {
            values.push(carrier.to_lowercase());
            any.push(format!("COALESCE(lower(carrier), '') = {}", placeholder(values.len())));
        }
        for prefix in &route.prefixes {
            let digits: String = prefix.trim_start_matches('+').chars().filter(char::is_ascii_digit).collect();
            values.push(format!("+{digits}%"));
            any.push(format!("recipient LIKE {}", placeholder(values.len())));
        }
    }
    if any.is_empty() { "FALSE".into() } else { format!("({})", any.join(" OR ")) }
}

/// The condition a claim selects queued messages by (see [`QueueClaim`]).
pub(crate) fn claim_condition(
    claim: &QueueClaim,
    values: &mut Vec<String>,
    placeholder: fn(usize) -> String,
) -> String {
    let serve = route_condition(&claim.serve, values, placeholder);
    match &claim.unserved_by {
        Some(all) if !all.is_empty() => {
            let unserved = route_condition(all, values, placeholder);
            format!("({serve} OR NOT {unserved})")
        }
        _ => serve,
    }
}

pub(super) fn claim_queued(conn: &Connection, claim: &QueueClaim) -> StoreResult<Vec<QueuedMessage>> {
    // ?1 node, ?2 now, ?3 limit; the routes' values follow.
    let mut values = Vec::new();
    let condition = claim_condition(claim, &mut values, |n| format!("?{}", n + 3));
    let sql = format!(
        "SELECT queue_seq, id, customer_id, recipient, carrier, sender, text, valid_until, concat_ref, concat_total, \
         concat_seq, claimed_by FROM messages \
         WHERE status = 'queued' AND (claimed_by IS NULL OR (claimed_by <> ?1 AND claimed_by NOT IN \
             (SELECT id FROM nodes WHERE alive_until > ?2))) \
         AND {condition} ORDER BY queue_seq LIMIT ?3"
    );
    let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&claim.node, &claim.now_ms, &claim.limit];
    bound.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
    let claimed: Vec<QueuedMessage> = conn
        .prepare_cached(&sql)?
        .query_map(bound.as_slice(), |r| {
            let before: Option<String> = r.get(11)?;
            Ok(QueuedMessage {
                queue_seq: r.get(0)?,
                id: r.get(1)?,
                customer_id: r.get(2)?,
                recipient: r.get(3)?,
                carrier: r.get(4)?,
                sender: r.get(5)?,
                text: r.get(6)?,
                valid_until: r.get(7)?,
                maybe_sent: before.is_some(),
                concat: concat_part(r.get(8)?, r.get(9)?, r.get(10)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut mark = conn.prepare_cached("UPDATE messages SET claimed_by = ?3 WHERE customer_id = ?1 AND id = ?2")?;
    for m in &claimed {
        mark.execute(params![m.customer_id, m.id, claim.node])?;
    }
    Ok(claimed)
}

pub(super) fn release_claim(conn: &Connection, node: &str, customer_id: &str, message_id: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE messages SET claimed_by = NULL \
         WHERE customer_id = ?1 AND id = ?2 AND claimed_by = ?3 AND status = 'queued'",
    )?
    .execute(params![customer_id, message_id, node])?;
    Ok(())
}

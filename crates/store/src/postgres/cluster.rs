//! Heartbeats, leases and queue claims on PostgreSQL (see `crate::cluster`): the SQLite
//! backend's statements, with `FOR UPDATE SKIP LOCKED` so that nodes claiming at once take
//! different messages without waiting for each other.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PgStore, exec, row_opt, rows};
use crate::model::*;
use crate::sqlite::cluster::claim_condition;
use crate::{StoreError, StoreResult};

/// Nodes dead this long are forgotten.
const FORGET_NODES_AFTER_MS: i64 = 86_400_000;

fn lease_row(r: &Row) -> StoreResult<Lease> {
    Ok(Lease { name: r.try_get(0)?, holder: r.try_get(1)?, token: r.try_get(2)?, expires_at: r.try_get(3)? })
}

pub(super) async fn heartbeat(store: &PgStore, node: &str, now_ms: i64, alive_until: i64) -> StoreResult<Vec<String>> {
    let c = store.control_client().await?;
    exec(
        &c,
        "INSERT INTO nodes (id, started_at, alive_until) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET alive_until = excluded.alive_until",
        &[&node, &now_ms, &alive_until],
    )
    .await?;
    exec(&c, "DELETE FROM nodes WHERE alive_until < $1", &[&(now_ms - FORGET_NODES_AFTER_MS)]).await?;
    rows(&c, "SELECT id FROM nodes WHERE alive_until > $1 ORDER BY id", &[&now_ms])
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

pub(super) async fn acquire_lease(
    store: &PgStore,
    name: &str,
    holder: &str,
    now_ms: i64,
    until: i64,
) -> StoreResult<Option<Lease>> {
    let c = store.control_client().await?;
    let taken = row_opt(
        &c,
        "INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, $2, 1, $4) \
         ON CONFLICT (name) DO UPDATE SET \
             token = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > $3 \
                          THEN leases.token ELSE leases.token + 1 END, \
             holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.expires_at <= $3 OR leases.holder = excluded.holder \
         RETURNING name, holder, token, expires_at",
        &[&name, &holder, &now_ms, &until],
    )
    .await?;
    taken.as_ref().map(lease_row).transpose()
}

pub(super) async fn renew_lease(store: &PgStore, lease: &Lease, now_ms: i64, until: i64) -> StoreResult<bool> {
    let c = store.control_client().await?;
    let changed = exec(
        &c,
        "UPDATE leases SET expires_at = $5 WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > $4",
        &[&lease.name, &lease.holder, &lease.token, &now_ms, &until],
    )
    .await?;
    Ok(changed == 1)
}

pub(super) async fn release_lease(store: &PgStore, lease: &Lease) -> StoreResult<()> {
    let c = store.control_client().await?;
    exec(
        &c,
        "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2 AND token = $3",
        &[&lease.name, &lease.holder, &lease.token],
    )
    .await?;
    Ok(())
}

pub(super) async fn list_leases(store: &PgStore) -> StoreResult<Vec<Lease>> {
    let c = store.client().await?;
    rows(&c, "SELECT name, holder, token, expires_at FROM leases ORDER BY name", &[])
        .await?
        .iter()
        .map(lease_row)
        .collect()
}

pub(super) async fn claim_queued(store: &PgStore, claim: QueueClaim) -> StoreResult<Vec<QueuedMessage>> {
    // $1 node, $2 now, $3 limit; the routes' values follow.
    let mut values = Vec::new();
    let condition = claim_condition(&claim, &mut values, |n| format!("${}", n + 3));
    let sql = format!(
        "WITH picked AS ( \
             SELECT customer_id, id, claimed_by AS before FROM messages \
             WHERE status = 'queued' AND (claimed_by IS NULL OR (claimed_by <> $1 AND claimed_by NOT IN \
                 (SELECT id FROM nodes WHERE alive_until > $2))) \
             AND {condition} ORDER BY queue_seq LIMIT $3 FOR UPDATE SKIP LOCKED) \
         UPDATE messages m SET claimed_by = $1 FROM picked \
         WHERE m.customer_id = picked.customer_id AND m.id = picked.id \
         RETURNING m.queue_seq, m.id, m.customer_id, m.recipient, m.carrier, m.sender, m.text, m.valid_until, \
             m.concat_ref, m.concat_total, m.concat_seq, picked.before"
    );
    let limit = i64::from(claim.limit);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&claim.node, &claim.now_ms, &limit];
    params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
    let c = store.client().await?;
    let mut claimed = rows(&c, &sql, &params)
        .await?
        .iter()
        .map(|r| {
            let before: Option<String> = r.try_get(11)?;
            let part = |i: usize| -> StoreResult<Option<i64>> { Ok(r.try_get(i)?) };
            Ok(QueuedMessage {
                queue_seq: r.try_get::<_, Option<i64>>(0)?.ok_or_else(|| StoreError::Backend("no queue_seq".into()))?,
                id: r.try_get(1)?,
                customer_id: r.try_get(2)?,
                recipient: r.try_get(3)?,
                carrier: r.try_get(4)?,
                sender: r.try_get(5)?,
                text: r.try_get(6)?,
                valid_until: r.try_get(7)?,
                maybe_sent: before.is_some(),
                concat: crate::sqlite::carrier::concat_part(part(8)?, part(9)?, part(10)?),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    claimed.sort_by_key(|m| m.queue_seq);
    Ok(claimed)
}

pub(super) async fn release_claim(store: &PgStore, node: &str, customer_id: &str, message_id: &str) -> StoreResult<()> {
    let c = store.client().await?;
    exec(
        &c,
        "UPDATE messages SET claimed_by = NULL \
         WHERE customer_id = $1 AND id = $2 AND claimed_by = $3 AND status = 'queued'",
        &[&customer_id, &message_id, &node],
    )
    .await?;
    Ok(())
}

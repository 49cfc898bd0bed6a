//! The customer side over SMPP on PostgreSQL: credentials, and the outbox of receipts and MO
//! for the customers' binds (written by `status::enqueue_smpp` and `carrier::record_inbound`).

use tokio_postgres::Row;

use super::{PgStore, Tx, bad_column, exec, row, row_opt, rows};
use crate::model::*;
use crate::{StoreError, StoreResult};

const ACCOUNT_COLUMNS: &str =
    "system_id, customer_id, password_hash, allowed_ips, max_binds, tps, created_at, updated_at";

fn account_row(r: &Row) -> StoreResult<SmppAccount> {
    let ips: String = r.try_get(3)?;
    let max_binds: i64 = r.try_get(4)?;
    let tps: i64 = r.try_get(5)?;
    Ok(SmppAccount {
        system_id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        // As the SQLite backend reads it: a list it cannot read allows any address.
        allowed_ips: serde_json::from_str(&ips).unwrap_or_default(),
        max_binds: u32::try_from(max_binds).map_err(|_| bad_column(4, "bad max_binds"))?,
        tps: u32::try_from(tps).map_err(|_| bad_column(5, "bad tps"))?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

fn ips_json(account: &SmppAccount) -> StoreResult<String> {
    serde_json::to_string(&account.allowed_ips).map_err(|e| StoreError::Backend(e.to_string()))
}

pub(super) async fn create_smpp_account(store: &PgStore, account: SmppAccount) -> StoreResult<SmppAccount> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let inserted = exec(
        &tx.t,
        &format!(
            "INSERT INTO smpp_accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (system_id) DO NOTHING"
        ),
        &[
            &account.system_id,
            &account.customer_id,
            &account.password_hash,
            &ips_json(&account)?,
            &i64::from(account.max_binds),
            &i64::from(account.tps),
            &account.created_at,
            &account.updated_at,
        ],
    )
    .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!("the system_id {} is taken", account.system_id)));
    }
    tx.commit(store).await?;
    Ok(account)
}

/// Replaces the account's password hash, IPs and limits (system_id, customer and creation
/// time stay as stored; the caller read them).
pub(super) async fn update_smpp_account(store: &PgStore, account: SmppAccount) -> StoreResult<SmppAccount> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let changed = exec(
        &tx.t,
        "UPDATE smpp_accounts SET password_hash = $3, allowed_ips = $4, max_binds = $5, tps = $6, updated_at = $7 \
         WHERE system_id = $1 AND customer_id = $2",
        &[
            &account.system_id,
            &account.customer_id,
            &account.password_hash,
            &ips_json(&account)?,
            &i64::from(account.max_binds),
            &i64::from(account.tps),
            &account.updated_at,
        ],
    )
    .await?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    tx.commit(store).await?;
    Ok(account)
}

pub(super) async fn delete_smpp_account(store: &PgStore, customer_id: &str, system_id: &str) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let deleted =
        exec(&tx.t, "DELETE FROM smpp_accounts WHERE system_id = $1 AND customer_id = $2", &[&system_id, &customer_id])
            .await?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn find_smpp_account(store: &PgStore, system_id: &str) -> StoreResult<Option<SmppAccount>> {
    let c = store.client().await?;
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM smpp_accounts WHERE system_id = $1");
    match row_opt(&c, &sql, &[&system_id]).await? {
        Some(r) => Ok(Some(account_row(&r)?)),
        None => Ok(None),
    }
}

pub(super) async fn list_smpp_accounts(store: &PgStore, customer_id: &str) -> StoreResult<Vec<SmppAccount>> {
    let c = store.client().await?;
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM smpp_accounts WHERE customer_id = $1 ORDER BY system_id");
    rows(&c, &sql, &[&customer_id]).await?.iter().map(account_row).collect()
}

pub(super) async fn smpp_pending(
    store: &PgStore,
    customer_id: &str,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<SmppDelivery>> {
    let c = store.client().await?;
    let found = rows(
        &c,
        "SELECT id, body, created_at FROM smpp_outbox WHERE customer_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        &[&customer_id, &after_id, &i64::from(limit)],
    )
    .await?;
    found
        .iter()
        .map(|r| Ok(SmppDelivery { id: r.try_get(0)?, body: r.try_get(1)?, created_at: r.try_get(2)? }))
        .collect()
}

pub(super) async fn smpp_delivered(store: &PgStore, customer_id: &str, ids: Vec<i64>) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    // Acknowledgements come in any order and with gaps (other customers' rows, deliveries
    // still out), so no range delete: the ids as one array.
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(&tx.t, "DELETE FROM smpp_outbox WHERE customer_id = $1 AND id = ANY($2)", &[&customer_id, &ids]).await?;
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn expire_smpp_outbox(store: &PgStore, before_ms: i64, limit: u32) -> StoreResult<u64> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let expired = exec(
        &tx.t,
        "DELETE FROM smpp_outbox WHERE id IN (SELECT id FROM smpp_outbox WHERE created_at < $1 LIMIT $2)",
        &[&before_ms, &i64::from(limit)],
    )
    .await?;
    tx.commit(store).await?;
    Ok(expired)
}

pub(super) async fn smpp_outbox_depth(store: &PgStore) -> StoreResult<u64> {
    let c = store.client().await?;
    let depth: i64 = row(&c, "SELECT COUNT(*) FROM smpp_outbox", &[]).await?.try_get(0)?;
    u64::try_from(depth).map_err(|_| bad_column(0, "bad count"))
}

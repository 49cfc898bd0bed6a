//! The customer side over SMPP: credentials, and the outbox of receipts and MO for the
//! customers' binds.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Change, Changed};
use crate::model::*;
use crate::{StoreError, StoreResult};

const ACCOUNT_COLUMNS: &str =
    "system_id, customer_id, password_hash, allowed_ips, max_binds, tps, created_at, updated_at";

fn account_row(r: &Row<'_>) -> rusqlite::Result<SmppAccount> {
    let ips: String = r.get(3)?;
    Ok(SmppAccount {
        system_id: r.get(0)?,
        customer_id: r.get(1)?,
        password_hash: r.get(2)?,
        allowed_ips: serde_json::from_str(&ips).unwrap_or_default(),
        max_binds: r.get(4)?,
        tps: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn ips_json(account: &SmppAccount) -> StoreResult<String> {
    serde_json::to_string(&account.allowed_ips).map_err(|e| StoreError::Backend(e.to_string()))
}

pub(super) fn create_account(conn: &Connection, account: &SmppAccount) -> StoreResult<SmppAccount> {
    let inserted = conn
        .prepare_cached(&format!(
            "INSERT INTO smpp_accounts ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (system_id) DO NOTHING"
        ))?
        .execute(params![
            account.system_id,
            account.customer_id,
            account.password_hash,
            ips_json(account)?,
            account.max_binds,
            account.tps,
            account.created_at,
            account.updated_at
        ])?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!("the system_id {} is taken", account.system_id)));
    }
    Ok(account.clone())
}

/// Replaces the account's password hash, IPs and limits (system_id, customer and creation
/// time stay as stored; the caller read them).
pub(super) fn update_account(conn: &Connection, account: &SmppAccount) -> StoreResult<SmppAccount> {
    let changed = conn
        .prepare_cached(
            "UPDATE smpp_accounts SET password_hash = ?3, allowed_ips = ?4, max_binds = ?5, tps = ?6, updated_at = ?7 \
             WHERE system_id = ?1 AND customer_id = ?2",
        )?
        .execute(params![
            account.system_id,
            account.customer_id,
            account.password_hash,
            ips_json(account)?,
            account.max_binds,
            account.tps,
            account.updated_at
        ])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(account.clone())
}

pub(super) fn delete_account(conn: &Connection, customer_id: &str, system_id: &str) -> StoreResult<()> {
    let deleted = conn
        .prepare_cached("DELETE FROM smpp_accounts WHERE system_id = ?1 AND customer_id = ?2")?
        .execute([system_id, customer_id])?;
    if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) fn find_account(conn: &Connection, system_id: &str) -> StoreResult<Option<SmppAccount>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM smpp_accounts WHERE system_id = ?1"))?
        .query_row([system_id], account_row)
        .optional()?)
}

pub(super) fn list_accounts(conn: &Connection, customer_id: &str) -> StoreResult<Vec<SmppAccount>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM smpp_accounts WHERE customer_id = ?1 ORDER BY system_id"
    ))?;
    let rows = statement.query_map([customer_id], account_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn enqueue(conn: &Connection, customer_id: &str, event: &SmppEvent, at: i64) -> StoreResult<()> {
    let body = serde_json::to_string(event).map_err(|e| StoreError::Backend(e.to_string()))?;
    conn.prepare_cached("INSERT INTO smpp_outbox (customer_id, body, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![customer_id, body, at])?;
    Ok(())
}

/// The receipt of a status change its SMPP sender asked for.
pub(super) fn enqueue_receipt(conn: &Connection, change: &Change<'_>, changed: &Changed) -> StoreResult<()> {
    let event = SmppEvent::Receipt {
        message_id: change.message_id.to_owned(),
        from: changed.recipient.clone(),
        to: changed.sender.clone(),
        status: change.status,
        submitted_at: changed.created_at,
        done_at: change.at,
        error: change.error.map(str::to_owned),
        text: changed.text_start.clone(),
    };
    enqueue(conn, change.customer_id, &event, change.at)
}

/// An MO for a customer that has SMPP credentials goes to its binds too.
pub(super) fn enqueue_inbound(conn: &Connection, customer_id: &str, inbound: &NewInbound) -> StoreResult<()> {
    let has_account: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM smpp_accounts WHERE customer_id = ?1 LIMIT 1")?
        .query_row([customer_id], |r| r.get(0))
        .optional()?;
    if has_account.is_none() {
        return Ok(());
    }
    let event = SmppEvent::Inbound {
        inbound_id: inbound.id.clone(),
        from: inbound.sender.clone(),
        to: inbound.recipient.clone(),
        text: inbound.text.clone(),
        received_at: inbound.received_at,
    };
    enqueue(conn, customer_id, &event, inbound.received_at)
}

pub(super) fn pending(
    conn: &Connection,
    customer_id: &str,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<SmppDelivery>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, body, created_at FROM smpp_outbox WHERE customer_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = statement.query_map(params![customer_id, after_id, limit], |r| {
        Ok(SmppDelivery { id: r.get(0)?, body: r.get(1)?, created_at: r.get(2)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ids removed per statement; short chunks are padded with an id that never exists.
const DELETE_CHUNK: usize = 32;

pub(super) fn delivered(conn: &Connection, customer_id: &str, ids: &[i64]) -> StoreResult<()> {
    // Acknowledgements come in any order and with gaps (other customers' rows, deliveries
    // still out), so no range delete: one statement per chunk of ids.
    let placeholders = (2..DELETE_CHUNK + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let sql = format!("DELETE FROM smpp_outbox WHERE customer_id = ?1 AND id IN ({placeholders})");
    let mut statement = conn.prepare_cached(&sql)?;
    for chunk in ids.chunks(DELETE_CHUNK) {
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(DELETE_CHUNK + 1);
        values.push(customer_id.to_owned().into());
        values.extend(chunk.iter().map(|id| rusqlite::types::Value::Integer(*id)));
        values.resize(DELETE_CHUNK + 1, rusqlite::types::Value::Integer(-1));
        statement.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

pub(super) fn expire(conn: &Connection, before_ms: i64, limit: u32) -> StoreResult<u64> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM smpp_outbox WHERE id IN (SELECT id FROM smpp_outbox WHERE created_at < ?1 LIMIT ?2)",
        )?
        .execute(params![before_ms, limit])? as u64)
}

pub(super) fn depth(conn: &Connection) -> StoreResult<u64> {
    Ok(conn.prepare_cached("SELECT COUNT(*) FROM smpp_outbox")?.query_row([], |r| r.get::<_, i64>(0))? as u64)
}

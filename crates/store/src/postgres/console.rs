//! The consoles' users and their sessions on PostgreSQL (issue 8), as the SQLite backend's
//! `sqlite::console` does them and with its shared pieces: the checks of a new user, how a
//! change applies, what the audit trail shows.
//!
//! A change locks the user's row first, so that two nodes changing one user apply their
//! changes one after the other, each to what the other wrote.

use tokio_postgres::Row;

use super::core::insert_audit;
use super::{PgStore, Tx, bad_column, exec, row_opt, rows};
use crate::model::*;
use crate::sqlite::console::{
    JOINED_SESSION_COLUMNS, JOINED_USER_COLUMNS, USER_COLUMNS, change_snapshot, changed, ends_sessions, normalized,
    taken, user_snapshot,
};
use crate::{StoreError, StoreResult};

// ---- rows ----------------------------------------------------------------------------------

/// A user from `USER_COLUMNS` starting at column `first`.
fn user_at(r: &Row, first: usize) -> StoreResult<ConsoleUser> {
    let area: String = r.try_get(first + 1)?;
    Ok(ConsoleUser {
        id: r.try_get(first)?,
        area: ConsoleArea::parse(&area).ok_or_else(|| bad_column(first + 1, "bad console area"))?,
        customer_id: r.try_get(first + 2)?,
        email: r.try_get(first + 3)?,
        password_hash: r.try_get(first + 4)?,
        role: r.try_get(first + 5)?,
        created_at: r.try_get(first + 6)?,
        updated_at: r.try_get(first + 7)?,
        disabled_at: r.try_get(first + 8)?,
    })
}

fn user_row(r: &Row) -> StoreResult<ConsoleUser> {
    user_at(r, 0)
}

fn session_row(r: &Row) -> StoreResult<ConsoleSession> {
    Ok(ConsoleSession {
        id_hash: r.try_get(0)?,
        user_id: r.try_get(1)?,
        csrf: r.try_get(2)?,
        created_at: r.try_get(3)?,
        last_seen_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        absolute_expires_at: r.try_get(6)?,
    })
}

// ---- users ---------------------------------------------------------------------------------

pub(super) async fn create_console_user(
    store: &PgStore,
    user: ConsoleUser,
    audit: Option<AuditEntry>,
) -> StoreResult<ConsoleUser> {
    let user = normalized(user)?;
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    if let Some(customer_id) = &user.customer_id {
        row_opt(&tx.t, "SELECT 1 FROM customers WHERE id = $1", &[customer_id]).await?.ok_or(StoreError::NotFound)?;
    }
    let existing = row_opt(
        &tx.t,
        "SELECT id FROM console_users WHERE id = $1 OR (area = $2 AND email = $3) LIMIT 1",
        &[&user.id, &user.area.as_str(), &user.email],
    )
    .await?;
    if let Some(existing) = existing {
        return Err(taken(&existing.try_get::<_, String>(0)?, &user));
    }
    // The unique keys are the backstop of the check above: another node may have added the
    // same id or e-mail meanwhile.
    let inserted = exec(
        &tx.t,
        &format!(
            "INSERT INTO console_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT DO NOTHING"
        ),
        &[
            &user.id,
            &user.area.as_str(),
            &user.customer_id,
            &user.email,
            &user.password_hash,
            &user.role,
            &user.created_at,
            &user.updated_at,
            &user.disabled_at,
        ],
    )
    .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "the user id {} or the e-mail {} is taken in the {} console",
            user.id,
            user.email,
            user.area.as_str()
        )));
    }
    if let Some(audit) = audit {
        insert_audit(&tx.t, &AuditEntry { after: Some(user_snapshot(&user).to_string()), ..audit }).await?;
    }
    tx.commit(store).await?;
    Ok(user)
}

pub(super) async fn find_console_user(
    store: &PgStore,
    area: ConsoleArea,
    email: &str,
) -> StoreResult<Option<ConsoleUser>> {
    let c = store.client().await?;
    let sql = format!("SELECT {USER_COLUMNS} FROM console_users WHERE area = $1 AND email = $2");
    row_opt(&c, &sql, &[&area.as_str(), &email.to_lowercase()]).await?.as_ref().map(user_row).transpose()
}

pub(super) async fn get_console_user(store: &PgStore, id: &str) -> StoreResult<ConsoleUser> {
    let c = store.client().await?;
    let sql = format!("SELECT {USER_COLUMNS} FROM console_users WHERE id = $1");
    user_row(&row_opt(&c, &sql, &[&id]).await?.ok_or(StoreError::NotFound)?)
}

pub(super) async fn list_console_users(
    store: &PgStore,
    area: ConsoleArea,
    customer_id: Option<&str>,
) -> StoreResult<Vec<ConsoleUser>> {
    let c = store.client().await?;
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM console_users WHERE area = $1 AND ($2::TEXT IS NULL OR customer_id = $2) \
         ORDER BY email"
    );
    rows(&c, &sql, &[&area.as_str(), &customer_id]).await?.iter().map(user_row).collect()
}

/// Applies `change` on the locked user; disabling it or setting its password deletes its
/// sessions in the same transaction.
pub(super) async fn change_console_user(
    store: &PgStore,
    id: &str,
    change: ConsoleUserChange,
    now_ms: i64,
    audit: AuditEntry,
) -> StoreResult<ConsoleUser> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let sql = format!("SELECT {USER_COLUMNS} FROM console_users WHERE id = $1 FOR UPDATE");
    let before = user_row(&row_opt(&tx.t, &sql, &[&id]).await?.ok_or(StoreError::NotFound)?)?;
    let after = changed(&before, &change, now_ms);
    exec(
        &tx.t,
        "UPDATE console_users SET role = $2, password_hash = $3, updated_at = $4, disabled_at = $5 WHERE id = $1",
        &[&after.id, &after.role, &after.password_hash, &after.updated_at, &after.disabled_at],
    )
    .await?;
    let ended = if ends_sessions(&change) {
        exec(&tx.t, "DELETE FROM console_sessions WHERE user_id = $1", &[&after.id]).await?
    } else {
        0
    };
    let entry = AuditEntry {
        before: Some(user_snapshot(&before).to_string()),
        after: Some(change_snapshot(&after, &change, ended)),
        ..audit
    };
    insert_audit(&tx.t, &entry).await?;
    tx.commit(store).await?;
    Ok(after)
}

// ---- sessions ------------------------------------------------------------------------------

pub(super) async fn create_console_session(store: &PgStore, session: ConsoleSession) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    row_opt(&tx.t, "SELECT 1 FROM console_users WHERE id = $1", &[&session.user_id])
        .await?
        .ok_or(StoreError::NotFound)?;
    let inserted = exec(
        &tx.t,
        "INSERT INTO console_sessions (id_hash, user_id, csrf, created_at, last_seen_at, expires_at, absolute_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id_hash) DO NOTHING",
        &[
            &session.id_hash,
            &session.user_id,
            &session.csrf,
            &session.created_at,
            &session.last_seen_at,
            &session.expires_at,
            &session.absolute_expires_at,
        ],
    )
    .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict("the session exists already".into()));
    }
    tx.commit(store).await?;
    Ok(())
}

/// The session and its user when the session is live at `now_ms` and the user enabled.
pub(super) async fn find_console_session(
    store: &PgStore,
    id_hash: &str,
    now_ms: i64,
) -> StoreResult<Option<(ConsoleSession, ConsoleUser)>> {
    let c = store.client().await?;
    let sql = format!(
        "SELECT {JOINED_SESSION_COLUMNS}, {JOINED_USER_COLUMNS} FROM console_sessions s \
         JOIN console_users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.absolute_expires_at > $2 AND u.disabled_at IS NULL"
    );
    match row_opt(&c, &sql, &[&id_hash, &now_ms]).await? {
        Some(r) => Ok(Some((session_row(&r)?, user_at(&r, 7)?))),
        None => Ok(None),
    }
}

pub(super) async fn touch_console_session(
    store: &PgStore,
    id_hash: &str,
    now_ms: i64,
    idle_until: i64,
) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(
        &tx.t,
        "UPDATE console_sessions SET last_seen_at = $2, expires_at = LEAST($3, absolute_expires_at) WHERE id_hash = $1",
        &[&id_hash, &now_ms, &idle_until],
    )
    .await?;
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn delete_console_session(store: &PgStore, id_hash: &str) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(&tx.t, "DELETE FROM console_sessions WHERE id_hash = $1", &[&id_hash]).await?;
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn purge_console_sessions(store: &PgStore, now_ms: i64) -> StoreResult<u64> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let purged =
        exec(&tx.t, "DELETE FROM console_sessions WHERE expires_at <= $1 OR absolute_expires_at <= $1", &[&now_ms])
            .await?;
    tx.commit(store).await?;
    Ok(purged)
}

//! The consoles' users and their sessions (issue 8), and the backend-free pieces the
//! PostgreSQL backend shares: the checks of a new user, how a change applies, and what the
//! audit trail shows of a user (never its password hash).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{conversion_error, moderation};
use crate::model::*;
use crate::{StoreError, StoreResult};

pub(crate) const USER_COLUMNS: &str =
    "id, area, customer_id, email, password_hash, role, created_at, updated_at, disabled_at";

/// [`USER_COLUMNS`] of the users table joined as `u`.
pub(crate) const JOINED_USER_COLUMNS: &str =
    "u.id, u.area, u.customer_id, u.email, u.password_hash, u.role, u.created_at, u.updated_at, u.disabled_at";

/// The session columns of the sessions table joined as `s`, in [`ConsoleSession`]'s order.
pub(crate) const JOINED_SESSION_COLUMNS: &str =
    "s.id_hash, s.user_id, s.csrf, s.created_at, s.last_seen_at, s.expires_at, s.absolute_expires_at";

// ---- shared with the PostgreSQL backend --------------------------------------------------

/// The user as stored: its e-mail lowercased. `Conflict` when its area and customer do not
/// go together (an operator user with a customer, a customer user without one).
pub(crate) fn normalized(user: ConsoleUser) -> StoreResult<ConsoleUser> {
    match (user.area, &user.customer_id) {
        (ConsoleArea::Operator, Some(_)) => {
            return Err(StoreError::Conflict("an operator user belongs to no customer".into()));
        }
        (ConsoleArea::Customer, None) => {
            return Err(StoreError::Conflict("a customer user belongs to a customer".into()));
        }
        _ => {}
    }
    Ok(ConsoleUser { email: user.email.to_lowercase(), ..user })
}

/// The refusal of a new user whose id, or e-mail in its area, is taken by `existing`.
pub(crate) fn taken(existing_id: &str, user: &ConsoleUser) -> StoreError {
    if existing_id == user.id {
        StoreError::Conflict(format!("the user id {} is taken", user.id))
    } else {
        StoreError::Conflict(format!("the e-mail {} is taken in the {} console", user.email, user.area.as_str()))
    }
}

/// The user after `change` at `now_ms`: a user disabled again keeps its first `disabled_at`.
pub(crate) fn changed(user: &ConsoleUser, change: &ConsoleUserChange, now_ms: i64) -> ConsoleUser {
    let mut after = user.clone();
    if let Some(role) = &change.role {
        after.role = role.clone();
    }
    if let Some(hash) = &change.password_hash {
        after.password_hash = hash.clone();
    }
    match change.disabled {
        Some(true) => after.disabled_at = Some(user.disabled_at.unwrap_or(now_ms)),
        Some(false) => after.disabled_at = None,
        None => {}
    }
    after.updated_at = now_ms;
    after
}

/// Whether `change` ends the user's sessions: it disables the user or sets a password.
pub(crate) fn ends_sessions(change: &ConsoleUserChange) -> bool {
    change.disabled == Some(true) || change.password_hash.is_some()
}

/// What the audit trail shows of a user: everything but its password hash.
pub(crate) fn user_snapshot(u: &ConsoleUser) -> serde_json::Value {
    serde_json::json!({
        "id": u.id,
        "area": u.area.as_str(),
        "customer_id": u.customer_id,
        "email": u.email,
        "role": u.role,
        "disabled_at": u.disabled_at,
    })
}

/// The audit trail's `after` of a change: the user, whether its password changed, and how
/// many of its sessions ended.
pub(crate) fn change_snapshot(after: &ConsoleUser, change: &ConsoleUserChange, sessions_ended: u64) -> String {
    let mut snapshot = user_snapshot(after);
    snapshot["password_changed"] = serde_json::Value::from(change.password_hash.is_some());
    snapshot["sessions_ended"] = serde_json::Value::from(sessions_ended);
    snapshot.to_string()
}

// ---- rows ----------------------------------------------------------------------------------

/// A user from [`USER_COLUMNS`] starting at column `first`.
fn user_at(r: &Row<'_>, first: usize) -> rusqlite::Result<ConsoleUser> {
    let area: String = r.get(first + 1)?;
    Ok(ConsoleUser {
        id: r.get(first)?,
        area: ConsoleArea::parse(&area).ok_or_else(|| conversion_error(first + 1, "bad console area"))?,
        customer_id: r.get(first + 2)?,
        email: r.get(first + 3)?,
        password_hash: r.get(first + 4)?,
        role: r.get(first + 5)?,
        created_at: r.get(first + 6)?,
        updated_at: r.get(first + 7)?,
        disabled_at: r.get(first + 8)?,
    })
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<ConsoleUser> {
    user_at(r, 0)
}

fn session_row(r: &Row<'_>) -> rusqlite::Result<ConsoleSession> {
    Ok(ConsoleSession {
        id_hash: r.get(0)?,
        user_id: r.get(1)?,
        csrf: r.get(2)?,
        created_at: r.get(3)?,
        last_seen_at: r.get(4)?,
        expires_at: r.get(5)?,
        absolute_expires_at: r.get(6)?,
    })
}

// ---- users ---------------------------------------------------------------------------------

/// Checks everything before it writes (the writer's batch rule): the area and customer, the
/// customer, the id and the e-mail.
pub(super) fn create_user(
    conn: &Connection,
    user: ConsoleUser,
    audit: Option<&AuditEntry>,
) -> StoreResult<ConsoleUser> {
    let user = normalized(user)?;
    if let Some(customer_id) = &user.customer_id {
        conn.prepare_cached("SELECT 1 FROM customers WHERE id = ?1")?
            .query_row([customer_id], |_| Ok(()))
            .optional()?
            .ok_or(StoreError::NotFound)?;
    }
    let existing: Option<String> = conn
        .prepare_cached("SELECT id FROM console_users WHERE id = ?1 OR (area = ?2 AND email = ?3) LIMIT 1")?
        .query_row(params![user.id, user.area.as_str(), user.email], |r| r.get(0))
        .optional()?;
    if let Some(existing) = existing {
        return Err(taken(&existing, &user));
    }
    conn.prepare_cached(&format!(
        "INSERT INTO console_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?
    .execute(params![
        user.id,
        user.area.as_str(),
        user.customer_id,
        user.email,
        user.password_hash,
        user.role,
        user.created_at,
        user.updated_at,
        user.disabled_at
    ])?;
    if let Some(audit) = audit {
        let after = user_snapshot(&user).to_string();
        moderation::append_audit(conn, &AuditEntry { after: Some(after), ..audit.clone() })?;
    }
    Ok(user)
}

pub(super) fn find_user(conn: &Connection, area: ConsoleArea, email: &str) -> StoreResult<Option<ConsoleUser>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM console_users WHERE area = ?1 AND email = ?2"))?
        .query_row(params![area.as_str(), email.to_lowercase()], user_row)
        .optional()?)
}

pub(super) fn get_user(conn: &Connection, id: &str) -> StoreResult<ConsoleUser> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM console_users WHERE id = ?1"))?
        .query_row([id], user_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

pub(super) fn list_users(
    conn: &Connection,
    area: ConsoleArea,
    customer_id: Option<&str>,
) -> StoreResult<Vec<ConsoleUser>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM console_users WHERE area = ?1 AND (?2 IS NULL OR customer_id = ?2) \
         ORDER BY email"
    ))?;
    let rows = statement.query_map(params![area.as_str(), customer_id], user_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Applies `change`; disabling the user or setting its password deletes its sessions in the
/// same transaction.
pub(super) fn change_user(
    conn: &Connection,
    id: &str,
    change: &ConsoleUserChange,
    now_ms: i64,
    audit: &AuditEntry,
) -> StoreResult<ConsoleUser> {
    let before = get_user(conn, id)?;
    let after = changed(&before, change, now_ms);
    conn.prepare_cached(
        "UPDATE console_users SET role = ?2, password_hash = ?3, updated_at = ?4, disabled_at = ?5 WHERE id = ?1",
    )?
    .execute(params![after.id, after.role, after.password_hash, after.updated_at, after.disabled_at])?;
    let ended = if ends_sessions(change) {
        conn.prepare_cached("DELETE FROM console_sessions WHERE user_id = ?1")?.execute([&after.id])? as u64
    } else {
        0
    };
    let entry = AuditEntry {
        before: Some(user_snapshot(&before).to_string()),
        after: Some(change_snapshot(&after, change, ended)),
        ..audit.clone()
    };
    moderation::append_audit(conn, &entry)?;
    Ok(after)
}

// ---- sessions ------------------------------------------------------------------------------

pub(super) fn create_session(conn: &Connection, session: &ConsoleSession) -> StoreResult<()> {
    conn.prepare_cached("SELECT 1 FROM console_users WHERE id = ?1")?
        .query_row([&session.user_id], |_| Ok(()))
        .optional()?
        .ok_or(StoreError::NotFound)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO console_sessions \
             (id_hash, user_id, csrf, created_at, last_seen_at, expires_at, absolute_expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id_hash) DO NOTHING",
        )?
        .execute(params![
            session.id_hash,
            session.user_id,
            session.csrf,
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.absolute_expires_at
        ])?;
    if inserted == 0 {
        return Err(StoreError::Conflict("the session exists already".into()));
    }
    Ok(())
}

/// The session and its user when the session is live at `now_ms` and the user enabled.
pub(super) fn find_session(
    conn: &Connection,
    id_hash: &str,
    now_ms: i64,
) -> StoreResult<Option<(ConsoleSession, ConsoleUser)>> {
    let sql = format!(
        "SELECT {JOINED_SESSION_COLUMNS}, {JOINED_USER_COLUMNS} FROM console_sessions s \
         JOIN console_users u ON u.id = s.user_id \
         WHERE s.id_hash = ?1 AND s.expires_at > ?2 AND s.absolute_expires_at > ?2 AND u.disabled_at IS NULL"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id_hash, now_ms], |r| Ok((session_row(r)?, user_at(r, 7)?)))
        .optional()?)
}

pub(super) fn touch_session(conn: &Connection, id_hash: &str, now_ms: i64, idle_until: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE console_sessions SET last_seen_at = ?2, expires_at = MIN(?3, absolute_expires_at) WHERE id_hash = ?1",
    )?
    .execute(params![id_hash, now_ms, idle_until])?;
    Ok(())
}

pub(super) fn delete_session(conn: &Connection, id_hash: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM console_sessions WHERE id_hash = ?1")?.execute([id_hash])?;
    Ok(())
}

pub(super) fn purge_sessions(conn: &Connection, now_ms: i64) -> StoreResult<u64> {
    Ok(conn
        .prepare_cached("DELETE FROM console_sessions WHERE expires_at <= ?1 OR absolute_expires_at <= ?1")?
        .execute([now_ms])? as u64)
}

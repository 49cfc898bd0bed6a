//! Moderation on PostgreSQL (clauses 3.4, 3.5): held messages decided once across nodes, and
//! the signatures and templates the operator reviews.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tongdao_domain::MessageStatus;

use super::compliance::{customer_exists, insert_audit, insert_violation};
use super::ledger::lock_balance;
use super::status::{Change, MESSAGE_COLUMNS, change_status, find_message, message_row, refund};
use super::{PgStore, Tx, exec, row, rows};
use crate::model::*;
use crate::{StoreError, StoreResult};

pub(super) async fn held_messages(store: &PgStore, after: &str, limit: u32) -> StoreResult<Vec<HeldMessage>> {
    let c = store.client().await?;
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, screening FROM messages WHERE status = 'held' AND id > $1 ORDER BY id LIMIT $2"
    );
    rows(&c, &sql, &[&after, &i64::from(limit)])
        .await?
        .iter()
        .map(|r| Ok(HeldMessage { message: message_row(r)?, screening: r.try_get(16)? }))
        .collect()
}

fn not_held(status: MessageStatus) -> StoreError {
    StoreError::Conflict(format!("the message is {}, not held", status.as_str()))
}

pub(super) async fn moderate(
    store: &PgStore,
    message_id: &str,
    decision: Moderation,
    audit: AuditEntry,
) -> StoreResult<StoredMessage> {
    let mut client = store.client().await?;
    let mut tx = Tx::begin(&mut client).await?;
    // The message's row lock decides between operators deciding at once on several nodes:
    // the second waits for the first to commit, then reads the status it left.
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, screening FROM messages WHERE id = $1 ORDER BY customer_id LIMIT 1 FOR UPDATE"
    );
    let locked = row(&tx.t, &sql, &[&message_id]).await?;
    let message = message_row(&locked)?;
    let screening: Option<String> = locked.try_get(16)?;
    if message.status != MessageStatus::Held {
        return Err(not_held(message.status));
    }
    let customer_id = message.customer_id.as_str();
    let now = audit.at;
    match decision {
        Moderation::Approve => {
            let status = match message.send_at {
                Some(at) if at > now => MessageStatus::Scheduled,
                _ => MessageStatus::Queued,
            };
            let change = Change::new(customer_id, message_id, status, now);
            if !change_status(&tx.t, &change, &[MessageStatus::Held]).await? {
                return Err(StoreError::Conflict("the message is no longer held".into()));
            }
            insert_audit(&tx.t, &audit).await?;
            if status == MessageStatus::Queued {
                // A newly queued message goes to the back of the queue, numbered as accepted
                // ones are (taken last, so the number is close to the commit).
                exec(
                    &tx.t,
                    "UPDATE messages SET queue_seq = nextval('queue_seq') WHERE customer_id = $1 AND id = $2",
                    &[&customer_id, &message_id],
                )
                .await?;
            }
        }
        Moderation::Delete { category } => {
            let category = category.unwrap_or_else(|| {
                screening
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                    .and_then(|v| v["category"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "other_unlawful".to_owned())
            });
            // Message row first, then the customer's (as every status change with a refund),
            // so this cannot deadlock with a cancellation or a suspension.
            let change = Change {
                error: Some(category.as_str()),
                ..Change::new(customer_id, message_id, MessageStatus::Deleted, now)
            };
            if !change_status(&tx.t, &change, &[MessageStatus::Held]).await? {
                return Err(StoreError::Conflict("the message is no longer held".into()));
            }
            // The customer's lock also orders this violation with `record_violation`'s count,
            // even when there is nothing to refund.
            lock_balance(&tx.t, customer_id).await?;
            refund(&mut tx, customer_id, message_id, message.price.micros(), "deleted by moderation", now).await?;
            let violation = NewViolation {
                customer_id: customer_id.to_owned(),
                at: now,
                category,
                kind: ViolationKind::Deleted,
                message_id: Some(message_id.to_owned()),
                text: message.text.clone(),
            };
            insert_violation(&tx.t, &violation).await?;
            insert_audit(&tx.t, &audit).await?;
        }
    }
    let decided = find_message(&tx.t, customer_id, message_id).await?;
    tx.commit(store).await?;
    Ok(decided)
}

// ---- signatures and templates ------------------------------------------------------------

fn table(kind: ReviewKind) -> &'static str {
    match kind {
        ReviewKind::Signature => "signatures",
        ReviewKind::Template => "templates",
    }
}

fn name_column(kind: ReviewKind) -> &'static str {
    match kind {
        ReviewKind::Signature => "NULL::TEXT",
        ReviewKind::Template => "name",
    }
}

fn reviewed_row(r: &Row) -> StoreResult<Reviewed> {
    let status: String = r.try_get(4)?;
    Ok(Reviewed {
        id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        name: r.try_get(2)?,
        text: r.try_get(3)?,
        status: ReviewStatus::parse(&status).unwrap_or(ReviewStatus::Pending),
        reason: r.try_get(5)?,
        created_at: r.try_get(6)?,
        decided_at: r.try_get(7)?,
    })
}

fn reviewed_select(kind: ReviewKind) -> String {
    format!(
        "SELECT id, customer_id, {}, text, status, reason, created_at, decided_at FROM {}",
        name_column(kind),
        table(kind)
    )
}

async fn find<C: GenericClient>(c: &C, kind: ReviewKind, id: &str, lock: bool) -> StoreResult<Reviewed> {
    let sql = format!("{} WHERE id = $1{}", reviewed_select(kind), if lock { " FOR UPDATE" } else { "" });
    reviewed_row(&row(c, &sql, &[&id]).await?)
}

pub(super) async fn create_reviewed(store: &PgStore, kind: ReviewKind, item: Reviewed) -> StoreResult<Reviewed> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    customer_exists(&tx.t, &item.customer_id).await?;
    let inserted =
        match kind {
            ReviewKind::Signature => exec(
                &tx.t,
                "INSERT INTO signatures (id, customer_id, text, status, created_at) VALUES ($1, $2, $3, 'pending', $4) \
                 ON CONFLICT (customer_id, text) DO NOTHING",
                &[&item.id, &item.customer_id, &item.text, &item.created_at],
            )
            .await?,
            ReviewKind::Template => {
                exec(
                    &tx.t,
                    "INSERT INTO templates (id, customer_id, name, text, status, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', $5)",
                    &[&item.id, &item.customer_id, &item.name.as_deref().unwrap_or(""), &item.text, &item.created_at],
                )
                .await?
            }
        };
    if inserted == 0 {
        return Err(StoreError::Conflict("the customer has this signature already".into()));
    }
    let created = find(&tx.t, kind, &item.id, false).await?;
    tx.commit(store).await?;
    Ok(created)
}

pub(super) async fn find_reviewed(store: &PgStore, kind: ReviewKind, id: &str) -> StoreResult<Reviewed> {
    let c = store.client().await?;
    find(&c, kind, id, false).await
}

pub(super) async fn list_reviewed(
    store: &PgStore,
    kind: ReviewKind,
    customer_id: Option<&str>,
    status: Option<ReviewStatus>,
) -> StoreResult<Vec<Reviewed>> {
    let c = store.client().await?;
    let sql = format!(
        "{} WHERE ($1::TEXT IS NULL OR customer_id = $1) AND ($2::TEXT IS NULL OR status = $2) \
         ORDER BY created_at, id LIMIT 10000",
        reviewed_select(kind)
    );
    rows(&c, &sql, &[&customer_id, &status.map(ReviewStatus::as_str)]).await?.iter().map(reviewed_row).collect()
}

pub(super) async fn decide_reviewed(
    store: &PgStore,
    kind: ReviewKind,
    id: &str,
    status: ReviewStatus,
    reason: Option<String>,
    audit: AuditEntry,
) -> StoreResult<Reviewed> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    // Locked, so that the audit entry's "before" is what this decision replaced even when
    // two operators decide at once.
    let before = find(&tx.t, kind, id, true).await?;
    let sql = format!("UPDATE {} SET status = $2, reason = $3, decided_at = $4 WHERE id = $1", table(kind));
    exec(&tx.t, &sql, &[&id, &status.as_str(), &reason, &audit.at]).await?;
    let after = find(&tx.t, kind, id, false).await?;
    let snapshot = |r: &Reviewed| serde_json::to_string(r).ok();
    insert_audit(&tx.t, &AuditEntry { before: snapshot(&before), after: snapshot(&after), ..audit }).await?;
    tx.commit(store).await?;
    Ok(after)
}

pub(super) async fn delete_reviewed(store: &PgStore, kind: ReviewKind, customer_id: &str, id: &str) -> StoreResult<()> {
    let c = store.client().await?;
    let sql = format!("DELETE FROM {} WHERE customer_id = $1 AND id = $2", table(kind));
    let removed = exec(&c, &sql, &[&customer_id, &id]).await?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

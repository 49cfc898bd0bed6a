//! Operations on the agreement's life on PostgreSQL (issue 6): notices and their email,
//! maintenance windows, breach, cure and termination, erasure, and low-balance warnings.
//!
//! Where the SQLite backend read and then wrote under its single writer, these lock what they
//! read first — a breach's customer then the breach (the customer's row first, as every
//! balance change takes it), a maintenance window, a customer whose settings change — or
//! claim it in one statement: the customers warned of a low balance, the notices a mailer
//! takes, so that several nodes never do either twice.

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tongdao_domain::Money;
use tongdao_domain::agreement::AgreementChange;

use super::core::{AGREEMENT_COLUMNS, agreement_row, cancel_waiting, find_customer, insert_audit};
use super::ledger::{LedgerRow, lock_balance, set_balance};
use super::status::enqueue_webhook;
use super::{PgStore, Tx, bad_column, exec, row, rows, string_list};
use crate::model::*;
use crate::sqlite::lifecycle::breach_snapshot;
use crate::sqlite::lifecycle::window_snapshot;
use crate::{StoreError, StoreResult};

/// How long a notice handed to a mailer by [`notices_to_email`] is not handed to another:
/// longer than a round of sending takes, so that two nodes do not mail it twice; a node that
/// dies in the middle leaves it to be mailed again after this.
const EMAIL_CLAIM_MS: i64 = 10 * 60 * 1000;

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

// ---- notices -------------------------------------------------------------------------------

const NOTICE_COLUMNS: &str = "id, customer_id, kind, reference, subject, body, created_at, read_at";

fn notice_row(r: &Row) -> StoreResult<Notice> {
    Ok(Notice {
        id: r.try_get(0)?,
        notice: NewNotice {
            customer_id: r.try_get(1)?,
            kind: r.try_get(2)?,
            reference: r.try_get(3)?,
            subject: r.try_get(4)?,
            body: r.try_get(5)?,
        },
        created_at: r.try_get(6)?,
        read_at: r.try_get(7)?,
    })
}

/// Stores the notices whose customer has none about the same event yet (a repeat, in the
/// table or earlier in `notices`, is ignored), each with its `notice.created` webhook event;
/// returns how many were new. One INSERT for all of them: a maintenance window notices every
/// customer at once.
pub(super) async fn insert_notices(t: &Transaction<'_>, notices: &[NewNotice], at: i64) -> StoreResult<u64> {
    if notices.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = notices.iter().map(|_| tongdao_domain::id::new_id("ntc")).collect();
    let customer_ids: Vec<&str> = notices.iter().map(|n| n.customer_id.as_str()).collect();
    let kinds: Vec<&str> = notices.iter().map(|n| n.kind.as_str()).collect();
    let references: Vec<&str> = notices.iter().map(|n| n.reference.as_str()).collect();
    let subjects: Vec<&str> = notices.iter().map(|n| n.subject.as_str()).collect();
    let bodies: Vec<&str> = notices.iter().map(|n| n.body.as_str()).collect();
    // A notice is due to be emailed from now when its customer has a notice address.
    let inserted = rows(
        t,
        "INSERT INTO notices (id, customer_id, kind, reference, subject, body, created_at, email_next_at) \
         SELECT n.id, n.customer_id, n.kind, n.reference, n.subject, n.body, $7::BIGINT, \
         CASE WHEN c.notice_email IS NOT NULL THEN $7::BIGINT END \
         FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[]) WITH ORDINALITY \
         AS n (id, customer_id, kind, reference, subject, body, ord) \
         LEFT JOIN customers c ON c.id = n.customer_id ORDER BY n.ord \
         ON CONFLICT (customer_id, reference) DO NOTHING \
         RETURNING id, (SELECT webhook_url FROM customers WHERE customers.id = notices.customer_id)",
        &[&ids, &customer_ids, &kinds, &references, &subjects, &bodies, &at],
    )
    .await?;
    let mut urls: HashMap<String, Option<String>> = HashMap::with_capacity(inserted.len());
    for r in &inserted {
        urls.insert(r.try_get(0)?, r.try_get(1)?);
    }
    // Webhook events in the order the notices were given.
    for (id, n) in ids.iter().zip(notices) {
        if let Some(Some(url)) = urls.get(id) {
            let body = serde_json::json!({
                "id": tongdao_domain::id::new_id("evt"),
                "type": "notice.created",
                "notice_id": id,
                "kind": n.kind,
                "subject": n.subject,
                "body": n.body,
                "at": tongdao_domain::clock::rfc3339(at),
            });
            enqueue_webhook(t, &n.customer_id, url, &body.to_string(), at).await?;
        }
    }
    Ok(count(inserted.len()))
}

pub(super) async fn post_notices(store: &PgStore, notices: Vec<NewNotice>, at: i64) -> StoreResult<u64> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let posted = insert_notices(&tx.t, &notices, at).await?;
    tx.commit(store).await?;
    Ok(posted)
}

pub(super) async fn list_notices(
    store: &PgStore,
    customer_id: Option<&str>,
    before: Option<&str>,
    unread_only: bool,
    limit: u32,
) -> StoreResult<Vec<Notice>> {
    let c = store.client().await?;
    let sql = format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE ($1::TEXT IS NULL OR customer_id = $1) \
         AND ($2::TEXT IS NULL OR id < $2) AND (NOT $3 OR read_at IS NULL) ORDER BY id DESC LIMIT $4"
    );
    rows(&c, &sql, &[&customer_id, &before, &unread_only, &i64::from(limit)]).await?.iter().map(notice_row).collect()
}

async fn notice_of<C: GenericClient>(c: &C, customer_id: &str, id: &str) -> StoreResult<Notice> {
    let sql = format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE customer_id = $1 AND id = $2");
    notice_row(&row(c, &sql, &[&customer_id, &id]).await?)
}

pub(super) async fn find_notice(store: &PgStore, customer_id: &str, id: &str) -> StoreResult<Notice> {
    notice_of(&store.client().await?, customer_id, id).await
}

/// Every customer's notice about one event (who was told, and who read it).
pub(super) async fn notices_about(store: &PgStore, reference: &str, limit: u32) -> StoreResult<Vec<Notice>> {
    let c = store.client().await?;
    let sql = format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE reference = $1 ORDER BY customer_id LIMIT $2");
    rows(&c, &sql, &[&reference, &i64::from(limit)]).await?.iter().map(notice_row).collect()
}

/// Records that the customer read the notice; the guard keeps the first reading however many
/// nodes record one.
pub(super) async fn read_notice(store: &PgStore, customer_id: &str, id: &str, at: i64) -> StoreResult<Notice> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(
        &tx.t,
        "UPDATE notices SET read_at = $3 WHERE customer_id = $1 AND id = $2 AND read_at IS NULL",
        &[&customer_id, &id, &at],
    )
    .await?;
    let notice = notice_of(&tx.t, customer_id, id).await?;
    tx.commit(store).await?;
    Ok(notice)
}

/// Notices due to be emailed now, oldest due first, each claimed for this caller: several
/// nodes run a mailer, and a notice one of them took is not due again for
/// [`EMAIL_CLAIM_MS`] (rows another node is claiming at the same moment are skipped, not
/// waited for). [`notice_emailed`] then records the outcome. Unlike SQLite's single mailer,
/// asking twice in a row therefore does not give the same notices twice.
pub(super) async fn notices_to_email(store: &PgStore, now: i64, limit: u32) -> StoreResult<Vec<NoticeEmail>> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let columns = NOTICE_COLUMNS.split(", ").map(|c| format!("n.{c}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "WITH due AS (SELECT d.id, d.email_next_at FROM notices d JOIN customers c ON c.id = d.customer_id \
         WHERE d.emailed_at IS NULL AND d.email_next_at IS NOT NULL AND d.email_next_at <= $1 \
         AND c.notice_email IS NOT NULL ORDER BY d.email_next_at, d.id LIMIT $2 FOR UPDATE OF d SKIP LOCKED) \
         UPDATE notices n SET email_next_at = $3 FROM due, customers c \
         WHERE n.id = due.id AND c.id = n.customer_id \
         RETURNING {columns}, c.notice_email, n.email_attempts, due.email_next_at"
    );
    let claimed = rows(&tx.t, &sql, &[&now, &i64::from(limit), &now.saturating_add(EMAIL_CLAIM_MS)]).await?;
    tx.commit(store).await?;
    let mut due = Vec::with_capacity(claimed.len());
    for r in &claimed {
        let attempts: i64 = r.try_get(9)?;
        let due_at: i64 = r.try_get(10)?;
        let email = NoticeEmail {
            notice: notice_row(r)?,
            to: r.try_get(8)?,
            attempts: u32::try_from(attempts).map_err(|_| bad_column(9, "bad email_attempts"))?,
        };
        due.push((due_at, email));
    }
    // Oldest due first, as they were claimed (UPDATE … RETURNING keeps no order).
    due.sort_by(|(a, x), (b, y)| (a, &x.notice.id).cmp(&(b, &y.notice.id)));
    Ok(due.into_iter().map(|(_, email)| email).collect())
}

pub(super) async fn notice_emailed(store: &PgStore, id: &str, outcome: EmailOutcome) -> StoreResult<()> {
    let c = store.client().await?;
    match outcome {
        EmailOutcome::Sent { at } => {
            exec(
                &c,
                "UPDATE notices SET emailed_at = $2, email_next_at = NULL, email_error = NULL, \
                 email_attempts = email_attempts + 1 WHERE id = $1",
                &[&id, &at],
            )
            .await?
        }
        EmailOutcome::Failed { error, retry_at } => {
            exec(
                &c,
                "UPDATE notices SET email_next_at = $2, email_error = $3, email_attempts = email_attempts + 1 \
                 WHERE id = $1",
                &[&id, &retry_at, &error],
            )
            .await?
        }
    };
    Ok(())
}

pub(super) async fn set_notice_email(
    store: &PgStore,
    customer_id: &str,
    email: Option<String>,
    audit: AuditEntry,
) -> StoreResult<Customer> {
    change_customer(
        store,
        customer_id,
        "UPDATE customers SET notice_email = $2 WHERE id = $1",
        &email,
        &audit,
        |c| serde_json::json!({ "notice_email": c.notice_email }),
    )
    .await
}

/// Runs `sql` (`$1` the customer's id, `$2` `value`) on the locked customer row and audits
/// the change with the customer's `snapshot` before and after.
async fn change_customer(
    store: &PgStore,
    customer_id: &str,
    sql: &str,
    value: &(dyn tokio_postgres::types::ToSql + Sync),
    audit: &AuditEntry,
    snapshot: impl Fn(&Customer) -> serde_json::Value,
) -> StoreResult<Customer> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let id = find_customer(&tx.t, customer_id).await?.id;
    lock_balance(&tx.t, &id).await?;
    let before = find_customer(&tx.t, &id).await?;
    exec(&tx.t, sql, &[&id, value]).await?;
    let after = find_customer(&tx.t, &id).await?;
    let entry = AuditEntry {
        before: Some(snapshot(&before).to_string()),
        after: Some(snapshot(&after).to_string()),
        ..audit.clone()
    };
    insert_audit(&tx.t, &entry).await?;
    tx.commit(store).await?;
    Ok(after)
}

// ---- maintenance ---------------------------------------------------------------------------

const WINDOW_COLUMNS: &str =
    "id, starts_at, ends_at, carriers, services, description, emergency_reason, customers, created_at, cancelled_at";

fn window_row(r: &Row) -> StoreResult<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: r.try_get(0)?,
        starts_at: r.try_get(1)?,
        ends_at: r.try_get(2)?,
        carriers: string_list(r, 3)?,
        services: string_list(r, 4)?,
        description: r.try_get(5)?,
        emergency_reason: r.try_get(6)?,
        customers: string_list(r, 7)?,
        created_at: r.try_get(8)?,
        cancelled_at: r.try_get(9)?,
    })
}

fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

async fn window_of<C: GenericClient>(c: &C, id: &str, lock: bool) -> StoreResult<MaintenanceWindow> {
    let sql = format!(
        "SELECT {WINDOW_COLUMNS} FROM maintenance_windows WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    window_row(&row(c, &sql, &[&id]).await?)
}

/// Stores the window with a notice to each customer it names and its audit entry.
pub(super) async fn create_maintenance(
    store: &PgStore,
    w: MaintenanceWindow,
    notices: Vec<NewNotice>,
    audit: AuditEntry,
) -> StoreResult<MaintenanceWindow> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(
        &tx.t,
        "INSERT INTO maintenance_windows (id, starts_at, ends_at, carriers, services, description, emergency_reason, \
         customers, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &w.id,
            &w.starts_at,
            &w.ends_at,
            &to_json(&w.carriers),
            &to_json(&w.services),
            &w.description,
            &w.emergency_reason,
            &to_json(&w.customers),
            &w.created_at,
        ],
    )
    .await?;
    insert_notices(&tx.t, &notices, w.created_at).await?;
    let after = window_snapshot(&w);
    insert_audit(&tx.t, &AuditEntry { after: Some(after.to_string()), ..audit }).await?;
    let stored = window_of(&tx.t, &w.id, false).await?;
    tx.commit(store).await?;
    Ok(stored)
}

pub(super) async fn find_maintenance(store: &PgStore, id: &str) -> StoreResult<MaintenanceWindow> {
    window_of(&store.client().await?, id, false).await
}

/// Cancels a window that has not ended, noticing the customers it named; the window's row is
/// locked, so of two nodes cancelling it at once the second finds it cancelled.
pub(super) async fn cancel_maintenance(
    store: &PgStore,
    id: &str,
    at: i64,
    notices: Vec<NewNotice>,
    audit: AuditEntry,
) -> StoreResult<MaintenanceWindow> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let before = window_of(&tx.t, id, true).await?;
    if before.cancelled_at.is_some() || before.ends_at <= at {
        return Err(StoreError::Conflict("the window has ended or was cancelled".into()));
    }
    exec(&tx.t, "UPDATE maintenance_windows SET cancelled_at = $2 WHERE id = $1", &[&id, &at]).await?;
    insert_notices(&tx.t, &notices, at).await?;
    let after = window_of(&tx.t, id, false).await?;
    let entry = AuditEntry {
        before: Some(window_snapshot(&before).to_string()),
        after: Some(window_snapshot(&after).to_string()),
        ..audit
    };
    insert_audit(&tx.t, &entry).await?;
    tx.commit(store).await?;
    Ok(after)
}

/// Windows that end after `ending_after` (cancelled ones too when asked), soonest first.
pub(super) async fn list_maintenance(
    store: &PgStore,
    ending_after: i64,
    include_cancelled: bool,
    limit: u32,
) -> StoreResult<Vec<MaintenanceWindow>> {
    let c = store.client().await?;
    let sql = format!(
        "SELECT {WINDOW_COLUMNS} FROM maintenance_windows WHERE ends_at > $1 AND ($2 OR cancelled_at IS NULL) \
         ORDER BY starts_at, id LIMIT $3"
    );
    rows(&c, &sql, &[&ending_after, &include_cancelled, &i64::from(limit)]).await?.iter().map(window_row).collect()
}

// ---- breach and termination ----------------------------------------------------------------

const BREACH_COLUMNS: &str =
    "id, customer_id, agreement_id, clause, facts, noticed_at, cure_deadline, cured_at, cure_note, terminated_at";

fn breach_row(r: &Row) -> StoreResult<Breach> {
    Ok(Breach {
        id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        agreement_id: r.try_get(2)?,
        clause: r.try_get(3)?,
        facts: r.try_get(4)?,
        noticed_at: r.try_get(5)?,
        cure_deadline: r.try_get(6)?,
        cured_at: r.try_get(7)?,
        cure_note: r.try_get(8)?,
        terminated_at: r.try_get(9)?,
    })
}

async fn breach_of<C: GenericClient>(c: &C, id: &str) -> StoreResult<Breach> {
    let sql = format!("SELECT {BREACH_COLUMNS} FROM breaches WHERE id = $1");
    breach_row(&row(c, &sql, &[&id]).await?)
}

pub(super) async fn find_breach(store: &PgStore, id: &str) -> StoreResult<Breach> {
    breach_of(&store.client().await?, id).await
}

/// Of one customer or all, newest first.
pub(super) async fn list_breaches(store: &PgStore, customer_id: Option<&str>, limit: u32) -> StoreResult<Vec<Breach>> {
    let c = store.client().await?;
    let sql = format!(
        "SELECT {BREACH_COLUMNS} FROM breaches WHERE ($1::TEXT IS NULL OR customer_id = $1) \
         ORDER BY noticed_at DESC, id DESC LIMIT $2"
    );
    rows(&c, &sql, &[&customer_id, &i64::from(limit)]).await?.iter().map(breach_row).collect()
}

pub(super) async fn issue_breach(
    store: &PgStore,
    b: Breach,
    notice: NewNotice,
    audit: AuditEntry,
) -> StoreResult<Breach> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(
        &tx.t,
        "INSERT INTO breaches (id, customer_id, agreement_id, clause, facts, noticed_at, cure_deadline) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&b.id, &b.customer_id, &b.agreement_id, &b.clause, &b.facts, &b.noticed_at, &b.cure_deadline],
    )
    .await?;
    insert_notices(&tx.t, std::slice::from_ref(&notice), b.noticed_at).await?;
    insert_audit(&tx.t, &AuditEntry { after: Some(breach_snapshot(&b)), ..audit }).await?;
    let stored = breach_of(&tx.t, &b.id).await?;
    tx.commit(store).await?;
    Ok(stored)
}

/// Locks the breach's customer, then the breach (the order every transaction that changes
/// both takes), and refuses a breach already cured or terminated: of a cure and a
/// termination racing on two nodes, the second sees the first's outcome.
async fn lock_open_breach(t: &Transaction<'_>, id: &str) -> StoreResult<Breach> {
    let customer_id = breach_of(t, id).await?.customer_id;
    lock_balance(t, &customer_id).await?;
    let sql = format!("SELECT {BREACH_COLUMNS} FROM breaches WHERE id = $1 FOR UPDATE");
    let breach = breach_row(&row(t, &sql, &[&id]).await?)?;
    if breach.cured_at.is_some() || breach.terminated_at.is_some() {
        return Err(StoreError::Conflict("the breach is closed (cured or terminated)".into()));
    }
    Ok(breach)
}

pub(super) async fn cure_breach(
    store: &PgStore,
    id: &str,
    note: &str,
    at: i64,
    notice: NewNotice,
    audit: AuditEntry,
) -> StoreResult<Breach> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let before = lock_open_breach(&tx.t, id).await?;
    exec(&tx.t, "UPDATE breaches SET cured_at = $2, cure_note = $3 WHERE id = $1", &[&id, &at, &note]).await?;
    let after = breach_of(&tx.t, id).await?;
    insert_notices(&tx.t, std::slice::from_ref(&notice), at).await?;
    let entry = AuditEntry { before: Some(breach_snapshot(&before)), after: Some(breach_snapshot(&after)), ..audit };
    insert_audit(&tx.t, &entry).await?;
    tx.commit(store).await?;
    Ok(after)
}

/// Clause 6: ends the service of the breach's customer, in one transaction that locks the
/// customer first — every live agreement terminated, API keys revoked, SMPP accounts removed,
/// waiting messages cancelled and refunded, and what is left of the prepaid balance paid back
/// by a refund entry. Refused while the breach is cured, closed, or within its cure period.
pub(super) async fn terminate(
    store: &PgStore,
    breach_id: &str,
    at: i64,
    notice: NewNotice,
    audit: AuditEntry,
) -> StoreResult<(Breach, Termination)> {
    let mut client = store.client().await?;
    let mut tx = Tx::begin(&mut client).await?;
    let breach = lock_open_breach(&tx.t, breach_id).await?;
    if at < breach.cure_deadline {
        return Err(StoreError::Refused(tongdao_domain::Rejection::new(
            tongdao_domain::ErrorCode::CurePeriodRunning,
            "the cure period has not ended; terminate after the deadline",
        )));
    }
    let customer_id = breach.customer_id.as_str();
    let reason = format!("breach {} of clause {} not cured by the deadline", breach.id, breach.clause);
    let mut report = Termination::default();
    let sql = format!(
        "SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE customer_id = $1 AND terminated_at IS NULL \
         ORDER BY id FOR UPDATE"
    );
    let live = rows(&tx.t, &sql, &[&customer_id]).await?.iter().map(agreement_row).collect::<StoreResult<Vec<_>>>()?;
    for mut agreement in live {
        agreement.apply(&AgreementChange::Terminate { reason: reason.clone() }, at).map_err(StoreError::Refused)?;
        exec(
            &tx.t,
            "UPDATE agreements SET terminated_at = $2, termination_reason = $3 WHERE id = $1",
            &[&agreement.id, &at, &reason],
        )
        .await?;
        report.agreements += 1;
    }
    report.keys_revoked = exec(
        &tx.t,
        "UPDATE api_keys SET revoked_at = $2 WHERE customer_id = $1 AND revoked_at IS NULL",
        &[&customer_id, &at],
    )
    .await?;
    report.smpp_accounts_removed =
        exec(&tx.t, "DELETE FROM smpp_accounts WHERE customer_id = $1", &[&customer_id]).await?;
    report.messages_cancelled =
        cancel_waiting(&mut tx, customer_id, at, "cancelled: the service was terminated").await?;
    let balance = lock_balance(&tx.t, customer_id).await?;
    if balance > 0 {
        set_balance(&tx.t, customer_id, 0).await?;
        tx.append_ledger(LedgerRow {
            customer_id: customer_id.to_owned(),
            kind: LedgerKind::Refund,
            amount: -balance,
            balance_after: 0,
            message_id: None,
            reference: Some(format!("settlement:{}", breach.id)),
            reason: Some("the prepaid balance paid back on termination (clause 6)".to_owned()),
            now_ms: at,
        });
        report.settled = Money::from_micros(balance);
    }
    exec(&tx.t, "UPDATE customers SET terminated_at = $2 WHERE id = $1", &[&customer_id, &at]).await?;
    exec(&tx.t, "UPDATE breaches SET terminated_at = $2 WHERE id = $1", &[&breach.id, &at]).await?;
    insert_notices(&tx.t, std::slice::from_ref(&notice), at).await?;
    let after = breach_of(&tx.t, breach_id).await?;
    let summary = serde_json::json!({
        "breach": breach.id,
        "agreements": report.agreements,
        "keys_revoked": report.keys_revoked,
        "smpp_accounts_removed": report.smpp_accounts_removed,
        "messages_cancelled": report.messages_cancelled,
        "settled": report.settled.to_string(),
    });
    let entry = AuditEntry { before: Some(breach_snapshot(&breach)), after: Some(summary.to_string()), ..audit };
    insert_audit(&tx.t, &entry).await?;
    tx.commit(store).await?;
    Ok((after, report))
}

/// The tables of a customer's data that erasure deletes whole, after the rows that hang on
/// them (events of its messages, replies to its tickets, its console users' sessions).
const ERASED_TABLES: [&str; 17] = [
    "console_users",
    "tickets",
    "message_parts",
    "messages",
    "inbound_messages",
    "contacts",
    "suppressions",
    "violations",
    "notices",
    "webhook_outbox",
    "webhook_endpoints",
    "webhook_deliveries",
    "smpp_outbox",
    "idempotency_keys",
    "customer_numbers",
    "signatures",
    "templates",
];

/// Deletes what a terminated customer's service left about people — messages and their
/// events, replies, contacts, suppressions, evidence, notices, tickets, outboxes, console users
/// and their sessions — and blanks its contact details; the ledger, agreements and the audit
/// trail stay. Refused for a customer not terminated.
pub(super) async fn erase_customer(store: &PgStore, customer_id: &str, at: i64, audit: AuditEntry) -> StoreResult<u64> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let terminated: Option<i64> =
        row(&tx.t, "SELECT terminated_at FROM customers WHERE id = $1 FOR UPDATE", &[&customer_id])
            .await?
            .try_get(0)?;
    if terminated.is_none() {
        return Err(StoreError::Conflict("only a terminated customer's data is erased".into()));
    }
    let mut deleted = exec(
        &tx.t,
        "DELETE FROM message_events WHERE message_id IN (SELECT id FROM messages WHERE customer_id = $1)",
        &[&customer_id],
    )
    .await?;
    deleted += exec(
        &tx.t,
        "DELETE FROM ticket_replies WHERE ticket_id IN (SELECT id FROM tickets WHERE customer_id = $1)",
        &[&customer_id],
    )
    .await?;
    // Before their users, not by the foreign key's cascade, so that they count among the rows
    // deleted as on SQLite.
    deleted += exec(
        &tx.t,
        "DELETE FROM console_sessions WHERE user_id IN (SELECT id FROM console_users WHERE customer_id = $1)",
        &[&customer_id],
    )
    .await?;
    for table in ERASED_TABLES {
        deleted += exec(&tx.t, &format!("DELETE FROM {table} WHERE customer_id = $1"), &[&customer_id]).await?;
    }
    exec(
        &tx.t,
        "UPDATE customers SET address = '', contact = '', webhook_url = NULL, webhook_secret = NULL, erased_at = $2 \
         WHERE id = $1",
        &[&customer_id, &at],
    )
    .await?;
    let after = serde_json::json!({ "rows_deleted": deleted }).to_string();
    insert_audit(&tx.t, &AuditEntry { after: Some(after), ..audit }).await?;
    tx.commit(store).await?;
    Ok(deleted)
}

// ---- low balance ---------------------------------------------------------------------------

pub(super) async fn set_low_balance_threshold(
    store: &PgStore,
    customer_id: &str,
    threshold: Option<Money>,
    audit: AuditEntry,
) -> StoreResult<Customer> {
    let sql = "UPDATE customers SET low_balance_threshold = $2, low_balance_warned_at = NULL WHERE id = $1";
    change_customer(
        store,
        customer_id,
        sql,
        &threshold.map(Money::micros),
        &audit,
        |c| serde_json::json!({ "low_balance_threshold": c.low_balance_threshold.map(|m| m.to_string()) }),
    )
    .await
}

/// Customers whose balance fell under their threshold and who were not yet warned: each
/// gets the notice `make` writes, once until its balance is back at or over the threshold.
/// Nodes running this at once warn each customer once: the UPDATE that marks a customer warned
/// is the claim (a node waiting on the row finds it marked and skips it), and rows are locked
/// in id order, as `lock_customers` does.
pub(super) async fn low_balance_warnings(store: &PgStore, at: i64, make: crate::LowBalanceNotice) -> StoreResult<u64> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(
        &tx.t,
        "UPDATE customers SET low_balance_warned_at = NULL \
         WHERE low_balance_warned_at IS NOT NULL AND (low_balance_threshold IS NULL OR balance >= low_balance_threshold)",
        &[],
    )
    .await?;
    let due = rows(
        &tx.t,
        "WITH due AS (SELECT id FROM customers WHERE low_balance_threshold IS NOT NULL \
         AND balance < low_balance_threshold AND low_balance_warned_at IS NULL AND terminated_at IS NULL \
         ORDER BY id FOR UPDATE) \
         UPDATE customers c SET low_balance_warned_at = $1 FROM due WHERE c.id = due.id \
         RETURNING c.id, c.balance, c.low_balance_threshold",
        &[&at],
    )
    .await?;
    let mut notices = Vec::with_capacity(due.len());
    for r in &due {
        let (id, balance, threshold): (String, i64, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let notice = make(&id, Money::from_micros(balance), Money::from_micros(threshold));
        // One notice per fall under the threshold: the reference carries the time.
        notices.push(NewNotice { reference: format!("{}:{at}", notice.reference), ..notice });
    }
    insert_notices(&tx.t, &notices, at).await?;
    tx.commit(store).await?;
    Ok(count(due.len()))
}

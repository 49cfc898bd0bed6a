//! Customers, agreements, tariffs, credentials and the ledger's manual entries on PostgreSQL,
//! with the row mappers and helpers the other modules share.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::{IsolationLevel, Row};
use tongdao_domain::agreement::{Agreement, AgreementChange, AgreementTerms, ChargeOn, ScopePolicy, date_format};
use tongdao_domain::{MessageStatus, Money, Tariff};

use super::ledger::{self, LedgerRow, lock_balance, set_balance};
use super::status::{self, Change};
use super::{Params, PgStore, Tx, bad_column, exec, is_unique_violation, row, row_opt, rows};
use crate::model::*;
use crate::sqlite::agreement_snapshot;
use crate::sqlite::charge_str;
use crate::sqlite::scope_str;
use crate::{StoreError, StoreResult};

// ---- rows --------------------------------------------------------------------------------

pub(crate) const CUSTOMER_COLUMNS: &str =
    "id, name, address, contact, balance, created_at, low_balance_threshold, terminated_at, erased_at, notice_email";

pub(crate) fn customer_row(r: &Row) -> StoreResult<Customer> {
    Ok(Customer {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        address: r.try_get(2)?,
        contact: r.try_get(3)?,
        balance: Money::from_micros(r.try_get(4)?),
        created_at: r.try_get(5)?,
        low_balance_threshold: r.try_get::<_, Option<i64>>(6)?.map(Money::from_micros),
        terminated_at: r.try_get(7)?,
        erased_at: r.try_get(8)?,
        notice_email: r.try_get(9)?,
    })
}

pub(crate) const AGREEMENT_COLUMNS: &str = "id, customer_id, version, provider_name, provider_address, customer_name, \
     customer_address, effective_from, term_years, maintenance_notice_days, log_retention_months, cure_days, \
     scope_policy, charge_on, max_segments, terms_version, signed_at, accepted_at, accepted_terms_version, \
     suspended_at, suspension_reason, terminated_at, termination_reason, created_at, compliance";

/// A BIGINT column that holds a `u32`.
fn u32_column(r: &Row, column: usize) -> StoreResult<u32> {
    let value: i64 = r.try_get(column)?;
    u32::try_from(value).map_err(|_| bad_column(column, "out of range"))
}

pub(crate) fn agreement_row(r: &Row) -> StoreResult<Agreement> {
    let effective: String = r.try_get(7)?;
    let scope: String = r.try_get(12)?;
    let charge: String = r.try_get(13)?;
    let compliance: String = r.try_get(24)?;
    Ok(Agreement {
        id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        version: u32_column(r, 2)?,
        terms: AgreementTerms {
            provider_name: r.try_get(3)?,
            provider_address: r.try_get(4)?,
            customer_name: r.try_get(5)?,
            customer_address: r.try_get(6)?,
            effective_from: date_format::parse(&effective).ok_or_else(|| bad_column(7, "bad date"))?,
            term_years: u32_column(r, 8)?,
            maintenance_notice_days: u32_column(r, 9)?,
            log_retention_months: u32_column(r, 10)?,
            cure_days: u32_column(r, 11)?,
            scope_policy: match scope.as_str() {
                "enforce" => ScopePolicy::Enforce,
                "audit" => ScopePolicy::Audit,
                _ => return Err(bad_column(12, "bad scope_policy")),
            },
            charge_on: match charge.as_str() {
                "submit" => ChargeOn::Submit,
                "delivery" => ChargeOn::Delivery,
                _ => return Err(bad_column(13, "bad charge_on")),
            },
            max_segments: u32_column(r, 14)?,
            terms_version: r.try_get(15)?,
            compliance: serde_json::from_str(&compliance).map_err(|_| bad_column(24, "bad compliance terms"))?,
        },
        signed_at: r.try_get(16)?,
        accepted_at: r.try_get(17)?,
        accepted_terms_version: r.try_get(18)?,
        suspended_at: r.try_get(19)?,
        suspension_reason: r.try_get(20)?,
        terminated_at: r.try_get(21)?,
        termination_reason: r.try_get(22)?,
        created_at: r.try_get(23)?,
    })
}

const KEY_COLUMNS: &str = "id, customer_id, hash, label, created_at, revoked_at, rps";

fn key_row(r: &Row) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        hash: r.try_get(2)?,
        label: r.try_get(3)?,
        created_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
        rps: u32_column(r, 6)?,
    })
}

pub(crate) const LEDGER_COLUMNS: &str =
    "seq, customer_id, kind, amount, balance_after, message_id, reference, reason, created_at";

pub(crate) fn ledger_row(r: &Row) -> StoreResult<LedgerEntry> {
    let kind: String = r.try_get(2)?;
    Ok(LedgerEntry {
        seq: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        kind: LedgerKind::parse(&kind).ok_or_else(|| bad_column(2, "bad ledger kind"))?,
        amount: Money::from_micros(r.try_get(3)?),
        balance_after: Money::from_micros(r.try_get(4)?),
        message_id: r.try_get(5)?,
        reference: r.try_get(6)?,
        reason: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

// ---- shared helpers ----------------------------------------------------------------------

/// Where the shared finders read: the store (a connection from its pool), a connection, or
/// a transaction — so the trait method and the other modules' transactions call the same
/// [`find_customer`] and [`find_agreement`].
#[async_trait]
pub(crate) trait Source: Sync {
    /// The one row of a query, if any.
    async fn one(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>>;
}

#[async_trait]
impl Source for PgStore {
    async fn one(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        row_opt(&self.client().await?, sql, params).await
    }
}

#[async_trait]
impl Source for deadpool_postgres::Object {
    async fn one(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        row_opt(self, sql, params).await
    }
}

#[async_trait]
impl Source for Transaction<'_> {
    async fn one(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        row_opt(self, sql, params).await
    }
}

/// By id or by name; `NotFound` when neither matches.
pub(crate) async fn find_customer<S: Source + ?Sized>(s: &S, id_or_name: &str) -> StoreResult<Customer> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1 OR name = $1");
    customer_row(&s.one(&sql, &[&id_or_name]).await?.ok_or(StoreError::NotFound)?)
}

pub(crate) async fn find_agreement<S: Source + ?Sized>(s: &S, id: &str) -> StoreResult<Agreement> {
    let sql = format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = $1");
    agreement_row(&s.one(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?)
}

/// What [`post_entry`] did: the seq of a new entry is known only once the transaction has
/// committed ([`Tx::commit`] returns it), so a new entry is given with `seq` 0 and its place
/// among the transaction's ledger entries.
#[derive(Debug, Clone)]
pub(crate) enum Posted {
    /// A top-up whose reference was already used with the same amount: the first entry;
    /// nothing was written.
    Earlier(LedgerEntry),
    /// A new entry, queued on the transaction as its `index`-th ledger entry.
    Queued { entry: LedgerEntry, index: usize },
}

impl Posted {
    /// The entry, with its seq taken from what [`Tx::commit`] returned.
    pub fn committed(self, seqs: &[i64]) -> StoreResult<LedgerEntry> {
        match self {
            Posted::Earlier(entry) => Ok(entry),
            Posted::Queued { mut entry, index } => {
                entry.seq = *seqs
                    .get(index)
                    .ok_or_else(|| StoreError::Backend("the ledger entry was not written at commit".into()))?;
                Ok(entry)
            }
        }
    }
}

/// Posts a top-up, adjustment or other manual entry (see `Store::post_ledger_entry`) in the
/// transaction: the customer's row is locked first, so a top-up's reference is checked
/// against every entry committed before, by any node.
pub(crate) async fn post_entry(tx: &mut Tx<'_>, e: NewLedgerEntry) -> StoreResult<Posted> {
    let balance = lock_balance(&tx.t, &e.customer_id).await?;
    if let (LedgerKind::Topup, Some(reference)) = (e.kind, &e.reference)
        && let Some(earlier) = topup_with_reference(&tx.t, &e.customer_id, reference).await?
    {
        return same_topup(earlier, e.amount, reference).map(Posted::Earlier);
    }
    let after = balance
        .checked_add(e.amount.micros())
        .ok_or_else(|| StoreError::Conflict("the balance would overflow".into()))?;
    if after < 0 {
        return Err(StoreError::InsufficientBalance { balance: Money::from_micros(balance), needed: -e.amount });
    }
    set_balance(&tx.t, &e.customer_id, after).await?;
    let index = tx.ledger.len();
    tx.append_ledger(LedgerRow {
        customer_id: e.customer_id.clone(),
        kind: e.kind,
        amount: e.amount.micros(),
        balance_after: after,
        message_id: None,
        reference: e.reference.clone(),
        reason: e.reason.clone(),
        now_ms: e.created_at,
    });
    let entry = LedgerEntry {
        seq: 0,
        customer_id: e.customer_id,
        kind: e.kind,
        amount: e.amount,
        balance_after: Money::from_micros(after),
        message_id: None,
        reference: e.reference,
        reason: e.reason,
        created_at: e.created_at,
    };
    Ok(Posted::Queued { entry, index })
}

async fn topup_with_reference<C: GenericClient>(
    c: &C,
    customer_id: &str,
    reference: &str,
) -> StoreResult<Option<LedgerEntry>> {
    let sql =
        format!("SELECT {LEDGER_COLUMNS} FROM ledger WHERE customer_id = $1 AND kind = 'topup' AND reference = $2");
    row_opt(c, &sql, &[&customer_id, &reference]).await?.as_ref().map(ledger_row).transpose()
}

/// The answer to a top-up whose reference was used before: the first entry when the amounts
/// agree, else a conflict.
fn same_topup(earlier: LedgerEntry, amount: Money, reference: &str) -> StoreResult<LedgerEntry> {
    if earlier.amount == amount {
        Ok(earlier)
    } else {
        Err(StoreError::Conflict(format!("reference {reference:?} already topped up {}", earlier.amount)))
    }
}

pub(crate) async fn insert_audit(t: &Transaction<'_>, e: &AuditEntry) -> StoreResult<()> {
    exec(
        t,
        "INSERT INTO audit_log (at, actor, action, target, reason, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&e.at, &e.actor, &e.action, &e.target, &e.reason, &e.before, &e.after],
    )
    .await?;
    Ok(())
}

const DISPATCH_MARK: &str = "dispatch";

/// Cancels and refunds the customer's held, scheduled and not yet dispatched queued messages;
/// returns how many. The dispatch mark is read under a share lock held to the commit:
/// `mark_dispatched` moves the mark by updating its row, so it waits for this transaction
/// and then counts the cancellations, or this one waits for it and reads the moved mark — a
/// message cancelled here is never also handed to a carrier. The caller has locked the
/// customer's row.
pub(crate) async fn cancel_waiting(tx: &mut Tx<'_>, customer_id: &str, now_ms: i64, reason: &str) -> StoreResult<u64> {
    // The row must exist to be locked; a mark of 0 is what its absence means.
    exec(&tx.t, "INSERT INTO marks (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", &[&DISPATCH_MARK])
        .await?;
    let mark: i64 =
        row(&tx.t, "SELECT value FROM marks WHERE name = $1 FOR SHARE", &[&DISPATCH_MARK]).await?.try_get(0)?;
    // Locked, so a message another transaction moves meanwhile is seen as it is after it.
    let waiting = rows(
        &tx.t,
        "SELECT id, price, status FROM messages WHERE customer_id = $1 \
         AND (status IN ('held', 'scheduled') OR (status = 'queued' AND queue_seq > $2 AND claimed_by IS NULL)) ORDER BY id FOR UPDATE",
        &[&customer_id, &mark],
    )
    .await?;
    let mut cancelled = 0;
    for r in &waiting {
        let id: String = r.try_get(0)?;
        let price: i64 = r.try_get(1)?;
        let status: String = r.try_get(2)?;
        let Some(from) = MessageStatus::parse(&status) else { continue };
        let change = Change::new(customer_id, &id, MessageStatus::Cancelled, now_ms);
        if status::change_status(&tx.t, &change, &[from]).await? {
            status::refund(tx, customer_id, &id, price, reason, now_ms).await?;
            cancelled += 1;
        }
    }
    Ok(cancelled)
}

// ---- the Store methods -------------------------------------------------------------------

pub(super) async fn ping(store: &PgStore) -> StoreResult<()> {
    exec(&store.client().await?, "SELECT 1", &[]).await.map(|_| ())
}

pub(super) async fn create_customer(store: &PgStore, customer: NewCustomer) -> StoreResult<Customer> {
    let taken = || StoreError::Conflict(format!("a customer named {:?} exists", customer.name));
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let exists: bool =
        row(&tx.t, "SELECT EXISTS (SELECT 1 FROM customers WHERE name = $1 OR id = $1)", &[&customer.name])
            .await?
            .try_get(0)?;
    if exists {
        return Err(taken());
    }
    // Another node may create the same name meanwhile: the unique name decides.
    let sql = format!(
        "INSERT INTO customers (id, name, address, contact, balance, created_at) VALUES ($1, $2, $3, $4, 0, $5) \
         ON CONFLICT (name) DO NOTHING RETURNING {CUSTOMER_COLUMNS}"
    );
    let inserted = row_opt(
        &tx.t,
        &sql,
        &[&customer.id, &customer.name, &customer.address, &customer.contact, &customer.created_at],
    )
    .await?;
    let created = customer_row(&inserted.ok_or_else(taken)?)?;
    tx.commit(store).await?;
    Ok(created)
}

pub(super) async fn list_customers(store: &PgStore) -> StoreResult<Vec<Customer>> {
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY name COLLATE \"C\"");
    rows(&store.client().await?, &sql, &[]).await?.iter().map(customer_row).collect()
}

pub(super) async fn create_agreement(store: &PgStore, agreement: Agreement) -> StoreResult<Agreement> {
    let a = agreement;
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    // The customer's row lock numbers its versions one at a time across nodes.
    lock_balance(&tx.t, &a.customer_id).await?;
    let version: i64 =
        row(&tx.t, "SELECT COALESCE(MAX(version), 0) + 1 FROM agreements WHERE customer_id = $1", &[&a.customer_id])
            .await?
            .try_get(0)?;
    let t = &a.terms;
    let compliance = serde_json::to_string(&t.compliance).map_err(|e| StoreError::Backend(e.to_string()))?;
    let sql = format!(
        "INSERT INTO agreements ({AGREEMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25) RETURNING {AGREEMENT_COLUMNS}"
    );
    let stored = row(
        &tx.t,
        &sql,
        &[
            &a.id,
            &a.customer_id,
            &version,
            &t.provider_name,
            &t.provider_address,
            &t.customer_name,
            &t.customer_address,
            &date_format::format(t.effective_from),
            &i64::from(t.term_years),
            &i64::from(t.maintenance_notice_days),
            &i64::from(t.log_retention_months),
            &i64::from(t.cure_days),
            &scope_str(t.scope_policy),
            &charge_str(t.charge_on),
            &i64::from(t.max_segments),
            &t.terms_version,
            &a.signed_at,
            &a.accepted_at,
            &a.accepted_terms_version,
            &a.suspended_at,
            &a.suspension_reason,
            &a.terminated_at,
            &a.termination_reason,
            &a.created_at,
            &compliance,
        ],
    )
    .await?;
    let stored = agreement_row(&stored)?;
    tx.commit(store).await?;
    Ok(stored)
}

pub(super) async fn current_agreement(store: &PgStore, customer_id: &str) -> StoreResult<Option<Agreement>> {
    let sql =
        format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE customer_id = $1 ORDER BY version DESC LIMIT 1");
    row_opt(&store.client().await?, &sql, &[&customer_id]).await?.as_ref().map(agreement_row).transpose()
}

pub(super) async fn list_agreements(store: &PgStore, customer_id: &str) -> StoreResult<Vec<Agreement>> {
    let sql = format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE customer_id = $1 ORDER BY version");
    rows(&store.client().await?, &sql, &[&customer_id]).await?.iter().map(agreement_row).collect()
}

pub(super) async fn change_agreement(
    store: &PgStore,
    id: &str,
    change: AgreementChange,
    now_ms: i64,
    audit: Option<AuditEntry>,
) -> StoreResult<Agreement> {
    let mut client = store.client().await?;
    let mut tx = Tx::begin(&mut client).await?;
    // The customer first (a suspension refunds), then the agreement: read, check and write
    // with no other change to either in between.
    let customer_id: String =
        row(&tx.t, "SELECT customer_id FROM agreements WHERE id = $1", &[&id]).await?.try_get(0)?;
    lock_balance(&tx.t, &customer_id).await?;
    let sql = format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = $1 FOR UPDATE");
    let mut agreement = agreement_row(&row(&tx.t, &sql, &[&id]).await?)?;
    let before = agreement_snapshot(&agreement);
    agreement.apply(&change, now_ms).map_err(StoreError::Refused)?;
    let cancelled = match change {
        AgreementChange::Suspend { .. } => {
            cancel_waiting(&mut tx, &customer_id, now_ms, "cancelled: the service is suspended").await?
        }
        _ => 0,
    };
    if let Some(audit) = audit {
        let mut after = agreement_snapshot(&agreement);
        after["cancelled_messages"] = serde_json::Value::from(cancelled);
        let entry = AuditEntry { before: Some(before.to_string()), after: Some(after.to_string()), ..audit };
        insert_audit(&tx.t, &entry).await?;
    }
    exec(
        &tx.t,
        "UPDATE agreements SET signed_at = $2, accepted_at = $3, accepted_terms_version = $4, suspended_at = $5, \
         suspension_reason = $6, terminated_at = $7, termination_reason = $8 WHERE id = $1",
        &[
            &agreement.id,
            &agreement.signed_at,
            &agreement.accepted_at,
            &agreement.accepted_terms_version,
            &agreement.suspended_at,
            &agreement.suspension_reason,
            &agreement.terminated_at,
            &agreement.termination_reason,
        ],
    )
    .await?;
    tx.commit(store).await?;
    Ok(agreement)
}

pub(super) async fn put_tariff(store: &PgStore, customer_id: &str, tariff: Tariff, now_ms: i64) -> StoreResult<()> {
    let body = serde_json::to_string(&tariff).map_err(|e| StoreError::Backend(e.to_string()))?;
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    find_customer(&tx.t, customer_id).await?;
    exec(
        &tx.t,
        "INSERT INTO tariffs (customer_id, body, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (customer_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        &[&customer_id, &body, &now_ms],
    )
    .await?;
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn tariff(store: &PgStore, customer_id: &str) -> StoreResult<Option<Tariff>> {
    let found =
        row_opt(&store.client().await?, "SELECT body FROM tariffs WHERE customer_id = $1", &[&customer_id]).await?;
    let Some(found) = found else { return Ok(None) };
    let body: String = found.try_get(0)?;
    serde_json::from_str(&body).map(Some).map_err(|e| StoreError::Backend(format!("stored tariff: {e}")))
}

pub(super) async fn create_api_key(store: &PgStore, key: ApiKeyRecord) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    find_customer(&tx.t, &key.customer_id).await?;
    exec(
        &tx.t,
        &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        &[&key.id, &key.customer_id, &key.hash, &key.label, &key.created_at, &key.revoked_at, &i64::from(key.rps)],
    )
    .await?;
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn list_api_keys(store: &PgStore, customer_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
    let sql =
        format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE customer_id = $1 ORDER BY created_at, id COLLATE \"C\"");
    rows(&store.client().await?, &sql, &[&customer_id]).await?.iter().map(key_row).collect()
}

pub(super) async fn revoke_api_key(
    store: &PgStore,
    customer_id: &str,
    key_id: &str,
    now_ms: i64,
) -> StoreResult<ApiKeyRecord> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    // The first revocation's time is kept.
    let sql = format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND customer_id = $2 \
         RETURNING {KEY_COLUMNS}"
    );
    let key = key_row(&row(&tx.t, &sql, &[&key_id, &customer_id, &now_ms]).await?)?;
    tx.commit(store).await?;
    Ok(key)
}

pub(super) async fn find_api_key(store: &PgStore, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1");
    row_opt(&store.client().await?, &sql, &[&hash]).await?.as_ref().map(key_row).transpose()
}

pub(super) async fn rotate_operator_token(store: &PgStore, id: &str, hash: &str, now_ms: i64) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    // One rotation at a time across nodes (the mode conflicts with itself, not with reads):
    // two at once would each revoke only the tokens committed before and both new ones
    // would stay valid.
    exec(&tx.t, "LOCK TABLE operator_tokens IN SHARE ROW EXCLUSIVE MODE", &[]).await?;
    exec(&tx.t, "UPDATE operator_tokens SET revoked_at = $1 WHERE revoked_at IS NULL", &[&now_ms]).await?;
    exec(&tx.t, "INSERT INTO operator_tokens (id, hash, created_at) VALUES ($1, $2, $3)", &[&id, &hash, &now_ms])
        .await?;
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn operator_token_valid(store: &PgStore, hash: &str) -> StoreResult<bool> {
    Ok(row(
        &store.client().await?,
        "SELECT EXISTS (SELECT 1 FROM operator_tokens WHERE hash = $1 AND revoked_at IS NULL)",
        &[&hash],
    )
    .await?
    .try_get(0)?)
}

pub(super) async fn post_ledger_entry(store: &PgStore, entry: NewLedgerEntry) -> StoreResult<LedgerEntry> {
    let reused = match (entry.kind, &entry.reference) {
        (LedgerKind::Topup, Some(reference)) => Some((entry.customer_id.clone(), reference.clone(), entry.amount)),
        _ => None,
    };
    let mut client = store.client().await?;
    let written = {
        let mut tx = Tx::begin(&mut client).await?;
        let posted = post_entry(&mut tx, entry).await?;
        tx.commit(store).await.map(|seqs| (posted, seqs))
    };
    match (written, reused) {
        (Ok((posted, seqs)), _) => posted.committed(&seqs),
        // The unique index is the backstop of the customer's lock: a top-up with the same
        // reference was written meanwhile. Answered as if it had been seen.
        (Err(e), Some((customer_id, reference, amount))) if is_unique_violation(&e) => {
            match topup_with_reference(&client, &customer_id, &reference).await? {
                Some(earlier) => same_topup(earlier, amount, &reference),
                None => Err(e),
            }
        }
        (Err(e), _) => Err(e),
    }
}

pub(super) async fn list_ledger(
    store: &PgStore,
    customer_id: &str,
    after_seq: i64,
    limit: u32,
) -> StoreResult<Vec<LedgerEntry>> {
    let sql = format!("SELECT {LEDGER_COLUMNS} FROM ledger WHERE customer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");
    rows(&store.client().await?, &sql, &[&customer_id, &after_seq, &i64::from(limit)])
        .await?
        .iter()
        .map(ledger_row)
        .collect()
}

pub(super) async fn balance(store: &PgStore, customer_id: &str) -> StoreResult<BalanceCheck> {
    // One statement, one snapshot: the two figures describe the same instant.
    let r = row(
        &store.client().await?,
        "SELECT balance, \
         (SELECT COALESCE(SUM(amount), 0)::BIGINT FROM ledger WHERE customer_id = $1), \
         (SELECT COUNT(*) FROM ledger WHERE customer_id = $1) \
         FROM customers WHERE id = $1",
        &[&customer_id],
    )
    .await?;
    Ok(BalanceCheck {
        balance: Money::from_micros(r.try_get(0)?),
        ledger_sum: Money::from_micros(r.try_get(1)?),
        entries: r.try_get(2)?,
    })
}

pub(super) async fn verify_ledger(store: &PgStore) -> StoreResult<Result<ChainReport, ChainBreak>> {
    // One snapshot for every page: the chain as of one instant.
    let mut client = store.client().await?;
    let t = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    let report = ledger::verify(&t).await?;
    t.commit().await?;
    Ok(report)
}

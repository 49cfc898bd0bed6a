//! Messages on PostgreSQL: accept (charges, frequency limits, idempotency), reads, cancel, sweep, export, purge.
//!
//! Where the SQLite backend relies on its single writer, this module takes locks:
//! - an accept locks its customer first, so the balance check, the frequency counts (from the
//!   messages table) and the idempotency check that follow it are exact across nodes;
//! - queue numbers are taken under the queue lock ([`lock_queue`]), held until commit, so a
//!   message's place in the queue follows commit order and the dispatcher, reading the queue
//!   in order, never passes a number whose message is not yet visible;
//! - cancelling and expiring a queued message share-lock the dispatch mark, so the dispatcher
//!   cannot take the message (move its mark past it) until that transaction has ended;
//! - the sweep locks the customers whose messages it expires before their rows (the order
//!   every balance change follows), and skips rows another transaction holds.

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use tongdao_domain::{FrequencyLimits, MessageStatus, Money};

use super::ledger::{LedgerRow, lock_balance, lock_customers};
use super::status::{CHANGE_RETURNING, Change, MESSAGE_COLUMNS, after_change, change_status, changed_row, expire};
use super::{PgStore, Tx, bad_column, exec, row, row_opt, rows};
use crate::model::*;
use crate::sqlite::charge_str;
use crate::{StoreError, StoreResult};

/// The name of the dispatch mark in `marks` (as the SQLite backend's carrier module names it).
const DISPATCH_MARK: &str = "dispatch";

/// An arbitrary constant: the advisory lock key of the queue's numbers.
const QUEUE_LOCK: i64 = 0x7467_6461_6f5f_7173;

/// Takes the queue lock until the transaction ends. Every transaction that gives messages a
/// `queue_seq` (`nextval('queue_seq')`) takes it first: numbers are then handed out in commit
/// order, so when the dispatcher sees a number every smaller one is already visible (a
/// sequence alone lets a transaction that drew 10 commit after one that drew 11, and a
/// dispatcher that read 11 would pass 10 by for good). Take it after every row lock the
/// transaction needs, just before drawing numbers.
pub(super) async fn lock_queue(t: &Transaction<'_>) -> StoreResult<()> {
    exec(t, "SELECT pg_advisory_xact_lock($1)", &[&QUEUE_LOCK]).await?;
    Ok(())
}

/// The dispatch mark, read without a lock.
async fn dispatch_mark<C: GenericClient>(c: &C) -> StoreResult<i64> {
    let found = row_opt(c, "SELECT value FROM marks WHERE name = $1", &[&DISPATCH_MARK]).await?;
    Ok(found.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
}

/// The dispatch mark, share-locked until the transaction ends: the dispatcher cannot move it
/// (and so take a queued message past it) while a cancel or an expiry decides on the mark it
/// read. The row is created at 0 (the same as no row) if missing, so there is one to lock.
async fn lock_dispatch_mark(t: &Transaction<'_>) -> StoreResult<i64> {
    const SELECT: &str = "SELECT value FROM marks WHERE name = $1 FOR SHARE";
    if let Some(found) = row_opt(t, SELECT, &[&DISPATCH_MARK]).await? {
        return Ok(found.try_get(0)?);
    }
    exec(t, "INSERT INTO marks (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", &[&DISPATCH_MARK]).await?;
    Ok(row(t, SELECT, &[&DISPATCH_MARK]).await?.try_get(0)?)
}

fn parse_status(text: &str, column: usize) -> StoreResult<MessageStatus> {
    MessageStatus::parse(text).ok_or_else(|| bad_column(column, "bad status"))
}

/// The answer kept for `key` if it was given in the last 24 hours.
async fn find_idempotency<C: GenericClient>(
    c: &C,
    customer_id: &str,
    key: &str,
    now_ms: i64,
) -> StoreResult<Option<KeptAnswer>> {
    let since = now_ms - IDEMPOTENCY_WINDOW_MS;
    let found = row_opt(
        c,
        "SELECT request_hash, status, response FROM idempotency_keys \
         WHERE customer_id = $1 AND key = $2 AND created_at > $3",
        &[&customer_id, &key, &since],
    )
    .await?;
    found
        .map(|r| {
            let status: i64 = r.try_get(1)?;
            Ok(KeptAnswer {
                request_hash: r.try_get(0)?,
                status: u16::try_from(status).map_err(|_| bad_column(1, "bad HTTP status"))?,
                response: r.try_get(2)?,
            })
        })
        .transpose()
}

pub(super) async fn idempotent_answer(
    store: &PgStore,
    customer_id: &str,
    key: &str,
    now_ms: i64,
) -> StoreResult<Option<KeptAnswer>> {
    let c = store.client().await?;
    find_idempotency(&c, customer_id, key, now_ms).await
}

/// `+8613800138000`: a number the frequency limits count (the SQLite backend's counts are
/// keyed by the digits and skip anything else; recipients are E.164, so this is all of them).
fn countable(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u64>().is_ok()
}

/// Messages of one or more batches in one statement; those that start `queued` take their
/// places in the queue under the queue lock, in the given order.
async fn insert_messages(t: &Transaction<'_>, ms: &[(&AcceptBatch, &NewMessage)]) -> StoreResult<()> {
    if ms.is_empty() {
        return Ok(());
    }
    if ms.iter().any(|(_, m)| m.status == MessageStatus::Queued) {
        lock_queue(t).await?;
    }
    let customers: Vec<&str> = ms.iter().map(|(b, _)| b.customer_id.as_str()).collect();
    let created: Vec<i64> = ms.iter().map(|(b, _)| b.now_ms).collect();
    let ids: Vec<&str> = ms.iter().map(|(_, m)| m.id.as_str()).collect();
    let recipients: Vec<&str> = ms.iter().map(|(_, m)| m.recipient.as_str()).collect();
    let carriers: Vec<Option<&str>> = ms.iter().map(|(_, m)| m.carrier.as_deref()).collect();
    let senders: Vec<Option<&str>> = ms.iter().map(|(_, m)| m.sender.as_deref()).collect();
    let texts: Vec<&str> = ms.iter().map(|(_, m)| m.text.as_str()).collect();
    let encodings: Vec<&str> = ms.iter().map(|(_, m)| m.encoding.as_str()).collect();
    let segments: Vec<i64> = ms.iter().map(|(_, m)| i64::from(m.segments)).collect();
    let prices: Vec<i64> = ms.iter().map(|(_, m)| m.price.micros()).collect();
    let statuses: Vec<&str> = ms.iter().map(|(_, m)| m.status.as_str()).collect();
    let client_refs: Vec<Option<&str>> = ms.iter().map(|(_, m)| m.client_ref.as_deref()).collect();
    let callback_urls: Vec<Option<&str>> = ms.iter().map(|(_, m)| m.callback_url.as_deref()).collect();
    let send_ats: Vec<Option<i64>> = ms.iter().map(|(_, m)| m.send_at).collect();
    let valid_untils: Vec<Option<i64>> = ms.iter().map(|(_, m)| m.valid_until).collect();
    let charge_ons: Vec<&str> = ms.iter().map(|(_, m)| charge_str(m.charge_on)).collect();
    let receipts: Vec<i64> = ms.iter().map(|(_, m)| i64::from(m.receipt.as_u8())).collect();
    let concat_refs: Vec<Option<i64>> = ms.iter().map(|(_, m)| m.concat.map(|c| i64::from(c.reference))).collect();
    let concat_totals: Vec<Option<i64>> = ms.iter().map(|(_, m)| m.concat.map(|c| i64::from(c.total))).collect();
    let concat_seqs: Vec<Option<i64>> = ms.iter().map(|(_, m)| m.concat.map(|c| i64::from(c.seq))).collect();
    let out_of_scope: Vec<i64> = ms.iter().map(|(_, m)| i64::from(m.out_of_scope)).collect();
    let screenings: Vec<Option<&str>> = ms.iter().map(|(_, m)| m.screening.as_deref()).collect();
    let sources: Vec<Option<&str>> = ms.iter().map(|(_, m)| m.source.as_deref()).collect();
    exec(
        t,
        "INSERT INTO messages (id, customer_id, recipient, carrier, sender, text, encoding, segments, price, status, \
         first_status, client_ref, callback_url, send_at, valid_until, created_at, updated_at, charge_on, queue_seq, \
         smpp_receipt, concat_ref, concat_total, concat_seq, out_of_scope, screening, source) \
         SELECT m.id, m.customer_id, m.recipient, m.carrier, m.sender, m.text, m.encoding, m.segments, m.price, \
         m.status, m.status, m.client_ref, m.callback_url, m.send_at, m.valid_until, m.created_at, m.created_at, \
         m.charge_on, CASE WHEN m.status = 'queued' THEN nextval('queue_seq') END, \
         m.smpp_receipt, m.concat_ref, m.concat_total, m.concat_seq, m.out_of_scope, m.screening, m.source \
         FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], \
         $8::TEXT[], $9::BIGINT[], $10::BIGINT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::BIGINT[], \
         $15::BIGINT[], $16::TEXT[], $17::BIGINT[], $18::BIGINT[], $19::BIGINT[], $20::BIGINT[], $21::BIGINT[], \
         $22::TEXT[], $23::TEXT[]) \
         WITH ORDINALITY AS m(customer_id, created_at, id, recipient, carrier, sender, text, encoding, segments, \
         price, status, client_ref, callback_url, send_at, valid_until, charge_on, smpp_receipt, concat_ref, \
         concat_total, concat_seq, out_of_scope, screening, source, place) \
         ORDER BY m.place",
        &[
            &customers,
            &created,
            &ids,
            &recipients,
            &carriers,
            &senders,
            &texts,
            &encodings,
            &segments,
            &prices,
            &statuses,
            &client_refs,
            &callback_urls,
            &send_ats,
            &valid_untils,
            &charge_ons,
            &receipts,
            &concat_refs,
            &concat_totals,
            &concat_seqs,
            &out_of_scope,
            &screenings,
            &sources,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn accept(store: &PgStore, batch: AcceptBatch) -> StoreResult<AcceptOutcome> {
    accept_many(store, vec![batch]).await?.pop().unwrap_or(Err(StoreError::Aborted))
}

/// Several accepts in one transaction (the SMPP edge's submit_sm of one read, and the
/// group commit of `PgStore::accept`): each batch is stored or refused on its own, with
/// every read done once for all of them — the customers locked in id order, the
/// idempotency keys and the frequency counts in one query each — then every message, key,
/// balance and charge written in one statement each. A storage error fails them all (the
/// transaction is rolled back; retrying is safe), as the SQLite writer's group commit does.
pub(super) async fn accept_many(
    store: &PgStore,
    batches: Vec<AcceptBatch>,
) -> StoreResult<Vec<StoreResult<AcceptOutcome>>> {
    let mut client = store.client().await?;
    let mut tx = Tx::begin(&mut client).await?;
    let customer_ids: Vec<&str> = batches.iter().map(|b| b.customer_id.as_str()).collect();
    let mut balances = lock_customers(&tx.t, &customer_ids).await?;
    let kept = kept_answers(&tx.t, &batches).await?;
    let mut counts = GroupCounts::read(&tx.t, &batches).await?;

    let mut outcomes = Vec::with_capacity(batches.len());
    let mut stored: Vec<(&AcceptBatch, &NewMessage)> = Vec::new();
    // Keys stored by earlier batches of this group: (customer, key) → their record.
    let mut keys: HashMap<(&str, &str), (&AcceptBatch, &IdempotencyRecord)> = HashMap::new();
    let mut changed: Vec<&str> = Vec::new();
    for batch in &batches {
        let Some(balance) = balances.get(&batch.customer_id).copied() else {
            outcomes.push(Err(StoreError::NotFound));
            continue;
        };
        if let Some(idempotency) = &batch.idempotency {
            let earlier = keys.get(&(batch.customer_id.as_str(), idempotency.key.as_str())).map(|(_, r)| KeptAnswer {
                request_hash: r.request_hash.clone(),
                status: r.status,
                response: r.response.clone(),
            });
            let found = earlier.or_else(|| {
                kept.get(&(batch.customer_id.clone(), idempotency.key.clone()))
                    .filter(|(created_at, _)| *created_at > batch.now_ms - IDEMPOTENCY_WINDOW_MS)
                    .map(|(_, answer)| answer.clone())
            });
            if let Some(kept) = found {
                outcomes.push(if kept.request_hash == idempotency.request_hash {
                    Ok(AcceptOutcome::Replayed { status: kept.status, response: kept.response })
                } else {
                    Err(StoreError::IdempotencyConflict)
                });
                continue;
            }
        }
        let Some(needed) = batch.messages.iter().try_fold(Money::ZERO, |sum, m| sum.checked_add(m.price)) else {
            outcomes.push(Err(StoreError::Backend("price overflow".into())));
            continue;
        };
        if balance < needed.micros() {
            outcomes.push(Err(StoreError::InsufficientBalance { balance: Money::from_micros(balance), needed }));
            continue;
        }
        if let Err(refused) = counts.check(batch) {
            outcomes.push(Err(refused));
            continue;
        }
        counts.add(batch);
        let mut running = balance;
        for m in &batch.messages {
            running -= m.price.micros();
            tx.append_ledger(LedgerRow {
                customer_id: batch.customer_id.clone(),
                kind: LedgerKind::Charge,
                amount: -m.price.micros(),
                balance_after: running,
                message_id: Some(m.id.clone()),
                reference: None,
                reason: None,
                now_ms: batch.now_ms,
            });
            stored.push((batch, m));
        }
        if running != balance {
            balances.insert(batch.customer_id.clone(), running);
            if !changed.contains(&batch.customer_id.as_str()) {
                changed.push(&batch.customer_id);
            }
        }
        if let Some(idempotency) = &batch.idempotency {
            keys.insert((&batch.customer_id, &idempotency.key), (batch, idempotency));
        }
        outcomes.push(Ok(AcceptOutcome::Stored { balance_after: Money::from_micros(running) }));
    }

    // The writes are independent of each other: sent together, one round trip.
    let changed_balances: Vec<i64> = changed.iter().filter_map(|c| balances.get(*c).copied()).collect();
    tokio::try_join!(
        store_keys(&tx.t, keys.into_values()),
        insert_messages(&tx.t, &stored),
        set_balances(&tx.t, &changed, &changed_balances),
    )?;
    tx.commit(store).await?;
    Ok(outcomes)
}

/// The customers' new balances, in one statement.
async fn set_balances(t: &Transaction<'_>, customers: &[&str], balances: &[i64]) -> StoreResult<()> {
    if customers.is_empty() {
        return Ok(());
    }
    exec(
        t,
        "UPDATE customers c SET balance = b.balance FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS b(id, balance) \
         WHERE c.id = b.id",
        &[&customers, &balances],
    )
    .await?;
    Ok(())
}

/// The answers kept for the group's idempotency keys, by (customer, key), with when they
/// were given (each batch checks its own 24-hour window).
async fn kept_answers(
    t: &Transaction<'_>,
    batches: &[AcceptBatch],
) -> StoreResult<HashMap<(String, String), (i64, KeptAnswer)>> {
    let (customers, keys): (Vec<&str>, Vec<&str>) =
        batches.iter().filter_map(|b| b.idempotency.as_ref().map(|i| (b.customer_id.as_str(), i.key.as_str()))).unzip();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let found = rows(
        t,
        "SELECT customer_id, key, created_at, request_hash, status, response FROM idempotency_keys \
         WHERE (customer_id, key) IN (SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[]))",
        &[&customers, &keys],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            let status: i64 = r.try_get(4)?;
            let answer = KeptAnswer {
                request_hash: r.try_get(3)?,
                status: u16::try_from(status).map_err(|_| bad_column(4, "bad HTTP status"))?,
                response: r.try_get(5)?,
            };
            Ok(((r.try_get(0)?, r.try_get(1)?), (r.try_get(2)?, answer)))
        })
        .collect()
}

/// The idempotency records of the batches stored, in one statement.
async fn store_keys<'a>(
    t: &Transaction<'_>,
    records: impl Iterator<Item = (&'a AcceptBatch, &'a IdempotencyRecord)>,
) -> StoreResult<()> {
    let records: Vec<_> = records.collect();
    if records.is_empty() {
        return Ok(());
    }
    let customers: Vec<&str> = records.iter().map(|(b, _)| b.customer_id.as_str()).collect();
    let keys: Vec<&str> = records.iter().map(|(_, r)| r.key.as_str()).collect();
    let hashes: Vec<&str> = records.iter().map(|(_, r)| r.request_hash.as_str()).collect();
    let statuses: Vec<i64> = records.iter().map(|(_, r)| i64::from(r.status)).collect();
    let responses: Vec<&str> = records.iter().map(|(_, r)| r.response.as_str()).collect();
    let created: Vec<i64> = records.iter().map(|(b, _)| b.now_ms).collect();
    exec(
        t,
        "INSERT INTO idempotency_keys (customer_id, key, request_hash, status, response, created_at) \
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[], $6::BIGINT[]) \
         ON CONFLICT (customer_id, key) DO UPDATE SET request_hash = excluded.request_hash, \
         status = excluded.status, response = excluded.response, created_at = excluded.created_at",
        &[&customers, &keys, &hashes, &statuses, &responses, &created],
    )
    .await?;
    Ok(())
}

/// Messages per (customer, recipient) and acceptance time, for the frequency limits of a
/// group of batches: the stored ones of the last day (read once, for every recipient of a
/// batch with limits) and those of the group's batches stored so far.
struct GroupCounts {
    times: HashMap<(String, String), Vec<i64>>,
}

impl GroupCounts {
    async fn read(t: &Transaction<'_>, batches: &[AcceptBatch]) -> StoreResult<GroupCounts> {
        let mut customers = Vec::new();
        let mut recipients = Vec::new();
        let mut since = i64::MAX;
        for b in batches.iter().filter(|b| !b.frequency.is_unlimited()) {
            for m in b.messages.iter().filter(|m| countable(&m.recipient)) {
                customers.push(b.customer_id.as_str());
                recipients.push(m.recipient.as_str());
            }
            let starts = b
                .frequency
                .windows()
                .map(|(_, length, offset)| FrequencyLimits::window_start(b.now_ms, length, offset));
            since = since.min(starts.iter().copied().min().unwrap_or(b.now_ms));
        }
        let mut times: HashMap<(String, String), Vec<i64>> = HashMap::new();
        if recipients.is_empty() {
            return Ok(GroupCounts { times });
        }
        let found = rows(
            t,
            "SELECT m.customer_id, m.recipient, m.created_at FROM messages m \
             JOIN (SELECT DISTINCT * FROM UNNEST($1::TEXT[], $2::TEXT[])) AS r(customer_id, recipient) \
             ON m.customer_id = r.customer_id AND m.recipient = r.recipient WHERE m.created_at >= $3",
            &[&customers, &recipients, &since],
        )
        .await?;
        for r in &found {
            times.entry((r.try_get(0)?, r.try_get(1)?)).or_default().push(r.try_get(2)?);
        }
        Ok(GroupCounts { times })
    }

    /// Refuses the batch's first message that would exceed its limits, counting the messages
    /// before it in the batch.
    fn check(&self, batch: &AcceptBatch) -> StoreResult<()> {
        let limits = &batch.frequency;
        if limits.is_unlimited() {
            return Ok(());
        }
        let windows = limits.windows();
        let starts = windows.map(|(_, length, offset)| FrequencyLimits::window_start(batch.now_ms, length, offset));
        let mut in_batch: HashMap<&str, i64> = HashMap::new();
        for (index, m) in batch.messages.iter().enumerate() {
            if !countable(&m.recipient) {
                continue;
            }
            let stored = self.times.get(&(batch.customer_id.clone(), m.recipient.clone()));
            let before = in_batch.entry(m.recipient.as_str()).or_default();
            for (w, (limit, length, _)) in windows.iter().enumerate() {
                let end = starts[w] + length;
                let count = stored.map_or(0, |times| times.iter().filter(|&&at| at >= starts[w] && at < end).count());
                let count = i64::try_from(count).unwrap_or(i64::MAX).saturating_add(*before);
                if *limit > 0 && count >= i64::from(*limit) {
                    return Err(StoreError::RateLimited { index, retry_after_ms: end - batch.now_ms });
                }
            }
            *before += 1;
        }
        Ok(())
    }

    /// Counts a stored batch's messages for the batches after it.
    /// Every message counts, whatever its batch's limits (as on SQLite): a limit switched on
    /// meanwhile sees them all.
    fn add(&mut self, batch: &AcceptBatch) {
        for m in batch.messages.iter().filter(|m| countable(&m.recipient)) {
            self.times.entry((batch.customer_id.clone(), m.recipient.clone())).or_default().push(batch.now_ms);
        }
    }
}

pub(super) async fn find_message(
    store: &PgStore,
    customer_id: &str,
    id: &str,
) -> StoreResult<(StoredMessage, Vec<MessageEvent>)> {
    let c = store.client().await?;
    // One statement, so the message and its events are read as of one instant: the message
    // row holds its first event and, on the usual path, the submit and the final status from
    // receipts; message_events holds every other change.
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, first_status, submitted_at, link, carrier_message_ids, done_at, \
         done_carrier_message_id, done_error, e_status, e_at, e_detail, e_carrier, e_carrier_message_id, e_error \
         FROM messages LEFT JOIN (SELECT message_id AS e_message_id, seq AS e_seq, status AS e_status, at AS e_at, \
         detail AS e_detail, carrier AS e_carrier, carrier_message_id AS e_carrier_message_id, error AS e_error \
         FROM message_events) events ON e_message_id = messages.id \
         WHERE customer_id = $1 AND id = $2 ORDER BY e_seq"
    );
    let found = rows(&c, &sql, &[&customer_id, &id]).await?;
    let first_row = found.first().ok_or(StoreError::NotFound)?;
    let message = super::status::message_row(first_row)?;
    let first: String = first_row.try_get(16)?;
    let submitted_at: Option<i64> = first_row.try_get(17)?;
    let link: Option<String> = first_row.try_get(18)?;
    let ids: Option<String> = first_row.try_get(19)?;
    let done_at: Option<i64> = first_row.try_get(20)?;
    let done_id: Option<String> = first_row.try_get(21)?;
    let done_error: Option<String> = first_row.try_get(22)?;
    let accepted = MessageEvent {
        status: parse_status(&first, 16)?,
        at: message.created_at,
        detail: None,
        carrier: None,
        carrier_message_id: None,
        error: None,
    };
    let mut changes = Vec::with_capacity(found.len() + 1);
    for r in &found {
        let status: Option<String> = r.try_get(23)?;
        let Some(status) = status else { continue };
        changes.push(MessageEvent {
            status: parse_status(&status, 23)?,
            at: r.try_get(24)?,
            detail: r.try_get(25)?,
            carrier: r.try_get(26)?,
            carrier_message_id: r.try_get(27)?,
            error: r.try_get(28)?,
        });
    }
    if let Some(at) = submitted_at {
        let event = MessageEvent {
            status: MessageStatus::Submitted,
            at,
            detail: None,
            carrier: link.clone(),
            carrier_message_id: ids,
            error: None,
        };
        // After the changes that came before it (a release from the schedule).
        let place = changes.iter().position(|e| e.at > at).unwrap_or(changes.len());
        changes.insert(place, event);
    }
    if let Some(at) = done_at {
        changes.push(MessageEvent {
            status: message.status,
            at,
            detail: None,
            carrier: link,
            carrier_message_id: done_id,
            error: done_error,
        });
    }
    Ok((message, std::iter::once(accepted).chain(changes).collect()))
}

pub(super) async fn list_messages(
    store: &PgStore,
    customer_id: &str,
    filter: MessageFilter,
) -> StoreResult<Vec<StoredMessage>> {
    let status = filter.status.map(MessageStatus::as_str);
    let limit = i64::from(filter.limit);
    let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE customer_id = $1");
    let mut values: Vec<&(dyn ToSql + Sync)> = vec![&customer_id];
    // Placeholders are numbered as the values are pushed.
    if let Some(status) = &status {
        values.push(status);
        sql.push_str(&format!(" AND status = ${}", values.len()));
    }
    if let Some(recipient) = &filter.recipient {
        values.push(recipient);
        sql.push_str(&format!(" AND recipient = ${}", values.len()));
    }
    if let Some(since) = &filter.since_ms {
        values.push(since);
        sql.push_str(&format!(" AND created_at >= ${}", values.len()));
    }
    if let Some(until) = &filter.until_ms {
        values.push(until);
        sql.push_str(&format!(" AND created_at < ${}", values.len()));
    }
    if let Some(before) = &filter.before {
        values.push(before);
        sql.push_str(&format!(" AND id < ${}", values.len()));
    }
    values.push(&limit);
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", values.len()));
    let c = store.client().await?;
    rows(&c, &sql, &values).await?.iter().map(super::status::message_row).collect()
}

/// Whether a message in `status` at queue place `place` may still be cancelled: a scheduled
/// one, or a queued one the dispatcher has not taken (its place is past the mark).
/// Scheduled, or queued and taken by no dispatcher (past the mark, claimed by no node).
fn cancellable(status: MessageStatus, (place, claimed): (Option<i64>, bool), mark: i64) -> bool {
    match status {
        MessageStatus::Scheduled => true,
        MessageStatus::Queued => !claimed && place.is_some_and(|place| place > mark),
        _ => false,
    }
}

pub(super) async fn cancel_message(
    store: &PgStore,
    customer_id: &str,
    id: &str,
    now_ms: i64,
) -> StoreResult<StoredMessage> {
    let mut client = store.client().await?;
    let mut tx = Tx::begin(&mut client).await?;
    // The customer first (a refund follows), then the mark: from here on the dispatcher cannot
    // take a queued message past the mark read below until this transaction ends.
    lock_balance(&tx.t, customer_id).await?;
    let mark = lock_dispatch_mark(&tx.t).await?;
    let select = format!(
        "SELECT {MESSAGE_COLUMNS}, queue_seq, claimed_by IS NOT NULL FROM messages WHERE customer_id = $1 AND id = $2"
    );
    let read = |r: &Row| -> StoreResult<(StoredMessage, (Option<i64>, bool))> {
        Ok((super::status::message_row(r)?, (r.try_get(16)?, r.try_get(17)?)))
    };
    // A first look without a lock: a message already gone to a carrier is refused without
    // waiting for whoever records its progress.
    let (message, place) = read(&row(&tx.t, &select, &[&customer_id, &id]).await?)?;
    if !cancellable(message.status, place, mark) {
        return Err(StoreError::NotCancellable(message.status.as_str().to_owned()));
    }
    // Then under the row's lock, which decides.
    let locked = format!("{select} FOR UPDATE");
    let (message, place) = read(&row(&tx.t, &locked, &[&customer_id, &id]).await?)?;
    if !cancellable(message.status, place, mark) {
        return Err(StoreError::NotCancellable(message.status.as_str().to_owned()));
    }
    let change = Change::new(customer_id, id, MessageStatus::Cancelled, now_ms);
    if !change_status(&tx.t, &change, &[message.status]).await? {
        return Err(StoreError::NotCancellable(message.status.as_str().to_owned()));
    }
    super::status::refund(&mut tx, customer_id, id, message.price.micros(), "cancelled by the customer", now_ms)
        .await?;
    let cancelled = super::status::find_message(&tx.t, customer_id, id).await?;
    tx.commit(store).await?;
    Ok(cancelled)
}

pub(super) async fn sweep(store: &PgStore, now_ms: i64, limit: u32) -> StoreResult<SweepReport> {
    let limit = i64::from(limit);
    let mut report = SweepReport::default();
    let mut client = store.client().await?;
    let mut tx = Tx::begin(&mut client).await?;

    // Expiry. A queued message the dispatcher has taken (at or below its mark) is the
    // dispatcher's to expire: it may be on its way to a carrier right now. The candidates
    // are read without locks to learn their customers, whose rows are locked first (the order
    // of every balance change); the candidates are then locked and checked again, skipping
    // rows another transaction holds (another sweeper's, for one).
    let mark = dispatch_mark(&tx.t).await?;
    let candidates = rows(
        &tx.t,
        "(SELECT customer_id, id FROM messages WHERE status = 'scheduled' AND valid_until IS NOT NULL \
         AND valid_until <= $1 ORDER BY valid_until LIMIT $2) \
         UNION ALL \
         (SELECT customer_id, id FROM messages WHERE status = 'queued' AND valid_until IS NOT NULL \
         AND valid_until <= $1 AND queue_seq > $3 AND claimed_by IS NULL ORDER BY valid_until LIMIT $2)",
        &[&now_ms, &limit, &mark],
    )
    .await?;
    if !candidates.is_empty() {
        let mut customer_ids = Vec::with_capacity(candidates.len());
        let mut ids = Vec::with_capacity(candidates.len());
        for r in &candidates {
            customer_ids.push(r.try_get::<_, String>(0)?);
            ids.push(r.try_get::<_, String>(1)?);
        }
        let customers: Vec<&str> = customer_ids.iter().map(String::as_str).collect();
        lock_customers(&tx.t, &customers).await?;
        let mark = lock_dispatch_mark(&tx.t).await?;
        let expiring = rows(
            &tx.t,
            "SELECT customer_id, id, price FROM messages \
             WHERE (customer_id, id) IN (SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[])) \
             AND valid_until IS NOT NULL AND valid_until <= $3 \
             AND (status = 'scheduled' OR (status = 'queued' AND queue_seq > $4 AND claimed_by IS NULL)) \
             ORDER BY valid_until FOR UPDATE SKIP LOCKED",
            &[&customer_ids, &ids, &now_ms, &mark],
        )
        .await?;
        for r in &expiring {
            let (customer_id, id, price): (String, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if expire(&mut tx, &customer_id, &id, price, now_ms).await? {
                report.expired += 1;
            }
        }
    }

    exec(
        &tx.t,
        "DELETE FROM idempotency_keys WHERE (customer_id, key) IN \
         (SELECT customer_id, key FROM idempotency_keys WHERE created_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        &[&(now_ms - IDEMPOTENCY_WINDOW_MS), &limit],
    )
    .await?;

    // Release: due scheduled messages join the queue, their places drawn under the queue
    // lock (taken after the rows' locks, as accepts take it after their customer's).
    let due = rows(
        &tx.t,
        "SELECT customer_id, id FROM messages WHERE status = 'scheduled' AND send_at <= $1 \
         ORDER BY send_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        &[&now_ms, &limit],
    )
    .await?;
    if !due.is_empty() {
        lock_queue(&tx.t).await?;
        let release = format!(
            "UPDATE messages SET status = 'queued', updated_at = $3, queue_seq = nextval('queue_seq') \
             WHERE customer_id = $1 AND id = $2 AND status = 'scheduled' {CHANGE_RETURNING}"
        );
        for r in &due {
            let (customer_id, id): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            let Some(changed) = row_opt(&tx.t, &release, &[&customer_id, &id, &now_ms]).await? else { continue };
            let change = Change::new(&customer_id, &id, MessageStatus::Queued, now_ms);
            after_change(&tx.t, &change, &changed_row(&changed)?).await?;
            report.released += 1;
        }
    }
    tx.commit(store).await?;
    Ok(report)
}

pub(super) async fn message_records(
    store: &PgStore,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<MessageRecord>> {
    let c = store.client().await?;
    // The customer's range of the primary key, filtered by time: an export is rare, and ids
    // (time-ordered by the system clock) need not agree with created_at (the platform's clock).
    let found = rows(
        &c,
        "SELECT id, created_at, sender, recipient, text, status, source FROM messages \
         WHERE customer_id = $1 AND id > $2 AND created_at >= $3 AND created_at < $4 ORDER BY id LIMIT $5",
        &[&customer_id, &after, &from_ms, &to_ms, &i64::from(limit)],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            Ok(MessageRecord {
                id: r.try_get(0)?,
                created_at: r.try_get(1)?,
                sender: r.try_get(2)?,
                recipient: r.try_get(3)?,
                text: r.try_get(4)?,
                status: r.try_get(5)?,
                source: r.try_get(6)?,
            })
        })
        .collect()
}

pub(super) async fn purge_content(
    store: &PgStore,
    customer_id: &str,
    before_ms: i64,
    limit: u32,
    audit: AuditEntry,
) -> StoreResult<PurgeReport> {
    let finals = MessageStatus::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    // The number keeps its country code and last four digits, as logs show it. `text != ''`
    // is repeated outside the subquery so that a row another purge erased meanwhile is not
    // masked (and counted) twice.
    let sql = format!(
        "UPDATE messages SET text = '', source = NULL, screening = NULL, \
         recipient = substr(recipient, 1, GREATEST(length(recipient) - 8, 0)) || '****' || right(recipient, 4) \
         WHERE customer_id = $1 AND text != '' AND id IN (SELECT id FROM messages WHERE customer_id = $1 \
         AND created_at < $2 AND text != '' AND status IN ({finals}) LIMIT $3)"
    );
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let messages = exec(&tx.t, &sql, &[&customer_id, &before_ms, &i64::from(limit)]).await?;
    let inbound = exec(
        &tx.t,
        "DELETE FROM inbound_messages WHERE customer_id = $1 AND received_at < $2",
        &[&customer_id, &before_ms],
    )
    .await?;
    let violations = exec(
        &tx.t,
        "UPDATE violations SET text = '' WHERE customer_id = $1 AND at < $2 AND text != ''",
        &[&customer_id, &before_ms],
    )
    .await?;
    let report = PurgeReport { messages, inbound, violations };
    if report != PurgeReport::default() {
        let after = serde_json::to_string(&report).ok();
        let e = AuditEntry { after, ..audit };
        exec(
            &tx.t,
            "INSERT INTO audit_log (at, actor, action, target, reason, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&e.at, &e.actor, &e.action, &e.target, &e.reason, &e.before, &e.after],
        )
        .await?;
    }
    tx.commit(store).await?;
    Ok(report)
}

pub(super) async fn message_timings(store: &PgStore, customer_id: &str, limit: u32) -> StoreResult<Vec<MessageTiming>> {
    let c = store.client().await?;
    let found = rows(
        &c,
        "SELECT status, created_at, submitted_at, updated_at FROM messages \
         WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
        &[&customer_id, &i64::from(limit)],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            let status: String = r.try_get(0)?;
            let status = parse_status(&status, 0)?;
            Ok(MessageTiming {
                status,
                accepted_at: r.try_get(1)?,
                submitted_at: r.try_get(2)?,
                final_at: if status.is_final() { Some(r.try_get(3)?) } else { None },
            })
        })
        .collect()
}

pub(super) async fn traffic(
    store: &PgStore,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    period_ms: i64,
) -> StoreResult<Vec<TrafficRow>> {
    let period_ms = period_ms.max(1);
    // Ids carry their time: the range scan starts a minute early for clocks that differ.
    let floor = tongdao_domain::id::id_floor("msg", from_ms - 60_000);
    let c = store.client().await?;
    let found = rows(
        &c,
        "SELECT (created_at - $3) / $5 AS period, status, COUNT(*) FROM messages \
         WHERE customer_id = $1 AND id >= $2 AND created_at >= $3 AND created_at < $4 \
         GROUP BY period, status ORDER BY period, status",
        &[&customer_id, &floor, &from_ms, &to_ms, &period_ms],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            let status: String = r.try_get(1)?;
            let period: i64 = r.try_get(0)?;
            let count: i64 = r.try_get(2)?;
            Ok(TrafficRow {
                period: from_ms + period * period_ms,
                status: parse_status(&status, 1)?,
                count: count.max(0) as u64,
            })
        })
        .collect()
}

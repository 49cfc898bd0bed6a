//! The carrier side's transactions on PostgreSQL: the dispatch queue, submits and receipts
//! with their settlement, inbound messages, and the webhook outbox. The SQLite backend's
//! `carrier` module statement for statement, plus the locks several nodes need.

use std::collections::HashSet;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tongdao_domain::agreement::ChargeOn;
use tongdao_domain::{ConcatPart, MessageStatus};

use super::ledger::lock_customers;
use super::status::{
    CHANGE_RETURNING, CHANGED_COLUMNS, Change, Changed, after_change, changed_row, enqueue_smpp, enqueue_webhook,
    expire, notify_change, refund,
};
use super::{PgStore, Tx, exec, row, row_opt, rows};
use crate::model::*;
use crate::sqlite::carrier::{Attached, attach_receipts};
use crate::{StoreError, StoreResult};

// ---- the dispatch queue --------------------------------------------------------------------

const DISPATCH_MARK: &str = "dispatch";

/// The dispatch mark: queued messages at or below it may have been handed to a carrier.
pub(super) async fn dispatch_mark<C: GenericClient>(c: &C) -> StoreResult<i64> {
    match row_opt(c, "SELECT value FROM marks WHERE name = $1", &[&DISPATCH_MARK]).await? {
        Some(r) => Ok(r.try_get(0)?),
        None => Ok(0),
    }
}

pub(super) async fn queued_after(store: &PgStore, after_seq: i64, limit: u32) -> StoreResult<Vec<QueuedMessage>> {
    let c = store.client().await?;
    let mark = store.mark_at_open;
    let found = rows(
        &c,
        "SELECT queue_seq, id, customer_id, recipient, carrier, sender, text, valid_until, concat_ref, concat_total, \
         concat_seq FROM messages \
         WHERE status = 'queued' AND queue_seq > $1 ORDER BY queue_seq LIMIT $2",
        &[&after_seq, &i64::from(limit)],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            let queue_seq: i64 = r.try_get(0)?;
            Ok(QueuedMessage {
                queue_seq,
                id: r.try_get(1)?,
                customer_id: r.try_get(2)?,
                recipient: r.try_get(3)?,
                carrier: r.try_get(4)?,
                sender: r.try_get(5)?,
                text: r.try_get(6)?,
                valid_until: r.try_get(7)?,
                maybe_sent: queue_seq <= mark,
                concat: concat_part(r.try_get(8)?, r.try_get(9)?, r.try_get(10)?),
            })
        })
        .collect()
}

fn concat_part(reference: Option<i64>, total: Option<i64>, seq: Option<i64>) -> Option<ConcatPart> {
    Some(ConcatPart {
        reference: u16::try_from(reference?).ok()?,
        total: u8::try_from(total?).ok()?,
        seq: u8::try_from(seq?).ok()?,
    })
}

pub(super) async fn mark_dispatched(
    store: &PgStore,
    after_seq: i64,
    queue_seq: i64,
    read: usize,
) -> StoreResult<Option<Vec<String>>> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    // The upsert locks the mark's row until the commit; the statements below, each with a
    // fresh snapshot, see every cancel or expiry that committed before it.
    exec(
        &tx.t,
        "INSERT INTO marks (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = GREATEST(marks.value, excluded.value)",
        &[&DISPATCH_MARK, &queue_seq],
    )
    .await?;
    // Cancelling and expiring a queued message both require it to be past the mark, so from
    // here on none of this range changes under the dispatcher; what changed before is seen now.
    let queued: i64 = row(
        &tx.t,
        "SELECT COUNT(*) FROM messages WHERE status = 'queued' AND queue_seq > $1 AND queue_seq <= $2",
        &[&after_seq, &queue_seq],
    )
    .await?
    .try_get(0)?;
    let result = if usize::try_from(queued).is_ok_and(|queued| queued >= read) {
        None
    } else {
        let ids = rows(
            &tx.t,
            "SELECT id FROM messages WHERE status = 'queued' AND queue_seq > $1 AND queue_seq <= $2",
            &[&after_seq, &queue_seq],
        )
        .await?;
        Some(ids.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?)
    };
    tx.commit(store).await?;
    Ok(result)
}

// ---- submits and receipts ------------------------------------------------------------------

/// The first key of a carrier part's advisory lock (`pg_advisory_xact_lock(int, int)`; the
/// two-key form never meets the one-key locks of migrations and of the queue).
const PART_LOCK: i32 = 0x7470_6172;
/// The advisory lock over every part: shared by a batch that locks its parts one by one,
/// exclusive for a batch with more parts than [`MAX_PART_LOCKS`].
const ALL_PARTS_LOCK: (i32, i32) = (0x7470_6173, 0);
/// Parts a batch locks one by one, at most. Advisory locks live in PostgreSQL's shared lock
/// table (64 × max_connections entries by default): with 4 batches in flight per node, a
/// node holds at most about a thousand, where one lock per part of full batches (512 items)
/// could fill the table. A bigger batch locks every part at once, so it runs alone among
/// the batches that lock parts; it is one that waited in a backlog.
const MAX_PART_LOCKS: usize = 256;

/// The second key of a part's advisory lock: FNV-1a of its link and carrier id. Two parts
/// sharing a key only wait for each other.
fn part_key(link: &str, carrier_message_id: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in link.bytes().chain([0x1f]).chain(carrier_message_id.bytes()) {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(hash.to_ne_bytes())
}

/// The parts (link, carrier id) of `forms` known now, with their customers.
async fn known_parts(
    t: &Transaction<'_>,
    links: &[&str],
    forms: &[&str],
) -> StoreResult<Vec<((String, String), String)>> {
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let found = rows(
        t,
        "SELECT p.link, p.carrier_message_id, p.customer_id FROM message_parts p \
         JOIN unnest($1::TEXT[], $2::TEXT[]) AS k (link, id) ON p.link = k.link AND p.carrier_message_id = k.id",
        &[&links, &forms],
    )
    .await?;
    found.iter().map(|r| Ok(((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?))).collect()
}

/// Takes every lock the batch needs before it changes anything, in one order for all
/// batches: the carrier parts that may meet across nodes, then the customers it may settle
/// (in id order), so that concurrent batches on any node neither deadlock nor miss each other.
///
/// A part is locked by the submit that records it and by a receipt that does not find it
/// yet. A receipt and the submit of its part, recorded on two nodes at once, then see each
/// other: one waits for the other's commit and its next statements see what that one wrote.
/// Without it the receipt could be kept as early while the submit, not seeing it, leaves the
/// part waiting for a receipt that already came. A receipt whose part is already known needs
/// no part lock: its submit is committed.
async fn lock_batch(t: &Transaction<'_>, progress: &[Progress]) -> StoreResult<()> {
    let mut customers: Vec<String> = Vec::new();
    let mut keys: Vec<i32> = Vec::new();
    let (mut links, mut forms): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for p in progress {
        match p {
            Progress::Submitted { customer_id, link, carrier_message_ids, .. } => {
                customers.push(customer_id.clone());
                keys.extend(carrier_message_ids.iter().map(|id| part_key(link, id)));
            }
            Progress::Failed { customer_id, .. } | Progress::Expired { customer_id, .. } => {
                customers.push(customer_id.clone());
            }
            Progress::Receipt { link, carrier_message_ids, .. } => {
                for id in carrier_message_ids {
                    links.push(link);
                    forms.push(id);
                }
            }
        }
    }
    let known = known_parts(t, &links, &forms).await?;
    customers.extend(known.iter().map(|(_, customer)| customer.clone()));
    let known: HashSet<(&str, &str)> = known.iter().map(|((link, id), _)| (link.as_str(), id.as_str())).collect();
    let is_known = |link: &str, id: &str| known.contains(&(link, id));
    let (mut unknown_links, mut unknown_forms): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for p in progress {
        if let Progress::Receipt { link, carrier_message_ids, .. } = p
            && !carrier_message_ids.iter().any(|id| is_known(link, id))
        {
            for id in carrier_message_ids {
                keys.push(part_key(link, id));
                unknown_links.push(link);
                unknown_forms.push(id);
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
    if !keys.is_empty() {
        let (all, zero) = ALL_PARTS_LOCK;
        if keys.len() > MAX_PART_LOCKS {
            exec(t, "SELECT pg_advisory_xact_lock($1, $2)", &[&all, &zero]).await?;
        } else {
            exec(t, "SELECT pg_advisory_xact_lock_shared($1, $2)", &[&all, &zero]).await?;
            // unnest yields the keys in array order, so they are taken in ascending order.
            exec(t, "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::INT4[]) AS k", &[&PART_LOCK, &keys]).await?;
        }
        // A submit this batch waited for may have recorded parts its receipts name.
        let appeared = known_parts(t, &unknown_links, &unknown_forms).await?;
        customers.extend(appeared.into_iter().map(|(_, customer)| customer));
    }
    if customers.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = customers.iter().map(String::as_str).collect();
    lock_customers(t, &ids).await?;
    Ok(())
}

pub(super) async fn record_progress(store: &PgStore, progress: Vec<Progress>) -> StoreResult<Vec<Recorded>> {
    let mut client = store.client().await?;
    let mut tx = Tx::begin(&mut client).await?;
    lock_batch(&tx.t, &progress).await?;
    let (attached, merged) = attach_receipts(&progress);
    let mut recorded = Vec::with_capacity(progress.len());
    for (i, p) in progress.iter().enumerate() {
        recorded.push(match p {
            _ if merged[i] => Recorded::Done,
            Progress::Submitted { customer_id, message_id, link, carrier_message_ids, at } => {
                let receipts = attached.get(&i).map_or(&[][..], Vec::as_slice);
                submitted(&mut tx, customer_id, message_id, link, carrier_message_ids, *at, receipts).await?
            }
            Progress::Failed { customer_id, message_id, link, parts, accepted, error, at } => {
                failed(&mut tx, customer_id, message_id, link.as_deref(), *parts, *accepted, error, *at).await?
            }
            Progress::Expired { customer_id, message_id, at } => {
                let price = row_opt(
                    &tx.t,
                    "SELECT price FROM messages WHERE customer_id = $1 AND id = $2",
                    &[customer_id, message_id],
                )
                .await?;
                let expired = match price {
                    Some(r) => expire(&mut tx, customer_id, message_id, r.try_get(0)?, *at).await?,
                    None => false,
                };
                if expired { Recorded::Final } else { Recorded::Ignored }
            }
            Progress::Receipt { link, carrier_message_ids, outcome, error, at } => {
                receipt(&mut tx, link, carrier_message_ids, *outcome, error.as_deref(), *at).await?
            }
        });
    }
    tx.commit(store).await?;
    Ok(recorded)
}

/// What the final UPDATE of a message returns: the [`Changed`] columns, then what settling
/// needs.
const FINAL_RETURNING: &str = "RETURNING recipient, client_ref, \
     COALESCE(callback_url, (SELECT webhook_url FROM customers WHERE customers.id = messages.customer_id)), \
     smpp_receipt, sender, created_at, substr(text, 1, 20), \
     price, charge_on, parts_total, parts_accepted, parts_delivered";

struct Settlement {
    price: i64,
    charge_on: ChargeOn,
    total: i64,
    accepted: i64,
    delivered: i64,
}

fn final_row(r: &Row) -> StoreResult<(Changed, Settlement)> {
    let at = |i: usize| CHANGED_COLUMNS + i;
    let charge_on: String = r.try_get(at(1))?;
    Ok((
        changed_row(r)?,
        Settlement {
            price: r.try_get(at(0))?,
            charge_on: if charge_on == "delivery" { ChargeOn::Delivery } else { ChargeOn::Submit },
            total: r.try_get(at(2))?,
            accepted: r.try_get(at(3))?,
            delivered: r.try_get(at(4))?,
        },
    ))
}

fn count(n: usize) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{n} parts are too many")))
}

async fn submitted(
    tx: &mut Tx<'_>,
    customer_id: &str,
    message_id: &str,
    link: &str,
    carrier_message_ids: &[String],
    at: i64,
    receipts: &[Attached<'_>],
) -> StoreResult<Recorded> {
    let parts = carrier_message_ids.len();
    // Receipts that came first, in an earlier batch, join those of this batch: when every
    // part has one, the message goes from queued to final in one write.
    let waiting: Vec<(usize, &str)> = carrier_message_ids
        .iter()
        .enumerate()
        .filter(|(part, _)| !receipts.iter().any(|r| r.part == *part))
        .map(|(part, id)| (part, id.as_str()))
        .collect();
    let mut early: Vec<(usize, PartOutcome, Option<String>, i64)> = Vec::new();
    if !waiting.is_empty() {
        let ids: Vec<&str> = waiting.iter().map(|(_, id)| *id).collect();
        let found = rows(
            &tx.t,
            "DELETE FROM early_receipts WHERE link = $1 AND carrier_message_id = ANY($2) \
             RETURNING carrier_message_id, outcome, error, received_at",
            &[&link, &ids],
        )
        .await?;
        for r in &found {
            let id: String = r.try_get(0)?;
            let outcome: String = r.try_get(1)?;
            let received_at: i64 = r.try_get(3)?;
            if let Some((part, _)) = waiting.iter().find(|(_, w)| *w == id) {
                let outcome = PartOutcome::parse(&outcome).unwrap_or(PartOutcome::Unknown);
                early.push((*part, outcome, r.try_get(2)?, received_at.max(at)));
            }
        }
        // In part order, as the SQLite backend finds them: ties of the worst outcome go to
        // the last part.
        early.sort_by_key(|(part, ..)| *part);
    }
    let all: Vec<Attached<'_>>;
    let receipts = if early.is_empty() {
        receipts
    } else {
        all = receipts
            .iter()
            .copied()
            .chain(early.iter().map(|(part, outcome, error, at)| Attached {
                part: *part,
                outcome: *outcome,
                error: error.as_deref(),
                at: *at,
            }))
            .collect();
        &all
    };
    let joined = carrier_message_ids.join(",");
    let submit_change = Change {
        carrier: Some(link),
        carrier_message_id: Some(&joined),
        ..Change::new(customer_id, message_id, MessageStatus::Submitted, at)
    };
    let worst = receipts.iter().max_by_key(|r| r.outcome.rank()).copied();
    if let Some(worst) = worst
        && parts > 0
        && receipts.len() == parts
    {
        // Every part's receipt is here: queued to final in one write.
        let delivered = receipts.iter().filter(|r| r.outcome == PartOutcome::Delivered).count();
        let status = if delivered == parts { MessageStatus::Delivered } else { worst.outcome.status() };
        let done_at = receipts.iter().map(|r| r.at).max().unwrap_or(at).max(at);
        let done_id = carrier_message_ids.get(worst.part).map_or("", String::as_str);
        let sql = format!(
            "UPDATE messages SET status = $3, link = $4, parts_total = $5, parts_accepted = $5, parts_done = $5, \
             parts_delivered = $6, worst_outcome = $7, submitted_at = $8, carrier_message_ids = $9, done_at = $10, \
             done_carrier_message_id = $11, done_error = $12, updated_at = $10 \
             WHERE customer_id = $1 AND id = $2 AND status = 'queued' {FINAL_RETURNING}"
        );
        let found = row_opt(
            &tx.t,
            &sql,
            &[
                &customer_id,
                &message_id,
                &status.as_str(),
                &link,
                &count(parts)?,
                &count(delivered)?,
                &worst.outcome.as_str(),
                &at,
                &joined,
                &done_at,
                &done_id,
                &worst.error,
            ],
        )
        .await?;
        let Some(found) = found else { return Ok(Recorded::Ignored) };
        let (changed, settlement) = final_row(&found)?;
        for (part, id) in carrier_message_ids.iter().enumerate() {
            let receipt = receipts.iter().find(|r| r.part == part);
            insert_part(&tx.t, link, id, customer_id, message_id, part, at, receipt).await?;
        }
        notify_change(&tx.t, &submit_change, &changed).await?;
        let final_change = Change {
            carrier: Some(link),
            carrier_message_id: Some(done_id),
            error: worst.error,
            ..Change::new(customer_id, message_id, status, done_at)
        };
        notify_change(&tx.t, &final_change, &changed).await?;
        settle_with(tx, customer_id, message_id, &settlement, done_at).await?;
        return Ok(Recorded::Final);
    }
    let sql = format!(
        "UPDATE messages SET status = 'submitted', link = $3, parts_total = $4, parts_accepted = $4, \
         submitted_at = $5, carrier_message_ids = $6, updated_at = $5 \
         WHERE customer_id = $1 AND id = $2 AND status = 'queued' {CHANGE_RETURNING}"
    );
    let found = row_opt(&tx.t, &sql, &[&customer_id, &message_id, &link, &count(parts)?, &at, &joined]).await?;
    let Some(found) = found else { return Ok(Recorded::Ignored) };
    notify_change(&tx.t, &submit_change, &changed_row(&found)?).await?;
    let mut result = Recorded::Done;
    for (part, id) in carrier_message_ids.iter().enumerate() {
        insert_part(&tx.t, link, id, customer_id, message_id, part, at, None).await?;
        if let Some(r) = receipts.iter().find(|r| r.part == part) {
            result = receipt(tx, link, std::slice::from_ref(id), r.outcome, r.error, r.at).await?;
        }
    }
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
async fn insert_part(
    t: &Transaction<'_>,
    link: &str,
    id: &str,
    customer_id: &str,
    message_id: &str,
    part: usize,
    at: i64,
    receipt: Option<&Attached<'_>>,
) -> StoreResult<()> {
    // A carrier that reuses an id (a restarted simulator, a wrapped counter) means the old
    // part is long settled: the new one takes its place.
    exec(
        t,
        "INSERT INTO message_parts (link, carrier_message_id, customer_id, message_id, part, submitted_at, \
         outcome, error, done_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (link, carrier_message_id) DO UPDATE SET customer_id = excluded.customer_id, \
         message_id = excluded.message_id, part = excluded.part, outcome = excluded.outcome, \
         error = excluded.error, submitted_at = excluded.submitted_at, done_at = excluded.done_at",
        &[
            &link,
            &id,
            &customer_id,
            &message_id,
            &(count(part)? + 1),
            &at,
            &receipt.map(|r| r.outcome.as_str()),
            &receipt.and_then(|r| r.error),
            &receipt.map(|r| r.at),
        ],
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn failed(
    tx: &mut Tx<'_>,
    customer_id: &str,
    message_id: &str,
    link: Option<&str>,
    parts: u32,
    accepted: u32,
    error: &str,
    at: i64,
) -> StoreResult<Recorded> {
    let sql = format!(
        "UPDATE messages SET status = 'failed', link = $3, parts_total = $4, parts_accepted = $5, updated_at = $6 \
         WHERE customer_id = $1 AND id = $2 AND status = 'queued' {FINAL_RETURNING}"
    );
    let found =
        row_opt(&tx.t, &sql, &[&customer_id, &message_id, &link, &i64::from(parts), &i64::from(accepted), &at]).await?;
    let Some(found) = found else { return Ok(Recorded::Ignored) };
    let (changed, settlement) = final_row(&found)?;
    let change =
        Change { carrier: link, error: Some(error), ..Change::new(customer_id, message_id, MessageStatus::Failed, at) };
    after_change(&tx.t, &change, &changed).await?;
    settle_with(tx, customer_id, message_id, &settlement, at).await?;
    Ok(Recorded::Final)
}

async fn receipt(
    tx: &mut Tx<'_>,
    link: &str,
    forms: &[String],
    outcome: PartOutcome,
    error: Option<&str>,
    at: i64,
) -> StoreResult<Recorded> {
    let mut part: Option<(String, String, &str)> = None;
    for form in forms {
        // `outcome IS NULL` guards the part: of two nodes applying one receipt, the second
        // finds it done and ignores it.
        let found = row_opt(
            &tx.t,
            "UPDATE message_parts SET outcome = $3, error = $4, done_at = $5 \
             WHERE link = $1 AND carrier_message_id = $2 AND outcome IS NULL RETURNING customer_id, message_id",
            &[&link, form, &outcome.as_str(), &error, &at],
        )
        .await?;
        if let Some(r) = found {
            part = Some((r.try_get(0)?, r.try_get(1)?, form.as_str()));
            break;
        }
    }
    let Some((customer_id, message_id, carrier_message_id)) = part else {
        let known = row_opt(
            &tx.t,
            "SELECT 1 FROM message_parts WHERE link = $1 AND carrier_message_id = ANY($2) LIMIT 1",
            &[&link, &forms],
        )
        .await?
        .is_some();
        if known {
            return Ok(Recorded::Ignored); // a duplicate receipt
        }
        for form in forms {
            exec(
                &tx.t,
                "INSERT INTO early_receipts (link, carrier_message_id, outcome, error, received_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (link, carrier_message_id) DO UPDATE SET \
                 outcome = excluded.outcome, error = excluded.error, received_at = excluded.received_at",
                &[&link, form, &outcome.as_str(), &error, &at],
            )
            .await?;
        }
        return Ok(Recorded::Early);
    };
    let delivered = i64::from(outcome == PartOutcome::Delivered);
    let tally = row_opt(
        &tx.t,
        "UPDATE messages SET parts_done = parts_done + 1, parts_delivered = parts_delivered + $3, updated_at = $4 \
         WHERE customer_id = $1 AND id = $2 AND status = 'submitted' \
         RETURNING parts_total, parts_done, parts_delivered, worst_outcome, done_carrier_message_id, done_error",
        &[&customer_id, &message_id, &delivered, &at],
    )
    .await?;
    let Some(tally) = tally else {
        return Ok(Recorded::Ignored); // the message is already final
    };
    // The tally's UPDATE holds the message's row until the commit: the worst outcome read
    // here is not changed by another node's receipt before it is written back.
    let total: i64 = tally.try_get(0)?;
    let done: i64 = tally.try_get(1)?;
    let delivered: i64 = tally.try_get(2)?;
    let worst: Option<String> = tally.try_get(3)?;
    let worst_id: Option<String> = tally.try_get(4)?;
    let worst_error: Option<String> = tally.try_get(5)?;
    // The final event names the part that decided the status: the worst so far.
    let (worst, worst_id, worst_error, changed_worst) = match worst.as_deref().and_then(PartOutcome::parse) {
        Some(w) if w.rank() >= outcome.rank() => (w, worst_id, worst_error, false),
        _ => (outcome, Some(carrier_message_id.to_owned()), error.map(str::to_owned), true),
    };
    if done < total {
        if changed_worst {
            exec(
                &tx.t,
                "UPDATE messages SET worst_outcome = $3, done_carrier_message_id = $4, done_error = $5 \
                 WHERE customer_id = $1 AND id = $2",
                &[&customer_id, &message_id, &worst.as_str(), &worst_id, &worst_error],
            )
            .await?;
        }
        return Ok(Recorded::Done);
    }
    let status = if delivered == total { MessageStatus::Delivered } else { worst.status() };
    // Still `submitted`: the tally above holds the row. The guard says so again.
    let sql = format!(
        "UPDATE messages SET status = $3, worst_outcome = $4, done_at = $5, done_carrier_message_id = $6, \
         done_error = $7 WHERE customer_id = $1 AND id = $2 AND status = 'submitted' {FINAL_RETURNING}"
    );
    let found =
        row(&tx.t, &sql, &[&customer_id, &message_id, &status.as_str(), &worst.as_str(), &at, &worst_id, &worst_error])
            .await?;
    let (changed, settlement) = final_row(&found)?;
    let change = Change {
        carrier: Some(link),
        carrier_message_id: worst_id.as_deref(),
        error: worst_error.as_deref(),
        ..Change::new(&customer_id, &message_id, status, at)
    };
    notify_change(&tx.t, &change, &changed).await?;
    settle_with(tx, &customer_id, &message_id, &settlement, at).await?;
    Ok(Recorded::Final)
}

/// Settles a message that has reached its final status, per the `charge_on` it was sold
/// under: `submit` refunds the parts no carrier accepted, `delivery` the parts not
/// delivered. The charge was taken whole at acceptance; this gives back the unearned share.
async fn settle_with(tx: &mut Tx<'_>, customer_id: &str, message_id: &str, s: &Settlement, at: i64) -> StoreResult<()> {
    let (earned, reason) = match s.charge_on {
        ChargeOn::Submit => (s.accepted, "not accepted by the carrier"),
        ChargeOn::Delivery => (s.delivered, "not delivered"),
    };
    let amount = if s.total <= 0 { s.price } else { s.price - s.price * earned.clamp(0, s.total) / s.total };
    refund(tx, customer_id, message_id, amount, reason, at).await
}

pub(super) async fn forget_early_receipts(store: &PgStore, older_than_ms: i64) -> StoreResult<u64> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let forgotten = exec(&tx.t, "DELETE FROM early_receipts WHERE received_at < $1", &[&older_than_ms]).await?;
    tx.commit(store).await?;
    Ok(forgotten)
}

// ---- inbound -------------------------------------------------------------------------------

fn number_row(r: &Row) -> StoreResult<CustomerNumber> {
    Ok(CustomerNumber { number: r.try_get(0)?, customer_id: r.try_get(1)?, created_at: r.try_get(2)? })
}

/// Digits only: `+86 1069-0001` and `86106900 01` are one number.
fn normalise_number(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

pub(super) async fn add_number(store: &PgStore, number: CustomerNumber) -> StoreResult<CustomerNumber> {
    let digits = normalise_number(&number.number);
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    // One statement, so that two nodes adding the number at once cannot both think it free:
    // the second finds the first's row and is told whose it is.
    exec(
        &tx.t,
        "INSERT INTO customer_numbers (number, customer_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (number) DO NOTHING",
        &[&digits, &number.customer_id, &number.created_at],
    )
    .await?;
    let stored = number_row(
        &row(&tx.t, "SELECT number, customer_id, created_at FROM customer_numbers WHERE number = $1", &[&digits])
            .await?,
    )?;
    if stored.customer_id != number.customer_id {
        return Err(StoreError::Conflict("the number belongs to another customer".into()));
    }
    tx.commit(store).await?;
    Ok(stored)
}

pub(super) async fn remove_number(store: &PgStore, customer_id: &str, number: &str) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let removed = exec(
        &tx.t,
        "DELETE FROM customer_numbers WHERE number = $1 AND customer_id = $2",
        &[&normalise_number(number), &customer_id],
    )
    .await?;
    if removed == 0 {
        return Err(StoreError::NotFound);
    }
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn list_numbers(store: &PgStore, customer_id: &str) -> StoreResult<Vec<CustomerNumber>> {
    let c = store.client().await?;
    rows(
        &c,
        "SELECT number, customer_id, created_at FROM customer_numbers WHERE customer_id = $1 ORDER BY number",
        &[&customer_id],
    )
    .await?
    .iter()
    .map(number_row)
    .collect()
}

/// The customer owning the longest number that starts `recipient` (the number itself, or
/// the number followed by an extension): every prefix in one query.
async fn owner_of(t: &Transaction<'_>, recipient: &str) -> StoreResult<Option<String>> {
    let digits = normalise_number(recipient);
    let prefixes: Vec<&str> = (1..=digits.len()).filter_map(|end| digits.get(..end)).collect();
    if prefixes.is_empty() {
        return Ok(None);
    }
    let owner = row_opt(
        t,
        "SELECT customer_id FROM customer_numbers WHERE number = ANY($1) ORDER BY length(number) DESC LIMIT 1",
        &[&prefixes],
    )
    .await?;
    Ok(match owner {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

pub(super) async fn record_inbound(store: &PgStore, inbound: NewInbound) -> StoreResult<Option<InboundMessage>> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let owner = owner_of(&tx.t, &inbound.recipient).await?;
    if let (Some(owner), Some(number)) = (&owner, &inbound.opt_out) {
        exec(
            &tx.t,
            "INSERT INTO suppressions (customer_id, number, source, reason, created_at) \
             VALUES ($1, $2, 'reply', $3, $4) ON CONFLICT (customer_id, number) DO NOTHING",
            &[owner, number, &format!("replied {:?}", inbound.text.trim()), &inbound.received_at],
        )
        .await?;
    }
    exec(
        &tx.t,
        "INSERT INTO inbound_messages (id, customer_id, sender, recipient, text, link, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&inbound.id, &owner, &inbound.sender, &inbound.recipient, &inbound.text, &inbound.link, &inbound.received_at],
    )
    .await?;
    let Some(customer_id) = owner else {
        tx.commit(store).await?;
        return Ok(None);
    };
    // An MO for a customer that has SMPP credentials goes to its binds too.
    let has_account =
        row_opt(&tx.t, "SELECT 1 FROM smpp_accounts WHERE customer_id = $1 LIMIT 1", &[&customer_id]).await?.is_some();
    if has_account {
        let event = SmppEvent::Inbound {
            inbound_id: inbound.id.clone(),
            from: inbound.sender.clone(),
            to: inbound.recipient.clone(),
            text: inbound.text.clone(),
            received_at: inbound.received_at,
        };
        enqueue_smpp(&tx.t, &customer_id, &event, inbound.received_at).await?;
    }
    let url: Option<String> =
        row(&tx.t, "SELECT webhook_url FROM customers WHERE id = $1", &[&customer_id]).await?.try_get(0)?;
    if let Some(url) = url {
        let body = serde_json::json!({
            "id": tongdao_domain::id::new_id("evt"),
            "type": "inbound.message",
            "inbound_id": inbound.id,
            "from": inbound.sender,
            "to": inbound.recipient,
            "text": inbound.text,
            "at": tongdao_domain::clock::rfc3339(inbound.received_at),
        });
        enqueue_webhook(&tx.t, &customer_id, &url, &body.to_string(), inbound.received_at).await?;
    }
    tx.commit(store).await?;
    Ok(Some(InboundMessage { customer_id, message: inbound }))
}

pub(super) async fn list_inbound(
    store: &PgStore,
    customer_id: &str,
    before: Option<String>,
    limit: u32,
) -> StoreResult<Vec<InboundMessage>> {
    let c = store.client().await?;
    let found = rows(
        &c,
        "SELECT id, sender, recipient, text, link, received_at FROM inbound_messages \
         WHERE customer_id = $1 AND ($2::TEXT IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        &[&customer_id, &before, &i64::from(limit)],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            Ok(InboundMessage {
                customer_id: customer_id.to_owned(),
                message: NewInbound {
                    id: r.try_get(0)?,
                    sender: r.try_get(1)?,
                    recipient: r.try_get(2)?,
                    text: r.try_get(3)?,
                    link: r.try_get(4)?,
                    received_at: r.try_get(5)?,
                    opt_out: None,
                },
            })
        })
        .collect()
}

// ---- webhooks ------------------------------------------------------------------------------

fn settings_row(r: &Row) -> StoreResult<WebhookSettings> {
    Ok(WebhookSettings { url: r.try_get(0)?, secret: r.try_get(1)? })
}

pub(super) async fn webhook_settings(store: &PgStore, customer_id: &str) -> StoreResult<WebhookSettings> {
    let c = store.client().await?;
    settings_row(&row(&c, "SELECT webhook_url, webhook_secret FROM customers WHERE id = $1", &[&customer_id]).await?)
}

pub(super) async fn set_webhook_url(
    store: &PgStore,
    customer_id: &str,
    url: Option<String>,
) -> StoreResult<WebhookSettings> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let settings = settings_row(
        &row(
            &tx.t,
            "UPDATE customers SET webhook_url = $2 WHERE id = $1 RETURNING webhook_url, webhook_secret",
            &[&customer_id, &url],
        )
        .await?,
    )?;
    tx.commit(store).await?;
    Ok(settings)
}

pub(super) async fn set_webhook_secret(
    store: &PgStore,
    customer_id: &str,
    secret: &str,
    only_if_unset: bool,
) -> StoreResult<WebhookSettings> {
    // One UPDATE: with `only_if_unset`, of two nodes setting a first secret at once the
    // second keeps the first's (it reads the row the first committed).
    let sql = if only_if_unset {
        "UPDATE customers SET webhook_secret = COALESCE(webhook_secret, $2) WHERE id = $1 \
         RETURNING webhook_url, webhook_secret"
    } else {
        "UPDATE customers SET webhook_secret = $2 WHERE id = $1 RETURNING webhook_url, webhook_secret"
    };
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    let settings = settings_row(&row(&tx.t, sql, &[&customer_id, &secret]).await?)?;
    tx.commit(store).await?;
    Ok(settings)
}

pub(super) async fn due_endpoints(store: &PgStore, now_ms: i64, limit: u32) -> StoreResult<Vec<DueEndpoint>> {
    let c = store.client().await?;
    let found = rows(
        &c,
        "SELECT e.customer_id, e.url, e.failures, c.webhook_secret FROM webhook_endpoints e \
         JOIN customers c ON c.id = e.customer_id \
         WHERE e.next_attempt_at <= $1 \
         AND EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.customer_id = e.customer_id AND o.url = e.url) \
         ORDER BY e.next_attempt_at LIMIT $2",
        &[&now_ms, &i64::from(limit)],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            let failures: i64 = r.try_get(2)?;
            Ok(DueEndpoint {
                customer_id: r.try_get(0)?,
                url: r.try_get(1)?,
                failures: u32::try_from(failures).map_err(|_| super::bad_column(2, "bad failures"))?,
                secret: r.try_get(3)?,
            })
        })
        .collect()
}

pub(super) async fn endpoint_events(
    store: &PgStore,
    customer_id: &str,
    url: &str,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<OutboxEvent>> {
    let c = store.client().await?;
    let found = rows(
        &c,
        "SELECT id, body, created_at FROM webhook_outbox WHERE customer_id = $1 AND url = $2 AND id > $3 \
         ORDER BY id LIMIT $4",
        &[&customer_id, &url, &after_id, &i64::from(limit)],
    )
    .await?;
    found
        .iter()
        .map(|r| Ok(OutboxEvent { id: r.try_get(0)?, body: r.try_get(1)?, created_at: r.try_get(2)? }))
        .collect()
}

pub(super) async fn webhook_delivered(
    store: &PgStore,
    customer_id: &str,
    url: &str,
    ids: Vec<i64>,
    at_ms: i64,
) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    // The ids are a run of this endpoint's events in id order (see `endpoint_events`), so
    // one range delete on the endpoint's index removes exactly them.
    if let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) {
        exec(
            &tx.t,
            "DELETE FROM webhook_outbox WHERE customer_id = $1 AND url = $2 AND id >= $3 AND id <= $4",
            &[&customer_id, &url, first, last],
        )
        .await?;
    }
    exec(
        &tx.t,
        "UPDATE webhook_endpoints SET failures = 0, last_error = NULL WHERE customer_id = $1 AND url = $2 AND failures > 0",
        &[&customer_id, &url],
    )
    .await?;
    let events = i32::try_from(ids.len()).unwrap_or(i32::MAX);
    log_delivery(&tx.t, customer_id, url, at_ms, events, None).await?;
    tx.commit(store).await?;
    Ok(())
}

pub(super) async fn webhook_failed(
    store: &PgStore,
    customer_id: &str,
    url: &str,
    next_attempt_at: i64,
    error: &str,
    give_up_before_ms: i64,
    at_ms: i64,
) -> StoreResult<u64> {
    let mut client = store.client().await?;
    let tx = Tx::begin(&mut client).await?;
    exec(
        &tx.t,
        "UPDATE webhook_endpoints SET failures = failures + 1, next_attempt_at = $3, last_error = $4 \
         WHERE customer_id = $1 AND url = $2",
        &[&customer_id, &url, &next_attempt_at, &error],
    )
    .await?;
    // What was waiting for the endpoint when it failed (on its index: one range count).
    let waiting: i64 = row(
        &tx.t,
        "SELECT COUNT(*) FROM (SELECT 1 FROM webhook_outbox WHERE customer_id = $1 AND url = $2 LIMIT 100000) w",
        &[&customer_id, &url],
    )
    .await?
    .try_get(0)?;
    let dropped = exec(
        &tx.t,
        "DELETE FROM webhook_outbox WHERE customer_id = $1 AND url = $2 AND created_at < $3",
        &[&customer_id, &url, &give_up_before_ms],
    )
    .await?;
    let events = i32::try_from(waiting).unwrap_or(i32::MAX);
    log_delivery(&tx.t, customer_id, url, at_ms, events, Some(&delivery_error(error))).await?;
    tx.commit(store).await?;
    Ok(dropped)
}

/// Logs one attempt and forgets the customer's attempts older than its newest
/// `WEBHOOK_DELIVERIES_KEPT`.
async fn log_delivery(
    t: &Transaction<'_>,
    customer_id: &str,
    url: &str,
    at_ms: i64,
    events: i32,
    error: Option<&str>,
) -> StoreResult<()> {
    exec(
        t,
        "INSERT INTO webhook_deliveries (customer_id, url, at, events, error) VALUES ($1, $2, $3, $4, $5)",
        &[&customer_id, &url, &at_ms, &events, &error],
    )
    .await?;
    // No row at that offset (fewer kept): `id <= NULL` deletes nothing.
    exec(
        t,
        "DELETE FROM webhook_deliveries WHERE customer_id = $1 AND id <= \
         (SELECT id FROM webhook_deliveries WHERE customer_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        &[&customer_id, &i64::from(WEBHOOK_DELIVERIES_KEPT)],
    )
    .await?;
    Ok(())
}

pub(super) async fn webhook_deliveries(
    store: &PgStore,
    customer_id: &str,
    limit: u32,
) -> StoreResult<Vec<WebhookDelivery>> {
    let c = store.client().await?;
    let found = rows(
        &c,
        "SELECT at, url, events, error FROM webhook_deliveries WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
        &[&customer_id, &i64::from(limit)],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            let events: i32 = r.try_get(2)?;
            Ok(WebhookDelivery {
                at: r.try_get(0)?,
                url: r.try_get(1)?,
                events: u32::try_from(events).map_err(|_| super::bad_column(2, "bad events"))?,
                error: r.try_get(3)?,
            })
        })
        .collect()
}

pub(super) async fn outbox_depth(store: &PgStore) -> StoreResult<u64> {
    let c = store.client().await?;
    let depth: i64 = row(&c, "SELECT COUNT(*) FROM webhook_outbox", &[]).await?.try_get(0)?;
    u64::try_from(depth).map_err(|_| super::bad_column(0, "bad count"))
}

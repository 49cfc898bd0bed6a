//! The carrier side's transactions: the dispatch queue, submits and receipts with their
//! settlement, inbound messages, and the webhook outbox.

use rusqlite::{Connection, OptionalExtension, Row, params};
use tongdao_domain::agreement::ChargeOn;
use tongdao_domain::{ConcatPart, MessageStatus};

use std::collections::HashMap;

use super::{
    CHANGE_RETURNING, CHANGED_COLUMNS, Change, Changed, after_change, changed_row, expire, notify_change, refund,
};
use crate::model::*;
use crate::{StoreError, StoreResult};

const DISPATCH_MARK: &str = "dispatch";

pub(super) fn dispatch_mark(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM marks WHERE name = ?1")?
        .query_row([DISPATCH_MARK], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

pub(super) fn mark_dispatched(
    conn: &Connection,
    after_seq: i64,
    queue_seq: i64,
    read: usize,
) -> StoreResult<Option<Vec<String>>> {
    conn.prepare_cached(
        "INSERT INTO marks (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)",
    )?
    .execute(params![DISPATCH_MARK, queue_seq])?;
    // Cancelling and expiring a queued message both require it to be past the mark, so from
    // here on none of this range changes under the dispatcher; what changed before is seen now.
    let queued: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM messages WHERE status = 'queued' AND queue_seq > ?1 AND queue_seq <= ?2")?
        .query_row([after_seq, queue_seq], |r| r.get(0))?;
    if queued as usize >= read {
        return Ok(None);
    }
    let ids = conn
        .prepare_cached("SELECT id FROM messages WHERE status = 'queued' AND queue_seq > ?1 AND queue_seq <= ?2")?
        .query_map([after_seq, queue_seq], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(ids))
}

pub(super) fn queued_after(
    conn: &Connection,
    after_seq: i64,
    limit: u32,
    mark_at_open: i64,
) -> StoreResult<Vec<QueuedMessage>> {
    let mut statement = conn.prepare_cached(
        "SELECT queue_seq, id, customer_id, recipient, carrier, sender, text, valid_until, concat_ref, concat_total, \
         concat_seq FROM messages \
         WHERE status = 'queued' AND queue_seq > ?1 ORDER BY queue_seq LIMIT ?2",
    )?;
    let rows = statement.query_map(params![after_seq, limit], |r| {
        let queue_seq: i64 = r.get(0)?;
        Ok(QueuedMessage {
            queue_seq,
            id: r.get(1)?,
            customer_id: r.get(2)?,
            recipient: r.get(3)?,
            carrier: r.get(4)?,
            sender: r.get(5)?,
            text: r.get(6)?,
            valid_until: r.get(7)?,
            maybe_sent: queue_seq <= mark_at_open,
            concat: concat_part(r.get(8)?, r.get(9)?, r.get(10)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn concat_part(reference: Option<i64>, total: Option<i64>, seq: Option<i64>) -> Option<ConcatPart> {
    Some(ConcatPart {
        reference: u16::try_from(reference?).ok()?,
        total: u8::try_from(total?).ok()?,
        seq: u8::try_from(seq?).ok()?,
    })
}

/// A receipt applied together with the submit of its part (both in one batch).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attached<'a> {
    pub part: usize,
    pub outcome: PartOutcome,
    pub error: Option<&'a str>,
    pub at: i64,
}

/// Receipts a batch holds together with the submit of their part (by the submit's index),
/// and which of the batch's items were so merged (one change, queued straight to final):
/// with instant receipts a part's submit and its receipt usually arrive in the same batch.
pub(crate) type Merged<'a> = (HashMap<usize, Vec<Attached<'a>>>, Vec<bool>);

/// See [`Merged`]; the same for both backends.
pub(crate) fn attach_receipts(progress: &[Progress]) -> Merged<'_> {
    let mut parts: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    for (i, p) in progress.iter().enumerate() {
        if let Progress::Submitted { link, carrier_message_ids, .. } = p {
            for (part, id) in carrier_message_ids.iter().enumerate() {
                parts.insert((link.as_str(), id.as_str()), (i, part));
            }
        }
    }
    let mut attached: HashMap<usize, Vec<Attached<'_>>> = HashMap::new();
    let mut merged = vec![false; progress.len()];
    if !parts.is_empty() {
        for (j, p) in progress.iter().enumerate() {
            if let Progress::Receipt { link, carrier_message_ids, outcome, error, at } = p
                && let Some(&(i, part)) =
                    carrier_message_ids.iter().find_map(|id| parts.get(&(link.as_str(), id.as_str())))
            {
                let list = attached.entry(i).or_default();
                if !list.iter().any(|a| a.part == part) {
                    list.push(Attached { part, outcome: *outcome, error: error.as_deref(), at: *at });
                    merged[j] = true;
                }
            }
        }
    }
    (attached, merged)
}

pub(super) fn record_progress(conn: &Connection, progress: &[Progress]) -> StoreResult<Vec<Recorded>> {
    let (attached, merged) = attach_receipts(progress);
    let mut recorded = Vec::with_capacity(progress.len());
    for (i, p) in progress.iter().enumerate() {
        recorded.push(match p {
            _ if merged[i] => Recorded::Done,
            Progress::Submitted { customer_id, message_id, link, carrier_message_ids, at } => {
                let receipts = attached.get(&i).map_or(&[][..], Vec::as_slice);
                submitted(conn, customer_id, message_id, link, carrier_message_ids, *at, receipts)?
            }
            Progress::Failed { customer_id, message_id, link, parts, accepted, error, at } => {
                failed(conn, customer_id, message_id, link.as_deref(), *parts, *accepted, error, *at)?
            }
            Progress::Expired { customer_id, message_id, at } => {
                let price: Option<i64> = conn
                    .prepare_cached("SELECT price FROM messages WHERE customer_id = ?1 AND id = ?2")?
                    .query_row([customer_id, message_id], |r| r.get(0))
                    .optional()?;
                match price {
                    Some(price) if expire(conn, customer_id, message_id, price, *at)? => Recorded::Final,
                    _ => Recorded::Ignored,
                }
            }
            Progress::Receipt { link, carrier_message_ids, outcome, error, at } => {
                receipt(conn, link, carrier_message_ids, *outcome, error.as_deref(), *at)?
            }
        });
    }
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

fn final_row(r: &Row<'_>) -> rusqlite::Result<(Changed, Settlement)> {
    let at = |i: usize| CHANGED_COLUMNS + i;
    let charge_on: String = r.get(at(1))?;
    Ok((
        changed_row(r)?,
        Settlement {
            price: r.get(at(0))?,
            charge_on: if charge_on == "delivery" { ChargeOn::Delivery } else { ChargeOn::Submit },
            total: r.get(at(2))?,
            accepted: r.get(at(3))?,
            delivered: r.get(at(4))?,
        },
    ))
}

fn submitted(
    conn: &Connection,
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
    let mut early = Vec::new();
    for (part, id) in carrier_message_ids.iter().enumerate() {
        if receipts.iter().any(|r| r.part == part) {
            continue;
        }
        let found = conn
            .prepare_cached(
                "DELETE FROM early_receipts WHERE link = ?1 AND carrier_message_id = ?2 \
                 RETURNING outcome, error, received_at",
            )?
            .query_row(params![link, id], |r| {
                let outcome: String = r.get(0)?;
                let error: Option<String> = r.get(1)?;
                let received_at: i64 = r.get(2)?;
                Ok((part, PartOutcome::parse(&outcome).unwrap_or(PartOutcome::Unknown), error, received_at.max(at)))
            })
            .optional()?;
        early.extend(found);
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
    if parts > 0 && receipts.len() == parts {
        // Every part's receipt is here: queued to final in one write.
        let delivered = receipts.iter().filter(|r| r.outcome == PartOutcome::Delivered).count();
        let worst = receipts.iter().max_by_key(|r| r.outcome.rank()).copied().unwrap_or(receipts[0]);
        let status = if delivered == parts { MessageStatus::Delivered } else { worst.outcome.status() };
        let done_at = receipts.iter().map(|r| r.at).max().unwrap_or(at).max(at);
        let done_id = carrier_message_ids.get(worst.part).map_or("", String::as_str);
        let sql = format!(
            "UPDATE messages SET status = ?3, link = ?4, parts_total = ?5, parts_accepted = ?5, parts_done = ?5, \
             parts_delivered = ?6, worst_outcome = ?7, submitted_at = ?8, carrier_message_ids = ?9, done_at = ?10, \
             done_carrier_message_id = ?11, done_error = ?12, updated_at = ?10 \
             WHERE customer_id = ?1 AND id = ?2 AND status = 'queued' {FINAL_RETURNING}"
        );
        let row = conn
            .prepare_cached(&sql)?
            .query_row(
                params![
                    customer_id,
                    message_id,
                    status.as_str(),
                    link,
                    parts as i64,
                    delivered as i64,
                    worst.outcome.as_str(),
                    at,
                    joined,
                    done_at,
                    done_id,
                    worst.error
                ],
                final_row,
            )
            .optional()?;
        let Some((changed, settlement)) = row else { return Ok(Recorded::Ignored) };
        for (part, id) in carrier_message_ids.iter().enumerate() {
            let receipt = receipts.iter().find(|r| r.part == part);
            insert_part(conn, link, id, customer_id, message_id, part, at, receipt)?;
        }
        notify_change(conn, &submit_change, &changed)?;
        let final_change = Change {
            carrier: Some(link),
            carrier_message_id: Some(done_id),
            error: worst.error,
            ..Change::new(customer_id, message_id, status, done_at)
        };
        notify_change(conn, &final_change, &changed)?;
        settle_with(conn, customer_id, message_id, &settlement, done_at)?;
        return Ok(Recorded::Final);
    }
    let sql = format!(
        "UPDATE messages SET status = 'submitted', link = ?3, parts_total = ?4, parts_accepted = ?4, \
         submitted_at = ?5, carrier_message_ids = ?6, updated_at = ?5 \
         WHERE customer_id = ?1 AND id = ?2 AND status = 'queued' {CHANGE_RETURNING}"
    );
    let Some(changed) = conn
        .prepare_cached(&sql)?
        .query_row(params![customer_id, message_id, link, parts as i64, at, joined], changed_row)
        .optional()?
    else {
        return Ok(Recorded::Ignored);
    };
    notify_change(conn, &submit_change, &changed)?;
    let mut result = Recorded::Done;
    for (part, id) in carrier_message_ids.iter().enumerate() {
        insert_part(conn, link, id, customer_id, message_id, part, at, None)?;
        if let Some(r) = receipts.iter().find(|r| r.part == part) {
            result = receipt(conn, link, std::slice::from_ref(id), r.outcome, r.error, r.at)?;
        }
    }
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn insert_part(
    conn: &Connection,
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
    conn.prepare_cached(
        "INSERT INTO message_parts (link, carrier_message_id, customer_id, message_id, part, submitted_at, \
         outcome, error, done_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (link, carrier_message_id) DO UPDATE SET customer_id = excluded.customer_id, \
         message_id = excluded.message_id, part = excluded.part, outcome = excluded.outcome, \
         error = excluded.error, submitted_at = excluded.submitted_at, done_at = excluded.done_at",
    )?
    .execute(params![
        link,
        id,
        customer_id,
        message_id,
        part as i64 + 1,
        at,
        receipt.map(|r| r.outcome.as_str()),
        receipt.and_then(|r| r.error),
        receipt.map(|r| r.at),
    ])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn failed(
    conn: &Connection,
    customer_id: &str,
    message_id: &str,
    link: Option<&str>,
    parts: u32,
    accepted: u32,
    error: &str,
    at: i64,
) -> StoreResult<Recorded> {
    let sql = format!(
        "UPDATE messages SET status = 'failed', link = ?3, parts_total = ?4, parts_accepted = ?5, updated_at = ?6 \
         WHERE customer_id = ?1 AND id = ?2 AND status = 'queued' {FINAL_RETURNING}"
    );
    let Some((changed, settlement)) = conn
        .prepare_cached(&sql)?
        .query_row(params![customer_id, message_id, link, parts, accepted, at], final_row)
        .optional()?
    else {
        return Ok(Recorded::Ignored);
    };
    let change =
        Change { carrier: link, error: Some(error), ..Change::new(customer_id, message_id, MessageStatus::Failed, at) };
    after_change(conn, &change, &changed)?;
    settle_with(conn, customer_id, message_id, &settlement, at)?;
    Ok(Recorded::Final)
}

fn receipt(
    conn: &Connection,
    link: &str,
    forms: &[String],
    outcome: PartOutcome,
    error: Option<&str>,
    at: i64,
) -> StoreResult<Recorded> {
    let mut part: Option<(String, String, &str)> = None;
    for form in forms {
        part = conn
            .prepare_cached(
                "UPDATE message_parts SET outcome = ?3, error = ?4, done_at = ?5 \
                 WHERE link = ?1 AND carrier_message_id = ?2 AND outcome IS NULL RETURNING customer_id, message_id",
            )?
            .query_row(params![link, form, outcome.as_str(), error, at], |r| Ok((r.get(0)?, r.get(1)?, form.as_str())))
            .optional()?;
        if part.is_some() {
            break;
        }
    }
    let Some((customer_id, message_id, carrier_message_id)) = part else {
        for form in forms {
            let known = conn
                .prepare_cached("SELECT 1 FROM message_parts WHERE link = ?1 AND carrier_message_id = ?2")?
                .query_row(params![link, form], |_| Ok(()))
                .optional()?
                .is_some();
            if known {
                return Ok(Recorded::Ignored); // a duplicate receipt
            }
        }
        for form in forms {
            conn.prepare_cached(
                "INSERT INTO early_receipts (link, carrier_message_id, outcome, error, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (link, carrier_message_id) DO UPDATE SET \
                 outcome = excluded.outcome, error = excluded.error, received_at = excluded.received_at",
            )?
            .execute(params![link, form, outcome.as_str(), error, at])?;
        }
        return Ok(Recorded::Early);
    };
    let delivered = i64::from(outcome == PartOutcome::Delivered);
    type Tally = (i64, i64, i64, Option<String>, Option<String>, Option<String>);
    let tally: Option<Tally> = conn
        .prepare_cached(
            "UPDATE messages SET parts_done = parts_done + 1, parts_delivered = parts_delivered + ?3, updated_at = ?4 \
             WHERE customer_id = ?1 AND id = ?2 AND status = 'submitted' \
             RETURNING parts_total, parts_done, parts_delivered, worst_outcome, done_carrier_message_id, done_error",
        )?
        .query_row(params![customer_id, message_id, delivered, at], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    let Some((total, done, delivered, worst, worst_id, worst_error)) = tally else {
        return Ok(Recorded::Ignored); // the message is already final
    };
    // The final event names the part that decided the status: the worst so far.
    let (worst, worst_id, worst_error, changed_worst) = match worst.as_deref().and_then(PartOutcome::parse) {
        Some(w) if w.rank() >= outcome.rank() => (w, worst_id, worst_error, false),
        _ => (outcome, Some(carrier_message_id.to_owned()), error.map(str::to_owned), true),
    };
    if done < total {
        if changed_worst {
            conn.prepare_cached(
                "UPDATE messages SET worst_outcome = ?3, done_carrier_message_id = ?4, done_error = ?5 \
                 WHERE customer_id = ?1 AND id = ?2",
            )?
            .execute(params![customer_id, message_id, worst.as_str(), worst_id, worst_error])?;
        }
        return Ok(Recorded::Done);
    }
    let status = if delivered == total { MessageStatus::Delivered } else { worst.status() };
    let sql = format!(
        "UPDATE messages SET status = ?3, worst_outcome = ?4, done_at = ?5, done_carrier_message_id = ?6, \
         done_error = ?7 WHERE customer_id = ?1 AND id = ?2 {FINAL_RETURNING}"
    );
    let (changed, settlement) = conn.prepare_cached(&sql)?.query_row(
        params![customer_id, message_id, status.as_str(), worst.as_str(), at, worst_id, worst_error],
        final_row,
    )?;
    let change = Change {
        carrier: Some(link),
        carrier_message_id: worst_id.as_deref(),
        error: worst_error.as_deref(),
        ..Change::new(&customer_id, &message_id, status, at)
    };
    notify_change(conn, &change, &changed)?;
    settle_with(conn, &customer_id, &message_id, &settlement, at)?;
    Ok(Recorded::Final)
}

/// Settles a message that has reached its final status, per the `charge_on` it was sold
/// under: `submit` refunds the parts no carrier accepted, `delivery` the parts not
/// delivered. The charge was taken whole at acceptance; this gives back the unearned share.
fn settle_with(conn: &Connection, customer_id: &str, message_id: &str, s: &Settlement, at: i64) -> StoreResult<()> {
    let (earned, reason) = match s.charge_on {
        ChargeOn::Submit => (s.accepted, "not accepted by the carrier"),
        ChargeOn::Delivery => (s.delivered, "not delivered"),
    };
    let amount = if s.total <= 0 { s.price } else { s.price - s.price * earned.clamp(0, s.total) / s.total };
    refund(conn, customer_id, message_id, amount, reason, at)
}

pub(super) fn forget_early_receipts(conn: &Connection, older_than_ms: i64) -> StoreResult<u64> {
    Ok(conn.prepare_cached("DELETE FROM early_receipts WHERE received_at < ?1")?.execute([older_than_ms])? as u64)
}

// ---- inbound -------------------------------------------------------------------------------

fn number_row(r: &Row<'_>) -> rusqlite::Result<CustomerNumber> {
    Ok(CustomerNumber { number: r.get(0)?, customer_id: r.get(1)?, created_at: r.get(2)? })
}

/// Digits only: `+86 1069-0001` and `86106900 01` are one number.
pub(crate) fn normalise_number(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

pub(super) fn add_number(conn: &Connection, number: &CustomerNumber) -> StoreResult<CustomerNumber> {
    let digits = normalise_number(&number.number);
    let owner: Option<String> = conn
        .prepare_cached("SELECT customer_id FROM customer_numbers WHERE number = ?1")?
        .query_row([&digits], |r| r.get(0))
        .optional()?;
    match owner {
        Some(owner) if owner == number.customer_id => {}
        Some(_) => return Err(StoreError::Conflict("the number belongs to another customer".into())),
        None => {
            conn.prepare_cached("INSERT INTO customer_numbers (number, customer_id, created_at) VALUES (?1, ?2, ?3)")?
                .execute(params![digits, number.customer_id, number.created_at])?;
        }
    }
    Ok(conn
        .prepare_cached("SELECT number, customer_id, created_at FROM customer_numbers WHERE number = ?1")?
        .query_row([&digits], number_row)?)
}

pub(super) fn remove_number(conn: &Connection, customer_id: &str, number: &str) -> StoreResult<()> {
    let removed = conn
        .prepare_cached("DELETE FROM customer_numbers WHERE number = ?1 AND customer_id = ?2")?
        .execute([normalise_number(number), customer_id.to_owned()])?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) fn list_numbers(conn: &Connection, customer_id: &str) -> StoreResult<Vec<CustomerNumber>> {
    let mut statement = conn.prepare_cached(
        "SELECT number, customer_id, created_at FROM customer_numbers WHERE customer_id = ?1 ORDER BY number",
    )?;
    Ok(statement.query_map([customer_id], number_row)?.collect::<Result<_, _>>()?)
}

/// The customer owning the longest number that starts `recipient` (the number itself, or
/// the number followed by an extension).
fn owner_of(conn: &Connection, recipient: &str) -> StoreResult<Option<String>> {
    let digits = normalise_number(recipient);
    let mut lookup = conn.prepare_cached("SELECT customer_id FROM customer_numbers WHERE number = ?1")?;
    for end in (1..=digits.len()).rev() {
        if let Some(owner) = lookup.query_row([&digits[..end]], |r| r.get::<_, String>(0)).optional()? {
            return Ok(Some(owner));
        }
    }
    Ok(None)
}

pub(super) fn record_inbound(conn: &Connection, inbound: &NewInbound) -> StoreResult<Option<InboundMessage>> {
    let owner = owner_of(conn, &inbound.recipient)?;
    if let (Some(owner), Some(number)) = (&owner, &inbound.opt_out) {
        conn.prepare_cached(
            "INSERT INTO suppressions (customer_id, number, source, reason, created_at) \
             VALUES (?1, ?2, 'reply', ?3, ?4) ON CONFLICT (customer_id, number) DO NOTHING",
        )?
        .execute(params![owner, number, format!("replied {:?}", inbound.text.trim()), inbound.received_at])?;
    }
    conn.prepare_cached(
        "INSERT INTO inbound_messages (id, customer_id, sender, recipient, text, link, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        inbound.id,
        owner,
        inbound.sender,
        inbound.recipient,
        inbound.text,
        inbound.link,
        inbound.received_at
    ])?;
    let Some(customer_id) = owner else { return Ok(None) };
    super::smpp::enqueue_inbound(conn, &customer_id, inbound)?;
    let url: Option<String> = conn
        .prepare_cached("SELECT webhook_url FROM customers WHERE id = ?1")?
        .query_row([&customer_id], |r| r.get(0))?;
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
        enqueue_webhook(conn, &customer_id, &url, &body.to_string(), inbound.received_at)?;
    }
    Ok(Some(InboundMessage { customer_id, message: inbound.clone() }))
}

pub(super) fn list_inbound(
    conn: &Connection,
    customer_id: &str,
    before: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<InboundMessage>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, sender, recipient, text, link, received_at FROM inbound_messages \
         WHERE customer_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = statement.query_map(params![customer_id, before, limit], |r| {
        Ok(InboundMessage {
            customer_id: customer_id.to_owned(),
            message: NewInbound {
                id: r.get(0)?,
                sender: r.get(1)?,
                recipient: r.get(2)?,
                text: r.get(3)?,
                link: r.get(4)?,
                received_at: r.get(5)?,
                opt_out: None,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- webhooks ------------------------------------------------------------------------------

pub(super) fn enqueue_webhook(conn: &Connection, customer_id: &str, url: &str, body: &str, at: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_endpoints (customer_id, url, next_attempt_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (customer_id, url) DO NOTHING",
    )?
    .execute(params![customer_id, url, at])?;
    conn.prepare_cached("INSERT INTO webhook_outbox (customer_id, url, body, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![customer_id, url, body, at])?;
    Ok(())
}

pub(super) fn webhook_settings(conn: &Connection, customer_id: &str) -> StoreResult<WebhookSettings> {
    conn.prepare_cached("SELECT webhook_url, webhook_secret FROM customers WHERE id = ?1")?
        .query_row([customer_id], |r| Ok(WebhookSettings { url: r.get(0)?, secret: r.get(1)? }))
        .optional()?
        .ok_or(StoreError::NotFound)
}

pub(super) fn set_webhook_url(conn: &Connection, customer_id: &str, url: Option<&str>) -> StoreResult<WebhookSettings> {
    webhook_settings(conn, customer_id)?;
    conn.prepare_cached("UPDATE customers SET webhook_url = ?2 WHERE id = ?1")?.execute(params![customer_id, url])?;
    webhook_settings(conn, customer_id)
}

pub(super) fn set_webhook_secret(
    conn: &Connection,
    customer_id: &str,
    secret: &str,
    only_if_unset: bool,
) -> StoreResult<WebhookSettings> {
    let current = webhook_settings(conn, customer_id)?;
    if !(only_if_unset && current.secret.is_some()) {
        conn.prepare_cached("UPDATE customers SET webhook_secret = ?2 WHERE id = ?1")?
            .execute(params![customer_id, secret])?;
    }
    webhook_settings(conn, customer_id)
}

pub(super) fn due_endpoints(conn: &Connection, now_ms: i64, limit: u32) -> StoreResult<Vec<DueEndpoint>> {
    let mut statement = conn.prepare_cached(
        "SELECT e.customer_id, e.url, e.failures, c.webhook_secret FROM webhook_endpoints e \
         JOIN customers c ON c.id = e.customer_id \
         WHERE e.next_attempt_at <= ?1 \
         AND EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.customer_id = e.customer_id AND o.url = e.url) \
         ORDER BY e.next_attempt_at LIMIT ?2",
    )?;
    let rows = statement.query_map(params![now_ms, limit], |r| {
        Ok(DueEndpoint { customer_id: r.get(0)?, url: r.get(1)?, failures: r.get(2)?, secret: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn endpoint_events(
    conn: &Connection,
    customer_id: &str,
    url: &str,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<OutboxEvent>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, body, created_at FROM webhook_outbox WHERE customer_id = ?1 AND url = ?2 AND id > ?3 \
         ORDER BY id LIMIT ?4",
    )?;
    let rows = statement.query_map(params![customer_id, url, after_id, limit], |r| {
        Ok(OutboxEvent { id: r.get(0)?, body: r.get(1)?, created_at: r.get(2)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn webhook_delivered(
    conn: &Connection,
    customer_id: &str,
    url: &str,
    ids: &[i64],
    at_ms: i64,
) -> StoreResult<()> {
    // The ids are a run of this endpoint's events in id order (see `endpoint_events`), so
    // one range delete on the endpoint's index removes exactly them.
    if let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) {
        conn.prepare_cached(
            "DELETE FROM webhook_outbox WHERE customer_id = ?1 AND url = ?2 AND id >= ?3 AND id <= ?4",
        )?
        .execute(params![customer_id, url, first, last])?;
    }
    conn.prepare_cached(
        "UPDATE webhook_endpoints SET failures = 0, last_error = NULL WHERE customer_id = ?1 AND url = ?2 AND failures > 0",
    )?
    .execute(params![customer_id, url])?;
    let events = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    log_delivery(conn, customer_id, url, at_ms, events, None)
}

pub(super) fn webhook_failed(
    conn: &Connection,
    customer_id: &str,
    url: &str,
    next_attempt_at: i64,
    error: &str,
    give_up_before_ms: i64,
    at_ms: i64,
) -> StoreResult<u64> {
    conn.prepare_cached(
        "UPDATE webhook_endpoints SET failures = failures + 1, next_attempt_at = ?3, last_error = ?4 \
         WHERE customer_id = ?1 AND url = ?2",
    )?
    .execute(params![customer_id, url, next_attempt_at, error])?;
    // What was waiting for the endpoint when it failed (on its index, counted up to 100,000:
    // a long-dead endpoint costs a bounded scan).
    let waiting: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM webhook_outbox WHERE customer_id = ?1 AND url = ?2 LIMIT 100000)",
        )?
        .query_row(params![customer_id, url], |r| r.get(0))?;
    let dropped = conn
        .prepare_cached("DELETE FROM webhook_outbox WHERE customer_id = ?1 AND url = ?2 AND created_at < ?3")?
        .execute(params![customer_id, url, give_up_before_ms])?;
    let events = u32::try_from(waiting).unwrap_or(u32::MAX);
    log_delivery(conn, customer_id, url, at_ms, events, Some(&delivery_error(error)))?;
    Ok(dropped as u64)
}

/// Logs one attempt and forgets the customer's attempts older than its newest
/// `WEBHOOK_DELIVERIES_KEPT`.
fn log_delivery(
    conn: &Connection,
    customer_id: &str,
    url: &str,
    at_ms: i64,
    events: u32,
    error: Option<&str>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (customer_id, url, at, events, error) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![customer_id, url, at_ms, events, error])?;
    // No row at that offset (fewer kept): `id <= NULL` deletes nothing.
    conn.prepare_cached(
        "DELETE FROM webhook_deliveries WHERE customer_id = ?1 AND id <= \
         (SELECT id FROM webhook_deliveries WHERE customer_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![customer_id, WEBHOOK_DELIVERIES_KEPT])?;
    Ok(())
}

pub(super) fn webhook_deliveries(
    conn: &Connection,
    customer_id: &str,
    limit: u32,
) -> StoreResult<Vec<WebhookDelivery>> {
    let mut statement = conn.prepare_cached(
        "SELECT at, url, events, error FROM webhook_deliveries WHERE customer_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = statement.query_map(params![customer_id, limit], |r| {
        Ok(WebhookDelivery { at: r.get(0)?, url: r.get(1)?, events: r.get(2)?, error: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn outbox_depth(conn: &Connection) -> StoreResult<u64> {
    Ok(conn.prepare_cached("SELECT COUNT(*) FROM webhook_outbox")?.query_row([], |r| r.get::<_, i64>(0))? as u64)
}

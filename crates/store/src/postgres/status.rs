//! Message status changes on PostgreSQL, shared by every module that moves a message: the
//! UPDATE guarded by the statuses it may leave, its event row, its webhook event and SMPP
//! receipt, and refunds. The SQLite backend's `Change` family, statement for statement.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tongdao_domain::{MessageStatus, Money, ReceiptRequest};

use super::ledger::{LedgerRow, lock_balance, set_balance};
use super::{Tx, bad_column, exec, row, row_opt};
use crate::model::*;
use crate::{StoreError, StoreResult};

/// One status change of a message, with what the carrier said about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change<'a> {
    pub customer_id: &'a str,
    pub message_id: &'a str,
    pub status: MessageStatus,
    pub at: i64,
    pub carrier: Option<&'a str>,
    pub carrier_message_id: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl<'a> Change<'a> {
    pub fn new(customer_id: &'a str, message_id: &'a str, status: MessageStatus, at: i64) -> Change<'a> {
        Change { customer_id, message_id, status, at, carrier: None, carrier_message_id: None, error: None }
    }
}

/// What every status UPDATE returns for [`after_change`]: the recipient, the client's
/// reference, and the URL the change is reported to (the message's, else the customer's).
pub(crate) const CHANGE_RETURNING: &str = "RETURNING recipient, client_ref, \
     COALESCE(callback_url, (SELECT webhook_url FROM customers WHERE customers.id = messages.customer_id)), \
     smpp_receipt, sender, created_at, substr(text, 1, 20)";

/// The columns [`CHANGE_RETURNING`] names, in order.
pub(crate) const CHANGED_COLUMNS: usize = 7;

#[derive(Debug, Clone)]
pub(crate) struct Changed {
    pub recipient: String,
    pub client_ref: Option<String>,
    pub url: Option<String>,
    /// For an SMPP receipt: what was asked, the sender, when accepted, the text's start.
    pub receipt: ReceiptRequest,
    pub sender: Option<String>,
    pub created_at: i64,
    pub text_start: String,
}

pub(crate) fn changed_row(r: &Row) -> StoreResult<Changed> {
    let receipt: i64 = r.try_get(3)?;
    Ok(Changed {
        recipient: r.try_get(0)?,
        client_ref: r.try_get(1)?,
        url: r.try_get(2)?,
        receipt: ReceiptRequest::from_u8(u8::try_from(receipt).unwrap_or_default()),
        sender: r.try_get(4)?,
        created_at: r.try_get(5)?,
        text_start: r.try_get(6)?,
    })
}

/// Sets a message's status; `Ok(false)` if it is not in `from` (nothing written).
pub(crate) async fn change_status(
    t: &Transaction<'_>,
    change: &Change<'_>,
    from: &[MessageStatus],
) -> StoreResult<bool> {
    let guard = from.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "UPDATE messages SET status = $3, updated_at = $4 WHERE customer_id = $1 AND id = $2 AND status IN ({guard}) \
         {CHANGE_RETURNING}"
    );
    let changed =
        row_opt(t, &sql, &[&change.customer_id, &change.message_id, &change.status.as_str(), &change.at]).await?;
    match changed {
        Some(r) => {
            after_change(t, change, &changed_row(&r)?).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The event row and the webhook event of a status change already written to `messages`.
pub(crate) async fn after_change(t: &Transaction<'_>, change: &Change<'_>, changed: &Changed) -> StoreResult<()> {
    record_event(t, change).await?;
    notify_change(t, change, changed).await
}

pub(crate) async fn record_event(t: &Transaction<'_>, change: &Change<'_>) -> StoreResult<()> {
    exec(
        t,
        "INSERT INTO message_events (message_id, seq, status, at, carrier, carrier_message_id, error) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6 FROM message_events WHERE message_id = $1",
        &[
            &change.message_id,
            &change.status.as_str(),
            &change.at,
            &change.carrier,
            &change.carrier_message_id,
            &change.error,
        ],
    )
    .await?;
    Ok(())
}

/// The webhook event of a status change, when the message or its customer has a URL, and the
/// SMPP receipt, when its sender asked for one.
pub(crate) async fn notify_change(t: &Transaction<'_>, change: &Change<'_>, changed: &Changed) -> StoreResult<()> {
    if changed.receipt.wants(change.status) {
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
        enqueue_smpp(t, change.customer_id, &event, change.at).await?;
    }
    if let Some(url) = &changed.url {
        let body = serde_json::json!({
            "id": tongdao_domain::id::new_id("evt"),
            "type": "message.status",
            "message_id": change.message_id,
            "status": change.status,
            "at": tongdao_domain::clock::rfc3339(change.at),
            "to": changed.recipient,
            "client_ref": changed.client_ref,
            "carrier": change.carrier,
            "carrier_message_id": change.carrier_message_id,
            "error": change.error,
        });
        enqueue_webhook(t, change.customer_id, url, &body.to_string(), change.at).await?;
    }
    Ok(())
}

/// A webhook event for the endpoint, which becomes known to the sender if it was not.
pub(crate) async fn enqueue_webhook(
    t: &Transaction<'_>,
    customer_id: &str,
    url: &str,
    body: &str,
    at: i64,
) -> StoreResult<()> {
    exec(
        t,
        "INSERT INTO webhook_endpoints (customer_id, url, next_attempt_at) VALUES ($1, $2, $3) \
         ON CONFLICT (customer_id, url) DO NOTHING",
        &[&customer_id, &url, &at],
    )
    .await?;
    exec(
        t,
        "INSERT INTO webhook_outbox (customer_id, url, body, created_at) VALUES ($1, $2, $3, $4)",
        &[&customer_id, &url, &body, &at],
    )
    .await?;
    Ok(())
}

/// A receipt or MO for the customer's SMPP binds.
pub(crate) async fn enqueue_smpp(
    t: &Transaction<'_>,
    customer_id: &str,
    event: &SmppEvent,
    at: i64,
) -> StoreResult<()> {
    let body = serde_json::to_string(event).map_err(|e| StoreError::Backend(e.to_string()))?;
    exec(t, "INSERT INTO smpp_outbox (customer_id, body, created_at) VALUES ($1, $2, $3)", &[&customer_id, &body, &at])
        .await?;
    Ok(())
}

/// Gives back `amount` of a message's charge; the unique index makes a second refund of the
/// same message impossible (the commit fails).
pub(crate) async fn refund(
    tx: &mut Tx<'_>,
    customer_id: &str,
    message_id: &str,
    amount: i64,
    reason: &str,
    now_ms: i64,
) -> StoreResult<()> {
    if amount <= 0 {
        return Ok(());
    }
    let balance = lock_balance(&tx.t, customer_id).await? + amount;
    set_balance(&tx.t, customer_id, balance).await?;
    tx.append_ledger(LedgerRow {
        customer_id: customer_id.to_owned(),
        kind: LedgerKind::Refund,
        amount,
        balance_after: balance,
        message_id: Some(message_id.to_owned()),
        reference: None,
        reason: Some(reason.to_owned()),
        now_ms,
    });
    Ok(())
}

/// Ends an unsent message as `expired` with its whole price refunded; `false` if it was no
/// longer waiting to be sent.
pub(crate) async fn expire(
    tx: &mut Tx<'_>,
    customer_id: &str,
    message_id: &str,
    price: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    let change = Change::new(customer_id, message_id, MessageStatus::Expired, now_ms);
    if !change_status(&tx.t, &change, &[MessageStatus::Scheduled, MessageStatus::Queued]).await? {
        return Ok(false);
    }
    refund(tx, customer_id, message_id, price, "expired before it could be sent", now_ms).await?;
    Ok(true)
}

pub(crate) const MESSAGE_COLUMNS: &str = "id, customer_id, recipient, carrier, sender, text, encoding, segments, \
     price, status, client_ref, callback_url, send_at, valid_until, created_at, updated_at";

pub(crate) fn message_row(r: &Row) -> StoreResult<StoredMessage> {
    let status: String = r.try_get(9)?;
    let segments: i64 = r.try_get(7)?;
    Ok(StoredMessage {
        id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        recipient: r.try_get(2)?,
        carrier: r.try_get(3)?,
        sender: r.try_get(4)?,
        text: r.try_get(5)?,
        encoding: r.try_get(6)?,
        segments: u32::try_from(segments).map_err(|_| bad_column(7, "bad segments"))?,
        price: Money::from_micros(r.try_get(8)?),
        status: MessageStatus::parse(&status).ok_or_else(|| bad_column(9, "bad status"))?,
        client_ref: r.try_get(10)?,
        callback_url: r.try_get(11)?,
        send_at: r.try_get(12)?,
        valid_until: r.try_get(13)?,
        created_at: r.try_get(14)?,
        updated_at: r.try_get(15)?,
    })
}

pub(crate) async fn find_message<C: GenericClient>(c: &C, customer_id: &str, id: &str) -> StoreResult<StoredMessage> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE customer_id = $1 AND id = $2");
    message_row(&row(c, &sql, &[&customer_id, &id]).await?)
}

//! The JSON shapes of records, as the API shows them. Money is a 4-decimal string, times
//! are RFC 3339 UTC, phone numbers E.164.

use serde::Serialize;
use tongdao_domain::agreement::{Agreement, AgreementTerms};
use tongdao_domain::clock::rfc3339;
use tongdao_domain::{AgreementState, MessageStatus, Money};
use tongdao_store::{ApiKeyRecord, Customer, LedgerEntry, LedgerKind, MessageEvent, StoredMessage};

pub const CURRENCY: &str = "CNY";

fn time(ms: i64) -> String {
    rfc3339(ms)
}

pub(crate) fn opt_time(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

#[derive(Debug, Serialize)]
pub struct CustomerView {
    pub id: String,
    pub name: String,
    pub address: String,
    pub contact: String,
    pub balance: Money,
    pub currency: &'static str,
    pub created_at: String,
    pub low_balance_threshold: Option<Money>,
    pub terminated_at: Option<String>,
    pub erased_at: Option<String>,
    pub notice_email: Option<String>,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        CustomerView {
            id: c.id,
            name: c.name,
            address: c.address,
            contact: c.contact,
            balance: c.balance,
            currency: CURRENCY,
            created_at: time(c.created_at),
            low_balance_threshold: c.low_balance_threshold,
            terminated_at: opt_time(c.terminated_at),
            erased_at: opt_time(c.erased_at),
            notice_email: c.notice_email,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AgreementView {
    pub id: String,
    pub customer_id: String,
    pub version: u32,
    pub state: AgreementState,
    #[serde(flatten)]
    pub terms: AgreementTerms,
    pub starts_at: String,
    pub ends_at: String,
    pub signed_at: Option<String>,
    pub accepted_at: Option<String>,
    pub accepted_terms_version: Option<String>,
    pub suspended_at: Option<String>,
    pub suspension_reason: Option<String>,
    pub terminated_at: Option<String>,
    pub termination_reason: Option<String>,
    pub created_at: String,
}

impl AgreementView {
    pub fn new(a: Agreement, now_ms: i64) -> Self {
        AgreementView {
            state: a.state(now_ms),
            starts_at: time(a.terms.starts_at_ms()),
            ends_at: time(a.terms.ends_at_ms()),
            id: a.id,
            customer_id: a.customer_id,
            version: a.version,
            terms: a.terms,
            signed_at: opt_time(a.signed_at),
            accepted_at: opt_time(a.accepted_at),
            accepted_terms_version: a.accepted_terms_version,
            suspended_at: opt_time(a.suspended_at),
            suspension_reason: a.suspension_reason,
            terminated_at: opt_time(a.terminated_at),
            termination_reason: a.termination_reason,
            created_at: time(a.created_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LedgerEntryView {
    pub seq: i64,
    pub kind: LedgerKind,
    pub amount: Money,
    pub balance_after: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
}

impl From<LedgerEntry> for LedgerEntryView {
    fn from(e: LedgerEntry) -> Self {
        LedgerEntryView {
            seq: e.seq,
            kind: e.kind,
            amount: e.amount,
            balance_after: e.balance_after,
            message_id: e.message_id,
            reference: e.reference,
            reason: e.reason,
            created_at: time(e.created_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ApiKeyView {
    pub id: String,
    pub customer_id: String,
    pub label: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// Requests per second; 0: no limit.
    pub rps: u32,
    /// Only in the answer that creates the key: it is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl ApiKeyView {
    pub fn new(k: ApiKeyRecord, secret: Option<String>) -> Self {
        ApiKeyView {
            id: k.id,
            customer_id: k.customer_id,
            label: k.label,
            created_at: time(k.created_at),
            revoked_at: opt_time(k.revoked_at),
            rps: k.rps,
            secret,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub status: MessageStatus,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The carrier link the event concerns, the carrier's message id(s) (comma-separated
    /// for a message sent in parts) and its error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier_message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: String,
    pub to: String,
    pub status: MessageStatus,
    pub text: String,
    pub encoding: String,
    pub segments: u32,
    pub price: Money,
    pub carrier: Option<String>,
    pub sender: Option<String>,
    pub client_ref: Option<String>,
    pub callback_url: Option<String>,
    pub send_at: Option<String>,
    pub valid_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
}

impl MessageView {
    pub fn new(m: StoredMessage, events: Option<Vec<MessageEvent>>) -> Self {
        MessageView {
            id: m.id,
            to: m.recipient,
            status: m.status,
            text: m.text,
            encoding: m.encoding,
            segments: m.segments,
            price: m.price,
            carrier: m.carrier,
            sender: m.sender,
            client_ref: m.client_ref,
            callback_url: m.callback_url,
            send_at: opt_time(m.send_at),
            valid_until: opt_time(m.valid_until),
            created_at: time(m.created_at),
            updated_at: time(m.updated_at),
            events: events.map(|events| {
                events
                    .into_iter()
                    .map(|e| EventView {
                        status: e.status,
                        at: time(e.at),
                        detail: e.detail,
                        carrier: e.carrier,
                        carrier_message_id: e.carrier_message_id,
                        error: e.error,
                    })
                    .collect()
            }),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct InboundView {
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub carrier: String,
    pub received_at: String,
}

impl From<tongdao_store::InboundMessage> for InboundView {
    fn from(m: tongdao_store::InboundMessage) -> Self {
        let m = m.message;
        InboundView {
            id: m.id,
            from: m.sender,
            to: m.recipient,
            text: m.text,
            carrier: m.link,
            received_at: time(m.received_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NumberView {
    pub number: String,
    pub customer_id: String,
    pub created_at: String,
}

impl From<tongdao_store::CustomerNumber> for NumberView {
    fn from(n: tongdao_store::CustomerNumber) -> Self {
        NumberView { number: n.number, customer_id: n.customer_id, created_at: time(n.created_at) }
    }
}

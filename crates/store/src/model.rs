//! Records the store takes and gives. Money is [`Money`], times are epoch milliseconds.

use tongdao_domain::{MessageStatus, Money};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub id: String,
    pub name: String,
    pub address: String,
    pub contact: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub address: String,
    pub contact: String,
    pub balance: Money,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub customer_id: String,
    /// SHA-256 of the secret, hex. The secret itself is never stored.
    pub hash: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Topup,
    Charge,
    Refund,
    Adjustment,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Topup => "topup",
            LedgerKind::Charge => "charge",
            LedgerKind::Refund => "refund",
            LedgerKind::Adjustment => "adjustment",
        }
    }
    pub fn parse(s: &str) -> Option<LedgerKind> {
        match s {
            "topup" => Some(LedgerKind::Topup),
            "charge" => Some(LedgerKind::Charge),
            "refund" => Some(LedgerKind::Refund),
            "adjustment" => Some(LedgerKind::Adjustment),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLedgerEntry {
    pub customer_id: String,
    pub kind: LedgerKind,
    /// Signed: positive adds to the balance.
    pub amount: Money,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub seq: i64,
    pub customer_id: String,
    pub kind: LedgerKind,
    pub amount: Money,
    pub balance_after: Money,
    pub message_id: Option<String>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceCheck {
    pub balance: Money,
    pub ledger_sum: Money,
    pub entries: i64,
}

/// One message as the accept path hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: String,
    pub recipient: String,
    pub carrier: Option<String>,
    pub sender: Option<String>,
    pub text: String,
    pub encoding: String,
    pub segments: u32,
    /// The whole message's price (price per segment × segments).
    pub price: Money,
    /// `queued` or `scheduled`.
    pub status: MessageStatus,
    pub client_ref: Option<String>,
    pub callback_url: Option<String>,
    pub send_at: Option<i64>,
    pub valid_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: String,
    /// SHA-256 of the canonical request, hex.
    pub request_hash: String,
    /// The answer to replay: HTTP status and body.
    pub status: u16,
    pub response: String,
}

/// An answer kept for an Idempotency-Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    pub request_hash: String,
    pub status: u16,
    pub response: String,
}

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptBatch {
    pub customer_id: String,
    pub messages: Vec<NewMessage>,
    pub idempotency: Option<IdempotencyRecord>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    Stored {
        balance_after: Money,
    },
    /// The same key and request were accepted before: this is the first answer.
    Replayed {
        status: u16,
        response: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: String,
    pub customer_id: String,
    pub recipient: String,
    pub carrier: Option<String>,
    pub sender: Option<String>,
    pub text: String,
    pub encoding: String,
    pub segments: u32,
    pub price: Money,
    pub status: MessageStatus,
    pub client_ref: Option<String>,
    pub callback_url: Option<String>,
    pub send_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    pub status: MessageStatus,
    pub at: i64,
    pub detail: Option<String>,
}

/// Newest first; `before` is the id of the last message of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub recipient: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub before: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    pub released: u32,
    pub expired: u32,
}

/// Group commit at work: `jobs / commits` is the mean number of writes sharing one fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteStats {
    pub commits: u64,
    pub jobs: u64,
    pub wal_truncations: u64,
}

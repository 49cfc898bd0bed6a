//! Records the store takes and gives. Money is [`Money`], times are epoch milliseconds.

use tongdao_domain::ticket::{TicketKind, TicketParty, TicketStatus};
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
    /// A notice goes to the customer when its balance falls under this (none: no warning).
    pub low_balance_threshold: Option<Money>,
    /// When the service ended (clause 6 termination).
    pub terminated_at: Option<i64>,
    /// When its data was erased, the retention period after termination having passed.
    pub erased_at: Option<i64>,
    /// Where its written notices are emailed, when SMTP is configured.
    pub notice_email: Option<String>,
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
    /// Requests per second this key may make; 0: no limit.
    pub rps: u32,
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
    /// The agreement's `charge_on` when the message was accepted.
    pub charge_on: tongdao_domain::agreement::ChargeOn,
    /// A part of a long message its sender split itself (SMPP).
    pub concat: Option<tongdao_domain::ConcatPart>,
    /// The SMPP receipts asked for.
    pub receipt: tongdao_domain::ReceiptRequest,
    /// Accepted under an `audit` scope policy although the recipient is not a contact.
    pub out_of_scope: bool,
    /// Why the message is `held`: the screening verdict as JSON.
    pub screening: Option<String>,
    /// Where the request came from: `http:<ip>` or `smpp:<system_id>@<ip>`.
    pub source: Option<String>,
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
    /// The agreement's messages per recipient per window, counted and enforced in the
    /// transaction that stores the messages.
    pub frequency: tongdao_domain::FrequencyLimits,
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
    /// The link (configured carrier) the event concerns, its message id(s) and error code.
    pub carrier: Option<String>,
    pub carrier_message_id: Option<String>,
    pub error: Option<String>,
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
    /// Microseconds the writer spent running jobs and committing (the rest it waited).
    pub busy_micros: u64,
    /// fsyncs of the WAL; `commits / syncs` is how many commits shared one.
    pub syncs: u64,
}

/// A message waiting for a carrier link, as the dispatcher reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Its place in the dispatch queue (commit order).
    pub queue_seq: i64,
    pub id: String,
    pub customer_id: String,
    pub recipient: String,
    /// The destination carrier (`cmcc`, …) from the numbering plan, if known.
    pub carrier: Option<String>,
    pub sender: Option<String>,
    pub text: String,
    pub valid_until: Option<i64>,
    /// Whether this message may already have been handed to a carrier before a restart.
    pub maybe_sent: bool,
    /// Sent as this part of a long message rather than split here.
    pub concat: Option<tongdao_domain::ConcatPart>,
}

/// How a carrier's receipt (or our submit) ended for one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartOutcome {
    Delivered,
    Undeliverable,
    Expired,
    Rejected,
    Unknown,
}

impl PartOutcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [PartOutcome; 5] = [
        PartOutcome::Delivered,
        PartOutcome::Undeliverable,
        PartOutcome::Expired,
        PartOutcome::Rejected,
        PartOutcome::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PartOutcome::Delivered => "delivered",
            PartOutcome::Undeliverable => "undeliverable",
            PartOutcome::Expired => "expired",
            PartOutcome::Rejected => "rejected",
            PartOutcome::Unknown => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<PartOutcome> {
        [Self::Delivered, Self::Undeliverable, Self::Expired, Self::Rejected, Self::Unknown]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
    /// The message status a part with this outcome gives when it is the worst one.
    pub fn status(self) -> MessageStatus {
        match self {
            PartOutcome::Delivered => MessageStatus::Delivered,
            PartOutcome::Undeliverable => MessageStatus::Undeliverable,
            PartOutcome::Expired => MessageStatus::Expired,
            PartOutcome::Rejected => MessageStatus::Rejected,
            PartOutcome::Unknown => MessageStatus::Unknown,
        }
    }
    /// Which outcome a message with parts of both shows: the one that says most about why
    /// the message did not arrive.
    pub fn rank(self) -> u8 {
        match self {
            PartOutcome::Delivered => 0,
            PartOutcome::Unknown => 1,
            PartOutcome::Expired => 2,
            PartOutcome::Undeliverable => 3,
            PartOutcome::Rejected => 4,
        }
    }
}

/// What happened to queued and submitted messages, recorded in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Every part went out on `link` and was accepted; the carrier's ids in part order.
    Submitted { customer_id: String, message_id: String, link: String, carrier_message_ids: Vec<String>, at: i64 },
    /// The message will not be sent: permanent refusal, or no route. Of its `parts`,
    /// `accepted` went out before the failure (their receipts are no longer awaited).
    Failed {
        customer_id: String,
        message_id: String,
        link: Option<String>,
        parts: u32,
        accepted: u32,
        error: String,
        at: i64,
    },
    /// Still unsent at its `valid_until`.
    Expired { customer_id: String, message_id: String, at: i64 },
    /// A delivery receipt from `link` for one part. The carrier's id in every form it may
    /// have been given in (receipt texts write hex ids in decimal and the other way round);
    /// the first that names a part wins.
    Receipt { link: String, carrier_message_ids: Vec<String>, outcome: PartOutcome, error: Option<String>, at: i64 },
}

/// What recording one [`Progress`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded; the message is not final yet.
    Done,
    /// Recorded, and the message reached its final status (and was settled).
    Final,
    /// The message was no longer in a state the progress applies to (e.g. a duplicate
    /// receipt, or a message already final): nothing changed.
    Ignored,
    /// A receipt whose part is not known yet: kept, and matched when the part is recorded.
    Early,
}

/// An inbound (MO) message as the carrier side hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInbound {
    pub id: String,
    pub sender: String,
    pub recipient: String,
    pub text: String,
    pub link: String,
    pub received_at: i64,
    /// The reply is an opt-out: put this number (the sender, E.164) on the suppression list
    /// of the customer owning the recipient, in the same transaction.
    pub opt_out: Option<String>,
}

/// An inbound message stored for the customer owning its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub customer_id: String,
    pub message: NewInbound,
}

/// A number that routes inbound messages to its customer (itself and its extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerNumber {
    pub number: String,
    pub customer_id: String,
    pub created_at: i64,
}

/// A customer's webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub url: Option<String>,
    pub secret: Option<String>,
}

/// An endpoint (customer + URL) with events due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEndpoint {
    pub customer_id: String,
    pub url: String,
    pub failures: u32,
    /// The customer's signing secret now.
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    /// One event as JSON.
    pub body: String,
    pub created_at: i64,
}

/// One attempt of the notifier at a customer's endpoint, as its delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// When the attempt ended (epoch ms).
    pub at: i64,
    pub url: String,
    /// Events carried when delivered; events waiting for the endpoint when it failed.
    pub events: u32,
    /// Why it failed (at most 500 characters); `None`: delivered.
    pub error: Option<String>,
}

/// The deliveries the log keeps per customer (its newest).
pub const WEBHOOK_DELIVERIES_KEPT: u32 = 100;

/// The longest error text logged with a delivery, in characters.
const DELIVERY_ERROR_CHARS: usize = 500;

/// A failure's text as the delivery log keeps it: its first 500 characters.
pub(crate) fn delivery_error(error: &str) -> String {
    error.chars().take(DELIVERY_ERROR_CHARS).collect()
}

/// When one message was accepted, submitted and reached a final status (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageTiming {
    pub status: MessageStatus,
    pub accepted_at: i64,
    pub submitted_at: Option<i64>,
    pub final_at: Option<i64>,
}

/// How many of a customer's messages accepted in one period of a [`crate::Store::traffic`]
/// query are now in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficRow {
    /// The start of the period (epoch ms).
    pub period: i64,
    pub status: MessageStatus,
    pub count: u64,
}

/// SMPP credentials of a customer (one customer may have several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppAccount {
    pub system_id: String,
    pub customer_id: String,
    /// argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    /// IPs or CIDR blocks a bind may come from; empty means any.
    pub allowed_ips: Vec<String>,
    pub max_binds: u32,
    /// submit_sm per second over all binds; 0 means no limit.
    pub tps: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A receipt or MO waiting for one of the customer's SMPP binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppDelivery {
    pub id: i64,
    /// JSON: see the `smpp_outbox` table and `SmppEvent`.
    pub body: String,
    pub created_at: i64,
}

/// What an SMPP outbox row says, as the store writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SmppEvent {
    /// A delivery receipt for one of the customer's messages.
    Receipt {
        message_id: String,
        /// The message's recipient: the receipt's source address.
        from: String,
        /// The message's sender, if it named one: the receipt's destination address.
        to: Option<String>,
        status: tongdao_domain::MessageStatus,
        submitted_at: i64,
        done_at: i64,
        error: Option<String>,
        /// The first 20 characters of the text.
        text: String,
    },
    /// A reply (MO) routed to the customer.
    Inbound { inbound_id: String, from: String, to: String, text: String, received_at: i64 },
}

/// Who a contact is to the customer (clause 2.2: its own staff and customers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    Staff,
    Customer,
}

impl ContactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Staff => "staff",
            ContactKind::Customer => "customer",
        }
    }
    pub fn parse(s: &str) -> Option<ContactKind> {
        match s {
            "staff" => Some(ContactKind::Staff),
            "customer" => Some(ContactKind::Customer),
            _ => None,
        }
    }
}

/// One entry of a customer's contact directory; `number` is E.164 with `+`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Contact {
    pub number: String,
    pub name: String,
    pub kind: ContactKind,
    pub tags: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Why a number is on a customer's suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SuppressionSource {
    /// The recipient replied with an opt-out keyword.
    Reply,
    Customer,
    Operator,
}

impl SuppressionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionSource::Reply => "reply",
            SuppressionSource::Customer => "customer",
            SuppressionSource::Operator => "operator",
        }
    }
    pub fn parse(s: &str) -> Option<SuppressionSource> {
        match s {
            "reply" => Some(SuppressionSource::Reply),
            "customer" => Some(SuppressionSource::Customer),
            "operator" => Some(SuppressionSource::Operator),
            _ => None,
        }
    }
}

/// A number that opted out of one customer's messages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Suppression {
    pub number: String,
    pub source: SuppressionSource,
    pub reason: String,
    pub created_at: i64,
}

/// A number on the operator's blocklist: no customer may reach it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlockedNumber {
    pub number: String,
    pub reason: String,
    pub created_at: i64,
}

/// Which of the lists the accept path checks recipients against hold anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListsInUse {
    pub contacts: bool,
    pub suppressions: bool,
    pub blocked: bool,
}

/// What the accept path must know about one recipient of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecipientFlags {
    /// In the customer's contact directory.
    pub contact: bool,
    /// On the customer's suppression list.
    pub opted_out: bool,
    /// On the operator's blocklist.
    pub blocked: bool,
}

/// A message accepted although its recipient was not a contact (scope policy `audit`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutOfScopeSend {
    pub message_id: String,
    pub recipient: String,
    pub created_at: i64,
}

/// How a violation of clause 2 came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ViolationKind {
    /// The message was refused at acceptance (`content_rejected`).
    Rejected,
    /// The message was held and the operator deleted it.
    Deleted,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Rejected => "rejected",
            ViolationKind::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewViolation {
    pub customer_id: String,
    pub at: i64,
    /// The screening category (`advertising`, `fraud`, …).
    pub category: String,
    pub kind: ViolationKind,
    pub message_id: Option<String>,
    /// The text, kept as evidence.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub id: i64,
    #[serde(flatten)]
    pub violation: NewViolation,
}

/// One entry of the audit trail: who did what to whom, when and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: i64,
    /// `operator` (the API or CLI with the operator token), `policy` (automatic), …
    pub actor: String,
    /// `message.approve`, `message.delete`, `agreement.suspend`, `blocklist.add`, …
    pub action: String,
    /// What was acted on: a message, agreement, customer or number.
    pub target: String,
    pub reason: Option<String>,
    /// JSON snapshots of the record before and after, where there is one.
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// A message held for moderation, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMessage {
    pub message: StoredMessage,
    /// The screening verdict as JSON.
    pub screening: Option<String>,
}

/// An operator's decision on a held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moderation {
    /// Send it: to the queue, or back to waiting for its `send_at`.
    Approve,
    /// Never send it: refunded whole, and a violation recorded in `category` (by default
    /// the one its screening named).
    Delete { category: Option<String> },
}

/// Where a signature or template stands with the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    Pending,
    Approved,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<ReviewStatus> {
        match s {
            "pending" => Some(ReviewStatus::Pending),
            "approved" => Some(ReviewStatus::Approved),
            "rejected" => Some(ReviewStatus::Rejected),
            _ => None,
        }
    }
}

/// A signature `【text】` or a template with `${variables}`, as submitted and decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reviewed {
    pub id: String,
    pub customer_id: String,
    /// Templates only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub text: String,
    pub status: ReviewStatus,
    pub reason: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

/// Signatures or templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewKind {
    Signature,
    Template,
}

/// The first ledger entry whose hash does not match the chain, and what it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub expected: String,
    pub found: Option<String>,
}

/// A whole ledger chain: how many entries, and the hash of the newest (the head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub entries: u64,
    pub head: String,
}

/// One message as the regulatory export shows it (clause 3.1): content, times, addresses
/// and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageRecord {
    pub id: String,
    pub created_at: i64,
    pub sender: Option<String>,
    pub recipient: String,
    pub text: String,
    pub status: String,
    pub source: Option<String>,
}

/// What a retention purge took away (clauses 3.1, 3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PurgeReport {
    /// Final messages whose text, source and screening were erased and number masked.
    pub messages: u64,
    /// Replies deleted.
    pub inbound: u64,
    /// Violations whose evidence text was erased.
    pub violations: u64,
}

// ---- operations (issue 6) --------------------------------------------------------------

/// A written notice to a customer, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub customer_id: String,
    /// `maintenance`, `agreement_expiry`, `low_balance`, `breach`, `breach_cured`, `termination`.
    pub kind: String,
    /// The event the notice is about (`maintenance:<id>`, `expiry:<agreement>:30`, …): a
    /// customer gets one notice per event however often it is posted.
    pub reference: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: String,
    pub notice: NewNotice,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub id: String,
    pub starts_at: i64,
    pub ends_at: i64,
    /// Carrier links drained during the window (by name); empty: none.
    pub carriers: Vec<String>,
    /// Services affected (`http`, `smpp`, …), as told to customers.
    pub services: Vec<String>,
    pub description: String,
    /// Set when the window was scheduled without the agreed notice.
    pub emergency_reason: Option<String>,
    /// The customers noticed.
    pub customers: Vec<String>,
    pub created_at: i64,
    pub cancelled_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub id: String,
    pub customer_id: String,
    pub agreement_id: String,
    /// The clause breached (`2.3`, `4.2`, …).
    pub clause: String,
    pub facts: String,
    pub noticed_at: i64,
    pub cure_deadline: i64,
    pub cured_at: Option<i64>,
    pub cure_note: Option<String>,
    pub terminated_at: Option<i64>,
}

impl Breach {
    /// `open`, `cured` or `terminated`.
    pub fn status(&self) -> &'static str {
        if self.terminated_at.is_some() {
            "terminated"
        } else if self.cured_at.is_some() {
            "cured"
        } else {
            "open"
        }
    }
}

/// A notice to email, with the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeEmail {
    pub notice: Notice,
    pub to: String,
    /// Attempts so far.
    pub attempts: u32,
}

/// How an attempt to email a notice went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailOutcome {
    Sent {
        at: i64,
    },
    /// Try again at `retry_at`, or never (`None`).
    Failed {
        error: String,
        retry_at: Option<i64>,
    },
}

/// What a termination did, in its one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Termination {
    pub agreements: u64,
    pub keys_revoked: u64,
    pub smpp_accounts_removed: u64,
    pub messages_cancelled: u64,
    /// The balance paid back to the customer by the settling refund entry.
    pub settled: Money,
}

/// A ticket as the customer opens it (clause 3.6); `answer_due_at` for complaints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub id: String,
    pub customer_id: String,
    pub kind: TicketKind,
    pub subject: String,
    pub body: String,
    /// The customer's own messages a billing dispute is about.
    pub message_ids: Vec<String>,
    /// Statement lines a billing dispute is about, as the customer names them.
    pub statement_lines: Vec<String>,
    pub opened_at: i64,
    pub answer_due_at: Option<i64>,
}

/// A ticket and where it stands. `answered_at` is the operator's last answer, `resolved_at`
/// and `closed_at` the last time it became so; all are kept when it moves on (the status
/// says where it is now), so `answered_at` set means the deadline of a complaint was met.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ticket {
    pub id: String,
    pub customer_id: String,
    pub kind: TicketKind,
    pub status: TicketStatus,
    pub subject: String,
    pub body: String,
    pub message_ids: Vec<String>,
    pub statement_lines: Vec<String>,
    pub opened_at: i64,
    pub answer_due_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The last reply or change of status.
    pub updated_at: i64,
}

impl Ticket {
    /// A complaint left unanswered past its deadline (see [`tongdao_domain::ticket::is_overdue`]).
    pub fn is_overdue(&self, now_ms: i64) -> bool {
        tongdao_domain::ticket::is_overdue(self.status, self.answer_due_at, self.answered_at, now_ms)
    }
}

/// One reply on a ticket, by its customer or the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketReply {
    pub id: String,
    pub ticket_id: String,
    pub author: TicketParty,
    pub body: String,
    pub created_at: i64,
}

/// A ticket with its replies (oldest first) and the adjustments that settled it (ledger
/// entries naming it in their reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketThread {
    pub ticket: Ticket,
    pub replies: Vec<TicketReply>,
    pub adjustments: Vec<LedgerEntry>,
}

/// Which tickets to list, newest first; `before` is the last id of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TicketFilter {
    pub customer_id: Option<String>,
    pub status: Option<TicketStatus>,
    pub kind: Option<TicketKind>,
    /// Only complaints overdue at this time (see [`Ticket::is_overdue`]).
    pub overdue_at: Option<i64>,
    pub before: Option<String>,
    pub limit: u32,
}

/// The newest ledger entry up to some point, as the hash chain has it: the statement's proof
/// (clause 3.8). `tongdao verify` checks that the chain through it is whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// One group of a customer's ledger entries of one kind in a statement period: on one CST
/// day (`day_start_ms`, 00:00 CST) and, for charges, of messages to one destination carrier
/// (`None`: the numbering plan named none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerGroup {
    pub kind: LedgerKind,
    pub day_start_ms: i64,
    pub carrier: Option<String>,
    pub entries: u64,
    /// Charges: the charged messages' segments; 0 for the other kinds.
    pub segments: u64,
    /// Signed, as in the ledger.
    pub amount: Money,
}

/// Entries of one kind listed one by one, at most a cap of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListedEntries {
    pub entries: Vec<LedgerEntry>,
    /// More entries of the kind are in the period than are listed.
    pub truncated: bool,
}

/// A customer's ledger over a period, aggregated by the store: the monthly statement's
/// figures (clause 3.8). The period is the run of the customer's entries from the first one
/// stamped at or after its start up to (not including) the first one stamped at or after
/// its end, in ledger order; so consecutive periods share their boundary entry-for-entry,
/// and `closing − opening` is exactly the sum of the groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementData {
    /// `balance_after` of the customer's last entry before the period; 0 if none.
    pub opening: Money,
    /// `balance_after` of the customer's last entry up to the period's end; 0 if none.
    pub closing: Money,
    /// That last entry, as the chain has it.
    pub head: Option<ChainHead>,
    /// Every entry of the period by kind and CST day, charges also by destination carrier.
    pub groups: Vec<LedgerGroup>,
    pub topups: ListedEntries,
    pub adjustments: ListedEntries,
}

/// One (link, CST day) of the reconciliation report (clause 5): the messages charged that
/// day that went out on the link (`None`: they never reached one — cancelled, expired,
/// held, waiting, or no carrier serves them), and what the carrier answered for them
/// whenever it did. Segment counts: a submit_sm accepted counts its share of the message's
/// segments (all of them for one carrying message_payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationRow {
    pub link: Option<String>,
    pub day_start_ms: i64,
    pub messages: u64,
    pub charged_segments: u64,
    /// What their charges took, positive.
    pub charged: Money,
    /// What was refunded of them since (unaccepted or undelivered shares, cancellations).
    pub refunded: Money,
    /// Segments whose submit_sm the carrier answered OK.
    pub submitted_segments: u64,
    /// Segments with a delivery receipt, by its outcome.
    pub receipts: Vec<(PartOutcome, u64)>,
    /// Messages that ended `failed` at submission (a permanent refusal, or no route).
    pub failed_messages: u64,
}

// ---- several nodes on one database (issue 7) ------------------------------------------------

/// A named lease (a carrier bind slot, a webhook endpoint, a periodic job) held by one node
/// until `expires_at`. `token` grows by one each time the lease changes hands: it fences a
/// holder that lost the lease, whose renewals and releases then change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub token: i64,
    pub expires_at: i64,
}

/// Destinations a carrier serves, as the dispatcher's claim filters queued messages: a
/// message matches when its numbering-plan carrier is one of `carriers` (case-insensitive)
/// or its recipient's digits start with one of `prefixes` (without `+`); both empty matches
/// every message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    pub carriers: Vec<String>,
    pub prefixes: Vec<String>,
}

/// A node's claim on queued messages: those matching one of `serve` (what its bound
/// carriers serve), or matching none of `unserved_by` when it is given (what no configured
/// carrier serves: such messages fail at once, on whichever node claims them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueClaim {
    pub node: String,
    pub now_ms: i64,
    pub limit: u32,
    pub serve: Vec<Route>,
    pub unserved_by: Option<Vec<Route>>,
}

/// Which console a user signs in to: the operator console (`/ops/`) or a customer's portal
/// (`/console/`). An e-mail is unique within an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsoleArea {
    Operator,
    Customer,
}

impl ConsoleArea {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleArea::Operator => "operator",
            ConsoleArea::Customer => "customer",
        }
    }
    pub fn parse(s: &str) -> Option<ConsoleArea> {
        match s {
            "operator" => Some(ConsoleArea::Operator),
            "customer" => Some(ConsoleArea::Customer),
            _ => None,
        }
    }
}

/// A person who signs in to a console (issue 8). Operator users have no customer; customer
/// users have exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub id: String,
    pub area: ConsoleArea,
    /// `None` for operator users.
    pub customer_id: Option<String>,
    /// Lowercased; unique within the area.
    pub email: String,
    /// argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    /// `admin`, `support`, `moderator`, `finance` (operator); `admin`, `developer`, `viewer`
    /// (customer). The store keeps it as given; the pipeline checks it.
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when the user was disabled; a disabled user cannot sign in and has no session.
    pub disabled_at: Option<i64>,
}

/// A change to a console user; `None` leaves a field as it is. Disabling the user or
/// changing its password ends all of its sessions in the same transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleUserChange {
    pub role: Option<String>,
    pub password_hash: Option<String>,
    /// `Some(true)` disables, `Some(false)` enables again.
    pub disabled: Option<bool>,
}

/// A signed-in browser. The cookie holds a random token; the store keeps only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// Hex SHA-256 of the session token.
    pub id_hash: String,
    pub user_id: String,
    /// The synchronizer token every form and htmx request of this session must carry.
    pub csrf: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// Idle expiry: moved forward by [`crate::Store::touch_console_session`], never past
    /// `absolute_expires_at`.
    pub expires_at: i64,
    pub absolute_expires_at: i64,
}

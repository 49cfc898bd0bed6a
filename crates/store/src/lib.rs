//! tongdao's durable store.
//!
//! The [`Store`] trait is the only way the rest of the platform reaches data: each method is
//! one use case in one transaction. [`sqlite::SqliteStore`] is the embedded default;
//! [`postgres::PgStore`] implements the same trait for several nodes on one PostgreSQL
//! (issue 7), and one conformance suite over the trait holds both to the same contract.
//!
//! # Layout
//! - [`model`]: the records the store takes and gives;
//! - [`sqlite`]: SQLite in WAL mode with `synchronous=FULL`, one writer thread that
//!   group-commits concurrent writes (one transaction and one fsync for many requests), a
//!   small pool of reader connections, database files mode 0600;
//! - `migrations/sqlite/*.sql`: the schema, applied in order at open.
//!
//! # Invariants
//! - A successful write is on disk when its future resolves.
//! - The ledger is append-only (triggers refuse UPDATE and DELETE) and a customer's
//!   `balance` equals the sum of its ledger entries and is never negative (a CHECK).
//! - A message is charged at most once and refunded at most once (a unique index).
//!
//! # Must never
//! Leak SQL or backend types outside this crate.

pub mod cluster;
pub mod model;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Money, Rejection, Tariff};

pub use model::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("insufficient balance: {balance} available, {needed} needed")]
    InsufficientBalance { balance: Money, needed: Money },
    #[error("the idempotency key was used with another request")]
    IdempotencyConflict,
    #[error("only a message not yet handed to a carrier can be cancelled; this one is {0}")]
    NotCancellable(String),
    /// A domain rule refused the change (agreement lifecycle).
    #[error("{0}")]
    Refused(Rejection),
    /// Message `index` of the batch would exceed the agreement's frequency limit for its
    /// recipient; the window ends in `retry_after_ms`.
    #[error("message {index} exceeds the frequency limit for its recipient")]
    RateLimited { index: usize, retry_after_ms: i64 },
    #[error("the store is shutting down")]
    Closed,
    /// Another write in the same group commit failed half-way, so the batch was rolled
    /// back; nothing of this request was stored. Retrying is safe.
    #[error("the write was rolled back with its batch; retry")]
    Aborted,
    #[error("storage error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Writes a low-balance notice from (customer id, balance, threshold).
pub type LowBalanceNotice = std::sync::Arc<dyn Fn(&str, Money, Money) -> NewNotice + Send + Sync>;

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Whether the store can read and its writer is running.
    async fn ping(&self) -> StoreResult<()>;

    /// Counters of the write path since start.
    fn write_stats(&self) -> WriteStats;

    // Customers
    async fn create_customer(&self, customer: NewCustomer) -> StoreResult<Customer>;
    /// By id (`cus_…`) or by name.
    async fn find_customer(&self, id_or_name: &str) -> StoreResult<Customer>;
    async fn list_customers(&self) -> StoreResult<Vec<Customer>>;

    // Agreements
    /// Stores a new version (numbered after the customer's latest).
    async fn create_agreement(&self, agreement: Agreement) -> StoreResult<Agreement>;
    async fn find_agreement(&self, id: &str) -> StoreResult<Agreement>;
    /// The customer's latest agreement version, if any.
    async fn current_agreement(&self, customer_id: &str) -> StoreResult<Option<Agreement>>;
    async fn list_agreements(&self, customer_id: &str) -> StoreResult<Vec<Agreement>>;
    /// Applies a lifecycle change inside one transaction (read, check, write).
    /// Suspending also cancels and refunds the customer's held, scheduled and not yet
    /// dispatched queued messages, in the same transaction; `audit` is written with it.
    async fn change_agreement(
        &self,
        id: &str,
        change: AgreementChange,
        now_ms: i64,
        audit: Option<AuditEntry>,
    ) -> StoreResult<Agreement>;

    // Tariffs
    async fn put_tariff(&self, customer_id: &str, tariff: Tariff, now_ms: i64) -> StoreResult<()>;
    async fn tariff(&self, customer_id: &str) -> StoreResult<Option<Tariff>>;

    // Credentials
    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<()>;
    async fn list_api_keys(&self, customer_id: &str) -> StoreResult<Vec<ApiKeyRecord>>;
    async fn revoke_api_key(&self, customer_id: &str, key_id: &str, now_ms: i64) -> StoreResult<ApiKeyRecord>;
    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Adds an operator token and revokes every other one.
    async fn rotate_operator_token(&self, id: &str, hash: &str, now_ms: i64) -> StoreResult<()>;
    async fn operator_token_valid(&self, hash: &str) -> StoreResult<bool>;

    // Money
    /// A top-up, adjustment or other manual entry; refused whole if the balance would go
    /// negative. A top-up whose reference was already used with the same amount returns
    /// the first entry; with another amount it is a conflict.
    async fn post_ledger_entry(&self, entry: NewLedgerEntry) -> StoreResult<LedgerEntry>;
    async fn list_ledger(&self, customer_id: &str, after_seq: i64, limit: u32) -> StoreResult<Vec<LedgerEntry>>;
    /// The customer's balance and the sum of its ledger entries (equal unless corrupted).
    async fn balance(&self, customer_id: &str) -> StoreResult<BalanceCheck>;

    // Messages
    /// The answer kept for an Idempotency-Key used in the last 24 hours.
    async fn idempotent_answer(&self, customer_id: &str, key: &str, now_ms: i64) -> StoreResult<Option<KeptAnswer>>;
    /// Stores messages, their charges and events, and the idempotency record, in one
    /// transaction; refused whole if the balance cannot pay every message.
    async fn accept(&self, batch: AcceptBatch) -> StoreResult<AcceptOutcome>;
    /// Several independent [`Store::accept`]s in one job (the SMPP edge's submit_sm of one
    /// read): each is stored or refused on its own; `Err` only when none could be.
    async fn accept_many(&self, batches: Vec<AcceptBatch>) -> StoreResult<Vec<StoreResult<AcceptOutcome>>>;
    async fn find_message(&self, customer_id: &str, id: &str) -> StoreResult<(StoredMessage, Vec<MessageEvent>)>;
    async fn list_messages(&self, customer_id: &str, filter: MessageFilter) -> StoreResult<Vec<StoredMessage>>;
    /// Cancels a scheduled message, or a queued one the dispatcher has not taken, and
    /// refunds it.
    async fn cancel_message(&self, customer_id: &str, id: &str, now_ms: i64) -> StoreResult<StoredMessage>;
    /// Moves due scheduled messages to `queued`, expires (with refund) those past
    /// `valid_until`, and forgets idempotency keys older than 24 hours; at most `limit` of
    /// each per call.
    async fn sweep(&self, now_ms: i64, limit: u32) -> StoreResult<SweepReport>;

    // Dispatch (the messages table is the queue)
    /// Queued messages after `after_seq` in queue order, at most `limit`.
    async fn queued_after(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<QueuedMessage>>;
    /// Records that every queued message in `(after_seq, queue_seq]` may be handed to a carrier
    /// from now on; after a restart those still queued count as possible resubmissions. A
    /// message cancelled or expired since it was read must not go out: when fewer than
    /// `read` of that range are still queued, returns the ids that are.
    async fn mark_dispatched(&self, after_seq: i64, queue_seq: i64, read: usize) -> StoreResult<Option<Vec<String>>>;
    /// Records submits, failures and receipts in one transaction, in order: status changes
    /// with their events, settlement of final statuses per `charge_on`, webhook events.
    async fn record_progress(&self, progress: Vec<Progress>) -> StoreResult<Vec<Recorded>>;
    /// Forgets early receipts never matched after `older_than_ms`; returns how many.
    async fn forget_early_receipts(&self, older_than_ms: i64) -> StoreResult<u64>;

    // Inbound
    async fn add_number(&self, number: CustomerNumber) -> StoreResult<CustomerNumber>;
    async fn remove_number(&self, customer_id: &str, number: &str) -> StoreResult<()>;
    async fn list_numbers(&self, customer_id: &str) -> StoreResult<Vec<CustomerNumber>>;
    /// Stores an MO for the customer owning the longest number that prefixes its recipient,
    /// with a webhook event; `None` when nobody owns it (kept for the operator).
    async fn record_inbound(&self, inbound: NewInbound) -> StoreResult<Option<InboundMessage>>;
    /// Newest first; `before` is the last id of the previous page.
    async fn list_inbound(
        &self,
        customer_id: &str,
        before: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<InboundMessage>>;

    // Webhooks
    async fn webhook_settings(&self, customer_id: &str) -> StoreResult<WebhookSettings>;
    async fn set_webhook_url(&self, customer_id: &str, url: Option<String>) -> StoreResult<WebhookSettings>;
    /// Sets the secret; with `only_if_unset`, keeps an existing one.
    async fn set_webhook_secret(
        &self,
        customer_id: &str,
        secret: &str,
        only_if_unset: bool,
    ) -> StoreResult<WebhookSettings>;
    /// Endpoints with events due now, at most `limit`.
    async fn due_endpoints(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueEndpoint>>;
    /// The endpoint's oldest pending events with an id above `after_id`, at most `limit`.
    async fn endpoint_events(
        &self,
        customer_id: &str,
        url: &str,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// The endpoint took these events (a run of its events as `endpoint_events` gave them)
    /// at `at_ms`: they are removed, its failures reset and the delivery logged.
    async fn webhook_delivered(&self, customer_id: &str, url: &str, ids: Vec<i64>, at_ms: i64) -> StoreResult<()>;
    /// The endpoint failed at `at_ms`: it is not tried again before `next_attempt_at`; the
    /// failure is logged with the events waiting for it; events older than
    /// `give_up_before_ms` are dropped (returns how many).
    async fn webhook_failed(
        &self,
        customer_id: &str,
        url: &str,
        next_attempt_at: i64,
        error: &str,
        give_up_before_ms: i64,
        at_ms: i64,
    ) -> StoreResult<u64>;
    /// The customer's logged deliveries (delivered and failed attempts), newest first, at most
    /// `limit`; the log keeps a customer's newest 100.
    async fn webhook_deliveries(&self, customer_id: &str, limit: u32) -> StoreResult<Vec<WebhookDelivery>>;
    /// Events waiting in the outbox.
    async fn outbox_depth(&self) -> StoreResult<u64>;

    // SMPP credentials and the deliveries (receipts, MO) for customers' binds
    /// Refused with `Conflict` when the system_id is taken.
    async fn create_smpp_account(&self, account: SmppAccount) -> StoreResult<SmppAccount>;
    /// Replaces password hash, IPs and limits of the customer's account.
    async fn update_smpp_account(&self, account: SmppAccount) -> StoreResult<SmppAccount>;
    async fn delete_smpp_account(&self, customer_id: &str, system_id: &str) -> StoreResult<()>;
    async fn find_smpp_account(&self, system_id: &str) -> StoreResult<Option<SmppAccount>>;
    async fn list_smpp_accounts(&self, customer_id: &str) -> StoreResult<Vec<SmppAccount>>;
    /// The customer's waiting deliveries with an id above `after_id`, oldest first.
    async fn smpp_pending(&self, customer_id: &str, after_id: i64, limit: u32) -> StoreResult<Vec<SmppDelivery>>;
    /// A bind took these deliveries: they are removed.
    async fn smpp_delivered(&self, customer_id: &str, ids: Vec<i64>) -> StoreResult<()>;
    /// Drops deliveries created before `before_ms` (no bind took them in time), at most
    /// `limit`; returns how many.
    async fn expire_smpp_outbox(&self, before_ms: i64, limit: u32) -> StoreResult<u64>;
    async fn smpp_outbox_depth(&self) -> StoreResult<u64>;

    // Compliance (issue 5)
    /// Creates or replaces contacts (by number) in one transaction; returns how many.
    async fn upsert_contacts(&self, customer_id: &str, contacts: Vec<Contact>) -> StoreResult<u64>;
    async fn find_contact(&self, customer_id: &str, number: &str) -> StoreResult<Contact>;
    async fn delete_contact(&self, customer_id: &str, number: &str) -> StoreResult<()>;
    /// Contacts ordered by number, after `after` (exclusive), at most `limit`.
    async fn list_contacts(&self, customer_id: &str, after: &str, limit: u32) -> StoreResult<Vec<Contact>>;
    /// Whether the customer has contacts or suppressions and the blocklist holds numbers:
    /// when none does, the accept path needs no [`Store::recipient_flags`] read.
    async fn lists_in_use(&self, customer_id: &str) -> StoreResult<ListsInUse>;
    /// For each number (E.164), whether it is a contact, opted out or blocked.
    async fn recipient_flags(&self, customer_id: &str, numbers: Vec<String>) -> StoreResult<Vec<RecipientFlags>>;
    /// Adds a number to the customer's suppression list (kept as first added if already there).
    async fn add_suppression(&self, customer_id: &str, suppression: Suppression) -> StoreResult<Suppression>;
    async fn remove_suppression(&self, customer_id: &str, number: &str) -> StoreResult<()>;
    async fn list_suppressions(&self, customer_id: &str, after: &str, limit: u32) -> StoreResult<Vec<Suppression>>;
    async fn add_blocked(&self, blocked: BlockedNumber) -> StoreResult<BlockedNumber>;
    async fn remove_blocked(&self, number: &str) -> StoreResult<()>;
    async fn list_blocked(&self, after: &str, limit: u32) -> StoreResult<Vec<BlockedNumber>>;
    /// Messages accepted out of scope in `[from_ms, to_ms)`: their count, and the newest `limit`.
    async fn out_of_scope_sends(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> StoreResult<(u64, Vec<OutOfScopeSend>)>;

    /// Records a violation; returns the customer's violations since `since_ms`, this one included.
    async fn record_violation(&self, violation: NewViolation, since_ms: i64) -> StoreResult<u64>;
    /// Newest first, before `before_id`; of one customer or all.
    async fn list_violations(
        &self,
        customer_id: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Violation>>;
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()>;
    /// Newest first, before `before_id`.
    async fn list_audit(&self, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    /// Held messages of every customer, oldest first, after the message id `after`.
    async fn held_messages(&self, after: &str, limit: u32) -> StoreResult<Vec<HeldMessage>>;
    /// Approves or deletes a held message, with its audit entry, in one transaction.
    async fn moderate(&self, message_id: &str, decision: Moderation, audit: AuditEntry) -> StoreResult<StoredMessage>;
    /// A new pending signature or template; `Conflict` for a signature the customer has already.
    async fn create_reviewed(&self, kind: ReviewKind, item: Reviewed) -> StoreResult<Reviewed>;
    async fn find_reviewed(&self, kind: ReviewKind, id: &str) -> StoreResult<Reviewed>;
    /// Of one customer or all, optionally of one status, oldest first.
    async fn list_reviewed(
        &self,
        kind: ReviewKind,
        customer_id: Option<&str>,
        status: Option<ReviewStatus>,
    ) -> StoreResult<Vec<Reviewed>>;
    /// Approves or rejects a pending or decided item, with its audit entry.
    async fn decide_reviewed(
        &self,
        kind: ReviewKind,
        id: &str,
        status: ReviewStatus,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> StoreResult<Reviewed>;
    async fn delete_reviewed(&self, kind: ReviewKind, customer_id: &str, id: &str) -> StoreResult<()>;

    /// The customer's messages accepted in `[from_ms, to_ms)`, oldest first, after the
    /// message id `after`: the regulatory export (clause 3.1).
    async fn message_records(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>>;
    /// Erases the content of the customer's records made before `before_ms` (at most `limit`
    /// messages a call; billing fields, ledger and events stay), with `audit` when anything
    /// went.
    async fn purge_content(
        &self,
        customer_id: &str,
        before_ms: i64,
        limit: u32,
        audit: AuditEntry,
    ) -> StoreResult<PurgeReport>;
    /// Walks the ledger's hash chain (clause 3.8): the whole chain, or its first break.
    async fn verify_ledger(&self) -> StoreResult<Result<ChainReport, ChainBreak>>;

    // Operations (issue 6)
    /// Posts notices (one per customer and event: a repeat is ignored), each with its
    /// `notice.created` webhook event; returns how many were new.
    async fn post_notices(&self, notices: Vec<NewNotice>, at: i64) -> StoreResult<u64>;
    /// Newest first, of one customer or all, before the notice id `before`.
    async fn list_notices(
        &self,
        customer_id: Option<&str>,
        before: Option<&str>,
        unread_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<Notice>>;
    async fn find_notice(&self, customer_id: &str, id: &str) -> StoreResult<Notice>;
    /// Every customer's notice about one event (`reference`), at most `limit`.
    async fn notices_about(&self, reference: &str, limit: u32) -> StoreResult<Vec<Notice>>;
    /// Records the customer's reading (the first one is kept).
    async fn read_notice(&self, customer_id: &str, id: &str, at: i64) -> StoreResult<Notice>;
    /// Notices due to be emailed at `now` (the customer has a notice address), at most `limit`.
    async fn notices_to_email(&self, now: i64, limit: u32) -> StoreResult<Vec<NoticeEmail>>;
    async fn notice_emailed(&self, id: &str, outcome: EmailOutcome) -> StoreResult<()>;
    /// Where the customer's notices are emailed (`None`: nowhere), with its audit entry.
    async fn set_notice_email(
        &self,
        customer_id: &str,
        email: Option<String>,
        audit: AuditEntry,
    ) -> StoreResult<Customer>;
    /// A window with its notices and audit entry, in one transaction.
    async fn create_maintenance(
        &self,
        window: MaintenanceWindow,
        notices: Vec<NewNotice>,
        audit: AuditEntry,
    ) -> StoreResult<MaintenanceWindow>;
    async fn find_maintenance(&self, id: &str) -> StoreResult<MaintenanceWindow>;
    /// `Conflict` once the window ended or was cancelled.
    async fn cancel_maintenance(
        &self,
        id: &str,
        at: i64,
        notices: Vec<NewNotice>,
        audit: AuditEntry,
    ) -> StoreResult<MaintenanceWindow>;
    /// Windows ending after `ending_after`, soonest first.
    async fn list_maintenance(
        &self,
        ending_after: i64,
        include_cancelled: bool,
        limit: u32,
    ) -> StoreResult<Vec<MaintenanceWindow>>;
    /// A breach notice with its notice to the customer and audit entry.
    async fn issue_breach(&self, breach: Breach, notice: NewNotice, audit: AuditEntry) -> StoreResult<Breach>;
    async fn find_breach(&self, id: &str) -> StoreResult<Breach>;
    async fn list_breaches(&self, customer_id: Option<&str>, limit: u32) -> StoreResult<Vec<Breach>>;
    /// `Conflict` when the breach is already cured or terminated.
    async fn cure_breach(
        &self,
        id: &str,
        note: &str,
        at: i64,
        notice: NewNotice,
        audit: AuditEntry,
    ) -> StoreResult<Breach>;
    /// Ends the customer's service for an uncured breach past its deadline (clause 6), in one
    /// transaction: agreements terminated, keys revoked, SMPP accounts removed, waiting
    /// messages cancelled and refunded, the balance paid back by a refund entry.
    async fn terminate(
        &self,
        breach_id: &str,
        at: i64,
        notice: NewNotice,
        audit: AuditEntry,
    ) -> StoreResult<(Breach, Termination)>;
    /// Deletes a terminated customer's personal data (messages, replies, contacts, …),
    /// keeping the ledger, agreements and audit trail; returns the rows deleted.
    async fn erase_customer(&self, customer_id: &str, at: i64, audit: AuditEntry) -> StoreResult<u64>;
    async fn set_low_balance_threshold(
        &self,
        customer_id: &str,
        threshold: Option<Money>,
        audit: AuditEntry,
    ) -> StoreResult<Customer>;
    /// Notices customers whose balance fell under their threshold, once per fall; `make`
    /// writes the notice from (customer id, balance, threshold). Returns how many.
    async fn low_balance_warnings(&self, at: i64, make: LowBalanceNotice) -> StoreResult<u64>;
    // Customer service (clause 3.6) and billing disputes (clause 3.8)
    /// Opens a ticket. Every message id must be one of the customer's messages, else
    /// `Refused(invalid_reference)` naming the first that is not (`message_ids[i]`).
    async fn open_ticket(&self, ticket: NewTicket) -> StoreResult<Ticket>;
    /// A ticket with its replies and the adjustments that settled it, read together; with
    /// `customer_id`, only that customer's (`NotFound` otherwise).
    async fn find_ticket(&self, customer_id: Option<&str>, id: &str) -> StoreResult<TicketThread>;
    /// Newest first, at most `filter.limit`.
    async fn list_tickets(&self, filter: TicketFilter) -> StoreResult<Vec<Ticket>>;
    /// Adds a reply and moves the ticket as replies do (`TicketStatus::after_reply`;
    /// `Refused(conflict)` when its status takes none), with `audit` (given its before and
    /// after) for an operator's answer. With `customer_id`, only that customer's ticket.
    async fn reply_ticket(
        &self,
        customer_id: Option<&str>,
        reply: TicketReply,
        audit: Option<AuditEntry>,
    ) -> StoreResult<TicketThread>;
    /// The operator moves a ticket to `status` (`TicketStatus::operator_may_set`), with its
    /// audit entry (given its before and after).
    async fn set_ticket_status(&self, id: &str, status: TicketStatus, audit: AuditEntry) -> StoreResult<TicketThread>;
    /// Posts an adjustment that settles ticket `ticket_id` of the entry's customer: the
    /// entry's `reference` becomes the ticket id (the ledger has no other column for it, and
    /// its hash covers it), and `audit` is written with it. A ticket that does not exist or
    /// is another customer's is `Refused(invalid_reference)` (`field` `ticket`).
    async fn settle_ticket(
        &self,
        ticket_id: &str,
        entry: NewLedgerEntry,
        audit: AuditEntry,
    ) -> StoreResult<LedgerEntry>;
    // Billing documents (issue 6: clauses 3.8 and 5), read in one transaction each
    /// The customer's ledger over the period `[from_ms, to_ms)`, aggregated for its monthly
    /// statement: opening and closing balance, entries by kind and CST day (charges also by
    /// destination carrier), the chain head, and its top-ups and adjustments one by one (at
    /// most `list_limit` of each).
    async fn statement(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        list_limit: u32,
    ) -> StoreResult<StatementData>;
    /// The messages charged in `[from_ms, to_ms)` by the link they went out on and CST day,
    /// with what the carriers accepted, receipted and refused of them.
    async fn reconciliation(&self, from_ms: i64, to_ms: i64) -> StoreResult<Vec<ReconciliationRow>>;

    // Monitoring and benchmarks
    /// When each of the customer's newest `limit` messages was accepted, submitted and ended.
    async fn message_timings(&self, customer_id: &str, limit: u32) -> StoreResult<Vec<MessageTiming>>;
    /// The customer's messages accepted in `[from_ms, to_ms)`, counted by period of
    /// `period_ms` (starting at `from_ms`) and by their status now, in period order: the
    /// console's traffic and delivery charts. An id range scan (ids carry their time).
    async fn traffic(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        period_ms: i64,
    ) -> StoreResult<Vec<TrafficRow>>;

    // Several nodes on one database (issue 7; see `cluster`)
    /// Records that `node` is alive until `alive_until`; returns the ids of the nodes alive at
    /// `now_ms`, this one included, in id order.
    async fn heartbeat(&self, node: &str, now_ms: i64, alive_until: i64) -> StoreResult<Vec<String>>;
    /// Takes lease `name` for `holder` until `until` if it is free (never taken, expired or
    /// released) — with the next fencing token — or already `holder`'s (the same token,
    /// extended); `None` while another node holds it.
    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, until: i64) -> StoreResult<Option<Lease>>;
    /// Extends a lease still held with its token and not expired at `now_ms`; `false` when it
    /// was lost (expired, or taken over: the token fences it).
    async fn renew_lease(&self, lease: &Lease, now_ms: i64, until: i64) -> StoreResult<bool>;
    /// Gives a lease up at once (only while still held with its token).
    async fn release_lease(&self, lease: &Lease) -> StoreResult<()>;
    /// Every lease with its holder, by name.
    async fn list_leases(&self) -> StoreResult<Vec<Lease>>;
    /// Claims queued messages for `claim.node`, in queue order, skipping those another live
    /// node has claimed (and, on PostgreSQL, rows another transaction is claiming: SKIP
    /// LOCKED). A message claimed before by a node that is no longer alive comes back with
    /// `maybe_sent`: it may have reached a carrier before that node died.
    async fn claim_queued(&self, claim: QueueClaim) -> StoreResult<Vec<QueuedMessage>>;
    /// Gives back `node`'s claim on a queued message none of whose parts went out (its
    /// carriers are no longer bound on this node), so that another node can send it.
    async fn release_claim(&self, node: &str, customer_id: &str, message_id: &str) -> StoreResult<()>;

    // Console users and sessions (issue 8)
    /// Adds a user. `Conflict` when the e-mail is taken in its area; `NotFound` when a
    /// customer user names no existing customer. `audit`, when given, is recorded with it.
    async fn create_console_user(&self, user: ConsoleUser, audit: Option<AuditEntry>) -> StoreResult<ConsoleUser>;
    /// The user with this (lowercased) e-mail in `area`, disabled or not.
    async fn find_console_user(&self, area: ConsoleArea, email: &str) -> StoreResult<Option<ConsoleUser>>;
    async fn get_console_user(&self, id: &str) -> StoreResult<ConsoleUser>;
    /// The users of `area`, of one customer when `customer_id` is given, by e-mail.
    async fn list_console_users(&self, area: ConsoleArea, customer_id: Option<&str>) -> StoreResult<Vec<ConsoleUser>>;
    /// Applies `change` at `now_ms`; disabling or a new password deletes the user's sessions
    /// in the same transaction. `audit` is recorded with it.
    async fn change_console_user(
        &self,
        id: &str,
        change: ConsoleUserChange,
        now_ms: i64,
        audit: AuditEntry,
    ) -> StoreResult<ConsoleUser>;
    async fn create_console_session(&self, session: ConsoleSession) -> StoreResult<()>;
    /// The live session with this token hash and its user: `None` when there is none, it
    /// expired at `now_ms` (idle or absolute), or its user is disabled.
    async fn find_console_session(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> StoreResult<Option<(ConsoleSession, ConsoleUser)>>;
    /// Records activity: `last_seen_at = now_ms`, `expires_at = min(idle_until, absolute)`.
    async fn touch_console_session(&self, id_hash: &str, now_ms: i64, idle_until: i64) -> StoreResult<()>;
    /// Ends one session (sign-out); no error when it is already gone.
    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Deletes the sessions expired at `now_ms`; returns how many.
    async fn purge_console_sessions(&self, now_ms: i64) -> StoreResult<u64>;
}

//! The PostgreSQL backend, for several gateway nodes on one database (issue 7).
//!
//! Every method is one transaction on a connection from a pool (deadpool); PostgreSQL
//! group-commits concurrent transactions itself. The SQL follows the SQLite backend's,
//! module by module, so the two read side by side; one conformance suite
//! (`tests/conformance.rs`) holds both to the same contract.
//!
//! # Concurrency rules (several nodes write at once)
//! - A transaction that changes a balance locks the customer's row first
//!   ([`ledger::lock_balance`], or [`ledger::lock_customers`] for several, in id order), so
//!   concurrent charges from any node see each other and the balance never goes negative.
//! - Ledger entries are written at commit ([`Tx::commit`]): the transaction locks the row
//!   `ledger_head` last, after every customer row it needed, chains its entries to the head
//!   and writes the new head. The chain is therefore one sequence across nodes, and the head
//!   lock, being taken last and held only for the commit, never takes part in a deadlock.
//! - A deadlock or serialization failure that PostgreSQL resolves by aborting a transaction
//!   comes back as [`StoreError::Aborted`]: nothing was written, retrying is safe.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use tongdao_domain::agreement::{Agreement, AgreementChange};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Clock, Money, SystemClock, Tariff};

use crate::model::*;
use crate::{Store, StoreError, StoreResult};

mod billing;
mod carrier;
mod cluster;
mod compliance;
mod console;
mod core;
mod ledger;
mod lifecycle;
mod messages;
mod moderation;
mod smpp;
mod status;
mod tickets;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "schema", include_str!("../migrations/postgres/0001_schema.sql")),
    (2, "cluster", include_str!("../migrations/postgres/0002_cluster.sql")),
    (3, "console", include_str!("../migrations/postgres/0003_console.sql")),
];

/// Tuning for [`PgStore::connect_with`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the pool at most.
    pub connections: usize,
    /// How long a caller waits for a free connection before the request fails.
    pub wait: Duration,
    /// Accepts committed together in one transaction at most (group commit).
    pub max_batch: usize,
    /// Accept transactions running at once at most.
    pub accept_transactions: usize,
    /// Accepts waiting for a transaction at most; callers wait when it is full.
    pub queue: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            connections: 16,
            wait: Duration::from_secs(10),
            max_batch: 256,
            accept_transactions: 1,
            queue: 8192,
        }
    }
}

/// An accept waiting for the group commit, with the way its answer goes back.
type PendingAccept = (AcceptBatch, tokio::sync::oneshot::Sender<StoreResult<AcceptOutcome>>);

/// Connections kept apart for heartbeats and leases.
const CONTROL_CONNECTIONS: usize = 2;

pub struct PgStore {
    pool: Pool,
    control: Pool,
    /// Where the store is, without its password (for logs and `Debug`).
    location: String,
    counters: Arc<Counters>,
    /// Accepts go to the group commit ([`group_accepts`]); `None` in the store it runs on.
    accepts: Option<tokio::sync::mpsc::Sender<PendingAccept>>,
    /// The dispatch mark when the store was opened (single-node dispatch, as on SQLite):
    /// queued messages at or below it may have been handed to a carrier before a restart.
    mark_at_open: i64,
}

#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    busy_micros: AtomicU64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("location", &self.location).finish_non_exhaustive()
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match e.code() {
            Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE => {
                StoreError::Aborted
            }
            _ => StoreError::Backend(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            }),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            other => StoreError::Backend(format!("no database connection: {other}")),
        }
    }
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn parse_url(url: &str) -> StoreResult<tokio_postgres::Config> {
    url.parse::<tokio_postgres::Config>().map_err(|e| StoreError::Backend(format!("bad database URL: {e}")))
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Applies the migrations not yet applied, under an advisory lock so that nodes starting
/// together apply each once; returns the versions applied now.
pub async fn migrate(url: &str) -> StoreResult<Vec<i64>> {
    let (mut client, connection) = parse_url(url)?.connect(NoTls).await?;
    let task = tokio::spawn(connection);
    let result = migrate_client(&mut client).await;
    drop(client);
    let _ = task.await;
    result
}

/// An arbitrary constant: the advisory lock key of migrations.
const MIGRATION_LOCK: i64 = 0x7467_6461_6f5f_6d69;

async fn migrate_client(client: &mut tokio_postgres::Client) -> StoreResult<Vec<i64>> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let result = apply_migrations(client).await;
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
    result
}

async fn apply_migrations(client: &mut tokio_postgres::Client) -> StoreResult<Vec<i64>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
    let recorded: Vec<i64> = client
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if let Some(unknown) = recorded.iter().find(|v| !MIGRATIONS.iter().any(|m| m.0 == **v)) {
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        return Err(StoreError::Backend(format!(
            "the database has schema version {unknown}, which this binary does not know (it knows up to {known}); \
             upgrade tongdao"
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| !recorded.contains(&m.0)) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[version, name, &SystemClock.now_ms()],
        )
        .await?;
        tx.commit().await?;
        applied.push(*version);
    }
    Ok(applied)
}

/// Creates a new, empty schema in the database at `url` and returns a URL whose connections
/// use it: a database of one's own for a test, on a server shared with other tests.
pub async fn scratch_schema(url: &str, name: &str) -> StoreResult<String> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::Backend(format!("bad schema name {name:?}")));
    }
    let (client, connection) = parse_url(url)?.connect(NoTls).await?;
    let task = tokio::spawn(connection);
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")).await?;
    drop(client);
    let _ = task.await;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}options=-csearch_path%3D{name}"))
}

impl PgStore {
    /// Connects to the database at `url` and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        Self::connect_with(url, PgOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: PgOptions) -> StoreResult<PgStore> {
        let config = parse_url(url)?;
        migrate(url).await?;
        let pool = |size: usize| {
            let manager =
                Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
            Pool::builder(manager)
                .max_size(size)
                .wait_timeout(Some(options.wait))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))
        };
        let mut store = PgStore {
            pool: pool(options.connections.max(1))?,
            control: pool(CONTROL_CONNECTIONS)?,
            location: redact_url(url),
            counters: Arc::default(),
            accepts: None,
            mark_at_open: 0,
        };
        store.mark_at_open = carrier::dispatch_mark(&store.client().await?).await?;
        let (accepts, pending) = tokio::sync::mpsc::channel(options.queue.max(1));
        let writer = PgStore { accepts: None, ..store.clone_handles() };
        tokio::spawn(group_accepts(writer, pending, options.max_batch.max(1), options.accept_transactions.max(1)));
        store.accepts = Some(accepts);
        Ok(store)
    }

    /// The same pools and counters (a store for the group commit's task).
    fn clone_handles(&self) -> PgStore {
        PgStore {
            pool: self.pool.clone(),
            control: self.control.clone(),
            location: self.location.clone(),
            counters: self.counters.clone(),
            accepts: None,
            mark_at_open: self.mark_at_open,
        }
    }

    /// A connection from the pool.
    pub(crate) async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// A connection for heartbeats and leases, which must not wait behind requests: a node
    /// whose pool is busy with traffic would otherwise miss its renewals and lose its leases.
    pub(crate) async fn control_client(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.control.get().await?)
    }
}

/// A write transaction: the ledger entries it makes are chained and written at [`Tx::commit`].
pub(crate) struct Tx<'a> {
    pub t: deadpool_postgres::Transaction<'a>,
    ledger: Vec<ledger::LedgerRow>,
    started: Instant,
}

impl<'a> Tx<'a> {
    pub async fn begin(client: &'a mut deadpool_postgres::Object) -> StoreResult<Tx<'a>> {
        Ok(Tx { t: client.transaction().await?, ledger: Vec::new(), started: Instant::now() })
    }

    /// Queues a ledger entry; it is written, chained, at commit.
    pub fn append_ledger(&mut self, row: ledger::LedgerRow) {
        self.ledger.push(row);
    }

    /// Writes the queued ledger entries (returning their seq, in order) and commits.
    pub async fn commit(self, counters: &PgStore) -> StoreResult<Vec<i64>> {
        let seqs = ledger::flush(&self.t, self.ledger).await?;
        self.t.commit().await?;
        counters.counters.commits.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        counters.counters.busy_micros.fetch_add(micros, Ordering::Relaxed);
        Ok(seqs)
    }
}

/// The group commit of accepts (design decision 3, as the SQLite writer does it): concurrent
/// accepts are committed together, each in its own savepoint of one transaction
/// (`accept_many`), so a customer's row and the ledger's head are locked once for many of
/// them rather than once each. Up to `parallel` transactions run at once; while they do,
/// the next accepts gather.
async fn group_accepts(
    store: PgStore,
    mut pending: tokio::sync::mpsc::Receiver<PendingAccept>,
    max_batch: usize,
    parallel: usize,
) {
    let store = Arc::new(store);
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    while let Some(first) = pending.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let mut group = vec![first];
        while group.len() < max_batch {
            match pending.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let store = store.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (batches, answers): (Vec<_>, Vec<_>) = group.into_iter().unzip();
            if batches.len() == 1 {
                let outcome = match batches.into_iter().next() {
                    Some(batch) => messages::accept(&store, batch).await,
                    None => return,
                };
                for answer in answers {
                    let _ = answer.send(outcome.clone());
                }
                return;
            }
            match messages::accept_many(&store, batches).await {
                Ok(outcomes) => {
                    for (answer, outcome) in answers.into_iter().zip(outcomes) {
                        let _ = answer.send(outcome);
                    }
                }
                Err(error) => {
                    for answer in answers {
                        let _ = answer.send(Err(error.clone()));
                    }
                }
            }
        });
    }
}

// ---- query helpers: every statement is prepared once per connection --------------------

pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(crate) async fn rows<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

pub(crate) async fn row_opt<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

/// The one row of a query, `NotFound` when there is none.
pub(crate) async fn row<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<Row> {
    row_opt(c, sql, params).await?.ok_or(StoreError::NotFound)
}

pub(crate) async fn exec<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// A column holding a JSON array of strings.
pub(crate) fn string_list(r: &Row, column: usize) -> StoreResult<Vec<String>> {
    let text: String = r.try_get(column)?;
    serde_json::from_str(&text).map_err(|_| bad_column(column, "not a JSON array of strings"))
}

pub(crate) fn bad_column(column: usize, what: &str) -> StoreError {
    StoreError::Backend(format!("column {column}: {what}"))
}

/// Whether a unique constraint refused the statement.
pub(crate) fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.starts_with("23505"))
}

#[async_trait]
impl Store for PgStore {
    fn write_stats(&self) -> WriteStats {
        let commits = self.counters.commits.load(Ordering::Relaxed);
        WriteStats {
            commits,
            jobs: commits,
            wal_truncations: 0,
            busy_micros: self.counters.busy_micros.load(Ordering::Relaxed),
            syncs: commits,
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        core::ping(self).await
    }

    async fn create_customer(&self, customer: NewCustomer) -> StoreResult<Customer> {
        core::create_customer(self, customer).await
    }

    async fn find_customer(&self, id_or_name: &str) -> StoreResult<Customer> {
        core::find_customer(self, id_or_name).await
    }

    async fn list_customers(&self) -> StoreResult<Vec<Customer>> {
        core::list_customers(self).await
    }

    async fn create_agreement(&self, agreement: Agreement) -> StoreResult<Agreement> {
        core::create_agreement(self, agreement).await
    }

    async fn find_agreement(&self, id: &str) -> StoreResult<Agreement> {
        core::find_agreement(self, id).await
    }

    async fn current_agreement(&self, customer_id: &str) -> StoreResult<Option<Agreement>> {
        core::current_agreement(self, customer_id).await
    }

    async fn list_agreements(&self, customer_id: &str) -> StoreResult<Vec<Agreement>> {
        core::list_agreements(self, customer_id).await
    }

    async fn change_agreement(
        &self,
        id: &str,
        change: AgreementChange,
        now_ms: i64,
        audit: Option<AuditEntry>,
    ) -> StoreResult<Agreement> {
        core::change_agreement(self, id, change, now_ms, audit).await
    }

    async fn put_tariff(&self, customer_id: &str, tariff: Tariff, now_ms: i64) -> StoreResult<()> {
        core::put_tariff(self, customer_id, tariff, now_ms).await
    }

    async fn tariff(&self, customer_id: &str) -> StoreResult<Option<Tariff>> {
        core::tariff(self, customer_id).await
    }

    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        core::create_api_key(self, key).await
    }

    async fn list_api_keys(&self, customer_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        core::list_api_keys(self, customer_id).await
    }

    async fn revoke_api_key(&self, customer_id: &str, key_id: &str, now_ms: i64) -> StoreResult<ApiKeyRecord> {
        core::revoke_api_key(self, customer_id, key_id, now_ms).await
    }

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        core::find_api_key(self, hash).await
    }

    async fn rotate_operator_token(&self, id: &str, hash: &str, now_ms: i64) -> StoreResult<()> {
        core::rotate_operator_token(self, id, hash, now_ms).await
    }

    async fn operator_token_valid(&self, hash: &str) -> StoreResult<bool> {
        core::operator_token_valid(self, hash).await
    }

    async fn post_ledger_entry(&self, entry: NewLedgerEntry) -> StoreResult<LedgerEntry> {
        core::post_ledger_entry(self, entry).await
    }

    async fn list_ledger(&self, customer_id: &str, after_seq: i64, limit: u32) -> StoreResult<Vec<LedgerEntry>> {
        core::list_ledger(self, customer_id, after_seq, limit).await
    }

    async fn balance(&self, customer_id: &str) -> StoreResult<BalanceCheck> {
        core::balance(self, customer_id).await
    }

    async fn idempotent_answer(&self, customer_id: &str, key: &str, now_ms: i64) -> StoreResult<Option<KeptAnswer>> {
        messages::idempotent_answer(self, customer_id, key, now_ms).await
    }

    async fn accept(&self, batch: AcceptBatch) -> StoreResult<AcceptOutcome> {
        let Some(accepts) = &self.accepts else { return messages::accept(self, batch).await };
        let (answer, answered) = tokio::sync::oneshot::channel();
        accepts.send((batch, answer)).await.map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }

    async fn accept_many(&self, batches: Vec<AcceptBatch>) -> StoreResult<Vec<StoreResult<AcceptOutcome>>> {
        messages::accept_many(self, batches).await
    }

    async fn find_message(&self, customer_id: &str, id: &str) -> StoreResult<(StoredMessage, Vec<MessageEvent>)> {
        messages::find_message(self, customer_id, id).await
    }

    async fn list_messages(&self, customer_id: &str, filter: MessageFilter) -> StoreResult<Vec<StoredMessage>> {
        messages::list_messages(self, customer_id, filter).await
    }

    async fn cancel_message(&self, customer_id: &str, id: &str, now_ms: i64) -> StoreResult<StoredMessage> {
        messages::cancel_message(self, customer_id, id, now_ms).await
    }

    async fn sweep(&self, now_ms: i64, limit: u32) -> StoreResult<SweepReport> {
        messages::sweep(self, now_ms, limit).await
    }

    async fn queued_after(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<QueuedMessage>> {
        carrier::queued_after(self, after_seq, limit).await
    }

    async fn mark_dispatched(&self, after_seq: i64, queue_seq: i64, read: usize) -> StoreResult<Option<Vec<String>>> {
        carrier::mark_dispatched(self, after_seq, queue_seq, read).await
    }

    async fn record_progress(&self, progress: Vec<Progress>) -> StoreResult<Vec<Recorded>> {
        carrier::record_progress(self, progress).await
    }

    async fn forget_early_receipts(&self, older_than_ms: i64) -> StoreResult<u64> {
        carrier::forget_early_receipts(self, older_than_ms).await
    }

    async fn add_number(&self, number: CustomerNumber) -> StoreResult<CustomerNumber> {
        carrier::add_number(self, number).await
    }

    async fn remove_number(&self, customer_id: &str, number: &str) -> StoreResult<()> {
        carrier::remove_number(self, customer_id, number).await
    }

    async fn list_numbers(&self, customer_id: &str) -> StoreResult<Vec<CustomerNumber>> {
        carrier::list_numbers(self, customer_id).await
    }

    async fn record_inbound(&self, inbound: NewInbound) -> StoreResult<Option<InboundMessage>> {
        carrier::record_inbound(self, inbound).await
    }

    async fn list_inbound(
        &self,
        customer_id: &str,
        before: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<InboundMessage>> {
        carrier::list_inbound(self, customer_id, before, limit).await
    }

    async fn webhook_settings(&self, customer_id: &str) -> StoreResult<WebhookSettings> {
        carrier::webhook_settings(self, customer_id).await
    }

    async fn set_webhook_url(&self, customer_id: &str, url: Option<String>) -> StoreResult<WebhookSettings> {
        carrier::set_webhook_url(self, customer_id, url).await
    }

    async fn set_webhook_secret(
        &self,
        customer_id: &str,
        secret: &str,
        only_if_unset: bool,
    ) -> StoreResult<WebhookSettings> {
        carrier::set_webhook_secret(self, customer_id, secret, only_if_unset).await
    }

    async fn due_endpoints(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueEndpoint>> {
        carrier::due_endpoints(self, now_ms, limit).await
    }

    async fn endpoint_events(
        &self,
        customer_id: &str,
        url: &str,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>> {
        carrier::endpoint_events(self, customer_id, url, after_id, limit).await
    }

    async fn webhook_delivered(&self, customer_id: &str, url: &str, ids: Vec<i64>, at_ms: i64) -> StoreResult<()> {
        carrier::webhook_delivered(self, customer_id, url, ids, at_ms).await
    }

    async fn webhook_failed(
        &self,
        customer_id: &str,
        url: &str,
        next_attempt_at: i64,
        error: &str,
        give_up_before_ms: i64,
        at_ms: i64,
    ) -> StoreResult<u64> {
        carrier::webhook_failed(self, customer_id, url, next_attempt_at, error, give_up_before_ms, at_ms).await
    }

    async fn webhook_deliveries(&self, customer_id: &str, limit: u32) -> StoreResult<Vec<WebhookDelivery>> {
        carrier::webhook_deliveries(self, customer_id, limit).await
    }

    async fn outbox_depth(&self) -> StoreResult<u64> {
        carrier::outbox_depth(self).await
    }

    async fn create_smpp_account(&self, account: SmppAccount) -> StoreResult<SmppAccount> {
        smpp::create_smpp_account(self, account).await
    }

    async fn update_smpp_account(&self, account: SmppAccount) -> StoreResult<SmppAccount> {
        smpp::update_smpp_account(self, account).await
    }

    async fn delete_smpp_account(&self, customer_id: &str, system_id: &str) -> StoreResult<()> {
        smpp::delete_smpp_account(self, customer_id, system_id).await
    }

    async fn find_smpp_account(&self, system_id: &str) -> StoreResult<Option<SmppAccount>> {
        smpp::find_smpp_account(self, system_id).await
    }

    async fn list_smpp_accounts(&self, customer_id: &str) -> StoreResult<Vec<SmppAccount>> {
        smpp::list_smpp_accounts(self, customer_id).await
    }

    async fn smpp_pending(&self, customer_id: &str, after_id: i64, limit: u32) -> StoreResult<Vec<SmppDelivery>> {
        smpp::smpp_pending(self, customer_id, after_id, limit).await
    }

    async fn smpp_delivered(&self, customer_id: &str, ids: Vec<i64>) -> StoreResult<()> {
        smpp::smpp_delivered(self, customer_id, ids).await
    }

    async fn expire_smpp_outbox(&self, before_ms: i64, limit: u32) -> StoreResult<u64> {
        smpp::expire_smpp_outbox(self, before_ms, limit).await
    }

    async fn smpp_outbox_depth(&self) -> StoreResult<u64> {
        smpp::smpp_outbox_depth(self).await
    }

    async fn upsert_contacts(&self, customer_id: &str, contacts: Vec<Contact>) -> StoreResult<u64> {
        compliance::upsert_contacts(self, customer_id, contacts).await
    }

    async fn find_contact(&self, customer_id: &str, number: &str) -> StoreResult<Contact> {
        compliance::find_contact(self, customer_id, number).await
    }

    async fn delete_contact(&self, customer_id: &str, number: &str) -> StoreResult<()> {
        compliance::delete_contact(self, customer_id, number).await
    }

    async fn list_contacts(&self, customer_id: &str, after: &str, limit: u32) -> StoreResult<Vec<Contact>> {
        compliance::list_contacts(self, customer_id, after, limit).await
    }

    async fn lists_in_use(&self, customer_id: &str) -> StoreResult<ListsInUse> {
        compliance::lists_in_use(self, customer_id).await
    }

    async fn recipient_flags(&self, customer_id: &str, numbers: Vec<String>) -> StoreResult<Vec<RecipientFlags>> {
        compliance::recipient_flags(self, customer_id, numbers).await
    }

    async fn add_suppression(&self, customer_id: &str, suppression: Suppression) -> StoreResult<Suppression> {
        compliance::add_suppression(self, customer_id, suppression).await
    }

    async fn remove_suppression(&self, customer_id: &str, number: &str) -> StoreResult<()> {
        compliance::remove_suppression(self, customer_id, number).await
    }

    async fn list_suppressions(&self, customer_id: &str, after: &str, limit: u32) -> StoreResult<Vec<Suppression>> {
        compliance::list_suppressions(self, customer_id, after, limit).await
    }

    async fn add_blocked(&self, blocked: BlockedNumber) -> StoreResult<BlockedNumber> {
        compliance::add_blocked(self, blocked).await
    }

    async fn remove_blocked(&self, number: &str) -> StoreResult<()> {
        compliance::remove_blocked(self, number).await
    }

    async fn list_blocked(&self, after: &str, limit: u32) -> StoreResult<Vec<BlockedNumber>> {
        compliance::list_blocked(self, after, limit).await
    }

    async fn out_of_scope_sends(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> StoreResult<(u64, Vec<OutOfScopeSend>)> {
        compliance::out_of_scope_sends(self, customer_id, from_ms, to_ms, limit).await
    }

    async fn record_violation(&self, violation: NewViolation, since_ms: i64) -> StoreResult<u64> {
        compliance::record_violation(self, violation, since_ms).await
    }

    async fn list_violations(
        &self,
        customer_id: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Violation>> {
        compliance::list_violations(self, customer_id, before_id, limit).await
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        compliance::append_audit(self, entry).await
    }

    async fn list_audit(&self, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        compliance::list_audit(self, before_id, limit).await
    }

    async fn held_messages(&self, after: &str, limit: u32) -> StoreResult<Vec<HeldMessage>> {
        moderation::held_messages(self, after, limit).await
    }

    async fn moderate(&self, message_id: &str, decision: Moderation, audit: AuditEntry) -> StoreResult<StoredMessage> {
        moderation::moderate(self, message_id, decision, audit).await
    }

    async fn create_reviewed(&self, kind: ReviewKind, item: Reviewed) -> StoreResult<Reviewed> {
        moderation::create_reviewed(self, kind, item).await
    }

    async fn find_reviewed(&self, kind: ReviewKind, id: &str) -> StoreResult<Reviewed> {
        moderation::find_reviewed(self, kind, id).await
    }

    async fn list_reviewed(
        &self,
        kind: ReviewKind,
        customer_id: Option<&str>,
        status: Option<ReviewStatus>,
    ) -> StoreResult<Vec<Reviewed>> {
        moderation::list_reviewed(self, kind, customer_id, status).await
    }

    async fn decide_reviewed(
        &self,
        kind: ReviewKind,
        id: &str,
        status: ReviewStatus,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> StoreResult<Reviewed> {
        moderation::decide_reviewed(self, kind, id, status, reason, audit).await
    }

    async fn delete_reviewed(&self, kind: ReviewKind, customer_id: &str, id: &str) -> StoreResult<()> {
        moderation::delete_reviewed(self, kind, customer_id, id).await
    }

    async fn message_records(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>> {
        messages::message_records(self, customer_id, from_ms, to_ms, after, limit).await
    }

    async fn purge_content(
        &self,
        customer_id: &str,
        before_ms: i64,
        limit: u32,
        audit: AuditEntry,
    ) -> StoreResult<PurgeReport> {
        messages::purge_content(self, customer_id, before_ms, limit, audit).await
    }

    async fn verify_ledger(&self) -> StoreResult<Result<ChainReport, ChainBreak>> {
        core::verify_ledger(self).await
    }

    async fn post_notices(&self, notices: Vec<NewNotice>, at: i64) -> StoreResult<u64> {
        lifecycle::post_notices(self, notices, at).await
    }

    async fn list_notices(
        &self,
        customer_id: Option<&str>,
        before: Option<&str>,
        unread_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<Notice>> {
        lifecycle::list_notices(self, customer_id, before, unread_only, limit).await
    }

    async fn find_notice(&self, customer_id: &str, id: &str) -> StoreResult<Notice> {
        lifecycle::find_notice(self, customer_id, id).await
    }

    async fn notices_about(&self, reference: &str, limit: u32) -> StoreResult<Vec<Notice>> {
        lifecycle::notices_about(self, reference, limit).await
    }

    async fn read_notice(&self, customer_id: &str, id: &str, at: i64) -> StoreResult<Notice> {
        lifecycle::read_notice(self, customer_id, id, at).await
    }

    async fn notices_to_email(&self, now: i64, limit: u32) -> StoreResult<Vec<NoticeEmail>> {
        lifecycle::notices_to_email(self, now, limit).await
    }

    async fn notice_emailed(&self, id: &str, outcome: EmailOutcome) -> StoreResult<()> {
        lifecycle::notice_emailed(self, id, outcome).await
    }

    async fn set_notice_email(
        &self,
        customer_id: &str,
        email: Option<String>,
        audit: AuditEntry,
    ) -> StoreResult<Customer> {
        lifecycle::set_notice_email(self, customer_id, email, audit).await
    }

    async fn create_maintenance(
        &self,
        window: MaintenanceWindow,
        notices: Vec<NewNotice>,
        audit: AuditEntry,
    ) -> StoreResult<MaintenanceWindow> {
        lifecycle::create_maintenance(self, window, notices, audit).await
    }

    async fn find_maintenance(&self, id: &str) -> StoreResult<MaintenanceWindow> {
        lifecycle::find_maintenance(self, id).await
    }

    async fn cancel_maintenance(
        &self,
        id: &str,
        at: i64,
        notices: Vec<NewNotice>,
        audit: AuditEntry,
    ) -> StoreResult<MaintenanceWindow> {
        lifecycle::cancel_maintenance(self, id, at, notices, audit).await
    }

    async fn list_maintenance(
        &self,
        ending_after: i64,
        include_cancelled: bool,
        limit: u32,
    ) -> StoreResult<Vec<MaintenanceWindow>> {
        lifecycle::list_maintenance(self, ending_after, include_cancelled, limit).await
    }

    async fn issue_breach(&self, breach: Breach, notice: NewNotice, audit: AuditEntry) -> StoreResult<Breach> {
        lifecycle::issue_breach(self, breach, notice, audit).await
    }

    async fn find_breach(&self, id: &str) -> StoreResult<Breach> {
        lifecycle::find_breach(self, id).await
    }

    async fn list_breaches(&self, customer_id: Option<&str>, limit: u32) -> StoreResult<Vec<Breach>> {
        lifecycle::list_breaches(self, customer_id, limit).await
    }

    async fn cure_breach(
        &self,
        id: &str,
        note: &str,
        at: i64,
        notice: NewNotice,
        audit: AuditEntry,
    ) -> StoreResult<Breach> {
        lifecycle::cure_breach(self, id, note, at, notice, audit).await
    }

    async fn terminate(
        &self,
        breach_id: &str,
        at: i64,
        notice: NewNotice,
        audit: AuditEntry,
    ) -> StoreResult<(Breach, Termination)> {
        lifecycle::terminate(self, breach_id, at, notice, audit).await
    }

    async fn erase_customer(&self, customer_id: &str, at: i64, audit: AuditEntry) -> StoreResult<u64> {
        lifecycle::erase_customer(self, customer_id, at, audit).await
    }

    async fn set_low_balance_threshold(
        &self,
        customer_id: &str,
        threshold: Option<Money>,
        audit: AuditEntry,
    ) -> StoreResult<Customer> {
        lifecycle::set_low_balance_threshold(self, customer_id, threshold, audit).await
    }

    async fn low_balance_warnings(&self, at: i64, make: crate::LowBalanceNotice) -> StoreResult<u64> {
        lifecycle::low_balance_warnings(self, at, make).await
    }

    async fn open_ticket(&self, ticket: NewTicket) -> StoreResult<Ticket> {
        tickets::open_ticket(self, ticket).await
    }

    async fn find_ticket(&self, customer_id: Option<&str>, id: &str) -> StoreResult<TicketThread> {
        tickets::find_ticket(self, customer_id, id).await
    }

    async fn list_tickets(&self, filter: TicketFilter) -> StoreResult<Vec<Ticket>> {
        tickets::list_tickets(self, filter).await
    }

    async fn reply_ticket(
        &self,
        customer_id: Option<&str>,
        reply: TicketReply,
        audit: Option<AuditEntry>,
    ) -> StoreResult<TicketThread> {
        tickets::reply_ticket(self, customer_id, reply, audit).await
    }

    async fn set_ticket_status(&self, id: &str, status: TicketStatus, audit: AuditEntry) -> StoreResult<TicketThread> {
        tickets::set_ticket_status(self, id, status, audit).await
    }

    async fn settle_ticket(
        &self,
        ticket_id: &str,
        entry: NewLedgerEntry,
        audit: AuditEntry,
    ) -> StoreResult<LedgerEntry> {
        tickets::settle_ticket(self, ticket_id, entry, audit).await
    }

    async fn statement(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        list_limit: u32,
    ) -> StoreResult<StatementData> {
        billing::statement(self, customer_id, from_ms, to_ms, list_limit).await
    }

    async fn reconciliation(&self, from_ms: i64, to_ms: i64) -> StoreResult<Vec<ReconciliationRow>> {
        billing::reconciliation(self, from_ms, to_ms).await
    }

    async fn message_timings(&self, customer_id: &str, limit: u32) -> StoreResult<Vec<MessageTiming>> {
        messages::message_timings(self, customer_id, limit).await
    }

    async fn traffic(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        period_ms: i64,
    ) -> StoreResult<Vec<TrafficRow>> {
        messages::traffic(self, customer_id, from_ms, to_ms, period_ms).await
    }

    async fn heartbeat(&self, node: &str, now_ms: i64, alive_until: i64) -> StoreResult<Vec<String>> {
        cluster::heartbeat(self, node, now_ms, alive_until).await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, until: i64) -> StoreResult<Option<Lease>> {
        cluster::acquire_lease(self, name, holder, now_ms, until).await
    }

    async fn renew_lease(&self, lease: &Lease, now_ms: i64, until: i64) -> StoreResult<bool> {
        cluster::renew_lease(self, lease, now_ms, until).await
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        cluster::release_lease(self, lease).await
    }

    async fn list_leases(&self) -> StoreResult<Vec<Lease>> {
        cluster::list_leases(self).await
    }

    async fn claim_queued(&self, claim: QueueClaim) -> StoreResult<Vec<QueuedMessage>> {
        cluster::claim_queued(self, claim).await
    }

    async fn release_claim(&self, node: &str, customer_id: &str, message_id: &str) -> StoreResult<()> {
        cluster::release_claim(self, node, customer_id, message_id).await
    }

    async fn create_console_user(&self, user: ConsoleUser, audit: Option<AuditEntry>) -> StoreResult<ConsoleUser> {
        console::create_console_user(self, user, audit).await
    }

    async fn find_console_user(&self, area: ConsoleArea, email: &str) -> StoreResult<Option<ConsoleUser>> {
        console::find_console_user(self, area, email).await
    }

    async fn get_console_user(&self, id: &str) -> StoreResult<ConsoleUser> {
        console::get_console_user(self, id).await
    }

    async fn list_console_users(&self, area: ConsoleArea, customer_id: Option<&str>) -> StoreResult<Vec<ConsoleUser>> {
        console::list_console_users(self, area, customer_id).await
    }

    async fn change_console_user(
        &self,
        id: &str,
        change: ConsoleUserChange,
        now_ms: i64,
        audit: AuditEntry,
    ) -> StoreResult<ConsoleUser> {
        console::change_console_user(self, id, change, now_ms, audit).await
    }

    async fn create_console_session(&self, session: ConsoleSession) -> StoreResult<()> {
        console::create_console_session(self, session).await
    }

    async fn find_console_session(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> StoreResult<Option<(ConsoleSession, ConsoleUser)>> {
        console::find_console_session(self, id_hash, now_ms).await
    }

    async fn touch_console_session(&self, id_hash: &str, now_ms: i64, idle_until: i64) -> StoreResult<()> {
        console::touch_console_session(self, id_hash, now_ms, idle_until).await
    }

    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()> {
        console::delete_console_session(self, id_hash).await
    }

    async fn purge_console_sessions(&self, now_ms: i64) -> StoreResult<u64> {
        console::purge_console_sessions(self, now_ms).await
    }
}

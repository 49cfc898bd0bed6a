//! The embedded backend: SQLite in WAL mode with `synchronous=FULL`.
//!
//! Writes go to one writer thread through a bounded channel. The thread takes every job
//! waiting (up to `max_batch`), runs them in one transaction, commits once — one fsync — and
//! only then answers every job: group commit (design decision 3). Jobs check before they
//! write, so a refused job leaves the others untouched (see `commit_batch`). A success answer
//! always means "on disk".
//!
//! Reads run on a small pool of reader connections on tokio's blocking pool; WAL lets them
//! proceed while the writer writes, and they see only committed data. A checkpointer thread
//! copies the WAL into the database file, and the writer empties the WAL when it grows past
//! its limit.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use tokio::sync::{mpsc, oneshot};
use tongdao_domain::agreement::{Agreement, AgreementChange, AgreementTerms, ChargeOn, ScopePolicy, date_format};
use tongdao_domain::ticket::TicketStatus;
use tongdao_domain::{Clock, MessageStatus, Money, ReceiptRequest, SystemClock, Tariff};

use self::frequency::RecipientCounts;
use crate::model::*;
use crate::{Store, StoreError, StoreResult};

pub(crate) mod billing;
pub(crate) mod carrier;
pub mod chain;
pub(crate) mod cluster;
mod compliance;
pub(crate) mod console;
mod frequency;
pub(crate) mod lifecycle;
mod moderation;
mod smpp;
pub(crate) mod tickets;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../migrations/sqlite/0001_foundation.sql")),
    (2, "carrier", include_str!("../migrations/sqlite/0002_carrier.sql")),
    (3, "smpp", include_str!("../migrations/sqlite/0003_smpp.sql")),
    (4, "compliance", include_str!("../migrations/sqlite/0004_compliance.sql")),
    (5, "ledger_chain", include_str!("../migrations/sqlite/0005_ledger_chain.sql")),
    (6, "operations", include_str!("../migrations/sqlite/0006_operations.sql")),
    (7, "tickets", include_str!("../migrations/sqlite/0007_tickets.sql")),
    (8, "cluster", include_str!("../migrations/sqlite/0008_cluster.sql")),
    (9, "console", include_str!("../migrations/sqlite/0009_console.sql")),
];

/// Tuning for [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Jobs committed together at most.
    pub max_batch: usize,
    /// Jobs waiting for the writer at most; senders wait when it is full (back-pressure).
    pub queue: usize,
    /// Idle reader connections kept.
    pub readers: usize,
    /// The WAL is emptied (between two group commits) once it is larger than this.
    pub wal_limit_bytes: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { max_batch: 1024, queue: 8192, readers: 4, wal_limit_bytes: 64 * 1024 * 1024 }
    }
}

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

pub struct SqliteStore {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    readers: Arc<ReaderPool>,
    /// Tells the checkpointer thread to stop when the store is dropped.
    closing: Arc<AtomicBool>,
    counters: Arc<Counters>,
    /// The next dispatch queue number; only the writer thread takes numbers, so they follow
    /// commit order.
    queue_seq: Arc<AtomicI64>,
    /// The dispatch mark when the store was opened: queued messages at or below it may have
    /// been handed to a carrier before a restart.
    mark_at_open: i64,
    /// Messages per customer and recipient in the current windows (see `frequency`).
    recipients: Arc<Mutex<RecipientCounts>>,
}

#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    jobs: AtomicU64,
    wal_truncations: AtomicU64,
    busy_micros: AtomicU64,
    syncs: AtomicU64,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        backend(e)
    }
}

/// The database holds phone numbers and message text: its files are the owner's alone
/// (mode 0600) whatever the umask. SQLite gives the WAL and shared-memory files the mode of
/// the database file, so creating that one 0600 is enough for new databases.
fn make_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", path.display()));
    if !path.exists() {
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    }
    for file in [path.to_owned(), sibling(path, "-wal"), sibling(path, "-shm")] {
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
    }
    Ok(())
}

fn connect(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!("could not enable WAL (journal_mode is {mode})")));
    }
    // FULL: the WAL is fsynced at every commit, so a committed transaction survives a
    // power cut, not only a process crash. The writer's connection turns this to NORMAL and
    // fsyncs the WAL itself, on the sync thread, before it answers (see `run_syncer`).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -64_000)?;
    conn.pragma_update(None, "mmap_size", 1_i64 << 30)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    // Plans never depend on bound values: a cached statement is not prepared again each
    // time it is bound to new ones (profiling showed readers re-preparing at every call).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

/// Applies the migrations not yet applied; returns the versions applied now.
pub fn migrate(path: &Path) -> StoreResult<Vec<i64>> {
    make_private(path)?;
    let mut conn = connect(path)?;
    migrate_connection(&mut conn)
}

fn migrate_connection(conn: &mut Connection) -> StoreResult<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    // Each version not recorded yet is applied, not only those above the newest recorded:
    // numbers are reserved ahead for work in progress, so a lower one may land after a
    // higher one has been applied somewhere.
    let recorded: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")?
        .query_map([], |r| r.get(0))?
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
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if *version == 5 {
            chain::backfill(&tx)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![version, name, SystemClock.now_ms()],
        )?;
        tx.commit()?;
        applied.push(*version);
    }
    Ok(applied)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Self::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(path: &Path, options: SqliteOptions) -> StoreResult<SqliteStore> {
        make_private(path)?;
        let mut conn = connect(path)?;
        migrate_connection(&mut conn)?;
        // Checkpoints run on their own thread (below), so the writer never stalls copying
        // the WAL back into the database file.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let last_seq: i64 = conn.query_row("SELECT COALESCE(MAX(queue_seq), 0) FROM messages", [], |r| r.get(0))?;
        let mark_at_open = carrier::dispatch_mark(&conn)?;
        let recipients = Arc::new(Mutex::new(RecipientCounts::rebuild(&conn)?));
        let (writer, jobs) = mpsc::channel::<Job>(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        let max_batch = options.max_batch.max(1);
        // The writer commits without waiting for the disk; the syncer thread fsyncs the WAL and
        // only then answers, while the writer already runs the next batch (see `run_syncer`).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let (synced, to_sync) = std::sync::mpsc::sync_channel::<Committed>(SYNC_QUEUE);
        // Groups handed to the sync thread and not yet answered.
        let syncing = Arc::new(AtomicU64::new(0));
        std::thread::Builder::new()
            .name("store-sync".into())
            .spawn({
                let wal = wal_path(path);
                let counters = counters.clone();
                let syncing = syncing.clone();
                move || run_syncer(&wal, to_sync, &counters, &syncing)
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the sync thread: {e}")))?;
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn({
                let wal = wal_path(path);
                let limit = options.wal_limit_bytes;
                let counters = counters.clone();
                let syncing = syncing.clone();
                move || {
                    run_writer(
                        conn,
                        jobs,
                        max_batch,
                        (&wal, limit),
                        &counters,
                        ToSync { groups: synced, pending: syncing },
                    )
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        let closing = Arc::new(AtomicBool::new(false));
        let checkpointer = connect(path)?;
        let stop = closing.clone();
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || run_checkpointer(checkpointer, stop))
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        let readers = Arc::new(ReaderPool {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            keep: options.readers.max(1),
            permits: Arc::new(tokio::sync::Semaphore::new(options.readers.max(1))),
        });
        Ok(SqliteStore {
            path: path.to_owned(),
            writer,
            readers,
            closing,
            counters,
            queue_seq: Arc::new(AtomicI64::new(last_seq + 1)),
            recipients,
            mark_at_open,
        })
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (job, answer) = job(f);
        self.writer.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let pool = self.readers.clone();
        let permit = pool.permits.clone().acquire_owned().await.map_err(|_| StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = f(&conn);
            pool.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("reader failed: {e}")))?
    }
}

/// Wraps a write as a job for the writer thread, with the channel its answer comes back on:
/// the write's own result, or the commit's error if the commit failed.
fn job<T: Send + 'static>(
    f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
) -> (Job, oneshot::Receiver<StoreResult<T>>) {
    let (tx, rx) = oneshot::channel::<StoreResult<T>>();
    let job: Job = Box::new(move |conn| {
        let result = f(conn);
        let ok = result.is_ok();
        let reply: Reply = Box::new(move |commit| {
            let _ = tx.send(commit.and(result));
        });
        (ok, reply)
    });
    (job, rx)
}

/// `tongdao.db` → `tongdao.db-wal`: the names SQLite gives its companion files.
fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn wal_path(db: &Path) -> PathBuf {
    sibling(db, "-wal")
}

/// Committed batches waiting for their fsync, at most; the writer waits when it is full.
const SYNC_QUEUE: usize = 64;

/// A committed (or rolled back) batch whose answers wait for the WAL to reach the disk.
struct Committed {
    replies: Vec<Reply>,
    result: Result<(), StoreError>,
}

/// The writer's end of the sync thread: where committed groups go, and how many are there.
struct ToSync {
    groups: std::sync::mpsc::SyncSender<Committed>,
    pending: Arc<AtomicU64>,
}

fn run_writer(
    conn: Connection,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    (wal, wal_limit): (&Path, u64),
    counters: &Counters,
    to_sync: ToSync,
) {
    let syncing = &*to_sync.pending;
    while let Some(first) = jobs.blocking_recv() {
        let started = std::time::Instant::now();
        let mut slept = Duration::ZERO;
        let mut open = match Open::begin(&conn) {
            Ok(open) => open,
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a write transaction; the job is refused");
                drop(first); // its dropped reply channel tells its caller
                continue;
            }
        };
        open.run(&conn, first);
        // Run every job waiting; while the sync thread is still making the previous group
        // durable, keep the transaction open and run what arrives meanwhile: the commit
        // would have to wait for that fsync anyway, and a bigger group costs fewer WAL pages
        // per job.
        loop {
            while open.jobs < max_batch {
                match jobs.try_recv() {
                    Ok(job) => open.run(&conn, job),
                    Err(_) => break,
                }
            }
            if open.jobs >= max_batch || syncing.load(Ordering::Acquire) == 0 {
                break;
            }
            let pause = std::time::Instant::now();
            std::thread::sleep(Duration::from_micros(20));
            slept += pause.elapsed();
        }
        counters.jobs.fetch_add(open.jobs as u64, Ordering::Relaxed);
        counters.commits.fetch_add(1, Ordering::Relaxed);
        let committed = open.finish(&conn);
        let busy = started.elapsed().saturating_sub(slept);
        counters.busy_micros.fetch_add(busy.as_micros() as u64, Ordering::Relaxed);
        syncing.fetch_add(1, Ordering::AcqRel);
        if to_sync.groups.send(committed).is_err() {
            tracing::error!("the sync thread is gone; stopping the writer");
            break;
        }
        if bound_wal(&conn, wal, wal_limit) {
            counters.wal_truncations.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "final checkpoint failed; the WAL is replayed at the next start");
    }
    tracing::debug!("store writer stopped: every sender is gone");
}

/// Copies committed WAL frames into the database file a few times a second, off the
/// writer's thread. PASSIVE never blocks the writer or readers.
fn run_checkpointer(conn: Connection, closing: Arc<AtomicBool>) {
    while !closing.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint failed; will retry");
        }
    }
}

/// Under a steady stream of commits a PASSIVE checkpoint never catches up with the WAL's end,
/// and the WAL only starts over once one has: alone, it lets the WAL grow without bound (3 GB
/// after a minute of load). So when the WAL is past the limit, the writer itself, between two
/// group commits, runs a TRUNCATE checkpoint: it copies the few frames PASSIVE has not yet
/// copied and empties the WAL.
fn bound_wal(conn: &Connection, wal: &Path, limit_bytes: u64) -> bool {
    let size = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    if size <= limit_bytes {
        return false;
    }
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, size, "could not empty the WAL; will retry after the next commit");
            false
        }
    }
}

/// Makes committed batches durable and answers them: takes every batch waiting, fsyncs the
/// WAL once for all of them, then answers their jobs. The writer commits with
/// `synchronous=NORMAL` (no fsync) and goes on with the next batch meanwhile, so the disk's
/// latency no longer stops the writer: group commit, pipelined. A job is still answered
/// only once its transaction is on disk. An fsync that fails answers every job in it with
/// an error (its data may or may not survive a power cut), and the next fsync is tried anew.
fn run_syncer(wal: &Path, to_sync: std::sync::mpsc::Receiver<Committed>, counters: &Counters, syncing: &AtomicU64) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(first) = to_sync.recv() {
        let mut batches = vec![first];
        while let Ok(more) = to_sync.try_recv() {
            batches.push(more);
        }
        let needs_sync = batches.iter().any(|b| b.result.is_ok());
        let synced = if needs_sync {
            if file.is_none() {
                file = std::fs::File::open(wal).map_err(|e| tracing::error!(error = %e, "cannot open the WAL")).ok();
            }
            let result = match &file {
                Some(f) => f.sync_data(),
                None => Err(std::io::Error::other("the WAL cannot be opened")),
            };
            counters.syncs.fetch_add(1, Ordering::Relaxed);
            result.map_err(|e| {
                tracing::error!(error = %e, "fsync of the WAL failed; the writes of this group are refused");
                file = None;
                StoreError::Backend(format!("fsync failed: {e}"))
            })
        } else {
            Ok(())
        };
        let groups = batches.len() as u64;
        for batch in batches {
            let result = batch.result.and(synced.clone());
            for reply in batch.replies {
                reply(result.clone());
            }
        }
        syncing.fetch_sub(groups, Ordering::AcqRel);
    }
}

/// Runs a batch of jobs in one transaction, as the writer does (tests drive it directly).
#[cfg(test)]
fn commit_batch(conn: &Connection, batch: &mut Vec<Job>) -> Committed {
    let mut open = match Open::begin(conn) {
        Ok(open) => open,
        Err(e) => {
            tracing::error!(error = %e, "cannot begin a write transaction; the batch is refused");
            batch.clear(); // each dropped job drops its reply channel: its caller gets an error
            return Committed { replies: Vec::new(), result: Err(e) };
        }
    };
    for job in batch.drain(..) {
        open.run(conn, job);
    }
    open.finish(conn)
}

/// A write transaction gathering jobs; its answers go to the sync thread.
///
/// Jobs check before they write (balance, idempotency, existence), so a job that fails has
/// normally changed nothing and the others commit as usual. That lets the batch run without
/// a SAVEPOINT per job, whose statement journal cost a sixth of the writer's time. A job that
/// fails after writing (an I/O error, a bug) spoils the batch: it is rolled back whole and
/// every job in it answered `Aborted`, which callers see as "retry".
struct Open {
    replies: Vec<Reply>,
    /// A job failed after writing: the transaction must roll back.
    spoiled: bool,
    jobs: usize,
}

impl Open {
    fn begin(conn: &Connection) -> Result<Open, StoreError> {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(backend)?;
        Ok(Open { replies: Vec::with_capacity(64), spoiled: false, jobs: 0 })
    }

    fn run(&mut self, conn: &Connection, job: Job) {
        self.jobs += 1;
        let before = conn.total_changes();
        match std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok((ok, reply)) => {
                self.spoiled |= !ok && conn.total_changes() != before;
                self.replies.push(reply);
            }
            Err(_) => {
                tracing::error!("a store job panicked");
                self.spoiled |= conn.total_changes() != before;
            }
        }
    }

    fn finish(self, conn: &Connection) -> Committed {
        let result = if self.spoiled {
            tracing::error!("a job failed after writing; the whole batch is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            Err(StoreError::Aborted)
        } else {
            match conn.execute_batch("COMMIT") {
                Ok(()) => Ok(()),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    tracing::error!(error = %e, "commit failed; every job in the batch is refused");
                    Err(backend(e))
                }
            }
        };
        Committed { replies: self.replies, result }
    }
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
    /// One per connection kept: reads beyond them wait for one instead of opening (and
    /// closing) a connection of their own, which costs a schema parse each time.
    permits: Arc<tokio::sync::Semaphore>,
}

impl ReaderPool {
    fn take(&self) -> StoreResult<Connection> {
        let idle = self.idle.lock().map_err(|_| StoreError::Backend("reader pool poisoned".into()))?.pop();
        match idle {
            Some(conn) => Ok(conn),
            None => connect(&self.path),
        }
    }
    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.keep
        {
            idle.push(conn);
        }
    }
}

// ---- rows ------------------------------------------------------------------------------

const CUSTOMER_COLUMNS: &str =
    "id, name, address, contact, balance, created_at, low_balance_threshold, terminated_at, erased_at, notice_email";

fn customer_row(r: &Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        name: r.get(1)?,
        address: r.get(2)?,
        contact: r.get(3)?,
        balance: Money::from_micros(r.get(4)?),
        created_at: r.get(5)?,
        low_balance_threshold: r.get::<_, Option<i64>>(6)?.map(Money::from_micros),
        terminated_at: r.get(7)?,
        erased_at: r.get(8)?,
        notice_email: r.get(9)?,
    })
}

const AGREEMENT_COLUMNS: &str = "id, customer_id, version, provider_name, provider_address, customer_name, \
     customer_address, effective_from, term_years, maintenance_notice_days, log_retention_months, cure_days, \
     scope_policy, charge_on, max_segments, terms_version, signed_at, accepted_at, accepted_terms_version, \
     suspended_at, suspension_reason, terminated_at, termination_reason, created_at, compliance";

/// A column holding a JSON array of strings.
fn string_list(r: &Row<'_>, column: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = r.get(column)?;
    serde_json::from_str(&text).map_err(|_| conversion_error(column, "not a JSON array of strings"))
}

fn conversion_error(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, what.to_owned().into())
}

fn agreement_row(r: &Row<'_>) -> rusqlite::Result<Agreement> {
    let effective: String = r.get(7)?;
    let scope: String = r.get(12)?;
    let charge: String = r.get(13)?;
    Ok(Agreement {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        version: r.get(2)?,
        terms: AgreementTerms {
            provider_name: r.get(3)?,
            provider_address: r.get(4)?,
            customer_name: r.get(5)?,
            customer_address: r.get(6)?,
            effective_from: date_format::parse(&effective).ok_or_else(|| conversion_error(7, "bad date"))?,
            term_years: r.get(8)?,
            maintenance_notice_days: r.get(9)?,
            log_retention_months: r.get(10)?,
            cure_days: r.get(11)?,
            scope_policy: match scope.as_str() {
                "enforce" => ScopePolicy::Enforce,
                "audit" => ScopePolicy::Audit,
                _ => return Err(conversion_error(12, "bad scope_policy")),
            },
            charge_on: match charge.as_str() {
                "submit" => ChargeOn::Submit,
                "delivery" => ChargeOn::Delivery,
                _ => return Err(conversion_error(13, "bad charge_on")),
            },
            max_segments: r.get(14)?,
            terms_version: r.get(15)?,
            compliance: {
                let json: String = r.get(24)?;
                serde_json::from_str(&json).map_err(|_| conversion_error(24, "bad compliance terms"))?
            },
        },
        signed_at: r.get(16)?,
        accepted_at: r.get(17)?,
        accepted_terms_version: r.get(18)?,
        suspended_at: r.get(19)?,
        suspension_reason: r.get(20)?,
        terminated_at: r.get(21)?,
        termination_reason: r.get(22)?,
        created_at: r.get(23)?,
    })
}

/// What the audit trail shows of an agreement: its lifecycle marks.
pub(crate) fn agreement_snapshot(a: &Agreement) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "customer_id": a.customer_id,
        "version": a.version,
        "signed_at": a.signed_at,
        "accepted_at": a.accepted_at,
        "suspended_at": a.suspended_at,
        "suspension_reason": a.suspension_reason,
        "terminated_at": a.terminated_at,
        "termination_reason": a.termination_reason,
    })
}

pub(crate) fn scope_str(p: ScopePolicy) -> &'static str {
    match p {
        ScopePolicy::Enforce => "enforce",
        ScopePolicy::Audit => "audit",
    }
}

pub(crate) fn charge_str(c: ChargeOn) -> &'static str {
    match c {
        ChargeOn::Submit => "submit",
        ChargeOn::Delivery => "delivery",
    }
}

const KEY_COLUMNS: &str = "id, customer_id, hash, label, created_at, revoked_at, rps";

fn key_row(r: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        hash: r.get(2)?,
        label: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
        rps: r.get(6)?,
    })
}

const LEDGER_COLUMNS: &str = "seq, customer_id, kind, amount, balance_after, message_id, reference, reason, created_at";

fn ledger_row(r: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    let kind: String = r.get(2)?;
    Ok(LedgerEntry {
        seq: r.get(0)?,
        customer_id: r.get(1)?,
        kind: LedgerKind::parse(&kind).ok_or_else(|| conversion_error(2, "bad ledger kind"))?,
        amount: Money::from_micros(r.get(3)?),
        balance_after: Money::from_micros(r.get(4)?),
        message_id: r.get(5)?,
        reference: r.get(6)?,
        reason: r.get(7)?,
        created_at: r.get(8)?,
    })
}

const MESSAGE_COLUMNS: &str = "id, customer_id, recipient, carrier, sender, text, encoding, segments, price, status, \
     client_ref, callback_url, send_at, valid_until, created_at, updated_at";

fn message_row(r: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    let status: String = r.get(9)?;
    Ok(StoredMessage {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        recipient: r.get(2)?,
        carrier: r.get(3)?,
        sender: r.get(4)?,
        text: r.get(5)?,
        encoding: r.get(6)?,
        segments: r.get(7)?,
        price: Money::from_micros(r.get(8)?),
        status: MessageStatus::parse(&status).ok_or_else(|| conversion_error(9, "bad status"))?,
        client_ref: r.get(10)?,
        callback_url: r.get(11)?,
        send_at: r.get(12)?,
        valid_until: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

// ---- transactions (run on the writer thread) ---------------------------------------------

fn find_customer(conn: &Connection, id_or_name: &str) -> StoreResult<Customer> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1 OR name = ?1");
    conn.prepare_cached(&sql)?.query_row([id_or_name], customer_row).optional()?.ok_or(StoreError::NotFound)
}

fn find_agreement(conn: &Connection, id: &str) -> StoreResult<Agreement> {
    let sql = format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = ?1");
    conn.prepare_cached(&sql)?.query_row([id], agreement_row).optional()?.ok_or(StoreError::NotFound)
}

fn balance_of(conn: &Connection, customer_id: &str) -> StoreResult<i64> {
    conn.prepare_cached("SELECT balance FROM customers WHERE id = ?1")?
        .query_row([customer_id], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// One ledger row as written; `amount` is signed and `balance_after` already checked.
struct LedgerRow<'a> {
    customer_id: &'a str,
    kind: LedgerKind,
    amount: i64,
    balance_after: i64,
    message_id: Option<&'a str>,
    reference: Option<&'a str>,
    reason: Option<&'a str>,
    now_ms: i64,
}

/// Appends a ledger entry (the caller has updated the balance to `balance_after`).
fn append_ledger(conn: &Connection, row: LedgerRow<'_>) -> StoreResult<i64> {
    let fields = chain::Fields {
        customer_id: row.customer_id,
        kind: row.kind.as_str(),
        amount: row.amount,
        balance_after: row.balance_after,
        message_id: row.message_id,
        reference: row.reference,
        reason: row.reason,
        created_at: row.now_ms,
    };
    let hash = chain::entry_hash(&chain::head(conn)?, &fields);
    conn.prepare_cached(
        "INSERT INTO ledger (customer_id, kind, amount, balance_after, message_id, reference, reason, created_at, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        row.customer_id,
        row.kind.as_str(),
        row.amount,
        row.balance_after,
        row.message_id,
        row.reference,
        row.reason,
        row.now_ms,
        hash
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Posts a top-up, adjustment or other manual entry (see [`Store::post_ledger_entry`]).
fn post_entry(conn: &Connection, e: NewLedgerEntry) -> StoreResult<LedgerEntry> {
    if let (LedgerKind::Topup, Some(reference)) = (e.kind, &e.reference) {
        let sql =
            format!("SELECT {LEDGER_COLUMNS} FROM ledger WHERE customer_id = ?1 AND kind = 'topup' AND reference = ?2");
        let earlier = conn.prepare_cached(&sql)?.query_row([&e.customer_id, reference], ledger_row).optional()?;
        if let Some(earlier) = earlier {
            return if earlier.amount == e.amount {
                Ok(earlier)
            } else {
                Err(StoreError::Conflict(format!("reference {reference:?} already topped up {}", earlier.amount)))
            };
        }
    }
    let balance = balance_of(conn, &e.customer_id)?;
    let after = balance
        .checked_add(e.amount.micros())
        .ok_or_else(|| StoreError::Conflict("the balance would overflow".into()))?;
    if after < 0 {
        return Err(StoreError::InsufficientBalance { balance: Money::from_micros(balance), needed: -e.amount });
    }
    set_balance(conn, &e.customer_id, after)?;
    let seq = append_ledger(
        conn,
        LedgerRow {
            customer_id: &e.customer_id,
            kind: e.kind,
            amount: e.amount.micros(),
            balance_after: after,
            message_id: None,
            reference: e.reference.as_deref(),
            reason: e.reason.as_deref(),
            now_ms: e.created_at,
        },
    )?;
    Ok(LedgerEntry {
        seq,
        customer_id: e.customer_id,
        kind: e.kind,
        amount: e.amount,
        balance_after: Money::from_micros(after),
        message_id: None,
        reference: e.reference,
        reason: e.reason,
        created_at: e.created_at,
    })
}

fn set_balance(conn: &Connection, customer_id: &str, balance: i64) -> StoreResult<()> {
    conn.prepare_cached("UPDATE customers SET balance = ?2 WHERE id = ?1")?.execute(params![customer_id, balance])?;
    Ok(())
}

/// One status change of a message, with what the carrier said about it.
#[derive(Debug, Clone, Copy)]
struct Change<'a> {
    customer_id: &'a str,
    message_id: &'a str,
    status: MessageStatus,
    at: i64,
    carrier: Option<&'a str>,
    carrier_message_id: Option<&'a str>,
    error: Option<&'a str>,
}

impl<'a> Change<'a> {
    fn new(customer_id: &'a str, message_id: &'a str, status: MessageStatus, at: i64) -> Change<'a> {
        Change { customer_id, message_id, status, at, carrier: None, carrier_message_id: None, error: None }
    }
}

/// What every status UPDATE returns for [`after_change`]: the recipient, the client's
/// reference, and the URL the change is reported to (the message's, else the customer's).
const CHANGE_RETURNING: &str = "RETURNING recipient, client_ref, \
     COALESCE(callback_url, (SELECT webhook_url FROM customers WHERE customers.id = messages.customer_id)), \
     smpp_receipt, sender, created_at, substr(text, 1, 20)";

/// The columns [`CHANGE_RETURNING`] names, in order; the final UPDATE's settlement columns
/// follow them.
const CHANGED_COLUMNS: usize = 7;

struct Changed {
    recipient: String,
    client_ref: Option<String>,
    url: Option<String>,
    /// For an SMPP receipt: what was asked, the sender, when accepted, the text's start.
    receipt: ReceiptRequest,
    sender: Option<String>,
    created_at: i64,
    text_start: String,
}

fn changed_row(r: &Row<'_>) -> rusqlite::Result<Changed> {
    Ok(Changed {
        recipient: r.get(0)?,
        client_ref: r.get(1)?,
        url: r.get(2)?,
        receipt: ReceiptRequest::from_u8(r.get(3)?),
        sender: r.get(4)?,
        created_at: r.get(5)?,
        text_start: r.get(6)?,
    })
}

/// Sets a message's status; `Ok(false)` if it is not in `from` (nothing written).
fn change_status(conn: &Connection, change: &Change<'_>, from: &[MessageStatus]) -> StoreResult<bool> {
    let guard = from.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "UPDATE messages SET status = ?3, updated_at = ?4 WHERE customer_id = ?1 AND id = ?2 AND status IN ({guard}) \
         {CHANGE_RETURNING}"
    );
    let changed = conn
        .prepare_cached(&sql)?
        .query_row(params![change.customer_id, change.message_id, change.status.as_str(), change.at], changed_row)
        .optional()?;
    match changed {
        Some(changed) => after_change(conn, change, &changed).map(|()| true),
        None => Ok(false),
    }
}

/// The event row and the webhook event of a status change already written to `messages`.
fn after_change(conn: &Connection, change: &Change<'_>, changed: &Changed) -> StoreResult<()> {
    record_event(conn, change)?;
    notify_change(conn, change, changed)
}

fn record_event(conn: &Connection, change: &Change<'_>) -> StoreResult<()> {
    let seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM message_events WHERE message_id = ?1")?
        .query_row([change.message_id], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO message_events (message_id, seq, status, at, carrier, carrier_message_id, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        change.message_id,
        seq,
        change.status.as_str(),
        change.at,
        change.carrier,
        change.carrier_message_id,
        change.error
    ])?;
    Ok(())
}

/// The webhook event of a status change, when the message or its customer has a URL, and the
/// SMPP receipt, when its sender asked for one.
fn notify_change(conn: &Connection, change: &Change<'_>, changed: &Changed) -> StoreResult<()> {
    if changed.receipt.wants(change.status) {
        smpp::enqueue_receipt(conn, change, changed)?;
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
        carrier::enqueue_webhook(conn, change.customer_id, url, &body.to_string(), change.at)?;
    }
    Ok(())
}

/// Gives back `amount` of a message's charge; the unique index makes a second refund of the
/// same message impossible.
fn refund(
    conn: &Connection,
    customer_id: &str,
    message_id: &str,
    amount: i64,
    reason: &str,
    now_ms: i64,
) -> StoreResult<()> {
    if amount <= 0 {
        return Ok(());
    }
    let balance = balance_of(conn, customer_id)? + amount;
    set_balance(conn, customer_id, balance)?;
    append_ledger(
        conn,
        LedgerRow {
            customer_id,
            kind: LedgerKind::Refund,
            amount,
            balance_after: balance,
            message_id: Some(message_id),
            reference: None,
            reason: Some(reason),
            now_ms,
        },
    )?;
    Ok(())
}

/// Ends an unsent message as `expired` with its whole price refunded; `false` if it was no
/// longer waiting to be sent.
fn expire(conn: &Connection, customer_id: &str, message_id: &str, price: i64, now_ms: i64) -> StoreResult<bool> {
    let change = Change::new(customer_id, message_id, MessageStatus::Expired, now_ms);
    if !change_status(conn, &change, &[MessageStatus::Scheduled, MessageStatus::Queued])? {
        return Ok(false);
    }
    refund(conn, customer_id, message_id, price, "expired before it could be sent", now_ms)?;
    Ok(true)
}

/// The answer kept for `key` if it was given in the last 24 hours.
fn find_idempotency(conn: &Connection, customer_id: &str, key: &str, now_ms: i64) -> StoreResult<Option<KeptAnswer>> {
    Ok(conn
        .prepare_cached(
            "SELECT request_hash, status, response FROM idempotency_keys \
             WHERE customer_id = ?1 AND key = ?2 AND created_at > ?3",
        )?
        .query_row(params![customer_id, key, now_ms - IDEMPOTENCY_WINDOW_MS], |r| {
            Ok(KeptAnswer { request_hash: r.get(0)?, status: r.get(1)?, response: r.get(2)? })
        })
        .optional()?)
}

/// What every accept job shares: the next place in the queue, and the counts per recipient.
struct Accepting<'a> {
    queue_seq: &'a AtomicI64,
    recipients: &'a Mutex<RecipientCounts>,
}

fn accept_batch(conn: &Connection, batch: &AcceptBatch, state: &Accepting<'_>) -> StoreResult<AcceptOutcome> {
    let mut balance = balance_of(conn, &batch.customer_id)?;
    let mut recipients = state.recipients.lock().map_err(|_| StoreError::Backend("counts poisoned".into()))?;
    let outcome = accept_at(conn, batch, state.queue_seq, &mut recipients, &mut balance)?;
    if matches!(outcome, AcceptOutcome::Stored { .. }) {
        set_balance(conn, &batch.customer_id, balance)?;
    }
    Ok(outcome)
}

/// Batches of independent submissions: each stored or refused on its own, with each
/// customer's balance read once and written once.
fn accept_many(
    conn: &Connection,
    batches: &[AcceptBatch],
    state: &Accepting<'_>,
) -> StoreResult<Vec<StoreResult<AcceptOutcome>>> {
    let mut recipients = state.recipients.lock().map_err(|_| StoreError::Backend("counts poisoned".into()))?;
    let mut balances: Vec<(&str, i64)> = Vec::new();
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        let index = match balances.iter().position(|(customer, _)| *customer == batch.customer_id) {
            Some(index) => index,
            None => match balance_of(conn, &batch.customer_id) {
                Ok(balance) => {
                    balances.push((&batch.customer_id, balance));
                    balances.len() - 1
                }
                Err(error) => {
                    outcomes.push(Err(error));
                    continue;
                }
            },
        };
        match accept_at(conn, batch, state.queue_seq, &mut recipients, &mut balances[index].1) {
            // Refusals come before any write of their batch: the others go on.
            Err(
                refusal @ (StoreError::InsufficientBalance { .. }
                | StoreError::RateLimited { .. }
                | StoreError::IdempotencyConflict
                | StoreError::NotFound
                | StoreError::Conflict(_)),
            ) => outcomes.push(Err(refusal)),
            Err(failure) => return Err(failure),
            Ok(outcome) => outcomes.push(Ok(outcome)),
        }
    }
    for (customer_id, balance) in balances {
        set_balance(conn, customer_id, balance)?;
    }
    Ok(outcomes)
}

/// Stores one batch against a running `balance` (read and written by the caller).
fn accept_at(
    conn: &Connection,
    batch: &AcceptBatch,
    queue_seq: &AtomicI64,
    recipients: &mut RecipientCounts,
    balance: &mut i64,
) -> StoreResult<AcceptOutcome> {
    // Every check comes before the first write (see `commit_batch`).
    if let Some(idempotency) = &batch.idempotency
        && let Some(kept) = find_idempotency(conn, &batch.customer_id, &idempotency.key, batch.now_ms)?
    {
        return if kept.request_hash == idempotency.request_hash {
            Ok(AcceptOutcome::Replayed { status: kept.status, response: kept.response })
        } else {
            Err(StoreError::IdempotencyConflict)
        };
    }
    let needed = batch
        .messages
        .iter()
        .try_fold(Money::ZERO, |sum, m| sum.checked_add(m.price))
        .ok_or_else(|| StoreError::Backend("price overflow".into()))?;
    if *balance < needed.micros() {
        return Err(StoreError::InsufficientBalance { balance: Money::from_micros(*balance), needed });
    }
    recipients.check(&batch.customer_id, &batch.messages, &batch.frequency, batch.now_ms)?;
    let mut running = *balance;
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (id, customer_id, recipient, carrier, sender, text, encoding, segments, price, status, \
         first_status, client_ref, callback_url, send_at, valid_until, created_at, updated_at, charge_on, queue_seq, \
         smpp_receipt, concat_ref, concat_total, concat_seq, out_of_scope, screening, source) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
         ?22, ?23, ?24)",
    )?;
    for m in &batch.messages {
        let seq = (m.status == MessageStatus::Queued).then(|| queue_seq.fetch_add(1, Ordering::Relaxed));
        insert.execute(params![
            m.id,
            batch.customer_id,
            m.recipient,
            m.carrier,
            m.sender,
            m.text,
            m.encoding,
            m.segments,
            m.price.micros(),
            m.status.as_str(),
            m.client_ref,
            m.callback_url,
            m.send_at,
            m.valid_until,
            batch.now_ms,
            charge_str(m.charge_on),
            seq,
            m.receipt.as_u8(),
            m.concat.map(|c| c.reference),
            m.concat.map(|c| c.total),
            m.concat.map(|c| c.seq),
            m.out_of_scope,
            m.screening,
            m.source,
        ])?;
        running -= m.price.micros();
        append_ledger(
            conn,
            LedgerRow {
                customer_id: &batch.customer_id,
                kind: LedgerKind::Charge,
                amount: -m.price.micros(),
                balance_after: running,
                message_id: Some(&m.id),
                reference: None,
                reason: None,
                now_ms: batch.now_ms,
            },
        )?;
    }
    *balance = running;
    recipients.record(&batch.customer_id, &batch.messages, batch.now_ms);
    if let Some(idempotency) = &batch.idempotency {
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (customer_id, key, request_hash, status, response, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (customer_id, key) DO UPDATE SET \
             request_hash = excluded.request_hash, status = excluded.status, response = excluded.response, \
             created_at = excluded.created_at",
        )?
        .execute(params![
            batch.customer_id,
            idempotency.key,
            idempotency.request_hash,
            idempotency.status,
            idempotency.response,
            batch.now_ms
        ])?;
    }
    Ok(AcceptOutcome::Stored { balance_after: Money::from_micros(running) })
}

fn find_message(conn: &Connection, customer_id: &str, id: &str) -> StoreResult<StoredMessage> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE customer_id = ?1 AND id = ?2");
    conn.prepare_cached(&sql)?.query_row([customer_id, id], message_row).optional()?.ok_or(StoreError::NotFound)
}

fn sweep(conn: &Connection, now_ms: i64, limit: u32, queue_seq: &AtomicI64) -> StoreResult<SweepReport> {
    let mut report = SweepReport::default();
    // One query per partial index, repeating its predicate so SQLite uses it. A queued
    // message the dispatcher has taken (at or below its mark) is the dispatcher's to expire:
    // it may be on its way to a carrier right now.
    let mark = carrier::dispatch_mark(conn)?;
    for (status, taken) in [("scheduled", ""), ("queued", " AND queue_seq > ?3 AND claimed_by IS NULL")] {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE status = '{status}' AND valid_until IS NOT NULL \
             AND valid_until <= ?1{taken} LIMIT ?2"
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let expiring: Vec<StoredMessage> = if taken.is_empty() {
            statement.query_map(params![now_ms, limit], message_row)?.collect::<Result<_, _>>()?
        } else {
            statement.query_map(params![now_ms, limit, mark], message_row)?.collect::<Result<_, _>>()?
        };
        for m in &expiring {
            expire(conn, &m.customer_id, &m.id, m.price.micros(), now_ms)?;
            report.expired += 1;
        }
    }
    let due: Vec<(String, String)> = conn
        .prepare_cached("SELECT customer_id, id FROM messages WHERE status = 'scheduled' AND send_at <= ?1 LIMIT ?2")?
        .query_map(params![now_ms, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (customer_id, id) in &due {
        conn.prepare_cached("UPDATE messages SET queue_seq = ?3 WHERE customer_id = ?1 AND id = ?2")?
            .execute(params![customer_id, id, queue_seq.fetch_add(1, Ordering::Relaxed)])?;
        change_status(conn, &Change::new(customer_id, id, MessageStatus::Queued, now_ms), &[MessageStatus::Scheduled])?;
        report.released += 1;
    }
    conn.prepare_cached(
        "DELETE FROM idempotency_keys WHERE (customer_id, key) IN \
         (SELECT customer_id, key FROM idempotency_keys WHERE created_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now_ms - IDEMPOTENCY_WINDOW_MS, limit])?;
    Ok(report)
}

#[async_trait]
impl Store for SqliteStore {
    fn write_stats(&self) -> WriteStats {
        WriteStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            jobs: self.counters.jobs.load(Ordering::Relaxed),
            wal_truncations: self.counters.wal_truncations.load(Ordering::Relaxed),
            busy_micros: self.counters.busy_micros.load(Ordering::Relaxed),
            syncs: self.counters.syncs.load(Ordering::Relaxed),
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        if self.writer.is_closed() {
            return Err(StoreError::Closed);
        }
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?)).await
    }

    async fn create_customer(&self, c: NewCustomer) -> StoreResult<Customer> {
        self.write(move |conn| {
            let taken: bool = conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM customers WHERE name = ?1 OR id = ?1)")?
                .query_row([&c.name], |r| r.get(0))?;
            if taken {
                return Err(StoreError::Conflict(format!("a customer named {:?} exists", c.name)));
            }
            conn.prepare_cached(
                "INSERT INTO customers (id, name, address, contact, balance, created_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            )?
            .execute(params![c.id, c.name, c.address, c.contact, c.created_at])?;
            find_customer(conn, &c.id)
        })
        .await
    }

    async fn find_customer(&self, id_or_name: &str) -> StoreResult<Customer> {
        let key = id_or_name.to_owned();
        self.read(move |conn| find_customer(conn, &key)).await
    }

    async fn list_customers(&self) -> StoreResult<Vec<Customer>> {
        self.read(|conn| {
            let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY name");
            Ok(conn.prepare_cached(&sql)?.query_map([], customer_row)?.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn create_agreement(&self, a: Agreement) -> StoreResult<Agreement> {
        self.write(move |conn| {
            find_customer(conn, &a.customer_id)?;
            let version: u32 = conn
                .prepare_cached("SELECT COALESCE(MAX(version), 0) + 1 FROM agreements WHERE customer_id = ?1")?
                .query_row([&a.customer_id], |r| r.get(0))?;
            let t = &a.terms;
            conn.prepare_cached(&format!(
                "INSERT INTO agreements ({AGREEMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
                 ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
            ))?
            .execute(params![
                a.id,
                a.customer_id,
                version,
                t.provider_name,
                t.provider_address,
                t.customer_name,
                t.customer_address,
                date_format::format(t.effective_from),
                t.term_years,
                t.maintenance_notice_days,
                t.log_retention_months,
                t.cure_days,
                scope_str(t.scope_policy),
                charge_str(t.charge_on),
                t.max_segments,
                t.terms_version,
                a.signed_at,
                a.accepted_at,
                a.accepted_terms_version,
                a.suspended_at,
                a.suspension_reason,
                a.terminated_at,
                a.termination_reason,
                a.created_at,
                serde_json::to_string(&t.compliance).map_err(|e| StoreError::Backend(e.to_string()))?,
            ])?;
            find_agreement(conn, &a.id)
        })
        .await
    }

    async fn find_agreement(&self, id: &str) -> StoreResult<Agreement> {
        let id = id.to_owned();
        self.read(move |conn| find_agreement(conn, &id)).await
    }

    async fn current_agreement(&self, customer_id: &str) -> StoreResult<Option<Agreement>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE customer_id = ?1 ORDER BY version DESC LIMIT 1"
            );
            Ok(conn.prepare_cached(&sql)?.query_row([customer_id], agreement_row).optional()?)
        })
        .await
    }

    async fn list_agreements(&self, customer_id: &str) -> StoreResult<Vec<Agreement>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE customer_id = ?1 ORDER BY version");
            Ok(conn.prepare_cached(&sql)?.query_map([customer_id], agreement_row)?.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn change_agreement(
        &self,
        id: &str,
        change: AgreementChange,
        now_ms: i64,
        audit: Option<AuditEntry>,
    ) -> StoreResult<Agreement> {
        let id = id.to_owned();
        self.write(move |conn| {
            let mut agreement = find_agreement(conn, &id)?;
            let before = agreement_snapshot(&agreement);
            agreement.apply(&change, now_ms).map_err(StoreError::Refused)?;
            let cancelled = match change {
                AgreementChange::Suspend { .. } => moderation::cancel_waiting(
                    conn,
                    &agreement.customer_id,
                    now_ms,
                    "cancelled: the service is suspended",
                )?,
                _ => 0,
            };
            if let Some(audit) = audit {
                let mut after = agreement_snapshot(&agreement);
                after["cancelled_messages"] = serde_json::Value::from(cancelled);
                let entry = AuditEntry { before: Some(before.to_string()), after: Some(after.to_string()), ..audit };
                moderation::append_audit(conn, &entry)?;
            }
            conn.prepare_cached(
                "UPDATE agreements SET signed_at = ?2, accepted_at = ?3, accepted_terms_version = ?4, \
                 suspended_at = ?5, suspension_reason = ?6, terminated_at = ?7, termination_reason = ?8 WHERE id = ?1",
            )?
            .execute(params![
                agreement.id,
                agreement.signed_at,
                agreement.accepted_at,
                agreement.accepted_terms_version,
                agreement.suspended_at,
                agreement.suspension_reason,
                agreement.terminated_at,
                agreement.termination_reason,
            ])?;
            Ok(agreement)
        })
        .await
    }

    async fn put_tariff(&self, customer_id: &str, tariff: Tariff, now_ms: i64) -> StoreResult<()> {
        let customer_id = customer_id.to_owned();
        let body = serde_json::to_string(&tariff).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write(move |conn| {
            find_customer(conn, &customer_id)?;
            conn.prepare_cached(
                "INSERT INTO tariffs (customer_id, body, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (customer_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            )?
            .execute(params![customer_id, body, now_ms])?;
            Ok(())
        })
        .await
    }

    async fn tariff(&self, customer_id: &str) -> StoreResult<Option<Tariff>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| {
            let body: Option<String> = conn
                .prepare_cached("SELECT body FROM tariffs WHERE customer_id = ?1")?
                .query_row([customer_id], |r| r.get(0))
                .optional()?;
            body.map(|b| serde_json::from_str(&b).map_err(|e| StoreError::Backend(format!("stored tariff: {e}"))))
                .transpose()
        })
        .await
    }

    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        self.write(move |conn| {
            find_customer(conn, &key.customer_id)?;
            conn.prepare_cached(&format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"))?
                .execute(params![
                    key.id,
                    key.customer_id,
                    key.hash,
                    key.label,
                    key.created_at,
                    key.revoked_at,
                    key.rps
                ])?;
            Ok(())
        })
        .await
    }

    async fn list_api_keys(&self, customer_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE customer_id = ?1 ORDER BY created_at, id");
            Ok(conn.prepare_cached(&sql)?.query_map([customer_id], key_row)?.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn revoke_api_key(&self, customer_id: &str, key_id: &str, now_ms: i64) -> StoreResult<ApiKeyRecord> {
        let (customer_id, key_id) = (customer_id.to_owned(), key_id.to_owned());
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE id = ?1 AND customer_id = ?2",
                )?
                .execute(params![key_id, customer_id, now_ms])?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([key_id], key_row)?)
        })
        .await
    }

    async fn find_api_key(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let hash = hash.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([hash], key_row).optional()?)
        })
        .await
    }

    async fn rotate_operator_token(&self, id: &str, hash: &str, now_ms: i64) -> StoreResult<()> {
        let (id, hash) = (id.to_owned(), hash.to_owned());
        self.write(move |conn| {
            conn.prepare_cached("UPDATE operator_tokens SET revoked_at = ?1 WHERE revoked_at IS NULL")?
                .execute([now_ms])?;
            conn.prepare_cached("INSERT INTO operator_tokens (id, hash, created_at) VALUES (?1, ?2, ?3)")?
                .execute(params![id, hash, now_ms])?;
            Ok(())
        })
        .await
    }

    async fn operator_token_valid(&self, hash: &str) -> StoreResult<bool> {
        let hash = hash.to_owned();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM operator_tokens WHERE hash = ?1 AND revoked_at IS NULL)")?
                .query_row([hash], |r| r.get(0))?)
        })
        .await
    }

    async fn post_ledger_entry(&self, e: NewLedgerEntry) -> StoreResult<LedgerEntry> {
        self.write(move |conn| post_entry(conn, e)).await
    }

    async fn list_ledger(&self, customer_id: &str, after_seq: i64, limit: u32) -> StoreResult<Vec<LedgerEntry>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {LEDGER_COLUMNS} FROM ledger WHERE customer_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            );
            Ok(conn
                .prepare_cached(&sql)?
                .query_map(params![customer_id, after_seq, limit], ledger_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn balance(&self, customer_id: &str) -> StoreResult<BalanceCheck> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| {
            // One read transaction, so the two figures describe the same instant.
            conn.execute_batch("BEGIN")?;
            let result = (|| {
                let balance = balance_of(conn, &customer_id)?;
                let (sum, entries): (i64, i64) = conn
                    .prepare_cached("SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM ledger WHERE customer_id = ?1")?
                    .query_row([&customer_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(BalanceCheck { balance: Money::from_micros(balance), ledger_sum: Money::from_micros(sum), entries })
            })();
            conn.execute_batch("COMMIT")?;
            result
        })
        .await
    }

    async fn idempotent_answer(&self, customer_id: &str, key: &str, now_ms: i64) -> StoreResult<Option<KeptAnswer>> {
        let (customer_id, key) = (customer_id.to_owned(), key.to_owned());
        self.read(move |conn| find_idempotency(conn, &customer_id, &key, now_ms)).await
    }

    async fn accept(&self, batch: AcceptBatch) -> StoreResult<AcceptOutcome> {
        let (queue_seq, recipients) = (self.queue_seq.clone(), self.recipients.clone());
        self.write(move |conn| {
            accept_batch(conn, &batch, &Accepting { queue_seq: &queue_seq, recipients: &recipients })
        })
        .await
    }

    async fn accept_many(&self, batches: Vec<AcceptBatch>) -> StoreResult<Vec<StoreResult<AcceptOutcome>>> {
        let (queue_seq, recipients) = (self.queue_seq.clone(), self.recipients.clone());
        self.write(move |conn| {
            accept_many(conn, &batches, &Accepting { queue_seq: &queue_seq, recipients: &recipients })
        })
        .await
    }

    async fn find_message(&self, customer_id: &str, id: &str) -> StoreResult<(StoredMessage, Vec<MessageEvent>)> {
        let (customer_id, id) = (customer_id.to_owned(), id.to_owned());
        self.read(move |conn| {
            let message = find_message(conn, &customer_id, &id)?;
            // The message row holds its first event and, on the usual path, the submit and
            // the final status from receipts; message_events holds every other change.
            type Events = (String, i64, Option<i64>, Option<String>, Option<String>);
            type Done = (Option<i64>, Option<String>, Option<String>);
            let ((first, created_at, submitted_at, link, ids), done): (Events, Done) = conn
                .prepare_cached(
                    "SELECT first_status, created_at, submitted_at, link, carrier_message_ids, done_at, \
                     done_carrier_message_id, done_error FROM messages WHERE customer_id = ?1 AND id = ?2",
                )?
                .query_row([&customer_id, &id], |r| {
                    Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?), (r.get(5)?, r.get(6)?, r.get(7)?)))
                })?;
            let accepted = MessageEvent {
                status: MessageStatus::parse(&first).ok_or_else(|| conversion_error(0, "bad status"))?,
                at: created_at,
                detail: None,
                carrier: None,
                carrier_message_id: None,
                error: None,
            };
            let mut changes: Vec<MessageEvent> = conn
                .prepare_cached(
                    "SELECT status, at, detail, carrier, carrier_message_id, error FROM message_events \
                     WHERE message_id = ?1 ORDER BY seq",
                )?
                .query_map([&id], |r| {
                    let status: String = r.get(0)?;
                    Ok(MessageEvent {
                        status: MessageStatus::parse(&status).ok_or_else(|| conversion_error(0, "bad status"))?,
                        at: r.get(1)?,
                        detail: r.get(2)?,
                        carrier: r.get(3)?,
                        carrier_message_id: r.get(4)?,
                        error: r.get(5)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
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
            if let (Some(at), done_id, error) = done {
                changes.push(MessageEvent {
                    status: message.status,
                    at,
                    detail: None,
                    carrier: link,
                    carrier_message_id: done_id,
                    error,
                });
            }
            Ok((message, std::iter::once(accepted).chain(changes).collect()))
        })
        .await
    }

    async fn list_messages(&self, customer_id: &str, filter: MessageFilter) -> StoreResult<Vec<StoredMessage>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| {
            let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE customer_id = ?");
            let mut values: Vec<Value> = vec![Value::Text(customer_id)];
            if let Some(status) = filter.status {
                sql.push_str(" AND status = ?");
                values.push(Value::Text(status.as_str().to_owned()));
            }
            if let Some(recipient) = filter.recipient {
                sql.push_str(" AND recipient = ?");
                values.push(Value::Text(recipient));
            }
            if let Some(since) = filter.since_ms {
                sql.push_str(" AND created_at >= ?");
                values.push(Value::Integer(since));
            }
            if let Some(until) = filter.until_ms {
                sql.push_str(" AND created_at < ?");
                values.push(Value::Integer(until));
            }
            if let Some(before) = filter.before {
                sql.push_str(" AND id < ?");
                values.push(Value::Text(before));
            }
            sql.push_str(" ORDER BY id DESC LIMIT ?");
            values.push(Value::Integer(i64::from(filter.limit)));
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(rusqlite::params_from_iter(values), message_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn cancel_message(&self, customer_id: &str, id: &str, now_ms: i64) -> StoreResult<StoredMessage> {
        let (customer_id, id) = (customer_id.to_owned(), id.to_owned());
        self.write(move |conn| {
            let message = find_message(conn, &customer_id, &id)?;
            // A queued message can still be cancelled while no dispatcher has taken it (its
            // place is past the dispatch mark, and no node claimed it): nothing of it can
            // have reached a carrier.
            let cancellable = match message.status {
                MessageStatus::Scheduled => true,
                MessageStatus::Queued => {
                    let (place, claimed): (Option<i64>, Option<String>) = conn
                        .prepare_cached(
                            "SELECT queue_seq, claimed_by FROM messages WHERE customer_id = ?1 AND id = ?2",
                        )?
                        .query_row([&customer_id, &id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    let mark = carrier::dispatch_mark(conn)?;
                    claimed.is_none() && place.is_some_and(|place| place > mark)
                }
                _ => false,
            };
            if !cancellable {
                return Err(StoreError::NotCancellable(message.status.as_str().to_owned()));
            }
            refund(conn, &customer_id, &id, message.price.micros(), "cancelled by the customer", now_ms)?;
            change_status(conn, &Change::new(&customer_id, &id, MessageStatus::Cancelled, now_ms), &[message.status])?;
            find_message(conn, &customer_id, &id)
        })
        .await
    }

    async fn sweep(&self, now_ms: i64, limit: u32) -> StoreResult<SweepReport> {
        let queue_seq = self.queue_seq.clone();
        self.write(move |conn| sweep(conn, now_ms, limit, &queue_seq)).await
    }

    async fn queued_after(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<QueuedMessage>> {
        let mark = self.mark_at_open;
        self.read(move |conn| carrier::queued_after(conn, after_seq, limit, mark)).await
    }

    async fn mark_dispatched(&self, after_seq: i64, queue_seq: i64, read: usize) -> StoreResult<Option<Vec<String>>> {
        self.write(move |conn| carrier::mark_dispatched(conn, after_seq, queue_seq, read)).await
    }

    async fn record_progress(&self, progress: Vec<Progress>) -> StoreResult<Vec<Recorded>> {
        self.write(move |conn| carrier::record_progress(conn, &progress)).await
    }

    async fn forget_early_receipts(&self, older_than_ms: i64) -> StoreResult<u64> {
        self.write(move |conn| carrier::forget_early_receipts(conn, older_than_ms)).await
    }

    async fn add_number(&self, number: CustomerNumber) -> StoreResult<CustomerNumber> {
        self.write(move |conn| carrier::add_number(conn, &number)).await
    }

    async fn remove_number(&self, customer_id: &str, number: &str) -> StoreResult<()> {
        let (customer_id, number) = (customer_id.to_owned(), number.to_owned());
        self.write(move |conn| carrier::remove_number(conn, &customer_id, &number)).await
    }

    async fn list_numbers(&self, customer_id: &str) -> StoreResult<Vec<CustomerNumber>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| carrier::list_numbers(conn, &customer_id)).await
    }

    async fn record_inbound(&self, inbound: NewInbound) -> StoreResult<Option<InboundMessage>> {
        self.write(move |conn| carrier::record_inbound(conn, &inbound)).await
    }

    async fn list_inbound(
        &self,
        customer_id: &str,
        before: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<InboundMessage>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| carrier::list_inbound(conn, &customer_id, before.as_deref(), limit)).await
    }

    async fn webhook_settings(&self, customer_id: &str) -> StoreResult<WebhookSettings> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| carrier::webhook_settings(conn, &customer_id)).await
    }

    async fn set_webhook_url(&self, customer_id: &str, url: Option<String>) -> StoreResult<WebhookSettings> {
        let customer_id = customer_id.to_owned();
        self.write(move |conn| carrier::set_webhook_url(conn, &customer_id, url.as_deref())).await
    }

    async fn set_webhook_secret(
        &self,
        customer_id: &str,
        secret: &str,
        only_if_unset: bool,
    ) -> StoreResult<WebhookSettings> {
        let (customer_id, secret) = (customer_id.to_owned(), secret.to_owned());
        self.write(move |conn| carrier::set_webhook_secret(conn, &customer_id, &secret, only_if_unset)).await
    }

    async fn due_endpoints(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueEndpoint>> {
        self.read(move |conn| carrier::due_endpoints(conn, now_ms, limit)).await
    }

    async fn endpoint_events(
        &self,
        customer_id: &str,
        url: &str,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let (customer_id, url) = (customer_id.to_owned(), url.to_owned());
        self.read(move |conn| carrier::endpoint_events(conn, &customer_id, &url, after_id, limit)).await
    }

    async fn webhook_delivered(&self, customer_id: &str, url: &str, ids: Vec<i64>, at_ms: i64) -> StoreResult<()> {
        let (customer_id, url) = (customer_id.to_owned(), url.to_owned());
        self.write(move |conn| carrier::webhook_delivered(conn, &customer_id, &url, &ids, at_ms)).await
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
        let (customer_id, url, error) = (customer_id.to_owned(), url.to_owned(), error.to_owned());
        self.write(move |conn| {
            carrier::webhook_failed(conn, &customer_id, &url, next_attempt_at, &error, give_up_before_ms, at_ms)
        })
        .await
    }

    async fn webhook_deliveries(&self, customer_id: &str, limit: u32) -> StoreResult<Vec<WebhookDelivery>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| carrier::webhook_deliveries(conn, &customer_id, limit)).await
    }

    async fn outbox_depth(&self) -> StoreResult<u64> {
        self.read(carrier::outbox_depth).await
    }

    async fn create_smpp_account(&self, account: SmppAccount) -> StoreResult<SmppAccount> {
        self.write(move |conn| smpp::create_account(conn, &account)).await
    }

    async fn update_smpp_account(&self, account: SmppAccount) -> StoreResult<SmppAccount> {
        self.write(move |conn| smpp::update_account(conn, &account)).await
    }

    async fn delete_smpp_account(&self, customer_id: &str, system_id: &str) -> StoreResult<()> {
        let (customer_id, system_id) = (customer_id.to_owned(), system_id.to_owned());
        self.write(move |conn| smpp::delete_account(conn, &customer_id, &system_id)).await
    }

    async fn find_smpp_account(&self, system_id: &str) -> StoreResult<Option<SmppAccount>> {
        let system_id = system_id.to_owned();
        self.read(move |conn| smpp::find_account(conn, &system_id)).await
    }

    async fn list_smpp_accounts(&self, customer_id: &str) -> StoreResult<Vec<SmppAccount>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| smpp::list_accounts(conn, &customer_id)).await
    }

    async fn smpp_pending(&self, customer_id: &str, after_id: i64, limit: u32) -> StoreResult<Vec<SmppDelivery>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| smpp::pending(conn, &customer_id, after_id, limit)).await
    }

    async fn smpp_delivered(&self, customer_id: &str, ids: Vec<i64>) -> StoreResult<()> {
        let customer_id = customer_id.to_owned();
        self.write(move |conn| smpp::delivered(conn, &customer_id, &ids)).await
    }

    async fn expire_smpp_outbox(&self, before_ms: i64, limit: u32) -> StoreResult<u64> {
        self.write(move |conn| smpp::expire(conn, before_ms, limit)).await
    }

    async fn smpp_outbox_depth(&self) -> StoreResult<u64> {
        self.read(smpp::depth).await
    }

    async fn upsert_contacts(&self, customer_id: &str, contacts: Vec<Contact>) -> StoreResult<u64> {
        let customer_id = customer_id.to_owned();
        self.write(move |conn| compliance::upsert_contacts(conn, &customer_id, &contacts)).await
    }

    async fn find_contact(&self, customer_id: &str, number: &str) -> StoreResult<Contact> {
        let (customer_id, number) = (customer_id.to_owned(), number.to_owned());
        self.read(move |conn| compliance::find_contact(conn, &customer_id, &number)).await
    }

    async fn delete_contact(&self, customer_id: &str, number: &str) -> StoreResult<()> {
        let (customer_id, number) = (customer_id.to_owned(), number.to_owned());
        self.write(move |conn| compliance::delete_contact(conn, &customer_id, &number)).await
    }

    async fn list_contacts(&self, customer_id: &str, after: &str, limit: u32) -> StoreResult<Vec<Contact>> {
        let (customer_id, after) = (customer_id.to_owned(), after.to_owned());
        self.read(move |conn| compliance::list_contacts(conn, &customer_id, &after, limit)).await
    }

    async fn lists_in_use(&self, customer_id: &str) -> StoreResult<ListsInUse> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| compliance::lists_in_use(conn, &customer_id)).await
    }

    async fn recipient_flags(&self, customer_id: &str, numbers: Vec<String>) -> StoreResult<Vec<RecipientFlags>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| compliance::recipient_flags(conn, &customer_id, &numbers)).await
    }

    async fn add_suppression(&self, customer_id: &str, suppression: Suppression) -> StoreResult<Suppression> {
        let customer_id = customer_id.to_owned();
        self.write(move |conn| compliance::add_suppression(conn, &customer_id, &suppression)).await
    }

    async fn remove_suppression(&self, customer_id: &str, number: &str) -> StoreResult<()> {
        let (customer_id, number) = (customer_id.to_owned(), number.to_owned());
        self.write(move |conn| compliance::remove_suppression(conn, &customer_id, &number)).await
    }

    async fn list_suppressions(&self, customer_id: &str, after: &str, limit: u32) -> StoreResult<Vec<Suppression>> {
        let (customer_id, after) = (customer_id.to_owned(), after.to_owned());
        self.read(move |conn| compliance::list_suppressions(conn, &customer_id, &after, limit)).await
    }

    async fn add_blocked(&self, blocked: BlockedNumber) -> StoreResult<BlockedNumber> {
        self.write(move |conn| compliance::add_blocked(conn, &blocked)).await
    }

    async fn remove_blocked(&self, number: &str) -> StoreResult<()> {
        let number = number.to_owned();
        self.write(move |conn| compliance::remove_blocked(conn, &number)).await
    }

    async fn list_blocked(&self, after: &str, limit: u32) -> StoreResult<Vec<BlockedNumber>> {
        let after = after.to_owned();
        self.read(move |conn| compliance::list_blocked(conn, &after, limit)).await
    }

    async fn out_of_scope_sends(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> StoreResult<(u64, Vec<OutOfScopeSend>)> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| compliance::out_of_scope_sends(conn, &customer_id, from_ms, to_ms, limit)).await
    }

    async fn record_violation(&self, violation: NewViolation, since_ms: i64) -> StoreResult<u64> {
        self.write(move |conn| moderation::record_violation(conn, &violation, since_ms)).await
    }

    async fn list_violations(
        &self,
        customer_id: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Violation>> {
        let customer_id = customer_id.map(str::to_owned);
        self.read(move |conn| moderation::list_violations(conn, customer_id.as_deref(), before_id, limit)).await
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.write(move |conn| moderation::append_audit(conn, &entry)).await
    }

    async fn list_audit(&self, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        self.read(move |conn| moderation::list_audit(conn, before_id, limit)).await
    }

    async fn held_messages(&self, after: &str, limit: u32) -> StoreResult<Vec<HeldMessage>> {
        let after = after.to_owned();
        self.read(move |conn| moderation::held_messages(conn, &after, limit)).await
    }

    async fn moderate(&self, message_id: &str, decision: Moderation, audit: AuditEntry) -> StoreResult<StoredMessage> {
        let message_id = message_id.to_owned();
        let queue_seq = self.queue_seq.clone();
        self.write(move |conn| moderation::moderate(conn, &message_id, &decision, &audit, &queue_seq)).await
    }

    async fn create_reviewed(&self, kind: ReviewKind, item: Reviewed) -> StoreResult<Reviewed> {
        self.write(move |conn| moderation::create_reviewed(conn, kind, &item)).await
    }

    async fn find_reviewed(&self, kind: ReviewKind, id: &str) -> StoreResult<Reviewed> {
        let id = id.to_owned();
        self.read(move |conn| moderation::find_reviewed(conn, kind, &id)).await
    }

    async fn list_reviewed(
        &self,
        kind: ReviewKind,
        customer_id: Option<&str>,
        status: Option<ReviewStatus>,
    ) -> StoreResult<Vec<Reviewed>> {
        let customer_id = customer_id.map(str::to_owned);
        self.read(move |conn| moderation::list_reviewed(conn, kind, customer_id.as_deref(), status)).await
    }

    async fn decide_reviewed(
        &self,
        kind: ReviewKind,
        id: &str,
        status: ReviewStatus,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> StoreResult<Reviewed> {
        let id = id.to_owned();
        self.write(move |conn| moderation::decide_reviewed(conn, kind, &id, status, reason.as_deref(), &audit)).await
    }

    async fn delete_reviewed(&self, kind: ReviewKind, customer_id: &str, id: &str) -> StoreResult<()> {
        let (customer_id, id) = (customer_id.to_owned(), id.to_owned());
        self.write(move |conn| moderation::delete_reviewed(conn, kind, &customer_id, &id)).await
    }

    async fn message_records(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        after: &str,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>> {
        let (customer_id, after) = (customer_id.to_owned(), after.to_owned());
        self.read(move |conn| {
            // The customer's range of the primary key, filtered by time: an export is rare,
            // and ids (time-ordered by the system clock) need not agree with created_at
            // (the platform's clock).
            let mut statement = conn.prepare_cached(
                "SELECT id, created_at, sender, recipient, text, status, source FROM messages \
                 WHERE customer_id = ?1 AND id > ?2 AND created_at >= ?3 AND created_at < ?4 ORDER BY id LIMIT ?5",
            )?;
            let rows = statement.query_map(params![customer_id, after, from_ms, to_ms, limit], |r| {
                Ok(MessageRecord {
                    id: r.get(0)?,
                    created_at: r.get(1)?,
                    sender: r.get(2)?,
                    recipient: r.get(3)?,
                    text: r.get(4)?,
                    status: r.get(5)?,
                    source: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn purge_content(
        &self,
        customer_id: &str,
        before_ms: i64,
        limit: u32,
        audit: AuditEntry,
    ) -> StoreResult<PurgeReport> {
        let customer_id = customer_id.to_owned();
        self.write(move |conn| {
            let finals = MessageStatus::ALL
                .iter()
                .filter(|s| s.is_final())
                .map(|s| format!("'{}'", s.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            // The number keeps its country code and last four digits, as logs show it.
            let sql = format!(
                "UPDATE messages SET text = '', source = NULL, screening = NULL, \
                 recipient = substr(recipient, 1, max(length(recipient) - 8, 0)) || '****' || substr(recipient, -4) \
                 WHERE customer_id = ?1 AND id IN (SELECT id FROM messages WHERE customer_id = ?1 AND created_at < ?2 \
                 AND text != '' AND status IN ({finals}) LIMIT ?3)"
            );
            let messages = conn.prepare_cached(&sql)?.execute(params![customer_id, before_ms, limit])? as u64;
            let inbound = conn
                .prepare_cached("DELETE FROM inbound_messages WHERE customer_id = ?1 AND received_at < ?2")?
                .execute(params![customer_id, before_ms])? as u64;
            let violations = conn
                .prepare_cached("UPDATE violations SET text = '' WHERE customer_id = ?1 AND at < ?2 AND text != ''")?
                .execute(params![customer_id, before_ms])? as u64;
            let report = PurgeReport { messages, inbound, violations };
            if report != PurgeReport::default() {
                let after = serde_json::to_string(&report).ok();
                moderation::append_audit(conn, &AuditEntry { after, ..audit })?;
            }
            Ok(report)
        })
        .await
    }

    async fn verify_ledger(&self) -> StoreResult<Result<ChainReport, ChainBreak>> {
        // One read transaction: the chain as of one instant.
        self.read(|conn| {
            conn.execute_batch("BEGIN")?;
            let result = chain::verify(conn);
            conn.execute_batch("COMMIT")?;
            result
        })
        .await
    }

    async fn post_notices(&self, notices: Vec<NewNotice>, at: i64) -> StoreResult<u64> {
        self.write(move |conn| lifecycle::post_notices(conn, &notices, at)).await
    }

    async fn list_notices(
        &self,
        customer_id: Option<&str>,
        before: Option<&str>,
        unread_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<Notice>> {
        let (customer_id, before) = (customer_id.map(str::to_owned), before.map(str::to_owned));
        self.read(move |conn| {
            lifecycle::list_notices(conn, customer_id.as_deref(), before.as_deref(), unread_only, limit)
        })
        .await
    }

    async fn find_notice(&self, customer_id: &str, id: &str) -> StoreResult<Notice> {
        let (customer_id, id) = (customer_id.to_owned(), id.to_owned());
        self.read(move |conn| lifecycle::find_notice(conn, &customer_id, &id)).await
    }

    async fn notices_about(&self, reference: &str, limit: u32) -> StoreResult<Vec<Notice>> {
        let reference = reference.to_owned();
        self.read(move |conn| lifecycle::notices_about(conn, &reference, limit)).await
    }

    async fn read_notice(&self, customer_id: &str, id: &str, at: i64) -> StoreResult<Notice> {
        let (customer_id, id) = (customer_id.to_owned(), id.to_owned());
        self.write(move |conn| lifecycle::read_notice(conn, &customer_id, &id, at)).await
    }

    async fn notices_to_email(&self, now: i64, limit: u32) -> StoreResult<Vec<NoticeEmail>> {
        self.read(move |conn| lifecycle::notices_to_email(conn, now, limit)).await
    }

    async fn notice_emailed(&self, id: &str, outcome: EmailOutcome) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |conn| lifecycle::notice_emailed(conn, &id, &outcome)).await
    }

    async fn set_notice_email(
        &self,
        customer_id: &str,
        email: Option<String>,
        audit: AuditEntry,
    ) -> StoreResult<Customer> {
        let customer_id = customer_id.to_owned();
        self.write(move |conn| lifecycle::set_notice_email(conn, &customer_id, email.as_deref(), &audit)).await
    }

    async fn create_maintenance(
        &self,
        window: MaintenanceWindow,
        notices: Vec<NewNotice>,
        audit: AuditEntry,
    ) -> StoreResult<MaintenanceWindow> {
        self.write(move |conn| lifecycle::create_maintenance(conn, &window, &notices, &audit)).await
    }

    async fn find_maintenance(&self, id: &str) -> StoreResult<MaintenanceWindow> {
        let id = id.to_owned();
        self.read(move |conn| lifecycle::find_maintenance(conn, &id)).await
    }

    async fn cancel_maintenance(
        &self,
        id: &str,
        at: i64,
        notices: Vec<NewNotice>,
        audit: AuditEntry,
    ) -> StoreResult<MaintenanceWindow> {
        let id = id.to_owned();
        self.write(move |conn| lifecycle::cancel_maintenance(conn, &id, at, &notices, &audit)).await
    }

    async fn list_maintenance(
        &self,
        ending_after: i64,
        include_cancelled: bool,
        limit: u32,
    ) -> StoreResult<Vec<MaintenanceWindow>> {
        self.read(move |conn| lifecycle::list_maintenance(conn, ending_after, include_cancelled, limit)).await
    }

    async fn issue_breach(&self, breach: Breach, notice: NewNotice, audit: AuditEntry) -> StoreResult<Breach> {
        self.write(move |conn| lifecycle::issue_breach(conn, &breach, &notice, &audit)).await
    }

    async fn find_breach(&self, id: &str) -> StoreResult<Breach> {
        let id = id.to_owned();
        self.read(move |conn| lifecycle::find_breach(conn, &id)).await
    }

    async fn list_breaches(&self, customer_id: Option<&str>, limit: u32) -> StoreResult<Vec<Breach>> {
        let customer_id = customer_id.map(str::to_owned);
        self.read(move |conn| lifecycle::list_breaches(conn, customer_id.as_deref(), limit)).await
    }

    async fn cure_breach(
        &self,
        id: &str,
        note: &str,
        at: i64,
        notice: NewNotice,
        audit: AuditEntry,
    ) -> StoreResult<Breach> {
        let (id, note) = (id.to_owned(), note.to_owned());
        self.write(move |conn| lifecycle::cure_breach(conn, &id, &note, at, &notice, &audit)).await
    }

    async fn terminate(
        &self,
        breach_id: &str,
        at: i64,
        notice: NewNotice,
        audit: AuditEntry,
    ) -> StoreResult<(Breach, Termination)> {
        let breach_id = breach_id.to_owned();
        self.write(move |conn| lifecycle::terminate(conn, &breach_id, at, &notice, &audit)).await
    }

    async fn erase_customer(&self, customer_id: &str, at: i64, audit: AuditEntry) -> StoreResult<u64> {
        let customer_id = customer_id.to_owned();
        self.write(move |conn| lifecycle::erase_customer(conn, &customer_id, at, &audit)).await
    }

    async fn set_low_balance_threshold(
        &self,
        customer_id: &str,
        threshold: Option<Money>,
        audit: AuditEntry,
    ) -> StoreResult<Customer> {
        let customer_id = customer_id.to_owned();
        self.write(move |conn| lifecycle::set_low_balance_threshold(conn, &customer_id, threshold, &audit)).await
    }

    async fn low_balance_warnings(&self, at: i64, make: crate::LowBalanceNotice) -> StoreResult<u64> {
        self.write(move |conn| lifecycle::low_balance_warnings(conn, at, &*make)).await
    }

    async fn open_ticket(&self, ticket: NewTicket) -> StoreResult<Ticket> {
        self.write(move |conn| tickets::open(conn, &ticket)).await
    }

    async fn find_ticket(&self, customer_id: Option<&str>, id: &str) -> StoreResult<TicketThread> {
        let (customer_id, id) = (customer_id.map(str::to_owned), id.to_owned());
        self.read(move |conn| tickets::read_thread(conn, customer_id.as_deref(), &id)).await
    }

    async fn list_tickets(&self, filter: TicketFilter) -> StoreResult<Vec<Ticket>> {
        self.read(move |conn| tickets::list(conn, &filter)).await
    }

    async fn reply_ticket(
        &self,
        customer_id: Option<&str>,
        reply: TicketReply,
        audit: Option<AuditEntry>,
    ) -> StoreResult<TicketThread> {
        let customer_id = customer_id.map(str::to_owned);
        self.write(move |conn| tickets::reply(conn, customer_id.as_deref(), &reply, audit.as_ref())).await
    }

    async fn set_ticket_status(&self, id: &str, status: TicketStatus, audit: AuditEntry) -> StoreResult<TicketThread> {
        let id = id.to_owned();
        self.write(move |conn| tickets::set_status(conn, &id, status, &audit)).await
    }

    async fn settle_ticket(
        &self,
        ticket_id: &str,
        entry: NewLedgerEntry,
        audit: AuditEntry,
    ) -> StoreResult<LedgerEntry> {
        let ticket_id = ticket_id.to_owned();
        self.write(move |conn| tickets::settle(conn, &ticket_id, entry, &audit)).await
    }

    async fn statement(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        list_limit: u32,
    ) -> StoreResult<StatementData> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| billing::statement(conn, &customer_id, from_ms, to_ms, list_limit)).await
    }

    async fn reconciliation(&self, from_ms: i64, to_ms: i64) -> StoreResult<Vec<ReconciliationRow>> {
        self.read(move |conn| billing::reconciliation(conn, from_ms, to_ms)).await
    }

    async fn message_timings(&self, customer_id: &str, limit: u32) -> StoreResult<Vec<MessageTiming>> {
        let customer_id = customer_id.to_owned();
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT status, created_at, submitted_at, updated_at FROM messages \
                 WHERE customer_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![customer_id, limit], |r| {
                let status: String = r.get(0)?;
                let status = MessageStatus::parse(&status).ok_or_else(|| conversion_error(0, "bad status"))?;
                Ok(MessageTiming {
                    status,
                    accepted_at: r.get(1)?,
                    submitted_at: r.get(2)?,
                    final_at: status.is_final().then(|| r.get(3)).transpose()?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn traffic(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        period_ms: i64,
    ) -> StoreResult<Vec<TrafficRow>> {
        let customer_id = customer_id.to_owned();
        let period_ms = period_ms.max(1);
        // Ids carry their time: the range scan starts a minute early for clocks that differ.
        let floor = tongdao_domain::id::id_floor("msg", from_ms - 60_000);
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT (created_at - ?3) / ?5 AS period, status, COUNT(*) FROM messages \
                 WHERE customer_id = ?1 AND id >= ?2 AND created_at >= ?3 AND created_at < ?4 \
                 GROUP BY period, status ORDER BY period, status",
            )?;
            let rows = statement.query_map(params![customer_id, floor, from_ms, to_ms, period_ms], |r| {
                let status: String = r.get(1)?;
                let status = MessageStatus::parse(&status).ok_or_else(|| conversion_error(1, "bad status"))?;
                let period: i64 = r.get(0)?;
                Ok(TrafficRow {
                    period: from_ms + period * period_ms,
                    status,
                    count: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn heartbeat(&self, node: &str, now_ms: i64, alive_until: i64) -> StoreResult<Vec<String>> {
        let node = node.to_owned();
        self.write(move |conn| cluster::heartbeat(conn, &node, now_ms, alive_until)).await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, until: i64) -> StoreResult<Option<Lease>> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |conn| cluster::acquire(conn, &name, &holder, now_ms, until)).await
    }

    async fn renew_lease(&self, lease: &Lease, now_ms: i64, until: i64) -> StoreResult<bool> {
        let lease = lease.clone();
        self.write(move |conn| cluster::renew(conn, &lease, now_ms, until)).await
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let lease = lease.clone();
        self.write(move |conn| cluster::release(conn, &lease)).await
    }

    async fn list_leases(&self) -> StoreResult<Vec<Lease>> {
        self.read(cluster::list).await
    }

    async fn claim_queued(&self, claim: QueueClaim) -> StoreResult<Vec<QueuedMessage>> {
        self.write(move |conn| cluster::claim_queued(conn, &claim)).await
    }

    async fn release_claim(&self, node: &str, customer_id: &str, message_id: &str) -> StoreResult<()> {
        let (node, customer_id, message_id) = (node.to_owned(), customer_id.to_owned(), message_id.to_owned());
        self.write(move |conn| cluster::release_claim(conn, &node, &customer_id, &message_id)).await
    }

    async fn create_console_user(&self, user: ConsoleUser, audit: Option<AuditEntry>) -> StoreResult<ConsoleUser> {
        self.write(move |conn| console::create_user(conn, user, audit.as_ref())).await
    }

    async fn find_console_user(&self, area: ConsoleArea, email: &str) -> StoreResult<Option<ConsoleUser>> {
        let email = email.to_owned();
        self.read(move |conn| console::find_user(conn, area, &email)).await
    }

    async fn get_console_user(&self, id: &str) -> StoreResult<ConsoleUser> {
        let id = id.to_owned();
        self.read(move |conn| console::get_user(conn, &id)).await
    }

    async fn list_console_users(&self, area: ConsoleArea, customer_id: Option<&str>) -> StoreResult<Vec<ConsoleUser>> {
        let customer_id = customer_id.map(str::to_owned);
        self.read(move |conn| console::list_users(conn, area, customer_id.as_deref())).await
    }

    async fn change_console_user(
        &self,
        id: &str,
        change: ConsoleUserChange,
        now_ms: i64,
        audit: AuditEntry,
    ) -> StoreResult<ConsoleUser> {
        let id = id.to_owned();
        self.write(move |conn| console::change_user(conn, &id, &change, now_ms, &audit)).await
    }

    async fn create_console_session(&self, session: ConsoleSession) -> StoreResult<()> {
        self.write(move |conn| console::create_session(conn, &session)).await
    }

    async fn find_console_session(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> StoreResult<Option<(ConsoleSession, ConsoleUser)>> {
        let id_hash = id_hash.to_owned();
        self.read(move |conn| console::find_session(conn, &id_hash, now_ms)).await
    }

    async fn touch_console_session(&self, id_hash: &str, now_ms: i64, idle_until: i64) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| console::touch_session(conn, &id_hash, now_ms, idle_until)).await
    }

    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| console::delete_session(conn, &id_hash)).await
    }

    async fn purge_console_sessions(&self, now_ms: i64) -> StoreResult<u64> {
        self.write(move |conn| console::purge_sessions(conn, now_ms)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers a batch's jobs as the sync thread would.
    fn answer(committed: Committed) {
        for reply in committed.replies {
            reply(committed.result.clone());
        }
    }

    fn insert_customer(conn: &Connection, name: &str) -> StoreResult<()> {
        conn.execute(
            "INSERT INTO customers (id, name, address, contact, created_at) VALUES (?1, ?1, '', '', 0)",
            [name],
        )?;
        Ok(())
    }

    fn customers(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0)).unwrap_or(-1)
    }

    #[test]
    fn a_job_that_fails_before_writing_leaves_the_rest_of_the_batch_committed() {
        let dir = tempfile::tempdir().expect("dir");
        let mut conn = connect(&dir.path().join("t.db")).expect("open");
        migrate_connection(&mut conn).expect("migrate");
        let (a, ra) = job(|c| insert_customer(c, "a"));
        let (b, rb) = job(|_| Err::<(), _>(StoreError::NotFound));
        let (c, rc) = job(|c| insert_customer(c, "c"));
        answer(commit_batch(&conn, &mut vec![a, b, c]));
        assert_eq!(ra.blocking_recv().ok(), Some(Ok(())));
        assert_eq!(rb.blocking_recv().ok(), Some(Err(StoreError::NotFound)));
        assert_eq!(rc.blocking_recv().ok(), Some(Ok(())));
        assert_eq!(customers(&conn), 2);
    }

    #[test]
    fn a_job_that_fails_after_writing_rolls_the_whole_batch_back() {
        let dir = tempfile::tempdir().expect("dir");
        let mut conn = connect(&dir.path().join("t.db")).expect("open");
        migrate_connection(&mut conn).expect("migrate");
        let (a, ra) = job(|c| insert_customer(c, "a"));
        let (b, rb) = job(|c| {
            insert_customer(c, "b")?;
            Err::<(), _>(StoreError::Backend("failed half-way".into()))
        });
        let (p, rp) = job(|c| -> StoreResult<()> {
            insert_customer(c, "p")?;
            panic!("a bug");
        });
        answer(commit_batch(&conn, &mut vec![a, b, p]));
        assert_eq!(ra.blocking_recv().ok(), Some(Err(StoreError::Aborted)), "the innocent job is told to retry");
        assert_eq!(rb.blocking_recv().ok(), Some(Err(StoreError::Aborted)));
        assert!(rp.blocking_recv().is_err(), "the panicked job's reply channel is dropped");
        assert_eq!(customers(&conn), 0, "nothing of the batch is committed");
    }

    /// The largest WAL seen while 32 tasks accept messages for a second and a half.
    async fn largest_wal_under_load(wal_limit_bytes: u64) -> u64 {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let options = SqliteOptions { wal_limit_bytes, ..SqliteOptions::default() };
        let store = Arc::new(SqliteStore::open_with(&path, options).expect("open"));
        let customer = NewCustomer {
            id: "cus_1".into(),
            name: "c".into(),
            address: String::new(),
            contact: String::new(),
            created_at: 0,
        };
        store.create_customer(customer).await.expect("customer");
        let deadline = std::time::Instant::now() + Duration::from_millis(1500);
        let mut tasks = Vec::new();
        for task in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                while std::time::Instant::now() < deadline {
                    n += 1;
                    let message = NewMessage {
                        id: format!("msg_{task:04}_{n:08}"),
                        recipient: "+8613800138000".into(),
                        carrier: None,
                        sender: None,
                        text: "x".repeat(300),
                        encoding: "gsm7".into(),
                        segments: 2,
                        price: Money::ZERO,
                        status: MessageStatus::Queued,
                        client_ref: None,
                        callback_url: None,
                        send_at: None,
                        valid_until: None,
                        charge_on: tongdao_domain::agreement::ChargeOn::Submit,
                        concat: None,
                        receipt: Default::default(),
                        out_of_scope: false,
                        screening: None,
                        source: None,
                    };
                    let batch = AcceptBatch {
                        customer_id: "cus_1".into(),
                        messages: vec![message],
                        idempotency: None,
                        frequency: tongdao_domain::FrequencyLimits::NONE,
                        now_ms: 0,
                    };
                    store.accept(batch).await.expect("accepted");
                }
            }));
        }
        let wal = wal_path(&path);
        let mut largest = 0;
        while std::time::Instant::now() < deadline {
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for task in tasks {
            task.await.expect("task");
        }
        assert!(wal_limit_bytes == u64::MAX || store.write_stats().wal_truncations > 0);
        largest
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).expect("open"));
        let mut tasks = Vec::new();
        for n in 0..200 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let customer = NewCustomer {
                    id: format!("cus_{n}"),
                    name: format!("c{n}"),
                    address: String::new(),
                    contact: String::new(),
                    created_at: 0,
                };
                store.create_customer(customer).await
            }));
        }
        for task in tasks {
            task.await.expect("task").expect("stored");
        }
        let stats = store.write_stats();
        assert_eq!(stats.jobs, 200);
        assert!(stats.commits <= 150, "200 concurrent writes took {} commits", stats.commits);
        assert_eq!(store.list_customers().await.map(|c| c.len()), Ok(200), "every write is committed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_a_stream_of_commits() {
        // Regression: with PASSIVE checkpoints only, a steady stream of commits grew the WAL
        // to gigabytes (3 GB after a minute of load).
        let limit = 2 * 1024 * 1024;
        let largest = largest_wal_under_load(limit).await;
        // Past the limit the WAL is emptied after the next commit, or a few commits later
        // when the checkpointer holds the checkpoint lock: allow some overshoot. Unbounded,
        // it reaches hundreds of megabytes in the same time.
        assert!(largest <= 4 * limit, "the WAL reached {largest} bytes");
    }

    fn one_message_batch(customer_id: &str, id: &str, price: i64, key: Option<&str>, now_ms: i64) -> AcceptBatch {
        AcceptBatch {
            frequency: tongdao_domain::FrequencyLimits::NONE,
            customer_id: customer_id.into(),
            messages: vec![NewMessage {
                id: id.into(),
                recipient: "+8613800138000".into(),
                carrier: None,
                sender: None,
                text: "hi".into(),
                encoding: "gsm7".into(),
                segments: 1,
                price: Money::from_micros(price),
                status: MessageStatus::Queued,
                client_ref: None,
                callback_url: None,
                send_at: None,
                valid_until: None,
                charge_on: tongdao_domain::agreement::ChargeOn::Submit,
                concat: None,
                receipt: Default::default(),
                out_of_scope: false,
                screening: None,
                source: None,
            }],
            idempotency: key.map(|key| IdempotencyRecord {
                key: key.into(),
                request_hash: "h".into(),
                status: 202,
                response: "{}".into(),
            }),
            now_ms,
        }
    }

    #[test]
    fn a_refused_request_with_an_expired_idempotency_key_spoils_no_batch() {
        // Regression: the expired key's row was deleted before the balance check, so the
        // refusal came after a write and rolled back every other request of its batch.
        let dir = tempfile::tempdir().expect("dir");
        let mut conn = connect(&dir.path().join("t.db")).expect("open");
        migrate_connection(&mut conn).expect("migrate");
        insert_customer(&conn, "poor").expect("customer");
        insert_customer(&conn, "rich").expect("customer");
        conn.execute("UPDATE customers SET balance = 1000000 WHERE id = 'rich'", []).expect("balance");
        conn.execute("INSERT INTO idempotency_keys VALUES ('poor', 'old-key', 'h0', 202, '{}', 0)", [])
            .expect("old key");
        let day = IDEMPOTENCY_WINDOW_MS;
        let (poor, poor_answer) = job({
            let batch = one_message_batch("poor", "msg_p", 45_000, Some("old-key"), 2 * day);
            move |c| {
                let (queue_seq, recipients) = (AtomicI64::new(1), Mutex::new(RecipientCounts::default()));
                accept_batch(c, &batch, &Accepting { queue_seq: &queue_seq, recipients: &recipients })
            }
        });
        let (rich, rich_answer) = job({
            let batch = one_message_batch("rich", "msg_r", 45_000, None, 2 * day);
            move |c| {
                let (queue_seq, recipients) = (AtomicI64::new(1), Mutex::new(RecipientCounts::default()));
                accept_batch(c, &batch, &Accepting { queue_seq: &queue_seq, recipients: &recipients })
            }
        });
        answer(commit_batch(&conn, &mut vec![poor, rich]));
        assert!(matches!(poor_answer.blocking_recv(), Ok(Err(StoreError::InsufficientBalance { .. }))));
        assert!(matches!(rich_answer.blocking_recv(), Ok(Ok(AcceptOutcome::Stored { .. }))));
        let stored: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0)).expect("count");
        assert_eq!(stored, 1);

        // The expired key is reused with a balance that pays: accepted, and kept anew.
        conn.execute("UPDATE customers SET balance = 1000000 WHERE id = 'poor'", []).expect("balance");
        let (again, again_answer) = job({
            let batch = one_message_batch("poor", "msg_p2", 45_000, Some("old-key"), 2 * day);
            move |c| {
                let (queue_seq, recipients) = (AtomicI64::new(1), Mutex::new(RecipientCounts::default()));
                accept_batch(c, &batch, &Accepting { queue_seq: &queue_seq, recipients: &recipients })
            }
        });
        answer(commit_batch(&conn, &mut vec![again]));
        assert!(matches!(again_answer.blocking_recv(), Ok(Ok(AcceptOutcome::Stored { .. }))));
        let kept = find_idempotency(&conn, "poor", "old-key", 2 * day).expect("read");
        assert_eq!(kept.map(|k| k.request_hash).as_deref(), Some("h"));
    }

    /// The sweeper runs every second on the writer thread: its queries must use the partial
    /// indexes, never scan the messages table (a regression made the accept path slow down as
    /// the table grew).
    #[test]
    fn sweep_queries_use_their_partial_indexes() {
        let dir = tempfile::tempdir().expect("dir");
        let mut conn = connect(&dir.path().join("t.db")).expect("open");
        migrate_connection(&mut conn).expect("migrate");
        let plan = |sql: &str| -> String {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("plan");
            let rows = statement.query_map([], |r| r.get::<_, String>(3)).expect("rows");
            rows.filter_map(Result::ok).collect::<Vec<_>>().join("; ")
        };
        for (sql, index) in [
            ("SELECT id FROM messages WHERE customer_id = 'c' AND id = 'm'", "PRIMARY KEY"),
            ("UPDATE messages SET status = 'queued' WHERE customer_id = 'c' AND id = 'm'", "PRIMARY KEY"),
            ("SELECT id FROM messages WHERE customer_id = 'c' AND id < 'm' ORDER BY id DESC LIMIT 5", "PRIMARY KEY"),
            ("SELECT id FROM messages WHERE status = 'scheduled' AND send_at <= 1 LIMIT 5", "messages_scheduled"),
            (
                "SELECT id FROM messages WHERE status = 'scheduled' AND valid_until IS NOT NULL AND valid_until <= 1 LIMIT 5",
                "messages_scheduled_expiring",
            ),
            (
                "SELECT id FROM messages WHERE status = 'queued' AND valid_until IS NOT NULL AND valid_until <= 1 LIMIT 5",
                "messages_queued_expiring",
            ),
        ] {
            let plan = plan(sql);
            assert!(plan.contains(index) && !plan.contains("SCAN"), "{sql}: {plan}");
        }
    }
}

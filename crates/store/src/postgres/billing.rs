//! Billing documents read from the ledger on PostgreSQL (issue 6): a customer's monthly
//! statement (clause 3.8) and the reconciliation of what was charged against what the
//! carriers took (clause 5).
//!
//! The SQLite backend's queries, period for period and day for day (see its module doc: a
//! period and each CST day in it are seq ranges of the ledger found by bisection, and each
//! day's groups are summed in one pass). Each document is read in one REPEATABLE READ
//! transaction, so every figure describes the same ledger however many nodes write to it:
//! entries get their seq under the ledger head's lock at commit, so a snapshot holds a prefix
//! of the ledger's order, never an entry without the ones before it.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;
use tongdao_domain::Money;
use tongdao_domain::period::DAY_MS;

// To be imported from `super::core` at merge (see the end of `lifecycle.rs`).
use super::core::{LEDGER_COLUMNS, find_customer, ledger_row};
use super::{PgStore, row, row_opt, rows};
use crate::StoreResult;
use crate::model::*;
use crate::sqlite::billing::{CHARGED_COLUMNS, OTHER_KINDS, day_groups, link_rows};

type Value = Box<dyn ToSql + Sync + Send>;

/// The first entry at or after `from_seq`: of one customer's, or of everyone's.
async fn next_entry<C: GenericClient>(
    c: &C,
    customer_id: Option<&str>,
    from_seq: i64,
) -> StoreResult<Option<(i64, i64)>> {
    let found = match customer_id {
        Some(customer_id) => {
            row_opt(
                c,
                "SELECT seq, created_at FROM ledger WHERE customer_id = $1 AND seq >= $2 ORDER BY seq LIMIT 1",
                &[&customer_id, &from_seq],
            )
            .await?
        }
        None => {
            row_opt(c, "SELECT seq, created_at FROM ledger WHERE seq >= $1 ORDER BY seq LIMIT 1", &[&from_seq]).await?
        }
    };
    Ok(match found {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    })
}

/// The newest seq of the customer, or of everyone; 0 for an empty ledger.
async fn newest<C: GenericClient>(c: &C, customer_id: Option<&str>) -> StoreResult<i64> {
    let found = match customer_id {
        Some(customer_id) => {
            row(c, "SELECT COALESCE(MAX(seq), 0) FROM ledger WHERE customer_id = $1", &[&customer_id]).await?
        }
        None => row(c, "SELECT COALESCE(MAX(seq), 0) FROM ledger", &[]).await?,
    };
    Ok(found.try_get(0)?)
}

/// The seq of the first entry (of the customer, or of anyone) at or after `low` stamped at or
/// after `at_ms`; `i64::MAX` when there is none (see the SQLite backend's `cut`).
async fn cut<C: GenericClient>(
    c: &C,
    customer_id: Option<&str>,
    at_ms: i64,
    low: i64,
    newest: i64,
) -> StoreResult<i64> {
    let (mut low, mut high) = (low, newest.saturating_add(1));
    while low < high {
        let middle = low + (high - low) / 2;
        match next_entry(c, customer_id, middle).await? {
            // Every seq from `middle` to this entry's leads to it: all before the boundary.
            Some((seq, created_at)) if created_at < at_ms => low = seq + 1,
            _ => high = middle,
        }
    }
    Ok(next_entry(c, customer_id, low).await?.map_or(i64::MAX, |(seq, _)| seq))
}

/// A period of the ledger (one customer's, or everyone's): the seq range `[first, end)` of
/// `[from_ms, to_ms)`, and the seq range of each CST day in it, every entry in exactly one.
struct Period {
    first: i64,
    end: i64,
    /// (00:00 CST of the day, its first seq, the next day's first seq); empty days left out.
    days: Vec<(i64, i64, i64)>,
}

async fn period<C: GenericClient>(c: &C, customer_id: Option<&str>, from_ms: i64, to_ms: i64) -> StoreResult<Period> {
    let newest = newest(c, customer_id).await?;
    let first = cut(c, customer_id, from_ms, 0, newest).await?;
    let end = cut(c, customer_id, to_ms, first, newest).await?.max(first);
    let mut days = Vec::new();
    let (mut day, mut start) = (from_ms, first);
    while day < to_ms && start < end {
        let next =
            if day + DAY_MS >= to_ms { end } else { cut(c, customer_id, day + DAY_MS, start, newest).await?.min(end) };
        if next > start {
            days.push((day, start, next));
        }
        (day, start) = (day + DAY_MS, next);
    }
    Ok(Period { first, end, days })
}

/// The customer's last entry before `seq`: its seq, hash and balance after it.
async fn last_before<C: GenericClient>(c: &C, customer_id: &str, seq: i64) -> StoreResult<Option<(ChainHead, i64)>> {
    let found = row_opt(
        c,
        "SELECT seq, hash, balance_after FROM ledger WHERE customer_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1",
        &[&customer_id, &seq],
    )
    .await?;
    Ok(match found {
        Some(r) => {
            let hash: Option<String> = r.try_get(1)?;
            Some((ChainHead { seq: r.try_get(0)?, hash: hash.unwrap_or_default() }, r.try_get(2)?))
        }
        None => None,
    })
}

/// A read-only REPEATABLE READ transaction: every query of a document sees one snapshot.
async fn snapshot(client: &mut deadpool_postgres::Object) -> StoreResult<Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect()
}

/// The distinct values of a query.
async fn distinct<C: GenericClient>(c: &C, sql: &str, values: &[Value]) -> StoreResult<Vec<Option<String>>> {
    rows(c, sql, &params(values)).await?.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// The one row of sums a per-day query answers, NULL sums (no row matched) as 0.
async fn sums<C: GenericClient>(c: &C, sql: &str, values: &[Value]) -> StoreResult<Vec<i64>> {
    let r = row(c, sql, &params(values)).await?;
    (0..r.len()).map(|i| Ok(r.try_get::<_, Option<i64>>(i)?.unwrap_or_default())).collect()
}

fn text(value: &Option<String>) -> Value {
    Box::new(value.clone())
}

/// `SUM` of BIGINTs is NUMERIC in PostgreSQL; the sums here fit a BIGINT.
fn sum(expression: &str) -> String {
    format!("CAST(SUM({expression}) AS BIGINT)")
}

// ---- statements ----------------------------------------------------------------------------

pub(super) async fn statement(
    store: &PgStore,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    list_limit: u32,
) -> StoreResult<StatementData> {
    let mut client = store.client().await?;
    let t = snapshot(&mut client).await?;
    let data = read_statement(&t, customer_id, from_ms, to_ms, list_limit).await?;
    t.commit().await?;
    Ok(data)
}

async fn read_statement(
    t: &Transaction<'_>,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    list_limit: u32,
) -> StoreResult<StatementData> {
    find_customer(t, customer_id).await?;
    let period = period(t, Some(customer_id), from_ms, to_ms).await?;
    let opening = last_before(t, customer_id, period.first).await?.map_or(0, |(_, balance)| balance);
    let last = last_before(t, customer_id, period.end).await?;
    let closing = last.as_ref().map_or(0, |(_, balance)| *balance);
    let range =
        |first: i64, end: i64| -> Vec<Value> { vec![Box::new(customer_id.to_owned()), Box::new(first), Box::new(end)] };
    let carriers = distinct(t, CHARGE_CARRIERS_SQL, &range(period.first, period.end)).await?;
    let mut groups = Vec::new();
    for &(day, first, end) in &period.days {
        let mut values = range(first, end);
        values.extend(carriers.iter().map(text));
        let sums = sums(t, &statement_day_sql(carriers.len()), &values).await?;
        groups.extend(day_groups(day, &sums, &carriers));
    }
    Ok(StatementData {
        opening: Money::from_micros(opening),
        closing: Money::from_micros(closing),
        head: last.map(|(head, _)| head),
        groups,
        topups: listed(t, customer_id, &period, LedgerKind::Topup, list_limit).await?,
        adjustments: listed(t, customer_id, &period, LedgerKind::Adjustment, list_limit).await?,
    })
}

/// The destination carriers of the customer's charged messages in `[$2, $3)`.
const CHARGE_CARRIERS_SQL: &str = "SELECT DISTINCT m.carrier FROM ledger l \
     LEFT JOIN messages m ON m.customer_id = l.customer_id AND m.id = l.message_id \
     WHERE l.customer_id = $1 AND l.seq >= $2 AND l.seq < $3 AND l.kind = 'charge'";

/// One day of the customer's entries `[$2, $3)` in one pass: (count, amount) of each of
/// [`OTHER_KINDS`], then (count, segments, amount) of the charges to each carrier `$4…`.
fn statement_day_sql(carriers: usize) -> String {
    let mut columns: Vec<String> = OTHER_KINDS
        .iter()
        .flat_map(|kind| {
            let kind = kind.as_str();
            [
                format!("COUNT(CASE WHEN l.kind = '{kind}' THEN 1 END)"),
                sum(&format!("CASE WHEN l.kind = '{kind}' THEN l.amount END")),
            ]
        })
        .collect();
    for k in 0..carriers {
        let charge = format!("l.kind = 'charge' AND m.carrier IS NOT DISTINCT FROM ${}", k + 4);
        columns.push(format!("COUNT(CASE WHEN {charge} THEN 1 END)"));
        columns.push(sum(&format!("CASE WHEN {charge} THEN m.segments END")));
        columns.push(sum(&format!("CASE WHEN {charge} THEN l.amount END")));
    }
    format!(
        "SELECT {} FROM ledger l \
         LEFT JOIN messages m ON l.kind = 'charge' AND m.customer_id = l.customer_id AND m.id = l.message_id \
         WHERE l.customer_id = $1 AND l.seq >= $2 AND l.seq < $3",
        columns.join(", ")
    )
}

/// The first `limit` entries of `kind` in the period, in ledger order.
async fn listed(
    t: &Transaction<'_>,
    customer_id: &str,
    period: &Period,
    kind: LedgerKind,
    limit: u32,
) -> StoreResult<ListedEntries> {
    let sql = format!(
        "SELECT {LEDGER_COLUMNS} FROM ledger WHERE customer_id = $1 AND seq >= $2 AND seq < $3 AND kind = $4 \
         ORDER BY seq LIMIT $5"
    );
    let mut entries: Vec<LedgerEntry> =
        rows(t, &sql, &[&customer_id, &period.first, &period.end, &kind.as_str(), &(i64::from(limit) + 1)])
            .await?
            .iter()
            .map(ledger_row)
            .collect::<StoreResult<_>>()?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let truncated = entries.len() > limit;
    entries.truncate(limit);
    Ok(ListedEntries { entries, truncated })
}

// ---- reconciliation ------------------------------------------------------------------------

pub(super) async fn reconciliation(store: &PgStore, from_ms: i64, to_ms: i64) -> StoreResult<Vec<ReconciliationRow>> {
    if from_ms >= to_ms {
        return Ok(Vec::new());
    }
    let mut client = store.client().await?;
    let t = snapshot(&mut client).await?;
    let report = read_reconciliation(&t, from_ms, to_ms).await?;
    t.commit().await?;
    Ok(report)
}

async fn read_reconciliation(t: &Transaction<'_>, from_ms: i64, to_ms: i64) -> StoreResult<Vec<ReconciliationRow>> {
    let period = period(t, None, from_ms, to_ms).await?;
    let range = |first: i64, end: i64| -> Vec<Value> { vec![Box::new(first), Box::new(end)] };
    let links = distinct(t, CHARGED_LINKS_SQL, &range(period.first, period.end)).await?;
    // Nothing charged in the period (top-ups only, say): no link, no row.
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    for &(day, first, end) in &period.days {
        let mut values = range(first, end);
        values.extend(links.iter().map(text));
        let charged = sums(t, &charged_day_sql(links.len()), &values).await?;
        let receipted = sums(t, &receipted_day_sql(links.len()), &values).await?;
        rows.extend(link_rows(day, &links, &charged, &receipted));
    }
    rows.sort_by(|a, b| (a.day_start_ms, a.link.is_none(), &a.link).cmp(&(b.day_start_ms, b.link.is_none(), &b.link)));
    Ok(rows)
}

/// The links the messages charged in `[$1, $2)` went out on (NULL: never reached one).
const CHARGED_LINKS_SQL: &str = "SELECT DISTINCT m.link FROM ledger l \
     JOIN messages m ON m.customer_id = l.customer_id AND m.id = l.message_id \
     WHERE l.seq >= $1 AND l.seq < $2 AND l.kind = 'charge'";

/// What each message charged in `[$1, $2)` came to, summed per link `$3…` in one pass:
/// messages, segments charged, amount charged, segments the carrier accepted, messages
/// failed, amount refunded since (see the SQLite backend's `charged_day_sql`).
fn charged_day_sql(links: usize) -> String {
    let mut columns = Vec::with_capacity(CHARGED_COLUMNS * links);
    for k in 0..links {
        let on = format!("m.link IS NOT DISTINCT FROM ${}", k + 3);
        columns.extend([
            format!("COUNT(CASE WHEN {on} THEN 1 END)"),
            sum(&format!("CASE WHEN {on} THEN m.segments END")),
            sum(&format!("CASE WHEN {on} THEN -l.amount END")),
            sum(&format!(
                "CASE WHEN {on} AND m.parts_total > 0 THEN m.segments * m.parts_accepted / m.parts_total END"
            )),
            format!("COUNT(CASE WHEN {on} AND m.status = 'failed' THEN 1 END)"),
            sum(&format!(
                "CASE WHEN {on} THEN (SELECT r.amount FROM ledger r WHERE r.message_id = l.message_id \
                 AND r.kind = 'refund') END"
            )),
        ]);
    }
    format!(
        "SELECT {} FROM ledger l JOIN messages m ON m.customer_id = l.customer_id AND m.id = l.message_id \
         WHERE l.seq >= $1 AND l.seq < $2 AND l.kind = 'charge'",
        columns.join(", ")
    )
}

/// Receipted segments of the messages charged in `[$1, $2)`, per link `$3…` and outcome, in
/// one pass: one `message_parts` row per submit_sm the carrier accepted, with the receipt's
/// outcome once it came. A message names its parts in `carrier_message_ids` (comma-separated,
/// in part order); a part whose id a carrier later reused for another message is no longer
/// this message's and is not counted. As in SQLite, where the list is read as a JSON array,
/// a list holding control characters names no part.
fn receipted_day_sql(links: usize) -> String {
    let mut columns = Vec::with_capacity(PartOutcome::ALL.len() * links);
    for k in 0..links {
        for outcome in PartOutcome::ALL {
            let outcome = outcome.as_str();
            columns.push(sum(&format!(
                "CASE WHEN m.link IS NOT DISTINCT FROM ${} AND p.outcome = '{outcome}' \
                 THEN m.segments / m.parts_total END",
                k + 3
            )));
        }
    }
    let parts = "CASE WHEN m.carrier_message_ids ~ '[\\x01-\\x1f]' THEN '{}'::TEXT[] \
         ELSE string_to_array(m.carrier_message_ids, ',') END";
    format!(
        "SELECT {} FROM ledger l JOIN messages m ON m.customer_id = l.customer_id AND m.id = l.message_id \
         CROSS JOIN LATERAL unnest({parts}) AS part (value) \
         JOIN message_parts p ON p.link = m.link AND p.carrier_message_id = part.value \
         WHERE l.seq >= $1 AND l.seq < $2 AND l.kind = 'charge' AND m.parts_total > 0 \
         AND m.carrier_message_ids IS NOT NULL AND p.customer_id = m.customer_id AND p.message_id = m.id",
        columns.join(", ")
    )
}

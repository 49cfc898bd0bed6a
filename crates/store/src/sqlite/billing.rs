//! Billing documents read from the ledger (issue 6): a customer's monthly statement (clause
//! 3.8) and the reconciliation of what was charged against what the carriers took (clause 5).
//!
//! Both are aggregated here, in SQL, in memory that does not grow with the ledger: neither
//! uses `GROUP BY`, for SQLite groups by sorting every row first (a month of 3 million
//! entries took 200 MB and 5 s that way, against 6 MB and under 2 s here). Instead:
//! - a period, and each CST day in it, is a range of the ledger's order (`seq`), found by
//!   bisection — entries are stamped from the clock just before they are written — and read
//!   through the indexes the ledger has (`ledger_customer` for one customer, the primary key
//!   for everyone); no index of its own;
//! - the groups of a day (destination carriers, links) are first found with `DISTINCT`
//!   (which keeps only the distinct values), then summed in one pass per day, one column per
//!   group (`SUM(CASE WHEN … IS ?k …)`).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tongdao_domain::Money;
use tongdao_domain::period::DAY_MS;

use super::{LEDGER_COLUMNS, find_customer, ledger_row};
use crate::StoreResult;
use crate::model::*;

/// The first entry at or after `from_seq`: of one customer's, or of everyone's.
fn next_entry(conn: &Connection, customer_id: Option<&str>, from_seq: i64) -> StoreResult<Option<(i64, i64)>> {
    let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    Ok(match customer_id {
        Some(customer_id) => conn
            .prepare_cached(
                "SELECT seq, created_at FROM ledger WHERE customer_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT 1",
            )?
            .query_row(params![customer_id, from_seq], row)
            .optional()?,
        None => conn
            .prepare_cached("SELECT seq, created_at FROM ledger WHERE seq >= ?1 ORDER BY seq LIMIT 1")?
            .query_row([from_seq], row)
            .optional()?,
    })
}

/// The newest seq of the customer, or of everyone; 0 for an empty ledger.
fn newest(conn: &Connection, customer_id: Option<&str>) -> StoreResult<i64> {
    Ok(match customer_id {
        Some(customer_id) => conn
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM ledger WHERE customer_id = ?1")?
            .query_row([customer_id], |r| r.get(0))?,
        None => conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM ledger")?.query_row([], |r| r.get(0))?,
    })
}

/// The seq of the first entry (of the customer, or of anyone) at or after `low` stamped at or
/// after `at_ms`; `i64::MAX` when there is none. Entries are stamped in the order they are
/// written, so those stamped before `at_ms` are a prefix of the ledger and bisection over
/// `[low, newest]` finds where it ends in at most about 40 index lookups. (Two writes racing
/// across the boundary within a millisecond or so are cut in ledger order: a period keeps one
/// exact boundary.)
fn cut(conn: &Connection, customer_id: Option<&str>, at_ms: i64, low: i64, newest: i64) -> StoreResult<i64> {
    let (mut low, mut high) = (low, newest.saturating_add(1));
    while low < high {
        let middle = low + (high - low) / 2;
        match next_entry(conn, customer_id, middle)? {
            // Every seq from `middle` to this entry's leads to it: all before the boundary.
            Some((seq, created_at)) if created_at < at_ms => low = seq + 1,
            _ => high = middle,
        }
    }
    Ok(next_entry(conn, customer_id, low)?.map_or(i64::MAX, |(seq, _)| seq))
}

/// A period of the ledger (one customer's, or everyone's): the seq range `[first, end)` of
/// `[from_ms, to_ms)`, and the seq range of each CST day in it, every entry in exactly one.
struct Period {
    first: i64,
    end: i64,
    /// (00:00 CST of the day, its first seq, the next day's first seq); empty days left out.
    days: Vec<(i64, i64, i64)>,
}

/// `from_ms` is 00:00 CST of a day. An entry that the ledger's order puts in the period but
/// that is stamped a hair outside it counts on its first or last day.
fn period(conn: &Connection, customer_id: Option<&str>, from_ms: i64, to_ms: i64) -> StoreResult<Period> {
    let newest = newest(conn, customer_id)?;
    let first = cut(conn, customer_id, from_ms, 0, newest)?;
    let end = cut(conn, customer_id, to_ms, first, newest)?.max(first);
    let mut days = Vec::new();
    let (mut day, mut start) = (from_ms, first);
    while day < to_ms && start < end {
        let next =
            if day + DAY_MS >= to_ms { end } else { cut(conn, customer_id, day + DAY_MS, start, newest)?.min(end) };
        if next > start {
            days.push((day, start, next));
        }
        (day, start) = (day + DAY_MS, next);
    }
    Ok(Period { first, end, days })
}

/// The customer's last entry before `seq`: its seq, hash and balance after it.
fn last_before(conn: &Connection, customer_id: &str, seq: i64) -> StoreResult<Option<(ChainHead, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, hash, balance_after FROM ledger WHERE customer_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![customer_id, seq], |r| {
            let hash: Option<String> = r.get(1)?;
            Ok((ChainHead { seq: r.get(0)?, hash: hash.unwrap_or_default() }, r.get(2)?))
        })
        .optional()?)
}

/// Runs `read` in one read transaction, so that every figure describes the same ledger.
fn snapshot<T>(conn: &Connection, read: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    conn.execute_batch("BEGIN")?;
    let result = read();
    conn.execute_batch("COMMIT")?;
    result
}

/// The distinct values of a query (`DISTINCT` keeps only those, not every row).
fn distinct(conn: &Connection, sql: &str, values: Vec<Value>) -> StoreResult<Vec<Option<String>>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(params_from_iter(values), |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The one row of sums a per-day query answers, NULL sums (no row matched) as 0.
fn sums(conn: &Connection, sql: &str, values: Vec<Value>) -> StoreResult<Vec<i64>> {
    let mut statement = conn.prepare_cached(sql)?;
    Ok(statement.query_row(params_from_iter(values), |r| {
        (0..r.as_ref().column_count()).map(|i| r.get::<_, Option<i64>>(i).map(Option::unwrap_or_default)).collect()
    })?)
}

fn text(value: &Option<String>) -> Value {
    value.as_ref().map_or(Value::Null, |v| Value::Text(v.clone()))
}

// ---- statements ----------------------------------------------------------------------------

pub(super) fn statement(
    conn: &Connection,
    customer_id: &str,
    from_ms: i64,
    to_ms: i64,
    list_limit: u32,
) -> StoreResult<StatementData> {
    snapshot(conn, || {
        find_customer(conn, customer_id)?;
        let period = period(conn, Some(customer_id), from_ms, to_ms)?;
        let opening = last_before(conn, customer_id, period.first)?.map_or(0, |(_, balance)| balance);
        let last = last_before(conn, customer_id, period.end)?;
        let closing = last.as_ref().map_or(0, |(_, balance)| *balance);
        let range = |first, end| vec![Value::from(customer_id.to_owned()), Value::from(first), Value::from(end)];
        let carriers = distinct(conn, CHARGE_CARRIERS_SQL, range(period.first, period.end))?;
        let mut groups = Vec::new();
        for &(day, first, end) in &period.days {
            let mut values = range(first, end);
            values.extend(carriers.iter().map(text));
            let sums = sums(conn, &statement_day_sql(carriers.len()), values)?;
            groups.extend(day_groups(day, &sums, &carriers));
        }
        Ok(StatementData {
            opening: Money::from_micros(opening),
            closing: Money::from_micros(closing),
            head: last.map(|(head, _)| head),
            groups,
            topups: listed(conn, customer_id, &period, LedgerKind::Topup, list_limit)?,
            adjustments: listed(conn, customer_id, &period, LedgerKind::Adjustment, list_limit)?,
        })
    })
}

/// The destination carriers of the customer's charged messages in `[?2, ?3)`.
const CHARGE_CARRIERS_SQL: &str = "SELECT DISTINCT m.carrier FROM ledger l \
     LEFT JOIN messages m ON m.customer_id = l.customer_id AND m.id = l.message_id \
     WHERE l.customer_id = ?1 AND l.seq >= ?2 AND l.seq < ?3 AND l.kind = 'charge'";

/// The kinds other than charges, summed per day as (count, amount) column pairs.
pub(crate) const OTHER_KINDS: [LedgerKind; 3] = [LedgerKind::Topup, LedgerKind::Refund, LedgerKind::Adjustment];

/// One day of the customer's entries `[?2, ?3)` in one pass: (count, amount) of each of
/// [`OTHER_KINDS`], then (count, segments, amount) of the charges to each carrier `?4…`.
fn statement_day_sql(carriers: usize) -> String {
    let mut columns: Vec<String> = OTHER_KINDS
        .iter()
        .flat_map(|kind| {
            let kind = kind.as_str();
            [
                format!("COUNT(CASE WHEN l.kind = '{kind}' THEN 1 END)"),
                format!("SUM(CASE WHEN l.kind = '{kind}' THEN l.amount END)"),
            ]
        })
        .collect();
    for k in 0..carriers {
        let charge = format!("l.kind = 'charge' AND m.carrier IS ?{}", k + 4);
        columns.push(format!("COUNT(CASE WHEN {charge} THEN 1 END)"));
        columns.push(format!("SUM(CASE WHEN {charge} THEN m.segments END)"));
        columns.push(format!("SUM(CASE WHEN {charge} THEN l.amount END)"));
    }
    format!(
        "SELECT {} FROM ledger l \
         LEFT JOIN messages m ON l.kind = 'charge' AND m.customer_id = l.customer_id AND m.id = l.message_id \
         WHERE l.customer_id = ?1 AND l.seq >= ?2 AND l.seq < ?3",
        columns.join(", ")
    )
}

/// The groups of one day from its sums, as [`statement_day_sql`] lays them out.
pub(crate) fn day_groups(day: i64, sums: &[i64], carriers: &[Option<String>]) -> Vec<LedgerGroup> {
    let count = |i: usize| u64::try_from(sums.get(i).copied().unwrap_or(0)).unwrap_or(0);
    let sum = |i: usize| Money::from_micros(sums.get(i).copied().unwrap_or(0));
    let others = OTHER_KINDS.iter().enumerate().map(|(i, kind)| LedgerGroup {
        kind: *kind,
        day_start_ms: day,
        carrier: None,
        entries: count(2 * i),
        segments: 0,
        amount: sum(2 * i + 1),
    });
    let charges = carriers.iter().enumerate().map(|(k, carrier)| {
        let at = 2 * OTHER_KINDS.len() + 3 * k;
        LedgerGroup {
            kind: LedgerKind::Charge,
            day_start_ms: day,
            carrier: carrier.clone(),
            entries: count(at),
            segments: count(at + 1),
            amount: sum(at + 2),
        }
    });
    others.chain(charges).filter(|g| g.entries > 0).collect()
}

fn listed_sql() -> String {
    format!(
        "SELECT {LEDGER_COLUMNS} FROM ledger WHERE customer_id = ?1 AND seq >= ?2 AND seq < ?3 AND kind = ?4 \
         ORDER BY seq LIMIT ?5"
    )
}

/// The first `limit` entries of `kind` in the period, in ledger order.
fn listed(
    conn: &Connection,
    customer_id: &str,
    period: &Period,
    kind: LedgerKind,
    limit: u32,
) -> StoreResult<ListedEntries> {
    let mut entries: Vec<LedgerEntry> = conn
        .prepare_cached(&listed_sql())?
        .query_map(params![customer_id, period.first, period.end, kind.as_str(), i64::from(limit) + 1], ledger_row)?
        .collect::<Result<_, _>>()?;
    let truncated = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    Ok(ListedEntries { entries, truncated })
}

// ---- reconciliation ------------------------------------------------------------------------

pub(super) fn reconciliation(conn: &Connection, from_ms: i64, to_ms: i64) -> StoreResult<Vec<ReconciliationRow>> {
    if from_ms >= to_ms {
        return Ok(Vec::new());
    }
    snapshot(conn, || {
        let period = period(conn, None, from_ms, to_ms)?;
        let links = distinct(conn, CHARGED_LINKS_SQL, vec![Value::from(period.first), Value::from(period.end)])?;
        // Nothing charged in the period (top-ups only, say): no link, no row.
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::new();
        for &(day, first, end) in &period.days {
            let mut values = vec![Value::from(first), Value::from(end)];
            values.extend(links.iter().map(text));
            let charged = sums(conn, &charged_day_sql(links.len()), values.clone())?;
            let receipted = sums(conn, &receipted_day_sql(links.len()), values)?;
            rows.extend(link_rows(day, &links, &charged, &receipted));
        }
        rows.sort_by(|a, b| {
            (a.day_start_ms, a.link.is_none(), &a.link).cmp(&(b.day_start_ms, b.link.is_none(), &b.link))
        });
        Ok(rows)
    })
}

/// The links the messages charged in `[?1, ?2)` went out on (NULL: never reached one).
const CHARGED_LINKS_SQL: &str = "SELECT DISTINCT m.link FROM ledger l \
     JOIN messages m ON m.customer_id = l.customer_id AND m.id = l.message_id \
     WHERE l.seq >= ?1 AND l.seq < ?2 AND l.kind = 'charge'";

/// What each message charged in `[?1, ?2)` came to, summed per link `?3…` in one pass:
/// messages, segments charged, amount charged, segments the carrier accepted, messages
/// failed, amount refunded since. The tallies are those `record_progress` keeps on the
/// message row: `parts_accepted` also counts the parts taken before a later part was refused
/// (which have no `message_parts` row); a submit_sm carrying message_payload (one part) counts
/// the message's segments.
fn charged_day_sql(links: usize) -> String {
    let mut columns = Vec::with_capacity(CHARGED_COLUMNS * links);
    for k in 0..links {
        let on = format!("m.link IS ?{}", k + 3);
        columns.extend([
            format!("COUNT(CASE WHEN {on} THEN 1 END)"),
            format!("SUM(CASE WHEN {on} THEN m.segments END)"),
            format!("SUM(CASE WHEN {on} THEN -l.amount END)"),
            format!("SUM(CASE WHEN {on} AND m.parts_total > 0 THEN m.segments * m.parts_accepted / m.parts_total END)"),
            format!("COUNT(CASE WHEN {on} AND m.status = 'failed' THEN 1 END)"),
            format!(
                "SUM(CASE WHEN {on} THEN (SELECT r.amount FROM ledger r WHERE r.message_id = l.message_id \
                 AND r.kind = 'refund') END)"
            ),
        ]);
    }
    format!(
        "SELECT {} FROM ledger l JOIN messages m ON m.customer_id = l.customer_id AND m.id = l.message_id \
         WHERE l.seq >= ?1 AND l.seq < ?2 AND l.kind = 'charge'",
        columns.join(", ")
    )
}

pub(crate) const CHARGED_COLUMNS: usize = 6;

/// Receipted segments of the messages charged in `[?1, ?2)`, per link `?3…` and outcome, in
/// one pass: one `message_parts` row per submit_sm the carrier accepted, with the receipt's
/// outcome once it came. A message names its parts in `carrier_message_ids` (comma-separated,
/// in part order), read as a JSON array that finds each part by the table's key; a part whose
/// id a carrier later reused for another message is no longer this message's and is not
/// counted (nor are the parts of a message whose ids are not plain text). `CROSS JOIN` keeps
/// the order: left to itself, SQLite read every part of the link for each message.
fn receipted_day_sql(links: usize) -> String {
    let mut columns = Vec::with_capacity(PartOutcome::ALL.len() * links);
    for k in 0..links {
        for outcome in PartOutcome::ALL {
            let outcome = outcome.as_str();
            columns.push(format!(
                "SUM(CASE WHEN m.link IS ?{} AND p.outcome = '{outcome}' THEN m.segments / m.parts_total END)",
                k + 3
            ));
        }
    }
    let ids = r#"'["' || replace(replace(replace(m.carrier_message_ids, '\', '\\'), '"', '\"'), ',', '","') || '"]'"#;
    format!(
        "SELECT {} FROM ledger l JOIN messages m ON m.customer_id = l.customer_id AND m.id = l.message_id \
         CROSS JOIN json_each(CASE WHEN json_valid({ids}) THEN {ids} ELSE '[]' END) part \
         CROSS JOIN message_parts p ON p.link = m.link AND p.carrier_message_id = part.value \
         WHERE l.seq >= ?1 AND l.seq < ?2 AND l.kind = 'charge' AND m.parts_total > 0 \
         AND m.carrier_message_ids IS NOT NULL AND p.customer_id = m.customer_id AND p.message_id = m.id",
        columns.join(", ")
    )
}

/// The rows of one day from its sums, as [`charged_day_sql`] and [`receipted_day_sql`] lay
/// them out; links with no message that day left out.
pub(crate) fn link_rows(
    day: i64,
    links: &[Option<String>],
    charged: &[i64],
    receipted: &[i64],
) -> Vec<ReconciliationRow> {
    let at = |sums: &[i64], i: usize| sums.get(i).copied().unwrap_or(0);
    let count = |sums: &[i64], i: usize| u64::try_from(at(sums, i)).unwrap_or(0);
    links
        .iter()
        .enumerate()
        .map(|(k, link)| {
            let (c, r) = (CHARGED_COLUMNS * k, PartOutcome::ALL.len() * k);
            ReconciliationRow {
                link: link.clone(),
                day_start_ms: day,
                messages: count(charged, c),
                charged_segments: count(charged, c + 1),
                charged: Money::from_micros(at(charged, c + 2)),
                submitted_segments: count(charged, c + 3),
                failed_messages: count(charged, c + 4),
                refunded: Money::from_micros(at(charged, c + 5)),
                receipts: PartOutcome::ALL
                    .iter()
                    .enumerate()
                    .map(|(o, outcome)| (*outcome, count(receipted, r + o)))
                    .collect(),
            }
        })
        .filter(|row| row.messages > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{connect, migrate_connection};
    use super::*;

    fn ledger_with(stamps: &[(&str, i64)]) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("dir");
        let mut conn = connect(&dir.path().join("t.db")).expect("open");
        migrate_connection(&mut conn).expect("migrate");
        for customer in ["a", "b"] {
            conn.execute(
                "INSERT INTO customers (id, name, address, contact, created_at) VALUES (?1, ?1, '', '', 0)",
                [customer],
            )
            .expect("customer");
        }
        for (customer, at) in stamps {
            conn.execute(
                "INSERT INTO ledger (customer_id, kind, amount, balance_after, created_at) \
                 VALUES (?1, 'topup', 1, 0, ?2)",
                params![customer, at],
            )
            .expect("entry");
        }
        (dir, conn)
    }

    #[test]
    fn the_cut_is_the_first_entry_stamped_at_or_after_the_boundary() {
        let stamps: Vec<(&str, i64)> =
            (0..300).map(|i| (if i % 3 == 0 { "a" } else { "b" }, 1_000 + 10 * i64::from(i))).collect();
        let (_dir, conn) = ledger_with(&stamps);
        let cut = |customer: Option<&str>, at: i64| cut(&conn, customer, at, 0, newest(&conn, customer)?);
        // Entry n (seq n + 1) is stamped 1000 + 10n; a's entries are n = 0, 3, 6, …, 297.
        assert_eq!(cut(None, 0), Ok(1));
        assert_eq!(cut(None, 1_000), Ok(1));
        assert_eq!(cut(None, 1_001), Ok(2));
        assert_eq!(cut(None, 1_995), Ok(101));
        assert_eq!(cut(None, 3_991), Ok(i64::MAX), "nothing after");
        assert_eq!(cut(Some("a"), 1_001), Ok(4), "a's next entry is n = 3");
        assert_eq!(cut(Some("a"), 3_960), Ok(298));
        assert_eq!(cut(Some("a"), 3_970), Ok(298));
        assert_eq!(cut(Some("a"), 3_971), Ok(i64::MAX));
        assert_eq!(cut(Some("b"), 0), Ok(2));
        assert_eq!(cut(Some("nobody"), 0), Ok(i64::MAX));
    }

    #[test]
    fn a_period_is_split_into_days_that_cover_it_entry_for_entry() {
        // Stamps every 5 hours from 0 to 95 h; days of 24 h from 10 h.
        let stamps: Vec<(&str, i64)> = (0..20).map(|i| ("a", i * 5 * 3_600_000)).collect();
        let (_dir, conn) = ledger_with(&stamps);
        let from = 10 * 3_600_000;
        let busy = period(&conn, Some("a"), from, from + 3 * DAY_MS).expect("period");
        // 10 h is entry 2 (seq 3); 82 h is entry 17 (seq 18): seqs 3 to 17.
        assert_eq!((busy.first, busy.end), (3, 18));
        let days: Vec<(i64, i64, i64)> = busy.days.iter().map(|(d, s, e)| ((d - from) / DAY_MS, *s, *e)).collect();
        // Day 0 is 10-34 h: 10, 15, 20, 25, 30; day 1 is 34-58 h: 35 … 55; day 2 is 58-82 h.
        assert_eq!(days, [(0, 3, 8), (1, 8, 13), (2, 13, 18)]);
        let empty = period(&conn, Some("b"), from, from + 3 * DAY_MS).expect("period");
        assert!(empty.days.is_empty() && empty.first == empty.end);
    }

    /// A statement of a busy customer must read its month as ranges of an index, and the
    /// report its days as ranges of the ledger: never a scan of the ledger, the messages or
    /// their parts, and never a sort of every row (`GROUP BY` or `ORDER BY` on a temp b-tree).
    #[test]
    fn billing_queries_read_index_ranges_and_sort_nothing() {
        let (_dir, conn) = ledger_with(&[]);
        let plan = |sql: &str| -> String {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("plan");
            let unbound = vec![Value::Null; statement.parameter_count()];
            let rows = statement.query_map(params_from_iter(unbound), |r| r.get::<_, String>(3)).expect("rows");
            rows.filter_map(Result::ok).collect::<Vec<_>>().join("; ")
        };
        let customer_range = "SEARCH l USING INDEX ledger_customer (customer_id=? AND seq>? AND seq<?)";
        let everyone_range = "SEARCH l USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)";
        let message = "SEARCH m USING PRIMARY KEY (customer_id=? AND id=?)";
        let cases: [(String, &[&str]); 7] = [
            (CHARGE_CARRIERS_SQL.into(), &[customer_range, message]),
            (statement_day_sql(3), &[customer_range, message]),
            (listed_sql(), &["SEARCH ledger USING INDEX ledger_customer (customer_id=? AND seq>? AND seq<?)"]),
            (CHARGED_LINKS_SQL.into(), &[everyone_range, message]),
            (
                charged_day_sql(2),
                &[everyone_range, message, "SEARCH r USING INDEX ledger_one_charge (message_id=? AND kind=?)"],
            ),
            (
                receipted_day_sql(2),
                &[everyone_range, message, "SEARCH p USING PRIMARY KEY (link=? AND carrier_message_id=?)"],
            ),
            (
                "SELECT seq, created_at FROM ledger WHERE customer_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT 1".into(),
                &["SEARCH ledger USING INDEX ledger_customer (customer_id=? AND seq>?)"],
            ),
        ];
        for (sql, uses) in cases {
            let plan = plan(&sql);
            for step in uses {
                assert!(plan.contains(step), "{sql}\n{plan}\nlacks {step}");
            }
            for table in ["ledger", "l", "m", "r", "p", "messages", "message_parts"] {
                let scan = format!("SCAN {table}");
                assert!(!plan.split("; ").any(|s| s == scan || s.starts_with(&format!("{scan} "))), "{sql}\n{plan}");
            }
            assert!(!plan.contains("GROUP BY") && !plan.contains("ORDER BY"), "{sql}\n{plan}");
        }
    }
}

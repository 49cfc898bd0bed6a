//! Billing documents (issue 6): the customer's monthly statement (clause 3.8: the provider
//! bills, its data is authoritative) and the operator's reconciliation report (clause 5:
//! settlement, reconciled with the carriers' records).
//!
//! A statement covers a calendar month in China Standard Time and is computed from the
//! ledger alone: opening balance, top-ups, charges by day and by destination carrier,
//! refunds, adjustments, closing balance, with `opening + every item = closing` to the
//! micro-unit (checked here before anything is shown), and the chain head — the seq and hash
//! of the customer's last entry up to the month's end, which commits to every earlier entry
//! of the ledger — so the statement can be proved later against `tongdao verify`. The same
//! figures render as JSON and as CSV; the current month is a running statement (`final:
//! false`); a month that has not begun is `period_not_started`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use tongdao_domain::clock::rfc3339;
use tongdao_domain::period::{self, CalendarMonth, DAY_MS};
use tongdao_domain::{ErrorCode, Money, Rejection};
use tongdao_store::{ChainHead, LedgerEntry, LedgerKind, ListedEntries, PartOutcome, ReconciliationRow, StatementData};

use crate::{Platform, rejection_from_store};

/// Top-ups and adjustments listed one by one in a statement, at most; the totals count all.
pub const LISTED_ENTRIES: u32 = 1000;

/// The longest reconciliation report, in days (a quarter).
pub const MAX_REPORT_DAYS: i64 = 92;

/// The currency of every amount (the HTTP views say the same).
const CURRENCY: &str = "CNY";

/// What a charge's message is grouped under when the numbering plan named no carrier.
const NO_CARRIER: &str = "none";

/// What a reconciliation row is grouped under for messages that never reached a link.
const NO_LINK: &str = "none";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementFormat {
    Json,
    Csv,
}

impl StatementFormat {
    /// `json` or `csv`.
    pub fn parse(text: &str) -> Option<StatementFormat> {
        match text {
            "json" => Some(StatementFormat::Json),
            "csv" => Some(StatementFormat::Csv),
            _ => None,
        }
    }
}

/// Count, segments and amount of a group of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub count: u64,
    pub segments: u64,
    pub amount: Money,
}

impl Tally {
    fn add(&mut self, count: u64, segments: u64, amount: Money) -> Result<(), Rejection> {
        self.count += count;
        self.segments += segments;
        self.amount = self.amount.checked_add(amount).ok_or_else(overflow)?;
        Ok(())
    }
}

fn overflow() -> Rejection {
    tracing::error!("a statement total overflows");
    Rejection::internal()
}

/// A customer's statement for one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub customer_id: String,
    pub month: CalendarMonth,
    /// The month is over: the statement will not change.
    pub is_final: bool,
    pub generated_at: i64,
    pub opening: Money,
    pub closing: Money,
    /// Totals by kind.
    pub totals: BTreeMap<&'static str, Tally>,
    /// Charges by (CST day, destination carrier).
    pub charges: BTreeMap<(String, String), Tally>,
    /// Refunds by CST day.
    pub refunds: BTreeMap<String, Tally>,
    pub topups: ListedEntries,
    pub adjustments: ListedEntries,
    pub chain: Option<ChainHead>,
}

fn day_of(ms: i64) -> String {
    period::format_day(tongdao_domain::agreement::cst_date(ms))
}

impl Statement {
    /// The figures of `data` for `month`; refused (logged) when they do not add up, which
    /// only a damaged ledger can cause.
    fn new(customer_id: String, month: CalendarMonth, data: StatementData, now_ms: i64) -> Result<Self, Rejection> {
        let mut statement = Statement {
            customer_id,
            month,
            is_final: now_ms >= month.end_ms(),
            generated_at: now_ms,
            opening: data.opening,
            closing: data.closing,
            totals: BTreeMap::new(),
            charges: BTreeMap::new(),
            refunds: BTreeMap::new(),
            topups: data.topups,
            adjustments: data.adjustments,
            chain: data.head,
        };
        for kind in [LedgerKind::Topup, LedgerKind::Charge, LedgerKind::Refund, LedgerKind::Adjustment] {
            statement.totals.insert(kind.as_str(), Tally::default());
        }
        for group in data.groups {
            let (count, segments, amount) = (group.entries, group.segments, group.amount);
            statement.totals.entry(group.kind.as_str()).or_default().add(count, segments, amount)?;
            let day = day_of(group.day_start_ms);
            match group.kind {
                LedgerKind::Charge => {
                    let carrier = group.carrier.unwrap_or_else(|| NO_CARRIER.to_owned());
                    statement.charges.entry((day, carrier)).or_default().add(count, segments, amount)?;
                }
                LedgerKind::Refund => statement.refunds.entry(day).or_default().add(count, 0, amount)?,
                LedgerKind::Topup | LedgerKind::Adjustment => {}
            }
        }
        let items = statement.totals.values().try_fold(Money::ZERO, |sum, t| sum.checked_add(t.amount));
        if statement.opening.checked_add(items.ok_or_else(overflow)?) != Some(statement.closing) {
            tracing::error!(
                customer = %statement.customer_id, month = %month, opening = %statement.opening,
                closing = %statement.closing, "the statement does not balance: the ledger is damaged (tongdao verify)"
            );
            return Err(Rejection::internal());
        }
        Ok(statement)
    }

    pub fn total(&self, kind: LedgerKind) -> Tally {
        self.totals.get(kind.as_str()).copied().unwrap_or_default()
    }

    /// Charges by day or by carrier: the marginals of the (day, carrier) groups.
    fn charges_by(&self, key: impl Fn(&(String, String)) -> &String) -> Result<BTreeMap<&String, Tally>, Rejection> {
        let mut by = BTreeMap::new();
        for (group, tally) in &self.charges {
            by.entry(key(group)).or_insert_with(Tally::default).add(tally.count, tally.segments, tally.amount)?;
        }
        Ok(by)
    }

    /// The statement as JSON (`crates/api/openapi.json`, schema `Statement`).
    pub fn to_json(&self) -> Result<serde_json::Value, Rejection> {
        let charges = self.total(LedgerKind::Charge);
        let by_day: Vec<_> = self
            .charges_by(|(day, _)| day)?
            .into_iter()
            .map(|(day, t)| {
                serde_json::json!({"date": day, "count": t.count, "segments": t.segments, "amount": t.amount})
            })
            .collect();
        let by_carrier: Vec<_> = self
            .charges_by(|(_, carrier)| carrier)?
            .into_iter()
            .map(|(carrier, t)| {
                serde_json::json!({"carrier": carrier, "count": t.count, "segments": t.segments, "amount": t.amount})
            })
            .collect();
        let refunds: Vec<_> = self
            .refunds
            .iter()
            .map(|(day, t)| serde_json::json!({"date": day, "count": t.count, "amount": t.amount}))
            .collect();
        Ok(serde_json::json!({
            "customer_id": self.customer_id,
            "month": self.month.to_string(),
            "from": rfc3339(self.month.start_ms()),
            "to": rfc3339(self.month.end_ms()),
            "final": self.is_final,
            "generated_at": rfc3339(self.generated_at),
            "currency": CURRENCY,
            "opening_balance": self.opening,
            "topups": listed_json(self.total(LedgerKind::Topup), &self.topups),
            "charges": {
                "count": charges.count,
                "segments": charges.segments,
                "amount": charges.amount,
                "by_day": by_day,
                "by_carrier": by_carrier,
            },
            "refunds": {
                "count": self.total(LedgerKind::Refund).count,
                "amount": self.total(LedgerKind::Refund).amount,
                "by_day": refunds,
            },
            "adjustments": listed_json(self.total(LedgerKind::Adjustment), &self.adjustments),
            "closing_balance": self.closing,
            "chain": self.chain.as_ref().map(|c| serde_json::json!({"seq": c.seq, "hash": c.hash})),
        }))
    }

    /// The statement as CSV: one line per item, `kind` first (layout in docs/ARCHITECTURE.md
    /// and `GET /v1/statements/{month}`):
    ///
    /// `kind,date,carrier,seq,count,segments,amount,reference,reason` — `statement` (date:
    /// the month, reference: the customer, reason: `final` or `running`), `opening`, each
    /// `topup`, `topups` (the total), a `charge` per day and carrier, `charges`, a `refund`
    /// per day, `refunds`, each `adjustment`, `adjustments`, `closing`, `chain` (seq, and the
    /// hash as reference). A total whose items were not all listed says so in `reason`.
    pub fn to_csv(&self) -> Result<Vec<u8>, Rejection> {
        let mut out = CsvLines(csv::Writer::from_writer(Vec::new()));
        out.line(CSV_HEADER)?;
        let state = if self.is_final { "final" } else { "running" };
        out.line(["statement", &self.month.to_string(), "", "", "", "", "", &self.customer_id, state])?;
        let first_day = period::format_day(self.month.first_day());
        out.line(["opening", &first_day, "", "", "", "", &self.opening.to_string(), "", ""])?;
        out.entries(LedgerKind::Topup, &self.topups)?;
        out.total("topups", self.total(LedgerKind::Topup), &self.topups, false)?;
        for ((day, carrier), t) in &self.charges {
            let (count, segments, amount) = (t.count.to_string(), t.segments.to_string(), t.amount.to_string());
            out.line(["charge", day, carrier, "", &count, &segments, &amount, "", ""])?;
        }
        out.total("charges", self.total(LedgerKind::Charge), &ListedEntries::default(), true)?;
        for (day, t) in &self.refunds {
            out.line(["refund", day, "", "", &t.count.to_string(), "", &t.amount.to_string(), "", ""])?;
        }
        out.total("refunds", self.total(LedgerKind::Refund), &ListedEntries::default(), false)?;
        out.entries(LedgerKind::Adjustment, &self.adjustments)?;
        out.total("adjustments", self.total(LedgerKind::Adjustment), &self.adjustments, false)?;
        let last_day = period::format_day(self.month.last_day());
        out.line(["closing", &last_day, "", "", "", "", &self.closing.to_string(), "", ""])?;
        if let Some(chain) = &self.chain {
            out.line(["chain", "", "", &chain.seq.to_string(), "", "", "", &chain.hash, ""])?;
        }
        out.0.into_inner().map_err(|_| Rejection::internal())
    }

    pub fn render(&self, format: StatementFormat) -> Result<Vec<u8>, Rejection> {
        match format {
            StatementFormat::Json => {
                let json = self.to_json()?;
                let mut bytes = serde_json::to_vec_pretty(&json).map_err(|_| Rejection::internal())?;
                bytes.push(b'\n');
                Ok(bytes)
            }
            StatementFormat::Csv => self.to_csv(),
        }
    }
}

const CSV_HEADER: [&str; 9] = ["kind", "date", "carrier", "seq", "count", "segments", "amount", "reference", "reason"];

/// The lines of a statement's CSV, each of [`CSV_HEADER`]'s columns.
struct CsvLines(csv::Writer<Vec<u8>>);

impl CsvLines {
    fn line(&mut self, fields: [&str; 9]) -> Result<(), Rejection> {
        self.0.write_record(fields).map_err(|_| Rejection::internal())
    }

    /// A line per listed entry: its day, seq, amount, reference and reason.
    fn entries(&mut self, kind: LedgerKind, listed: &ListedEntries) -> Result<(), Rejection> {
        for e in &listed.entries {
            let (reference, reason) = (e.reference.as_deref().unwrap_or(""), e.reason.as_deref().unwrap_or(""));
            let (day, seq, amount) = (day_of(e.created_at), e.seq.to_string(), e.amount.to_string());
            self.line([kind.as_str(), &day, "", &seq, "1", "", &amount, reference, reason])?;
        }
        Ok(())
    }

    /// A kind's total, saying so when not all of its entries were listed.
    fn total(&mut self, name: &str, t: Tally, listed: &ListedEntries, segments: bool) -> Result<(), Rejection> {
        let note =
            if listed.truncated { format!("listed {} of {}", listed.entries.len(), t.count) } else { String::new() };
        let segments = if segments { t.segments.to_string() } else { String::new() };
        self.line([name, "", "", "", &t.count.to_string(), &segments, &t.amount.to_string(), "", &note])
    }
}

fn listed_json(total: Tally, listed: &ListedEntries) -> serde_json::Value {
    let entries: Vec<_> = listed.entries.iter().map(entry_json).collect();
    serde_json::json!({
        "count": total.count,
        "amount": total.amount,
        "entries": entries,
        "truncated": listed.truncated,
    })
}

fn entry_json(e: &LedgerEntry) -> serde_json::Value {
    serde_json::json!({
        "seq": e.seq,
        "at": rfc3339(e.created_at),
        "date": day_of(e.created_at),
        "amount": e.amount,
        "reference": e.reference,
        "reason": e.reason,
    })
}

/// A rendered statement: its bytes and their SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedStatement {
    pub statement: Statement,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// The reconciliation report over whole CST days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub from: time::Date,
    pub to: time::Date,
    pub rows: Vec<ReconciliationRow>,
}

/// Segment counts of one row or of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Counts {
    messages: u64,
    charged_segments: u64,
    charged: i64,
    refunded: i64,
    submitted_segments: u64,
    failed_messages: u64,
    receipts: [u64; 5],
}

impl Counts {
    fn add(&mut self, row: &ReconciliationRow) {
        self.messages += row.messages;
        self.charged_segments += row.charged_segments;
        self.charged = self.charged.saturating_add(row.charged.micros());
        self.refunded = self.refunded.saturating_add(row.refunded.micros());
        self.submitted_segments += row.submitted_segments;
        self.failed_messages += row.failed_messages;
        for (outcome, segments) in &row.receipts {
            if let Some(i) = PartOutcome::ALL.iter().position(|o| o == outcome) {
                self.receipts[i] += segments;
            }
        }
    }

    fn to_json(self) -> serde_json::Value {
        let receipted: u64 = self.receipts.iter().sum();
        let mut receipts = serde_json::json!({ "segments": receipted });
        for (outcome, segments) in PartOutcome::ALL.iter().zip(self.receipts) {
            receipts[outcome.as_str()] = serde_json::Value::from(segments);
        }
        serde_json::json!({
            "messages": self.messages,
            "charged_segments": self.charged_segments,
            "charged": Money::from_micros(self.charged),
            "refunded": Money::from_micros(self.refunded),
            "submitted_segments": self.submitted_segments,
            "receipts": receipts,
            "failed_messages": self.failed_messages,
            "charged_not_submitted": self.charged_segments.saturating_sub(self.submitted_segments),
            "submitted_without_receipt": self.submitted_segments.saturating_sub(receipted),
        })
    }
}

impl Reconciliation {
    /// The report as JSON (`crates/api/openapi.json`, schema `Reconciliation`): a row per
    /// (CST day, link) in that order, and their total.
    pub fn to_json(&self) -> serde_json::Value {
        let mut total = Counts::default();
        let mut rows = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let mut counts = Counts::default();
            counts.add(row);
            total.add(row);
            let mut json = counts.to_json();
            json["date"] = serde_json::Value::from(day_of(row.day_start_ms));
            json["link"] = serde_json::Value::from(row.link.as_deref().unwrap_or(NO_LINK));
            rows.push(json);
        }
        serde_json::json!({
            "from": period::format_day(self.from),
            "to": period::format_day(self.to),
            "currency": CURRENCY,
            "rows": rows,
            "total": total.to_json(),
        })
    }
}

impl Platform {
    /// The customer's statement for `month` (`YYYY-MM`); no audit: reading one's own bill,
    /// or the operator reading it, changes nothing.
    pub async fn statement(&self, customer: &str, month: &str) -> Result<Statement, Rejection> {
        let month = CalendarMonth::parse(month)
            .ok_or_else(|| Rejection::invalid("month", "month must be YYYY-MM, from 2000-01 to 2100-12"))?;
        let now = self.now_ms();
        if month.start_ms() > now {
            return Err(Rejection::field(
                ErrorCode::PeriodNotStarted,
                "month",
                format!("{month} has not begun; the current month's statement is a running one"),
            ));
        }
        let customer = self.customer(customer).await?;
        let data = self
            .store()
            .statement(&customer.id, month.start_ms(), month.end_ms(), LISTED_ENTRIES)
            .await
            .map_err(rejection_from_store)?;
        Statement::new(customer.id, month, data, now)
    }

    /// The statement rendered for a file the operator hands over (`tongdao statement`),
    /// recorded in the audit trail with its checksum; `actor` is named there.
    pub async fn export_statement(
        &self,
        customer: &str,
        month: &str,
        format: StatementFormat,
        actor: &str,
    ) -> Result<RenderedStatement, Rejection> {
        let statement = self.statement(customer, month).await?;
        let bytes = statement.render(format)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let state = if statement.is_final { "final" } else { "running" };
        let chain = statement.chain.as_ref().map_or_else(|| "none".to_owned(), |c| format!("{} {}", c.seq, c.hash));
        let reason = format!(
            "statement {} ({state}) of {}, closing {}, chain head {chain}, sha256 {sha256}",
            statement.month, statement.customer_id, statement.closing
        );
        let entry = self.audit_entry(actor, "statement.export", &statement.customer_id, Some(reason));
        self.store().append_audit(entry).await.map_err(rejection_from_store)?;
        Ok(RenderedStatement { statement, bytes, sha256 })
    }

    /// Every link's report for the CST days `from` to `to` (`YYYY-MM-DD`, both included, at
    /// most [`MAX_REPORT_DAYS`]).
    pub async fn reconciliation(&self, from: &str, to: &str) -> Result<Reconciliation, Rejection> {
        let day = |field: &str, text: &str| {
            period::parse_day(text)
                .ok_or_else(|| Rejection::invalid(field, format!("{field} must be a date YYYY-MM-DD")))
        };
        let (from, to) = (day("from", from)?, day("to", to)?);
        if from > to {
            return Err(Rejection::invalid("to", "to must not be before from"));
        }
        let (start, end) = (period::day_start_ms(from), period::day_start_ms(to) + DAY_MS);
        if (end - start) / DAY_MS > MAX_REPORT_DAYS {
            return Err(Rejection::invalid("to", format!("a report covers at most {MAX_REPORT_DAYS} days")));
        }
        if start > self.now_ms() {
            return Err(Rejection::field(ErrorCode::PeriodNotStarted, "from", format!("{from} has not begun")));
        }
        let rows = self.store().reconciliation(start, end).await.map_err(rejection_from_store)?;
        Ok(Reconciliation { from, to, rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongdao_store::LedgerGroup;

    fn june() -> CalendarMonth {
        CalendarMonth::parse("2026-06").expect("month")
    }

    fn group(kind: LedgerKind, day: i64, carrier: Option<&str>, entries: u64, amount: i64) -> LedgerGroup {
        LedgerGroup {
            kind,
            day_start_ms: june().start_ms() + day * DAY_MS,
            carrier: carrier.map(str::to_owned),
            entries,
            segments: entries,
            amount: Money::from_micros(amount),
        }
    }

    fn adjustment() -> LedgerEntry {
        LedgerEntry {
            seq: 7,
            customer_id: "cus_1".into(),
            kind: LedgerKind::Adjustment,
            amount: Money::from_micros(-10_000),
            balance_after: Money::ZERO,
            message_id: None,
            reference: None,
            reason: Some("dispute, \"double\" charge".into()),
            created_at: june().start_ms() + 3 * DAY_MS,
        }
    }

    fn data(closing: i64) -> StatementData {
        StatementData {
            opening: Money::from_micros(1_000_000),
            closing: Money::from_micros(closing),
            head: Some(ChainHead { seq: 9, hash: "ab".repeat(32) }),
            groups: vec![
                group(LedgerKind::Charge, 0, Some("mobile"), 2, -90_000),
                group(LedgerKind::Charge, 0, None, 1, -45_000),
                group(LedgerKind::Charge, 2, Some("mobile"), 1, -45_000),
                group(LedgerKind::Refund, 2, None, 1, 45_000),
                group(LedgerKind::Adjustment, 3, None, 3, -30_000),
            ],
            topups: ListedEntries::default(),
            adjustments: ListedEntries { entries: vec![adjustment()], truncated: true },
        }
    }

    #[test]
    fn a_statement_that_does_not_add_up_is_refused() {
        let now = june().end_ms();
        assert_eq!(Statement::new("cus_1".into(), june(), data(835_001), now).map(|_| ()), Err(Rejection::internal()));
        let statement = Statement::new("cus_1".into(), june(), data(835_000), now).expect("balances");
        assert!(statement.is_final, "June is over at 00:00 CST on 1 July");
        assert_eq!(
            statement.total(LedgerKind::Charge),
            Tally { count: 4, segments: 4, amount: Money::from_micros(-180_000) }
        );
    }

    #[test]
    fn charges_group_by_day_and_carrier_and_cut_lists_say_so() {
        let statement = Statement::new("cus_1".into(), june(), data(835_000), june().end_ms() - 1).expect("balances");
        assert!(!statement.is_final);
        let json = statement.to_json().expect("json");
        assert_eq!(
            json["charges"]["by_carrier"][1],
            serde_json::json!({"carrier": "none", "count": 1, "segments": 1, "amount": "-0.0450"})
        );
        assert_eq!(json["charges"]["by_day"][1]["date"], "2026-06-03");
        let csv = String::from_utf8(statement.to_csv().expect("csv")).expect("utf-8");
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "kind,date,carrier,seq,count,segments,amount,reference,reason");
        assert_eq!(lines[1], "statement,2026-06,,,,,,cus_1,running");
        assert!(lines.contains(&"charge,2026-06-01,none,,1,1,-0.0450,,"), "{csv}");
        assert!(lines.contains(&"charges,,,,4,4,-0.1800,,"), "{csv}");
        assert!(lines.contains(&"adjustment,2026-06-04,,7,1,,-0.0100,,\"dispute, \"\"double\"\" charge\""), "{csv}");
        assert!(lines.contains(&"adjustments,,,,3,,-0.0300,,listed 1 of 3"), "{csv}");
        assert_eq!(lines.last().copied(), Some(format!("chain,,,9,,,,{},", "ab".repeat(32)).as_str()));
    }
}

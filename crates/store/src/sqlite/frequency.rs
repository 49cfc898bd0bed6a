//! Messages accepted per customer and recipient in the current minute, hour and CST day,
//! for the agreements' frequency limits (clause 2 practice: 1 a minute, 5 an hour, 10 a day
//! for verification codes).
//!
//! The counts live in the writer thread's memory, not in a table: a table row per recipient
//! cost a random B-tree write per accepted message, about a third of the accept path's
//! throughput. They are exact all the same, because the messages themselves are the record:
//! at open, the counts are rebuilt from each customer's messages of its last CST day (a
//! range of its primary key, message ids being time-ordered). Every
//! accepted message is counted, whatever its agreement says, so that limits switched on
//! during the day see the whole day. A group commit that fails after counting leaves its
//! messages counted although not stored: the error is on the safe side (a later message may
//! be refused early), and such failures are storage errors, not refusals.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use tongdao_domain::FrequencyLimits;

use crate::model::NewMessage;
use crate::{StoreError, StoreResult};

/// One recipient's counts; each count belongs to the window starting at its `starts` entry.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    starts: [i64; 3],
    counts: [u32; 3],
}

#[derive(Debug, Default)]
pub(crate) struct RecipientCounts {
    customers: HashMap<String, u32>,
    counts: HashMap<(u32, u64), Counts>,
    /// The CST day the map was last pruned for.
    day: i64,
}

/// The windows' starts at `now_ms`.
fn starts(now_ms: i64) -> [i64; 3] {
    FrequencyLimits::default()
        .windows()
        .map(|(_, length, offset)| FrequencyLimits::window_start(now_ms, length, offset))
}

/// `+8613800138000` → 8613800138000; anything else (never stored: recipients are E.164).
fn number_key(number: &str) -> Option<u64> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    (digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

impl RecipientCounts {
    fn key(&mut self, customer_id: &str, number: &str) -> Option<(u32, u64)> {
        let customer = match self.customers.get(customer_id) {
            Some(c) => *c,
            None => {
                let next = u32::try_from(self.customers.len()).ok()?;
                self.customers.insert(customer_id.to_owned(), next);
                next
            }
        };
        Some((customer, number_key(number)?))
    }

    fn current(&self, key: (u32, u64), starts: &[i64; 3]) -> [u32; 3] {
        let stored = self.counts.get(&key).copied().unwrap_or_default();
        std::array::from_fn(|w| if stored.starts[w] == starts[w] { stored.counts[w] } else { 0 })
    }

    /// Forgets recipients with nothing in the current day (at most once a day).
    fn prune(&mut self, now_ms: i64) {
        let today = starts(now_ms)[2];
        if today != self.day {
            self.counts.retain(|_, c| c.starts[2] == today);
            self.day = today;
        }
    }

    /// Refuses the first message of `messages` that would exceed `limits`, before anything
    /// is written; counts nothing.
    pub(crate) fn check(
        &mut self,
        customer_id: &str,
        messages: &[NewMessage],
        limits: &FrequencyLimits,
        now_ms: i64,
    ) -> StoreResult<()> {
        if limits.is_unlimited() {
            return Ok(());
        }
        let windows = limits.windows();
        let starts = starts(now_ms);
        // Counts so far in this batch (a batch has few recipients: a list beats a map).
        let mut within: Vec<((u32, u64), [u32; 3])> = Vec::new();
        for (index, m) in messages.iter().enumerate() {
            let Some(key) = self.key(customer_id, &m.recipient) else { continue };
            let at = match within.iter().position(|(k, _)| *k == key) {
                Some(at) => at,
                None => {
                    within.push((key, self.current(key, &starts)));
                    within.len() - 1
                }
            };
            let current = within[at].1;
            for (w, (limit, length, _)) in windows.iter().enumerate() {
                if *limit > 0 && current[w] >= *limit {
                    return Err(StoreError::RateLimited { index, retry_after_ms: starts[w] + length - now_ms });
                }
            }
            within[at].1 = current.map(|c| c.saturating_add(1));
        }
        Ok(())
    }

    /// Counts stored messages.
    pub(crate) fn record(&mut self, customer_id: &str, messages: &[NewMessage], now_ms: i64) {
        self.prune(now_ms);
        for m in messages {
            self.count(customer_id, &m.recipient, now_ms);
        }
    }

    /// Counts one message at `at_ms` in each window that holds it, unless the recipient's
    /// count there is already for a later window.
    fn count(&mut self, customer_id: &str, number: &str, at_ms: i64) {
        let Some(key) = self.key(customer_id, number) else { return };
        let at_starts = starts(at_ms);
        let entry = self.counts.entry(key).or_default();
        for (w, start) in at_starts.into_iter().enumerate() {
            if entry.starts[w] < start {
                entry.starts[w] = start;
                entry.counts[w] = 0;
            }
            if entry.starts[w] == start {
                entry.counts[w] = entry.counts[w].saturating_add(1);
            }
        }
    }

    /// The counts of the messages of each customer's last day, read at open. The day is the
    /// one of the customer's newest message, so that this needs no clock (the platform's may
    /// not be the system's).
    pub(crate) fn rebuild(conn: &Connection) -> StoreResult<RecipientCounts> {
        let mut counts = RecipientCounts::default();
        let customers: Vec<String> =
            conn.prepare("SELECT id FROM customers")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let mut newest =
            conn.prepare("SELECT created_at FROM messages WHERE customer_id = ?1 ORDER BY id DESC LIMIT 1")?;
        let mut day = conn.prepare(
            "SELECT recipient, created_at FROM messages WHERE customer_id = ?1 AND id >= ?2 AND created_at >= ?3 \
             ORDER BY id",
        )?;
        for customer in &customers {
            let last: Option<i64> = newest.query_row([customer], |r| r.get(0)).optional()?;
            let Some(last) = last else { continue };
            let from = starts(last)[2];
            // Ids carry their time; a minute of margin for clocks that differ a little.
            let floor = tongdao_domain::id::id_floor("msg", from - 60_000);
            let mut rows = day.query(params![customer, floor, from])?;
            while let Some(row) = rows.next()? {
                let (recipient, at): (String, i64) = (row.get(0)?, row.get(1)?);
                counts.count(customer, &recipient, at);
            }
            counts.day = counts.day.max(from);
        }
        Ok(counts)
    }
}

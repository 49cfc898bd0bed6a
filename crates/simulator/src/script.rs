//! The script: how the simulator answers, settable per run (a JSON file) and at run time
//! (`PUT /script` on the control endpoint).
//!
//! A [`Script`] is plain data, validated before it is used. The simulator keeps the one in
//! force as an [`Active`]: the script, what is precomputed from it for the hot path, and the
//! state that starts afresh whenever a script is set (the submit count for
//! `drop_after_submits`, the rolling window for `tps_limit`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The longest delay a script may ask for, in milliseconds.
pub const MAX_DELAY_MS: u64 = 60_000;

/// How the simulator answers. Every field has a default; the default script answers every
/// submit_sm at once and sends a DELIVRD receipt at once when one is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Script {
    /// Time from the submit_sm_resp to the receipt (see `receipt_before_response`), ≤ 60 000.
    pub receipt_delay_ms: u64,
    /// Weights of the fates of an accepted submit_sm, one drawn per submit.
    pub outcomes: Outcomes,
    /// The fraction (0..=1) of submit_sm answered ESME_RTHROTTLED: no message id, no receipt.
    pub throttle_fraction: f64,
    /// The fraction (0..=1) of submit_sm answered ESME_RINVDSTADR (a permanent error). Drawn
    /// with the throttle fraction: when the two add up to more than 1, rejection gets what
    /// throttling leaves.
    pub reject_fraction: f64,
    /// 0 for none; otherwise submit_sm beyond this many in any rolling second, across the
    /// whole simulator, are answered ESME_RTHROTTLED.
    pub tps_limit: u32,
    /// Delay before each submit_sm_resp, ≤ 60 000. Other PDUs are answered meanwhile, so
    /// responses may leave out of order.
    pub answer_delay_ms: u64,
    /// Write the receipt before the submit_sm_resp; the response then waits for the receipt
    /// (the later of `answer_delay_ms` and `receipt_delay_ms`).
    pub receipt_before_response: bool,
    /// Send the receipt on another session bound with the same system_id that can receive
    /// (receiver or transceiver) when there is one, else on the submitting session.
    pub receipt_on_other_bind: bool,
    /// Message ids in decimal rather than hex.
    pub receipt_id_decimal: bool,
    /// Put the receipted_message_id and message_state TLVs in receipts; without them a
    /// receipt carries only its text.
    pub receipt_tlv: bool,
    /// 0 for never; otherwise after this many submit_sm across the simulator since the
    /// script was set, every session is closed abruptly (no unbind), once.
    pub drop_after_submits: u64,
    /// Seeds the random draws for a reproducible run: each session draws from its own
    /// generator, seeded from this and the session's number (1 for the first connection).
    pub seed: Option<u64>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            receipt_delay_ms: 0,
            outcomes: Outcomes::default(),
            throttle_fraction: 0.0,
            reject_fraction: 0.0,
            tps_limit: 0,
            answer_delay_ms: 0,
            receipt_before_response: false,
            receipt_on_other_bind: false,
            receipt_id_decimal: false,
            receipt_tlv: true,
            drop_after_submits: 0,
            seed: None,
        }
    }
}

/// Relative weights of what becomes of an accepted submit_sm. They need not add up to 100,
/// only to more than 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outcomes {
    /// Receipt `stat:DELIVRD`, message_state 2, `err:000`.
    pub delivered: u32,
    /// Receipt `stat:UNDELIV`, message_state 5, `err:001`.
    pub undeliverable: u32,
    /// Receipt `stat:EXPIRED`, message_state 3, `err:001`.
    pub expired: u32,
    /// Receipt `stat:REJECTD`, message_state 8, `err:001`.
    pub rejected: u32,
    /// Accepted, but no receipt ever comes.
    pub no_receipt: u32,
}

impl Default for Outcomes {
    fn default() -> Self {
        Outcomes { delivered: 100, undeliverable: 0, expired: 0, rejected: 0, no_receipt: 0 }
    }
}

/// What becomes of one accepted submit_sm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Undeliverable,
    Expired,
    Rejected,
    NoReceipt,
}

impl Outcome {
    /// The receipt's `stat:` word, message_state and `err:`; `None` when no receipt is sent.
    pub fn receipt(self) -> Option<(&'static str, u8, &'static str)> {
        match self {
            Outcome::Delivered => Some(("DELIVRD", 2, "000")),
            Outcome::Undeliverable => Some(("UNDELIV", 5, "001")),
            Outcome::Expired => Some(("EXPIRED", 3, "001")),
            Outcome::Rejected => Some(("REJECTD", 8, "001")),
            Outcome::NoReceipt => None,
        }
    }
}

/// Why a script was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// Not JSON, not a script (an unknown field, a value of the wrong type).
    #[error("the script is not valid JSON for a script: {0}")]
    Json(#[from] serde_json::Error),
    /// Well-formed, but a value is out of range.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read the script {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl Script {
    /// Parses and validates a script.
    pub fn from_json(json: &str) -> Result<Script, ScriptError> {
        let script: Script = serde_json::from_str(json)?;
        script.validate()?;
        Ok(script)
    }

    /// Reads, parses and validates a script file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Script, ScriptError> {
        let path = path.as_ref();
        let json =
            std::fs::read_to_string(path).map_err(|source| ScriptError::Io { path: path.to_path_buf(), source })?;
        Script::from_json(&json)
    }

    /// Fractions within 0..=1, outcome weights adding up to more than 0, delays at most
    /// [`MAX_DELAY_MS`].
    pub fn validate(&self) -> Result<(), ScriptError> {
        let invalid = |message: String| Err(ScriptError::Invalid(message));
        for (name, value) in [("throttle_fraction", self.throttle_fraction), ("reject_fraction", self.reject_fraction)]
        {
            if !(0.0..=1.0).contains(&value) {
                return invalid(format!("{name} must be between 0 and 1, not {value}"));
            }
        }
        for (name, value) in [("receipt_delay_ms", self.receipt_delay_ms), ("answer_delay_ms", self.answer_delay_ms)] {
            if value > MAX_DELAY_MS {
                return invalid(format!("{name} must be at most {MAX_DELAY_MS}, not {value}"));
            }
        }
        if self.outcomes.total() == 0 {
            return invalid("the outcome weights must add up to more than 0".into());
        }
        Ok(())
    }
}

impl Outcomes {
    fn total(&self) -> u64 {
        [self.delivered, self.undeliverable, self.expired, self.rejected, self.no_receipt]
            .iter()
            .map(|w| u64::from(*w))
            .sum()
    }
}

/// The script in force, with what the hot path needs precomputed and the state that lasts
/// as long as the script.
#[derive(Debug)]
pub(crate) struct Active {
    pub script: Script,
    pub receipt_delay: Duration,
    pub answer_delay: Duration,
    /// Cumulative outcome weights, in [`Outcome`] order.
    thresholds: [u64; 5],
    /// Every accepted submit is delivered: no draw needed.
    always_delivered: bool,
    /// submit_sm seen since the script was set.
    submits: AtomicU64,
    /// Admission times within the last second, when `tps_limit` is set.
    window: Mutex<VecDeque<Instant>>,
}

/// What a submit_sm gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Throttled,
    Rejected,
    Accepted(Outcome),
}

impl Active {
    pub fn new(script: Script) -> Active {
        let o = &script.outcomes;
        let mut thresholds = [0u64; 5];
        let mut sum = 0u64;
        for (slot, weight) in
            thresholds.iter_mut().zip([o.delivered, o.undeliverable, o.expired, o.rejected, o.no_receipt])
        {
            sum += u64::from(weight);
            *slot = sum;
        }
        Active {
            receipt_delay: Duration::from_millis(script.receipt_delay_ms.min(MAX_DELAY_MS)),
            answer_delay: Duration::from_millis(script.answer_delay_ms.min(MAX_DELAY_MS)),
            always_delivered: sum == u64::from(o.delivered),
            thresholds,
            submits: AtomicU64::new(0),
            window: Mutex::new(VecDeque::new()),
            script,
        }
    }

    /// Counts a submit_sm; true for the one that reaches `drop_after_submits`.
    pub fn count_submit(&self) -> bool {
        let n = self.submits.fetch_add(1, Ordering::Relaxed) + 1;
        n == self.script.drop_after_submits
    }

    /// Decides the fate of one submit_sm.
    pub fn judge(&self, rng: &mut SmallRng) -> Verdict {
        if self.script.tps_limit > 0 && !self.admit(Instant::now()) {
            return Verdict::Throttled;
        }
        let (throttle, reject) = (self.script.throttle_fraction, self.script.reject_fraction);
        if throttle > 0.0 || reject > 0.0 {
            let draw: f64 = rng.random();
            if draw < throttle {
                return Verdict::Throttled;
            }
            if draw < throttle + reject {
                return Verdict::Rejected;
            }
        }
        if self.always_delivered {
            return Verdict::Accepted(Outcome::Delivered);
        }
        let total = self.thresholds[4];
        if total == 0 {
            return Verdict::Accepted(Outcome::Delivered);
        }
        let draw = rng.random_range(0..total);
        let outcome = match self.thresholds.iter().position(|t| draw < *t) {
            Some(0) => Outcome::Delivered,
            Some(1) => Outcome::Undeliverable,
            Some(2) => Outcome::Expired,
            Some(3) => Outcome::Rejected,
            _ => Outcome::NoReceipt,
        };
        Verdict::Accepted(outcome)
    }

    /// The rolling-second window: admits while fewer than `tps_limit` were admitted in the
    /// last second.
    fn admit(&self, now: Instant) -> bool {
        let mut window = self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            window.pop_front();
        }
        if window.len() >= self.script.tps_limit as usize {
            return false;
        }
        window.push_back(now);
        true
    }
}

/// The shared script: read on every submit_sm, so a session keeps the [`Active`] it last
/// saw and only takes the lock again when the generation has moved.
#[derive(Debug)]
pub(crate) struct ScriptCell {
    generation: AtomicU64,
    current: RwLock<Arc<Active>>,
}

impl ScriptCell {
    pub fn new(script: Script) -> ScriptCell {
        ScriptCell { generation: AtomicU64::new(0), current: RwLock::new(Arc::new(Active::new(script))) }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The script in force and its generation, read together.
    pub fn load(&self) -> (u64, Arc<Active>) {
        let current = self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        (self.generation.load(Ordering::Acquire), current.clone())
    }

    pub fn set(&self, script: Script) {
        let active = Arc::new(Active::new(script));
        let mut current = self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = active;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_default_script_round_trips_and_is_valid() {
        let script = Script::default();
        assert!(script.validate().is_ok());
        let json = serde_json::to_string(&script).expect("serialises");
        assert_eq!(Script::from_json(&json).expect("parses"), script);
        assert_eq!(Script::from_json("{}").expect("all defaulted"), script);
        assert!(script.receipt_tlv, "TLVs by default");
    }

    #[test]
    fn bad_scripts_are_refused_with_a_reason() {
        let refused = |json: &str| Script::from_json(json).expect_err(json).to_string();
        assert!(refused(r#"{"throttle_fraction":1.5}"#).contains("throttle_fraction"));
        assert!(refused(r#"{"reject_fraction":-0.1}"#).contains("reject_fraction"));
        assert!(refused(r#"{"answer_delay_ms":60001}"#).contains("answer_delay_ms"));
        assert!(refused(r#"{"outcomes":{"delivered":0}}"#).contains("weights"));
        assert!(refused(r#"{"bogus":1}"#).contains("bogus"));
        assert!(Script::from_json(r#"{"receipt_delay_ms":60000,"outcomes":{"delivered":0,"expired":1}}"#).is_ok());
    }

    #[test]
    fn outcomes_follow_the_weights() {
        let script = Script {
            outcomes: Outcomes { delivered: 1, undeliverable: 1, expired: 0, rejected: 0, no_receipt: 2 },
            ..Script::default()
        };
        let active = Active::new(script);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 5];
        for _ in 0..4000 {
            match active.judge(&mut rng) {
                Verdict::Accepted(Outcome::Delivered) => counts[0] += 1,
                Verdict::Accepted(Outcome::Undeliverable) => counts[1] += 1,
                Verdict::Accepted(Outcome::NoReceipt) => counts[4] += 1,
                other => panic!("not in the weights: {other:?}"),
            }
        }
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
        assert!((800..1200).contains(&counts[1]), "{counts:?}");
        assert!((1800..2200).contains(&counts[4]), "{counts:?}");
    }
}

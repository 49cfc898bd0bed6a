//! The service agreement (`shared/docs/agreement.md`): its blanks as fields, and the rule
//! that decides whether it lets the customer send now.
//!
//! States: `draft` → `active` (once signed by the operator, accepted by the customer, and
//! effective) → `expired` (term over) / `suspended` (clause 3.5, resumable) / `terminated`
//! (clause 6, final). Dates are calendar dates in China Standard Time (UTC+8), the
//! agreement's jurisdiction: a term starts at 00:00 CST on `effective_from` and ends at
//! 00:00 CST on the same day `term_years` later.

use time::{Date, Month};

use crate::message::DEFAULT_MAX_SEGMENTS;
use crate::rejection::{ErrorCode, Rejection};

/// The legal floor for keeping records: clause 3.1 and 3.7, never below 6 months.
pub const MIN_LOG_RETENTION_MONTHS: u32 = 6;
/// China Standard Time is UTC+8 all year (no daylight saving).
pub const CST_OFFSET_MS: i64 = 8 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopePolicy {
    /// Out-of-scope recipients are refused.
    Enforce,
    /// Out-of-scope recipients are accepted and flagged.
    Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChargeOn {
    /// Refund only what no carrier accepted.
    Submit,
    /// Refund what was not delivered.
    Delivery,
}

/// The terms the operator writes and the customer accepts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementTerms {
    pub provider_name: String,
    pub provider_address: String,
    pub customer_name: String,
    pub customer_address: String,
    /// Signing date, `YYYY-MM-DD`.
    #[serde(with = "date_format")]
    pub effective_from: Date,
    pub term_years: u32,
    pub maintenance_notice_days: u32,
    pub log_retention_months: u32,
    pub cure_days: u32,
    pub scope_policy: ScopePolicy,
    pub charge_on: ChargeOn,
    #[serde(default = "default_max_segments")]
    pub max_segments: u32,
    pub terms_version: String,
    /// Clause 2: how this customer's messages are screened and limited.
    #[serde(default)]
    pub compliance: ComplianceTerms,
}

/// What clause 2 leaves to each agreement: frequency limits per recipient, the advertising
/// score thresholds, when violations suspend the service, signatures and templates. Stored with the agreement; absent fields take the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComplianceTerms {
    pub frequency: FrequencyLimits,
    /// Advertising score at which a message is held for review; `None`: the platform's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertising_review_at: Option<u32>,
    /// Advertising score at which a message is refused; `None`: the platform's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertising_reject_at: Option<u32>,
    /// Violations (refused or deleted messages) that suspend the service (clause 3.5).
    pub violation_limit: ViolationLimit,
    /// Every message must start or end with one of the customer's approved signatures `【…】`.
    pub require_signature: bool,
    /// Only the customer's approved templates may be sent (by `template_id` and `params`).
    pub templates_only: bool,
}

/// `violations` refused or deleted messages within `days` suspend the service at once
/// (clause 3.5); 0 violations: never automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViolationLimit {
    pub violations: u32,
    pub days: u32,
}

impl Default for ViolationLimit {
    fn default() -> Self {
        ViolationLimit { violations: 10, days: 7 }
    }
}

/// Messages per recipient a customer may send in each window (a calendar minute and hour,
/// and a day in China Standard Time); 0 means no limit in that window. The defaults are what
/// the big Chinese platforms use for verification codes: 1 a minute, 5 an hour, 10 a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrequencyLimits {
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
}

impl Default for FrequencyLimits {
    fn default() -> Self {
        FrequencyLimits { per_minute: 1, per_hour: 5, per_day: 10 }
    }
}

impl FrequencyLimits {
    /// No limit in any window.
    pub const NONE: FrequencyLimits = FrequencyLimits { per_minute: 0, per_hour: 0, per_day: 0 };

    pub fn is_unlimited(&self) -> bool {
        *self == Self::NONE
    }

    /// The windows, each as (limit, length in ms, offset of its boundaries from the epoch).
    pub fn windows(&self) -> [(u32, i64, i64); 3] {
        [(self.per_minute, 60_000, 0), (self.per_hour, 3_600_000, 0), (self.per_day, 86_400_000, CST_OFFSET_MS)]
    }

    /// The start of the window of `length` (offset as in [`FrequencyLimits::windows`]) that holds `now_ms`.
    pub fn window_start(now_ms: i64, length: i64, offset: i64) -> i64 {
        (now_ms + offset).div_euclid(length) * length - offset
    }
}

fn default_max_segments() -> u32 {
    DEFAULT_MAX_SEGMENTS
}

impl AgreementTerms {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Rejection> {
        let texts = [
            ("provider_name", &self.provider_name),
            ("provider_address", &self.provider_address),
            ("customer_name", &self.customer_name),
            ("customer_address", &self.customer_address),
        ];
        for (field, value) in texts {
            if value.trim().is_empty() || value.chars().count() > 200 {
                return Err(Rejection::invalid(field, format!("{field} must be 1-200 characters")));
            }
        }
        if self.terms_version.trim().is_empty() || self.terms_version.len() > 64 {
            return Err(Rejection::invalid("terms_version", "terms_version must be 1-64 characters"));
        }
        if !(EARLIEST_EFFECTIVE_YEAR..=LATEST_EFFECTIVE_YEAR).contains(&self.effective_from.year()) {
            return Err(Rejection::invalid(
                "effective_from",
                format!("effective_from must be a date from {EARLIEST_EFFECTIVE_YEAR} to {LATEST_EFFECTIVE_YEAR}"),
            ));
        }
        if !(1..=50).contains(&self.term_years) {
            return Err(Rejection::invalid("term_years", "term_years must be 1-50"));
        }
        if self.log_retention_months < MIN_LOG_RETENTION_MONTHS || self.log_retention_months > 1200 {
            return Err(Rejection::invalid(
                "log_retention_months",
                "log_retention_months must be at least 6 (the legal floor, clauses 3.1 and 3.7) and at most 1200",
            ));
        }
        if self.maintenance_notice_days > 365 {
            return Err(Rejection::invalid("maintenance_notice_days", "maintenance_notice_days must be 0-365"));
        }
        if !(1..=365).contains(&self.cure_days) {
            return Err(Rejection::invalid("cure_days", "cure_days must be 1-365"));
        }
        let c = &self.compliance;
        if let (Some(review), Some(reject)) = (c.advertising_review_at, c.advertising_reject_at)
            && review > reject
        {
            return Err(Rejection::invalid(
                "compliance.advertising_review_at",
                "advertising_review_at must not be above advertising_reject_at",
            ));
        }
        if c.advertising_review_at == Some(0) || c.advertising_reject_at == Some(0) {
            return Err(Rejection::invalid("compliance", "advertising thresholds must be at least 1"));
        }
        if c.violation_limit.violations > 0 && !(1..=365).contains(&c.violation_limit.days) {
            return Err(Rejection::invalid("compliance.violation_limit.days", "days must be 1-365"));
        }
        if !(1..=255).contains(&self.max_segments) {
            return Err(Rejection::invalid("max_segments", "max_segments must be 1-255"));
        }
        Ok(())
    }

    /// 00:00 CST on `effective_from`, epoch ms.
    pub fn starts_at_ms(&self) -> i64 {
        date_start_ms(self.effective_from)
    }

    /// 00:00 CST on the anniversary `term_years` later (29 February falls back to the 28th).
    pub fn ends_at_ms(&self) -> i64 {
        let year = self.effective_from.year().saturating_add(i32::try_from(self.term_years).unwrap_or(i32::MAX));
        let month: Month = self.effective_from.month();
        // The same day of the month, or the month's last day (29 February → 28).
        (1..=self.effective_from.day())
            .rev()
            .find_map(|day| Date::from_calendar_date(year, month, day).ok())
            .map_or(i64::MAX, date_start_ms)
    }
}

/// The dates an agreement may start on: anything else is a typo, and far dates would
/// overflow the term arithmetic.
pub const EARLIEST_EFFECTIVE_YEAR: i32 = 2000;
pub const LATEST_EFFECTIVE_YEAR: i32 = 2100;

/// 00:00 CST on `date`, epoch ms.
pub(crate) fn date_start_ms(date: Date) -> i64 {
    let days = i64::from(date.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day());
    days * 86_400_000 - CST_OFFSET_MS
}

/// 00:00 CST on the day `months` calendar months before `now_ms`'s day (the 31st falls back
/// to the month's last day): the boundary of a retention period.
pub fn months_before(now_ms: i64, months: u32) -> i64 {
    let today = cst_date(now_ms);
    let total = i64::from(today.year()) * 12 + i64::from(u8::from(today.month())) - 1 - i64::from(months);
    let (year, month) =
        (i32::try_from(total.div_euclid(12)).unwrap_or(EARLIEST_EFFECTIVE_YEAR), total.rem_euclid(12) + 1);
    let month = Month::try_from(u8::try_from(month).unwrap_or(1)).unwrap_or(Month::January);
    (1..=today.day())
        .rev()
        .find_map(|day| Date::from_calendar_date(year, month, day).ok())
        .map_or(i64::MIN, date_start_ms)
}

/// Today's date in China Standard Time.
pub fn cst_date(now_ms: i64) -> Date {
    let days = (now_ms + CST_OFFSET_MS).div_euclid(86_400_000);
    let epoch = time::macros::date!(1970 - 01 - 01);
    epoch.checked_add(time::Duration::days(days)).unwrap_or(epoch)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgreementState {
    Draft,
    Active,
    Expired,
    Suspended,
    Terminated,
}

impl AgreementState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementState::Draft => "draft",
            AgreementState::Active => "active",
            AgreementState::Expired => "expired",
            AgreementState::Suspended => "suspended",
            AgreementState::Terminated => "terminated",
        }
    }
}

/// One version of a customer's agreement, with its lifecycle marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub id: String,
    pub customer_id: String,
    pub version: u32,
    pub terms: AgreementTerms,
    pub signed_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub accepted_terms_version: Option<String>,
    pub suspended_at: Option<i64>,
    pub suspension_reason: Option<String>,
    pub terminated_at: Option<i64>,
    pub termination_reason: Option<String>,
    pub created_at: i64,
}

impl Agreement {
    /// A new, unsigned and unaccepted agreement; the store numbers its version.
    pub fn draft(customer_id: &str, terms: AgreementTerms, now_ms: i64) -> Agreement {
        Agreement {
            id: crate::id::new_id("agr"),
            customer_id: customer_id.to_owned(),
            version: 0,
            terms,
            signed_at: None,
            accepted_at: None,
            accepted_terms_version: None,
            suspended_at: None,
            suspension_reason: None,
            terminated_at: None,
            termination_reason: None,
            created_at: now_ms,
        }
    }

    pub fn is_accepted(&self) -> bool {
        self.accepted_at.is_some() && self.accepted_terms_version.as_deref() == Some(self.terms.terms_version.as_str())
    }

    pub fn state(&self, now_ms: i64) -> AgreementState {
        // The same order as `check_sending`, so the state shown explains the refusal given.
        if self.terminated_at.is_some() {
            AgreementState::Terminated
        } else if self.suspended_at.is_some() {
            AgreementState::Suspended
        } else if now_ms >= self.terms.ends_at_ms() && self.signed_at.is_some() {
            AgreementState::Expired
        } else if self.signed_at.is_some() && self.is_accepted() && now_ms >= self.terms.starts_at_ms() {
            AgreementState::Active
        } else {
            AgreementState::Draft
        }
    }

    /// Whether this agreement lets its customer send now, and if not, the refusal.
    pub fn check_sending(&self, now_ms: i64) -> Result<(), Rejection> {
        use ErrorCode::*;
        if self.terminated_at.is_some() {
            return Err(Rejection::new(AgreementNotActive, "the agreement has been terminated"));
        }
        if self.suspended_at.is_some() {
            let reason = self.suspension_reason.as_deref().unwrap_or("no reason given");
            return Err(Rejection::new(AccountSuspended, format!("the service is suspended: {reason}")));
        }
        if self.signed_at.is_none() {
            return Err(Rejection::new(AgreementNotActive, "the agreement has not been signed by the provider yet"));
        }
        if !self.is_accepted() {
            return Err(Rejection::new(
                AgreementNotAccepted,
                format!(
                    "accept terms version {} with POST /v1/agreement/accept before sending",
                    self.terms.terms_version
                ),
            ));
        }
        if now_ms < self.terms.starts_at_ms() {
            return Err(Rejection::new(
                AgreementNotActive,
                format!("the agreement takes effect on {}", self.terms.effective_from),
            ));
        }
        if now_ms >= self.terms.ends_at_ms() {
            return Err(Rejection::new(AgreementExpired, "the agreement's term has ended"));
        }
        Ok(())
    }
}

/// The version a customer sends under now, or why it cannot send.
///
/// A customer may hold several versions (`agreements`, oldest first): a renewal or an
/// amendment is drafted, signed and accepted while the previous version is still in force,
/// so the newest version that lets the customer send is the one that applies. A suspension
/// (clause 3.5) is of the service, not of one text: while any live version is suspended,
/// nothing is sent, whatever newer version exists, until the operator resumes it.
pub fn in_force(agreements: &[Agreement], now_ms: i64) -> Result<&Agreement, Rejection> {
    if let Some(suspended) = agreements.iter().find(|a| a.suspended_at.is_some() && a.terminated_at.is_none()) {
        suspended.check_sending(now_ms)?;
    }
    if let Some(sending) = agreements.iter().rev().find(|a| a.check_sending(now_ms).is_ok()) {
        return Ok(sending);
    }
    Err(match agreements.last() {
        Some(latest) => latest.check_sending(now_ms).err().unwrap_or_else(Rejection::internal),
        None => Rejection::new(ErrorCode::AgreementNotActive, "no agreement has been made yet"),
    })
}

/// An operator's or customer's act on an agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgreementChange {
    /// The provider signs (the operator records the signature).
    Sign,
    /// The customer accepts this terms version (clauses 3.3 and 9).
    Accept {
        terms_version: String,
    },
    /// Clause 3.5: the service stops until resumed.
    Suspend {
        reason: String,
    },
    Resume,
    /// Clause 6: final.
    Terminate {
        reason: String,
    },
}

impl Agreement {
    /// Applies a change, or says why it cannot be applied; accepting the same version twice
    /// is not an error (the first acceptance time is kept).
    pub fn apply(&mut self, change: &AgreementChange, now_ms: i64) -> Result<(), Rejection> {
        use ErrorCode::Conflict;
        if self.terminated_at.is_some() {
            return Err(Rejection::new(Conflict, "the agreement has been terminated"));
        }
        let reason_of = |reason: &str| {
            let reason = reason.trim();
            if reason.is_empty() || reason.chars().count() > 500 {
                Err(Rejection::invalid("reason", "reason must be 1-500 characters"))
            } else {
                Ok(reason.to_owned())
            }
        };
        match change {
            AgreementChange::Sign if self.signed_at.is_some() => {
                return Err(Rejection::new(Conflict, "the agreement is already signed"));
            }
            AgreementChange::Sign => self.signed_at = Some(now_ms),
            AgreementChange::Accept { terms_version } => {
                if *terms_version != self.terms.terms_version {
                    return Err(Rejection::invalid(
                        "terms_version",
                        format!("the agreement's terms version is {}", self.terms.terms_version),
                    ));
                }
                if !self.is_accepted() {
                    self.accepted_at = Some(now_ms);
                    self.accepted_terms_version = Some(terms_version.clone());
                }
            }
            AgreementChange::Suspend { .. } if self.suspended_at.is_some() => {
                return Err(Rejection::new(Conflict, "the agreement is already suspended"));
            }
            AgreementChange::Suspend { reason } => {
                self.suspension_reason = Some(reason_of(reason)?);
                self.suspended_at = Some(now_ms);
            }
            AgreementChange::Resume if self.suspended_at.is_none() => {
                return Err(Rejection::new(Conflict, "the agreement is not suspended"));
            }
            AgreementChange::Resume => {
                self.suspended_at = None;
                self.suspension_reason = None;
            }
            AgreementChange::Terminate { reason } => {
                self.termination_reason = Some(reason_of(reason)?);
                self.terminated_at = Some(now_ms);
            }
        }
        Ok(())
    }
}

pub mod date_format {
    //! `YYYY-MM-DD` for serde.
    use time::Date;
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]");

    pub fn serialize<S: serde::Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        let text = date.format(FORMAT).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom("expected a date as YYYY-MM-DD"))
    }
    pub fn parse(text: &str) -> Option<Date> {
        Date::parse(text, FORMAT).ok()
    }
    pub fn format(date: Date) -> String {
        date.format(FORMAT).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    fn terms() -> AgreementTerms {
        AgreementTerms {
            provider_name: "Provider".into(),
            provider_address: "Beijing".into(),
            customer_name: "Demo".into(),
            customer_address: "Shanghai".into(),
            effective_from: time::macros::date!(2026 - 01 - 01),
            term_years: 1,
            maintenance_notice_days: 3,
            log_retention_months: 6,
            cure_days: 15,
            scope_policy: ScopePolicy::Audit,
            charge_on: ChargeOn::Submit,
            max_segments: 10,
            terms_version: "v1".into(),
            compliance: ComplianceTerms::default(),
        }
    }

    #[test]
    fn retention_boundaries_are_calendar_months_in_cst() {
        // 2026-08-31 10:00 CST: six months before is 2026-02-28 00:00 CST.
        let now = at("2026-08-31T02:00:00Z");
        assert_eq!(months_before(now, 6), at("2026-02-27T16:00:00Z"));
        assert_eq!(months_before(now, 12), at("2025-08-30T16:00:00Z"));
        assert_eq!(months_before(at("2026-01-15T02:00:00Z"), 1), at("2025-12-14T16:00:00Z"));
    }

    fn agreement() -> Agreement {
        Agreement::draft("cus_x", terms(), 0)
    }

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap_or(i64::MIN)
    }

    fn code(a: &Agreement, now: i64) -> Option<ErrorCode> {
        a.check_sending(now).err().map(|r| r.code)
    }

    #[test]
    fn the_term_runs_from_midnight_china_time_for_term_years() {
        let t = terms();
        assert_eq!(t.starts_at_ms(), at("2026-01-01T00:00:00+08:00"));
        assert_eq!(t.ends_at_ms(), at("2027-01-01T00:00:00+08:00"));
        let leap = AgreementTerms { effective_from: time::macros::date!(2028 - 02 - 29), ..t.clone() };
        assert_eq!(leap.ends_at_ms(), at("2029-02-28T00:00:00+08:00"));
        // Regression: a date near the end of the calendar once looped forever here.
        let far = AgreementTerms { effective_from: time::macros::date!(9999 - 06 - 01), term_years: 50, ..t };
        assert_eq!(far.ends_at_ms(), i64::MAX);
        assert_eq!(far.validate().err().and_then(|r| r.field).as_deref(), Some("effective_from"));
    }

    #[test]
    fn a_draft_becomes_active_once_signed_accepted_and_effective() {
        let now = at("2026-06-01T12:00:00Z");
        let mut a = agreement();
        assert_eq!(a.state(now), AgreementState::Draft);
        assert_eq!(code(&a, now), Some(ErrorCode::AgreementNotActive));
        a.signed_at = Some(now);
        assert_eq!(code(&a, now), Some(ErrorCode::AgreementNotAccepted));
        a.accepted_at = Some(now);
        a.accepted_terms_version = Some("v0".into());
        assert_eq!(
            code(&a, now),
            Some(ErrorCode::AgreementNotAccepted),
            "an older version's acceptance does not count"
        );
        a.accepted_terms_version = Some("v1".into());
        assert_eq!(code(&a, now), None);
        assert_eq!(a.state(now), AgreementState::Active);
        assert_eq!(code(&a, at("2025-12-31T15:59:59Z")), Some(ErrorCode::AgreementNotActive));
        assert_eq!(code(&a, at("2025-12-31T16:00:00Z")), None);
        assert_eq!(code(&a, at("2026-12-31T16:00:00Z")), Some(ErrorCode::AgreementExpired));
        assert_eq!(a.state(at("2026-12-31T16:00:00Z")), AgreementState::Expired);
    }

    #[test]
    fn suspension_and_termination_stop_sending() {
        let now = at("2026-06-01T12:00:00Z");
        let mut a = agreement();
        a.signed_at = Some(now);
        a.accepted_at = Some(now);
        a.accepted_terms_version = Some("v1".into());
        a.suspended_at = Some(now);
        a.suspension_reason = Some("advertising".into());
        assert_eq!(code(&a, now), Some(ErrorCode::AccountSuspended));
        assert_eq!(a.state(now), AgreementState::Suspended);
        a.terminated_at = Some(now);
        assert_eq!(code(&a, now), Some(ErrorCode::AgreementNotActive));
        assert_eq!(a.state(now), AgreementState::Terminated);
    }

    #[test]
    fn changes_follow_the_lifecycle() {
        let now = at("2026-06-01T12:00:00Z");
        let mut a = agreement();
        assert_eq!(a.apply(&AgreementChange::Resume, now).map_err(|r| r.code), Err(ErrorCode::Conflict));
        let wrong = AgreementChange::Accept { terms_version: "v9".into() };
        assert_eq!(a.apply(&wrong, now).map_err(|r| r.field), Err(Some("terms_version".into())));
        a.apply(&AgreementChange::Accept { terms_version: "v1".into() }, now).expect("accepts");
        a.apply(&AgreementChange::Accept { terms_version: "v1".into() }, now + 5).expect("accepting twice is fine");
        assert_eq!(a.accepted_at, Some(now));
        a.apply(&AgreementChange::Sign, now).expect("signs");
        assert!(a.apply(&AgreementChange::Sign, now).is_err());
        assert!(a.apply(&AgreementChange::Suspend { reason: " ".into() }, now).is_err());
        a.apply(&AgreementChange::Suspend { reason: "spam".into() }, now).expect("suspends");
        a.apply(&AgreementChange::Resume, now).expect("resumes");
        assert_eq!(a.state(now), AgreementState::Active);
        a.apply(&AgreementChange::Terminate { reason: "uncured breach".into() }, now).expect("terminates");
        assert!(a.apply(&AgreementChange::Resume, now).is_err());
    }

    fn signed_and_accepted(version: u32, effective_from: time::Date, now: i64) -> Agreement {
        let mut a = Agreement::draft("cus_x", AgreementTerms { effective_from, ..terms() }, now);
        a.version = version;
        a.signed_at = Some(now);
        a.accepted_at = Some(now);
        a.accepted_terms_version = Some("v1".into());
        a
    }

    #[test]
    fn a_renewal_prepared_ahead_does_not_interrupt_the_agreement_in_force() {
        let now = at("2026-06-01T12:00:00Z");
        let v1 = signed_and_accepted(1, time::macros::date!(2026 - 01 - 01), now);
        let draft = Agreement { version: 2, ..Agreement::draft("cus_x", terms(), now) };
        assert_eq!(in_force(&[v1.clone(), draft.clone()], now).map(|a| a.version), Ok(1), "a draft changes nothing");
        let v2 = signed_and_accepted(2, time::macros::date!(2026 - 12 - 01), now);
        assert_eq!(in_force(&[v1.clone(), v2.clone()], now).map(|a| a.version), Ok(1));
        assert_eq!(in_force(&[v1.clone(), v2.clone()], at("2026-12-02T00:00:00Z")).map(|a| a.version), Ok(2));
        assert_eq!(
            in_force(&[v1.clone(), v2.clone()], at("2027-12-02T00:00:00Z")).map_err(|r| r.code),
            Err(ErrorCode::AgreementExpired)
        );
        assert_eq!(in_force(&[draft], now).map_err(|r| r.code), Err(ErrorCode::AgreementNotActive));
        assert_eq!(in_force(&[], now).map_err(|r| r.code), Err(ErrorCode::AgreementNotActive));
    }

    #[test]
    fn a_suspension_holds_whatever_newer_version_exists() {
        let now = at("2026-06-01T12:00:00Z");
        let mut v1 = signed_and_accepted(1, time::macros::date!(2026 - 01 - 01), now);
        v1.suspended_at = Some(now);
        let v2 = signed_and_accepted(2, time::macros::date!(2026 - 01 - 01), now);
        assert_eq!(in_force(&[v1.clone(), v2.clone()], now).map_err(|r| r.code), Err(ErrorCode::AccountSuspended));
        v1.terminated_at = Some(now);
        assert_eq!(in_force(&[v1, v2], now).map(|a| a.version), Ok(2), "a terminated version no longer binds");
    }

    #[test]
    fn retention_below_the_legal_floor_is_refused() {
        let t = AgreementTerms { log_retention_months: 5, ..terms() };
        assert_eq!(t.validate().err().and_then(|r| r.field).as_deref(), Some("log_retention_months"));
        assert!(terms().validate().is_ok());
    }

    #[test]
    fn cst_date_rolls_over_at_sixteen_hundred_utc() {
        assert_eq!(cst_date(at("2026-11-26T15:59:59Z")), time::macros::date!(2026 - 11 - 26));
        assert_eq!(cst_date(at("2026-11-26T16:00:00Z")), time::macros::date!(2026 - 11 - 27));
    }
}

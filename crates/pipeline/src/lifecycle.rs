//! The agreement's life after signing (issue 6): written notices and their reading, expiry
//! warnings 30 and 7 days ahead (clause 8), maintenance windows with the agreed notice
//! (clause 3.2), breach notices with a cure period and termination (clause 6), low-balance
//! warnings, and erasing a terminated customer's data once its retention has passed.

use std::collections::BTreeSet;
use std::sync::Arc;

use tongdao_domain::agreement::{Agreement, MIN_LOG_RETENTION_MONTHS, cst_date, months_before};
use tongdao_domain::clock::rfc3339;
use tongdao_domain::{ErrorCode, Money, Rejection};
use tongdao_store::{Breach, MaintenanceWindow, NewNotice, Notice, Termination};

use crate::{Platform, rejection_from_store};

const DAY_MS: i64 = 86_400_000;
/// Days before the end of the term when the customer is warned.
pub const EXPIRY_WARNINGS: [i64; 2] = [7, 30];
/// The longest maintenance window; longer work is several windows, each announced.
const MAX_WINDOW_MS: i64 = 7 * DAY_MS;
/// How far ahead a window may be scheduled.
const MAX_LEAD_MS: i64 = 366 * DAY_MS;
pub const SERVICES: [&str; 4] = ["http", "smpp", "webhooks", "console"];
const MAX_TEXT: usize = 4_000;

/// What the operator asks for when scheduling maintenance.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceRequest {
    pub starts_at: i64,
    pub ends_at: i64,
    pub carriers: Vec<String>,
    pub services: Vec<String>,
    pub description: String,
    /// Customers affected; empty: every customer with an agreement in force.
    pub customers: Vec<String>,
    /// Work that cannot wait for the agreed notice, and why.
    pub emergency_reason: Option<String>,
}

fn text_field(field: &str, value: &str, max: usize) -> Result<String, Rejection> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(Rejection::invalid(field, format!("{field} must be 1-{max} characters")));
    }
    Ok(value.to_owned())
}

/// A live agreement: signed, not terminated (a draft or a terminated version binds no one).
fn live(a: &Agreement) -> bool {
    a.signed_at.is_some() && a.terminated_at.is_none()
}

fn day(ms: i64) -> String {
    tongdao_domain::agreement::date_format::format(cst_date(ms))
}

impl Platform {
    // ---- notices ------------------------------------------------------------------------

    pub async fn notices(
        &self,
        customer_id: Option<&str>,
        before: Option<&str>,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<Notice>, Rejection> {
        self.store().list_notices(customer_id, before, unread_only, limit).await.map_err(rejection_from_store)
    }

    /// One notice; reading it through the customer API records that it was read.
    pub async fn read_notice(&self, customer_id: &str, id: &str) -> Result<Notice, Rejection> {
        self.store().read_notice(customer_id, id, self.now_ms()).await.map_err(rejection_from_store)
    }

    async fn post_notices(&self, notices: Vec<NewNotice>) -> Result<u64, Rejection> {
        if notices.is_empty() {
            return Ok(0);
        }
        let posted = self.store().post_notices(notices, self.now_ms()).await.map_err(rejection_from_store)?;
        self.webhook_signal().notify_one();
        Ok(posted)
    }

    // ---- expiry (clause 8) --------------------------------------------------------------

    /// Warns each customer whose service ends within 30 days, and again within 7: the end
    /// is the latest end of its live, accepted versions, so a renewal accepted in time
    /// stops the warnings. Each warning is posted once. Returns how many were new.
    pub async fn expiry_warnings(&self) -> Result<u64, Rejection> {
        let now = self.now_ms();
        let mut notices = Vec::new();
        for customer in self.store().list_customers().await.map_err(rejection_from_store)? {
            if customer.terminated_at.is_some() {
                continue;
            }
            let agreements = self.store().list_agreements(&customer.id).await.map_err(rejection_from_store)?;
            let Some(ends) =
                agreements.iter().filter(|a| live(a) && a.is_accepted()).map(|a| a.terms.ends_at_ms()).max()
            else {
                continue;
            };
            let Some(days) = EXPIRY_WARNINGS.into_iter().find(|d| now < ends && ends - now <= d * DAY_MS) else {
                continue;
            };
            notices.push(NewNotice {
                customer_id: customer.id.clone(),
                kind: "agreement_expiry".into(),
                reference: format!("expiry:{ends}:{days}"),
                subject: format!("Your SMS service agreement ends on {}", day(ends)),
                body: format!(
                    "The term of your agreement ends at {} (00:00 China Standard Time, {}). After that no message \
                     can be sent. To continue, ask us for a renewal and accept it before that date.",
                    rfc3339(ends),
                    day(ends)
                ),
            });
        }
        self.post_notices(notices).await
    }

    // ---- maintenance (clause 3.2) -------------------------------------------------------

    /// Schedules a window, refused when its start is closer than the largest
    /// `maintenance_notice_days` among the customers it affects, unless it is an emergency
    /// with a reason; each affected customer gets a notice in the same transaction.
    pub async fn schedule_maintenance(&self, request: MaintenanceRequest) -> Result<MaintenanceWindow, Rejection> {
        let now = self.now_ms();
        let description = text_field("description", &request.description, MAX_TEXT)?;
        let emergency_reason =
            request.emergency_reason.as_deref().map(|r| text_field("emergency_reason", r, MAX_TEXT)).transpose()?;
        if request.ends_at <= request.starts_at || request.ends_at - request.starts_at > MAX_WINDOW_MS {
            return Err(Rejection::invalid("ends_at", "ends_at must be after starts_at, at most 7 days later"));
        }
        if request.starts_at < now - 60_000 || request.starts_at > now + MAX_LEAD_MS {
            return Err(Rejection::invalid("starts_at", "starts_at must be from now to a year ahead"));
        }
        let carriers = self.known_carriers(&request.carriers)?;
        let services = dedup(&request.services);
        if let Some(bad) = services.iter().find(|s| !SERVICES.contains(&s.as_str())) {
            return Err(Rejection::invalid("services", format!("unknown service {bad:?}: one of {SERVICES:?}")));
        }
        if carriers.is_empty() && services.is_empty() {
            return Err(Rejection::invalid("carriers", "name the carriers or services the work affects"));
        }
        let affected = self.affected_customers(&request.customers).await?;
        let notice_days = affected.iter().map(|(_, days)| *days).max().unwrap_or(0);
        let earliest = now + i64::from(notice_days) * DAY_MS;
        if request.starts_at < earliest && emergency_reason.is_none() {
            return Err(Rejection::field(
                ErrorCode::NoticeTooShort,
                "starts_at",
                format!(
                    "the affected customers were promised {notice_days} days' notice: start at {} or later, or mark \
                     it an emergency with a reason",
                    rfc3339(earliest)
                ),
            ));
        }
        let window = MaintenanceWindow {
            id: tongdao_domain::id::new_id("mnt"),
            starts_at: request.starts_at,
            ends_at: request.ends_at,
            carriers,
            services,
            description,
            emergency_reason,
            customers: affected.into_iter().map(|(id, _)| id).collect(),
            created_at: now,
            cancelled_at: None,
        };
        let notices = window.customers.iter().map(|c| maintenance_notice(&window, c, false)).collect();
        let audit = self.audit_entry("operator", "maintenance.schedule", &window.id, window.emergency_reason.clone());
        let window = self.store().create_maintenance(window, notices, audit).await.map_err(rejection_from_store)?;
        self.webhook_signal().notify_one();
        self.maintenance_tick().await?;
        Ok(window)
    }

    pub async fn cancel_maintenance(&self, id: &str, reason: Option<String>) -> Result<MaintenanceWindow, Rejection> {
        let window = self.store().find_maintenance(id).await.map_err(rejection_from_store)?;
        let notices = window.customers.iter().map(|c| maintenance_notice(&window, c, true)).collect();
        let audit = self.audit_entry("operator", "maintenance.cancel", id, reason);
        let window =
            self.store().cancel_maintenance(id, self.now_ms(), notices, audit).await.map_err(rejection_from_store)?;
        self.webhook_signal().notify_one();
        self.maintenance_tick().await?;
        Ok(window)
    }

    /// A window with the notice each affected customer got (and whether it was read).
    pub async fn maintenance_window(&self, id: &str) -> Result<(MaintenanceWindow, Vec<Notice>), Rejection> {
        let window = self.store().find_maintenance(id).await.map_err(rejection_from_store)?;
        let notices =
            self.store().notices_about(&format!("maintenance:{id}"), 10_000).await.map_err(rejection_from_store)?;
        Ok((window, notices))
    }

    /// Windows not yet over (with `past_days`, also those that ended in the last days).
    pub async fn maintenance_windows(&self, past_days: u32, limit: u32) -> Result<Vec<MaintenanceWindow>, Rejection> {
        let since = self.now_ms() - i64::from(past_days) * DAY_MS;
        self.store().list_maintenance(since, true, limit).await.map_err(rejection_from_store)
    }

    /// Tells the carrier side which links are in a window now: those drain (no new submits,
    /// the outstanding ones answered) and their messages wait in the queue until it ends.
    pub async fn maintenance_tick(&self) -> Result<BTreeSet<String>, Rejection> {
        let now = self.now_ms();
        let windows = self.store().list_maintenance(now, false, 1_000).await.map_err(rejection_from_store)?;
        let draining: BTreeSet<String> =
            windows.iter().filter(|w| w.starts_at <= now).flat_map(|w| w.carriers.iter().cloned()).collect();
        if let Some(directory) = self.inner.carriers.get() {
            directory.drain(&draining);
        }
        Ok(draining)
    }

    fn known_carriers(&self, names: &[String]) -> Result<Vec<String>, Rejection> {
        let names = dedup(names);
        let known: BTreeSet<String> = self.carriers().into_iter().map(|c| c.name).collect();
        match names.iter().find(|n| !known.contains(*n)) {
            Some(bad) => Err(Rejection::invalid("carriers", format!("no carrier link is named {bad:?}"))),
            None => Ok(names),
        }
    }

    /// The customers a window affects, each with the notice its live agreements promise
    /// (the largest, when versions differ).
    async fn affected_customers(&self, named: &[String]) -> Result<Vec<(String, u32)>, Rejection> {
        if named.len() > 10_000 {
            return Err(Rejection::invalid("customers", "at most 10000 customers"));
        }
        let customers = if named.is_empty() {
            self.store().list_customers().await.map_err(rejection_from_store)?
        } else {
            let mut found = Vec::new();
            for name in dedup(named) {
                found.push(
                    self.customer(&name)
                        .await
                        .map_err(|_| Rejection::invalid("customers", format!("no customer is named {name:?}")))?,
                );
            }
            found
        };
        let mut affected = Vec::new();
        for customer in customers.into_iter().filter(|c| c.terminated_at.is_none()) {
            let agreements = self.store().list_agreements(&customer.id).await.map_err(rejection_from_store)?;
            if let Some(days) = agreements.iter().filter(|a| live(a)).map(|a| a.terms.maintenance_notice_days).max() {
                affected.push((customer.id, days));
            }
        }
        Ok(affected)
    }

    // ---- breach (clause 6) --------------------------------------------------------------

    /// A breach notice: the customer is told the clause and the facts, and has the
    /// agreement's `cure_days` to cure it.
    pub async fn issue_breach(&self, customer: &str, clause: &str, facts: &str) -> Result<Breach, Rejection> {
        let clause = text_field("clause", clause, 40)?;
        let facts = text_field("facts", facts, MAX_TEXT)?;
        let customer = self.customer(customer).await?;
        let agreements = self.store().list_agreements(&customer.id).await.map_err(rejection_from_store)?;
        let Some(agreement) = agreements.iter().rev().find(|a| live(a)) else {
            return Err(Rejection::new(ErrorCode::Conflict, "the customer has no live agreement to breach"));
        };
        let now = self.now_ms();
        let breach = Breach {
            id: tongdao_domain::id::new_id("brc"),
            customer_id: customer.id.clone(),
            agreement_id: agreement.id.clone(),
            clause,
            facts,
            noticed_at: now,
            cure_deadline: now + i64::from(agreement.terms.cure_days) * DAY_MS,
            cured_at: None,
            cure_note: None,
            terminated_at: None,
        };
        let notice = NewNotice {
            customer_id: customer.id.clone(),
            kind: "breach".into(),
            reference: format!("breach:{}", breach.id),
            subject: format!("Notice of breach of clause {} of your SMS service agreement", breach.clause),
            body: format!(
                "{}\n\nPlease cure the breach by {} ({} days, clause 6). If it is not cured by then, the provider may \
                 terminate the agreement.",
                breach.facts,
                rfc3339(breach.cure_deadline),
                agreement.terms.cure_days
            ),
        };
        let audit = self.audit_entry("operator", "breach.notice", &customer.id, Some(breach.facts.clone()));
        let breach = self.store().issue_breach(breach, notice, audit).await.map_err(rejection_from_store)?;
        self.webhook_signal().notify_one();
        Ok(breach)
    }

    pub async fn breach(&self, id: &str) -> Result<Breach, Rejection> {
        self.store().find_breach(id).await.map_err(rejection_from_store)
    }

    pub async fn breaches(&self, customer: Option<&str>, limit: u32) -> Result<Vec<Breach>, Rejection> {
        let customer = match customer {
            Some(c) => Some(self.customer(c).await?.id),
            None => None,
        };
        self.store().list_breaches(customer.as_deref(), limit).await.map_err(rejection_from_store)
    }

    pub async fn cure_breach(&self, id: &str, note: &str) -> Result<Breach, Rejection> {
        let note = text_field("note", note, MAX_TEXT)?;
        let breach = self.breach(id).await?;
        let notice = NewNotice {
            customer_id: breach.customer_id.clone(),
            kind: "breach_cured".into(),
            reference: format!("breach:{id}:cured"),
            subject: format!("The breach of clause {} is cured", breach.clause),
            body: format!("The breach noticed on {} is closed as cured: {note}", rfc3339(breach.noticed_at)),
        };
        let audit = self.audit_entry("operator", "breach.cure", id, Some(note.clone()));
        let breach =
            self.store().cure_breach(id, &note, self.now_ms(), notice, audit).await.map_err(rejection_from_store)?;
        self.webhook_signal().notify_one();
        Ok(breach)
    }

    /// Terminates the service for a breach not cured by its deadline (see
    /// [`tongdao_store::Store::terminate`]); the customer's keys stop working at once.
    pub async fn terminate_for_breach(&self, id: &str) -> Result<(Breach, Termination), Rejection> {
        let breach = self.breach(id).await?;
        let notice = NewNotice {
            customer_id: breach.customer_id.clone(),
            kind: "termination".into(),
            reference: format!("termination:{id}"),
            subject: "Your SMS service agreement is terminated".into(),
            body: format!(
                "The breach of clause {} noticed on {} was not cured by {}, so the agreement is terminated (clause 6). \
                 Messages not yet sent were cancelled and refunded and the remaining balance is paid back to you. \
                 Records are kept for the agreed retention period.",
                breach.clause,
                rfc3339(breach.noticed_at),
                rfc3339(breach.cure_deadline)
            ),
        };
        let audit =
            self.audit_entry("operator", "agreement.terminate", &breach.customer_id, Some(breach.facts.clone()));
        let done = self.store().terminate(id, self.now_ms(), notice, audit).await.map_err(rejection_from_store)?;
        self.cache().forget_customer_keys(&breach.customer_id);
        self.cache().forget_profile(&breach.customer_id);
        self.webhook_signal().notify_one();
        Ok(done)
    }

    /// Erases the data of customers terminated longer ago than their retention period
    /// (never under the legal floor); returns how many customers.
    pub async fn erase_terminated(&self) -> Result<u64, Rejection> {
        let mut erased = 0;
        for customer in self.store().list_customers().await.map_err(rejection_from_store)? {
            let (Some(terminated), None) = (customer.terminated_at, customer.erased_at) else { continue };
            let agreements = self.store().list_agreements(&customer.id).await.map_err(rejection_from_store)?;
            let months = crate::retention::retention_months(&agreements).unwrap_or(MIN_LOG_RETENTION_MONTHS);
            if terminated >= months_before(self.now_ms(), months) {
                continue;
            }
            let reason = Some(format!("terminated more than {months} months ago (log_retention_months)"));
            let audit = self.audit_entry("retention", "customer.erase", &customer.id, reason);
            self.store().erase_customer(&customer.id, self.now_ms(), audit).await.map_err(rejection_from_store)?;
            erased += 1;
        }
        Ok(erased)
    }

    /// Where the customer's written notices are emailed (`None`: nowhere).
    pub async fn set_notice_email(
        &self,
        customer: &str,
        email: Option<&str>,
    ) -> Result<tongdao_store::Customer, Rejection> {
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        if let Some(email) = email {
            let (local, domain) = email.split_once('@').unwrap_or(("", ""));
            let valid = email.len() <= 254
                && !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && email.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | ',' | ';' | '"'));
            if !valid {
                return Err(Rejection::invalid("email", "email must be one address, like ops@example.com"));
            }
        }
        let customer = self.customer(customer).await?;
        let audit = self.audit_entry("operator", "customer.notice_email", &customer.id, None);
        self.store().set_notice_email(&customer.id, email.map(str::to_owned), audit).await.map_err(rejection_from_store)
    }

    // ---- low balance --------------------------------------------------------------------

    pub async fn set_low_balance_threshold(
        &self,
        customer: &str,
        threshold: Option<Money>,
    ) -> Result<tongdao_store::Customer, Rejection> {
        if threshold.is_some_and(|t| t.micros() < 0) {
            return Err(Rejection::invalid("threshold", "the threshold must not be negative"));
        }
        let customer = self.customer(customer).await?;
        let audit = self.audit_entry("operator", "customer.low_balance_threshold", &customer.id, None);
        self.store().set_low_balance_threshold(&customer.id, threshold, audit).await.map_err(rejection_from_store)
    }

    /// Warns each customer whose balance fell under its threshold, once per fall.
    pub async fn low_balance_warnings(&self) -> Result<u64, Rejection> {
        let make: tongdao_store::LowBalanceNotice =
            Arc::new(|customer_id: &str, balance: Money, threshold: Money| NewNotice {
                customer_id: customer_id.to_owned(),
                kind: "low_balance".into(),
                reference: "low_balance".into(),
                subject: format!("Your prepaid balance is low: {balance} CNY"),
                body: format!(
                    "Your balance of {balance} CNY is under the warning threshold of {threshold} CNY. Messages the \
                     balance cannot pay are refused (insufficient_balance): please top up."
                ),
            });
        let warned = self.store().low_balance_warnings(self.now_ms(), make).await.map_err(rejection_from_store)?;
        if warned > 0 {
            self.webhook_signal().notify_one();
        }
        Ok(warned)
    }
}

fn dedup(list: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = list.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    set.into_iter().collect()
}

fn maintenance_notice(w: &MaintenanceWindow, customer_id: &str, cancelled: bool) -> NewNotice {
    let affects = w.carriers.iter().chain(&w.services).cloned().collect::<Vec<_>>().join(", ");
    let (reference, subject, body) = if cancelled {
        (
            format!("maintenance:{}:cancelled", w.id),
            format!("Cancelled: maintenance on {}", day(w.starts_at)),
            format!(
                "The maintenance planned from {} to {} will not take place.",
                rfc3339(w.starts_at),
                rfc3339(w.ends_at)
            ),
        )
    } else {
        let emergency = w
            .emergency_reason
            .as_ref()
            .map(|r| format!("\n\nThis is emergency work, announced with less than the agreed notice: {r}"))
            .unwrap_or_default();
        (
            format!("maintenance:{}", w.id),
            format!("Maintenance on {} ({affects})", day(w.starts_at)),
            format!(
                "From {} to {} we work on {affects}: {}\nMessages sent meanwhile are accepted and wait in the queue \
                 until the work ends.{emergency}",
                rfc3339(w.starts_at),
                rfc3339(w.ends_at),
                w.description
            ),
        )
    };
    NewNotice { customer_id: customer_id.to_owned(), kind: "maintenance".into(), reference, subject, body }
}

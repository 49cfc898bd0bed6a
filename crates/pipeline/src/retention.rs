//! Retention (clauses 3.1 and 3.7): message content, replies and evidence older than the
//! customer's `log_retention_months` are erased — never anything younger than the largest
//! period any of its agreement versions names, and never younger than the legal floor of 6
//! months. Billing fields, the ledger and status events stay, so statements, disputes and
//! the hash chain outlive the content.

use tongdao_domain::Rejection;
use tongdao_domain::agreement::{MIN_LOG_RETENTION_MONTHS, months_before};
use tongdao_store::PurgeReport;

use crate::{Platform, rejection_from_store};

/// Messages erased per store call, so that other writes interleave.
const PURGE_BATCH: u32 = 10_000;

/// How long a customer's records are kept: the largest period any of its agreement versions
/// names, never under the legal floor; `None` without an agreement.
pub(crate) fn retention_months(agreements: &[tongdao_domain::Agreement]) -> Option<u32> {
    agreements.iter().map(|a| a.terms.log_retention_months).max().map(|m| m.max(MIN_LOG_RETENTION_MONTHS))
}

impl Platform {
    /// One pass over every customer; returns what went, in total.
    pub async fn retention_sweep(&self) -> Result<PurgeReport, Rejection> {
        let mut total = PurgeReport::default();
        for customer in self.store().list_customers().await.map_err(rejection_from_store)? {
            let agreements = self.store().list_agreements(&customer.id).await.map_err(rejection_from_store)?;
            // No agreement, nothing agreed on how long to keep: keep everything.
            let Some(months) = retention_months(&agreements) else { continue };
            let before = months_before(self.now_ms(), months);
            loop {
                let reason = Some(format!("older than {months} months (log_retention_months)"));
                let audit = self.audit_entry("retention", "records.purge", &customer.id, reason);
                let report = self
                    .store()
                    .purge_content(&customer.id, before, PURGE_BATCH, audit)
                    .await
                    .map_err(rejection_from_store)?;
                total.messages += report.messages;
                total.inbound += report.inbound;
                total.violations += report.violations;
                if report.messages < u64::from(PURGE_BATCH) {
                    break;
                }
            }
        }
        // Console sessions past their expiry are refused already; this only frees the rows.
        self.store().purge_console_sessions(self.now_ms()).await.map_err(rejection_from_store)?;
        if total != PurgeReport::default() {
            tracing::info!(messages = total.messages, inbound = total.inbound, "retention: old content erased");
        }
        Ok(total)
    }
}

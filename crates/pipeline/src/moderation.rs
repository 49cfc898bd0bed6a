//! Moderation and measures (clauses 3.4 and 3.5): held messages approved or deleted,
//! violations recorded against the customer, suspension by policy, the audit trail, and the
//! signatures and templates the operator reviews.

use std::collections::BTreeMap;

use tongdao_compliance::Verdict;
use tongdao_domain::agreement::{AgreementChange, in_force};
use tongdao_domain::{ErrorCode, Rejection};
use tongdao_store::{
    AuditEntry, AuditRecord, HeldMessage, Moderation, NewViolation, ReviewKind, ReviewStatus, Reviewed, StoreError,
    StoredMessage, Violation, ViolationKind,
};

use crate::{Platform, rejection_from_store};

/// Characters of a signature between 【 and 】.
const SIGNATURE_CHARS: std::ops::RangeInclusive<usize> = 2..=12;
const MAX_TEMPLATE_CHARS: usize = 500;
const MAX_TEMPLATE_NAME_CHARS: usize = 64;
const MAX_PARAMS: usize = 20;
const MAX_PARAM_CHARS: usize = 64;
const MAX_REASON_CHARS: usize = 500;

fn reason_text(reason: Option<String>, required: bool) -> Result<Option<String>, Rejection> {
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    match &reason {
        None if required => Err(Rejection::invalid("reason", "a reason is required")),
        Some(r) if r.chars().count() > MAX_REASON_CHARS => {
            Err(Rejection::invalid("reason", format!("reason must be at most {MAX_REASON_CHARS} characters")))
        }
        _ => Ok(reason),
    }
}

/// The variables `${name}` of a template, in order of first use.
pub fn template_variables(text: &str) -> Result<Vec<String>, Rejection> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| Rejection::invalid("text", "a ${ without its }"))?;
        let name = &after[..end];
        let valid = !name.is_empty()
            && name.len() <= 32
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Rejection::invalid("text", "a variable is ${name}: a letter or _, then letters, digits or _"));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// The text of a template with its parameters put in; every variable needs one, and no
/// parameter may be left over.
pub fn render_template(text: &str, params: &BTreeMap<String, String>) -> Result<String, Rejection> {
    let variables = template_variables(text)?;
    if params.len() > MAX_PARAMS {
        return Err(Rejection::invalid("params", format!("at most {MAX_PARAMS} parameters")));
    }
    for (name, value) in params {
        if !variables.contains(name) {
            return Err(Rejection::invalid(format!("params.{name}"), "the template has no such variable"));
        }
        if value.chars().count() > MAX_PARAM_CHARS || value.chars().any(char::is_control) {
            return Err(Rejection::invalid(
                format!("params.{name}"),
                format!("a parameter is at most {MAX_PARAM_CHARS} printable characters"),
            ));
        }
    }
    let mut out = text.to_owned();
    for name in &variables {
        let value = params
            .get(name)
            .ok_or_else(|| Rejection::invalid(format!("params.{name}"), "the template needs this parameter"))?;
        out = out.replace(&format!("${{{name}}}"), value);
    }
    Ok(out)
}

/// The signature a text carries, `【…】` at its start or end.
pub fn signature_of(text: &str) -> Option<&str> {
    let text = text.trim();
    let at_start = text.strip_prefix('【').and_then(|t| t.split_once('】')).map(|(s, _)| s);
    let at_end = text.strip_suffix('】').and_then(|t| t.rsplit_once('【')).map(|(_, s)| s);
    at_start.into_iter().chain(at_end).find(|s| SIGNATURE_CHARS.contains(&s.chars().count()))
}

impl Platform {
    pub(crate) fn audit_entry(&self, actor: &str, action: &str, target: &str, reason: Option<String>) -> AuditEntry {
        AuditEntry {
            at: self.now_ms(),
            actor: crate::users::actor_for(actor),
            action: action.to_owned(),
            target: target.to_owned(),
            reason,
            before: None,
            after: None,
        }
    }

    /// `account_suspended` while the customer's service is suspended (clause 3.5): every
    /// customer API call and SMPP bind is refused until the operator resumes it.
    pub async fn ensure_not_suspended(&self, customer_id: &str) -> Result<(), Rejection> {
        let profile = self.profile(customer_id).await?;
        match profile.agreements.iter().find(|a| a.suspended_at.is_some() && a.terminated_at.is_none()) {
            Some(a) => Err(Rejection::new(
                ErrorCode::AccountSuspended,
                format!("the service is suspended: {}", a.suspension_reason.as_deref().unwrap_or("no reason given")),
            )),
            None => Ok(()),
        }
    }

    /// Records an operator action that already happened, with what it changed (JSON
    /// snapshots, never secrets). A failure to record is logged, not returned: the action
    /// stands, and the caller must not be told it failed.
    pub(crate) async fn audit_change(
        &self,
        action: &str,
        target: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) {
        let entry = AuditEntry {
            before: before.map(|v| v.to_string()),
            after: after.map(|v| v.to_string()),
            ..self.audit_entry("operator", action, target, None)
        };
        if let Err(e) = self.store().append_audit(entry).await {
            tracing::error!(error = %e, action, target, "cannot record the operator action in the audit trail");
        }
    }

    /// Records an operator action that has no record of its own to snapshot.
    pub async fn audit(&self, action: &str, target: &str, reason: Option<String>) -> Result<(), Rejection> {
        let entry = self.audit_entry("operator", action, target, reason);
        self.store().append_audit(entry).await.map_err(rejection_from_store)
    }

    pub async fn audit_trail(&self, before_id: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>, Rejection> {
        self.store().list_audit(before_id, limit).await.map_err(rejection_from_store)
    }

    /// Records a refused text against its customer and, past the agreement's violation
    /// limit, suspends the service (clause 3.5). Errors are logged: the refusal stands.
    pub(crate) async fn record_violation(&self, customer_id: &str, text: &str, category: &str) {
        let violation = NewViolation {
            customer_id: customer_id.to_owned(),
            at: self.now_ms(),
            category: category.to_owned(),
            kind: ViolationKind::Rejected,
            message_id: None,
            text: text.to_owned(),
        };
        if let Err(e) = self.enforce_violation_limit(customer_id, Some(violation)).await {
            tracing::error!(error = %e.message, "cannot record a violation");
        }
    }

    /// Records `violation` if given, then counts the customer's violations within the
    /// agreement's window and suspends the service past its limit (clause 3.5).
    async fn enforce_violation_limit(
        &self,
        customer_id: &str,
        violation: Option<NewViolation>,
    ) -> Result<(), Rejection> {
        let profile = self.profile(customer_id).await?;
        let now = self.now_ms();
        let agreement = in_force(&profile.agreements, now).ok().cloned();
        let limit = agreement.as_ref().map(|a| a.terms.compliance.violation_limit).unwrap_or_default();
        let since = now - i64::from(limit.days.max(1)) * 86_400_000;
        let count = match violation {
            Some(v) => self.store().record_violation(v, since).await.map_err(rejection_from_store)?,
            None => {
                let recent = self
                    .store()
                    .list_violations(Some(customer_id), None, limit.violations.max(1))
                    .await
                    .map_err(rejection_from_store)?;
                recent.iter().filter(|v| v.violation.at >= since).count() as u64
            }
        };
        if let Some(agreement) = agreement
            && limit.violations > 0
            && count >= u64::from(limit.violations)
        {
            let reason = format!("{count} violations of clause 2 in {} days", limit.days);
            tracing::warn!(customer = %customer_id, %reason, "suspending the service by policy");
            self.change_agreement_as(&agreement.id, AgreementChange::Suspend { reason }, "policy").await?;
        }
        Ok(())
    }

    pub async fn violations(
        &self,
        customer: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Violation>, Rejection> {
        let customer = match customer {
            Some(c) => Some(self.customer(c).await?.id),
            None => None,
        };
        self.store().list_violations(customer.as_deref(), before_id, limit).await.map_err(rejection_from_store)
    }

    /// Held messages of every customer, oldest first.
    pub async fn held_messages(&self, after: Option<&str>, limit: u32) -> Result<Vec<HeldMessage>, Rejection> {
        self.store().held_messages(after.unwrap_or(""), limit).await.map_err(rejection_from_store)
    }

    /// The operator approves a held message: it goes to the queue (or waits for its time).
    pub async fn approve_message(&self, message_id: &str, reason: Option<String>) -> Result<StoredMessage, Rejection> {
        let audit = self.audit_entry("operator", "message.approve", message_id, reason_text(reason, false)?);
        let message = self.store().moderate(message_id, Moderation::Approve, audit).await.map_err(moderation_error)?;
        self.dispatch_signal().notify_one();
        self.webhook_signal().notify_one();
        Ok(message)
    }

    /// The operator deletes a held message: refunded whole, never sent, and a violation of
    /// `category` (by default the screening's) recorded against the customer.
    pub async fn delete_message(
        &self,
        message_id: &str,
        category: Option<&str>,
        reason: Option<String>,
    ) -> Result<StoredMessage, Rejection> {
        let category = match category {
            Some(c) => Some(
                tongdao_compliance::Category::parse(c)
                    .ok_or_else(|| Rejection::invalid("category", "not a category of clause 2.3"))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let audit = self.audit_entry("operator", "message.delete", message_id, reason_text(reason, true)?);
        let decision = Moderation::Delete { category };
        let message = self.store().moderate(message_id, decision, audit).await.map_err(moderation_error)?;
        self.webhook_signal().notify_one();
        self.deliveries_signal().notify_one();
        // The deletion counts toward the violation limit as a refusal does.
        self.enforce_violation_limit(&message.customer_id, None).await?;
        Ok(message)
    }

    // ---- signatures and templates ------------------------------------------------------

    /// A customer submits a signature (`Acme` or `【Acme】`) for the operator to approve.
    pub async fn submit_signature(&self, customer: &str, text: &str) -> Result<Reviewed, Rejection> {
        let customer = self.customer(customer).await?;
        let inner = text.trim().trim_start_matches('【').trim_end_matches('】').trim();
        let chars = inner.chars().count();
        if !SIGNATURE_CHARS.contains(&chars) || inner.contains(['【', '】']) || inner.chars().any(char::is_control) {
            return Err(Rejection::invalid("text", "a signature is 2-12 characters, written with or without 【】"));
        }
        let profile = self.profile(&customer.id).await?;
        let terms = in_force(&profile.agreements, self.now_ms()).map(|a| a.terms.compliance).unwrap_or_default();
        if self.screen(inner, &terms).verdict == Verdict::Reject {
            return Err(crate::screening::content_rejected(self.screen(inner, &terms).category));
        }
        let item = Reviewed {
            id: tongdao_domain::id::new_id("sig"),
            customer_id: customer.id,
            name: None,
            text: inner.to_owned(),
            status: ReviewStatus::Pending,
            reason: None,
            created_at: self.now_ms(),
            decided_at: None,
        };
        self.store().create_reviewed(ReviewKind::Signature, item).await.map_err(rejection_from_store)
    }

    /// A customer submits a template with `${variables}`; it is screened at once.
    pub async fn submit_template(&self, customer: &str, name: &str, text: &str) -> Result<Reviewed, Rejection> {
        let customer = self.customer(customer).await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TEMPLATE_NAME_CHARS {
            return Err(Rejection::invalid("name", format!("name must be 1-{MAX_TEMPLATE_NAME_CHARS} characters")));
        }
        if text.trim().is_empty() || text.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(Rejection::invalid("text", format!("text must be 1-{MAX_TEMPLATE_CHARS} characters")));
        }
        template_variables(text)?;
        let profile = self.profile(&customer.id).await?;
        let terms = in_force(&profile.agreements, self.now_ms()).map(|a| a.terms.compliance).unwrap_or_default();
        let screening = self.screen(text, &terms);
        if screening.verdict == Verdict::Reject {
            return Err(crate::screening::content_rejected(screening.category));
        }
        let item = Reviewed {
            id: tongdao_domain::id::new_id("tpl"),
            customer_id: customer.id,
            name: Some(name.to_owned()),
            text: text.to_owned(),
            status: ReviewStatus::Pending,
            reason: None,
            created_at: self.now_ms(),
            decided_at: None,
        };
        self.store().create_reviewed(ReviewKind::Template, item).await.map_err(rejection_from_store)
    }

    pub async fn reviewed(
        &self,
        kind: ReviewKind,
        customer: Option<&str>,
        status: Option<ReviewStatus>,
    ) -> Result<Vec<Reviewed>, Rejection> {
        let customer = match customer {
            Some(c) => Some(self.customer(c).await?.id),
            None => None,
        };
        self.store().list_reviewed(kind, customer.as_deref(), status).await.map_err(rejection_from_store)
    }

    /// One signature or template of a customer (`None` for the operator: any customer's).
    pub async fn find_reviewed(
        &self,
        kind: ReviewKind,
        customer: Option<&str>,
        id: &str,
    ) -> Result<Reviewed, Rejection> {
        let item = self.store().find_reviewed(kind, id).await.map_err(rejection_from_store)?;
        match customer {
            Some(c) if c != item.customer_id => Err(Rejection::new(ErrorCode::NotFound, "not found")),
            _ => Ok(item),
        }
    }

    /// The operator approves or rejects a signature or template (a rejection needs a reason).
    pub async fn decide(
        &self,
        kind: ReviewKind,
        id: &str,
        approve: bool,
        reason: Option<String>,
    ) -> Result<Reviewed, Rejection> {
        let reason = reason_text(reason, !approve)?;
        let (status, noun) = match (approve, kind) {
            (true, ReviewKind::Signature) => (ReviewStatus::Approved, "signature.approve"),
            (false, ReviewKind::Signature) => (ReviewStatus::Rejected, "signature.reject"),
            (true, ReviewKind::Template) => (ReviewStatus::Approved, "template.approve"),
            (false, ReviewKind::Template) => (ReviewStatus::Rejected, "template.reject"),
        };
        let audit = self.audit_entry("operator", noun, id, reason.clone());
        let item = self.store().decide_reviewed(kind, id, status, reason, audit).await.map_err(rejection_from_store)?;
        self.cache().forget_profile(&item.customer_id);
        Ok(item)
    }

    pub async fn delete_reviewed(&self, kind: ReviewKind, customer: &str, id: &str) -> Result<(), Rejection> {
        let customer = self.customer(customer).await?;
        self.store().delete_reviewed(kind, &customer.id, id).await.map_err(rejection_from_store)?;
        self.cache().forget_profile(&customer.id);
        Ok(())
    }

    /// The text a template sends with `params`, checked: the customer's, approved, complete.
    pub(crate) async fn template_text(
        &self,
        customer_id: &str,
        template_id: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<String, Rejection> {
        let template = self
            .find_reviewed(ReviewKind::Template, Some(customer_id), template_id)
            .await
            .map_err(|_| Rejection::field(ErrorCode::NotFound, "template_id", "no such template"))?;
        if template.status != ReviewStatus::Approved {
            return Err(Rejection::field(
                ErrorCode::TemplateNotApproved,
                "template_id",
                format!("the template is {}", template.status.as_str()),
            ));
        }
        render_template(&template.text, params)
    }
}

fn moderation_error(e: StoreError) -> Rejection {
    match e {
        StoreError::NotFound => Rejection::new(ErrorCode::NotFound, "no such message"),
        other => rejection_from_store(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_every_variable_and_refuse_missing_or_extra_parameters() {
        let text = "【Acme】Your code is ${code}; ${code} expires in ${minutes} minutes";
        assert_eq!(template_variables(text).ok(), Some(vec!["code".to_owned(), "minutes".to_owned()]));
        let params: BTreeMap<String, String> =
            [("code".into(), "123456".into()), ("minutes".into(), "5".into())].into_iter().collect();
        assert_eq!(
            render_template(text, &params).ok().as_deref(),
            Some("【Acme】Your code is 123456; 123456 expires in 5 minutes")
        );
        let mut missing = params.clone();
        missing.remove("minutes");
        assert_eq!(render_template(text, &missing).map_err(|r| r.field), Err(Some("params.minutes".into())));
        let mut extra = params;
        extra.insert("name".into(), "x".into());
        assert_eq!(render_template(text, &extra).map_err(|r| r.field), Err(Some("params.name".into())));
        assert!(template_variables("broken ${code").is_err());
        assert!(template_variables("bad ${1x}").is_err());
    }

    #[test]
    fn a_signature_is_read_at_the_start_or_the_end() {
        assert_eq!(signature_of("【Acme】Your code is 1"), Some("Acme"));
        assert_eq!(signature_of("Your code is 1【阿克米】"), Some("阿克米"));
        assert_eq!(signature_of("Your 【Acme】 code"), None);
        assert_eq!(signature_of("【A】too short"), None);
    }
}

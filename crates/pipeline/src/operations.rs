//! What the operator does (customers, agreements, tariffs, top-ups and adjustments, API
//! keys) and what a customer reads about its account. The HTTP operator API and the CLI
//! mirrors both call these, so there is one code path per verb.

use std::sync::Arc;

use serde_json::json;
use tongdao_domain::agreement::{Agreement, AgreementChange, AgreementTerms};
use tongdao_domain::{ErrorCode, Money, Rejection, Tariff};
use tongdao_store::{
    ApiKeyRecord, BalanceCheck, Customer, LedgerEntry, LedgerKind, MessageEvent, MessageFilter, NewCustomer,
    NewLedgerEntry, StoredMessage,
};

use crate::cache::KeyEntry;
use crate::credentials::{self, API_KEY_PREFIX, MAX_SECRET_LEN, OPERATOR_TOKEN_PREFIX};
use crate::{Platform, rejection_from_store};

/// Longest free-text field (addresses, contacts, references, reasons).
const MAX_FIELD_CHARS: usize = 500;

pub(crate) fn text_field(field: &str, value: &str, required: bool) -> Result<String, Rejection> {
    let value = value.trim();
    if (required && value.is_empty()) || value.chars().count() > MAX_FIELD_CHARS || value.chars().any(char::is_control)
    {
        let need = if required { "1" } else { "0" };
        return Err(Rejection::invalid(
            field,
            format!("{field} must be {need}-{MAX_FIELD_CHARS} printable characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A newly made API key: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub record: ApiKeyRecord,
    pub secret: String,
}

/// The highest per-key request rate that can be set.
pub const MAX_KEY_RPS: u32 = 1_000_000;

impl Platform {
    // ---- authentication ------------------------------------------------------------------

    /// The customer id behind an API key, or `unauthorized`.
    pub async fn authenticate_customer(&self, secret: &str) -> Result<String, Rejection> {
        let unauthorized = || Rejection::new(ErrorCode::Unauthorized, "missing, unknown or revoked API key");
        if secret.len() > MAX_SECRET_LEN || !secret.starts_with(API_KEY_PREFIX) {
            return Err(unauthorized());
        }
        let hash = credentials::hash_secret(secret);
        let now = self.now_ms();
        let entry = match self.cache().key(&hash, now) {
            Some(entry) => entry,
            None => {
                let generation = self.cache().key_generation();
                let record = self.store().find_api_key(&hash).await.map_err(rejection_from_store)?;
                let Some(record) = record else { return Err(unauthorized()) };
                let entry = Arc::new(KeyEntry {
                    key_id: record.id,
                    customer_id: record.customer_id,
                    revoked: record.revoked_at.is_some(),
                    rps: record.rps,
                });
                self.cache().put_key(hash, entry.clone(), now, generation);
                entry
            }
        };
        if entry.revoked {
            return Err(unauthorized());
        }
        if !self.inner.key_buckets.take(&entry.key_id, entry.rps, now) {
            let mut throttled =
                Rejection::new(ErrorCode::Throttled, format!("this API key may make {} requests a second", entry.rps));
            throttled.retry_after = Some(1);
            return Err(throttled);
        }
        Ok(entry.customer_id.clone())
    }

    pub async fn authenticate_operator(&self, secret: &str) -> Result<(), Rejection> {
        let unauthorized = || Rejection::new(ErrorCode::Unauthorized, "missing or unknown operator token");
        if secret.len() > MAX_SECRET_LEN || !secret.starts_with(OPERATOR_TOKEN_PREFIX) {
            return Err(unauthorized());
        }
        let valid =
            self.store().operator_token_valid(&credentials::hash_secret(secret)).await.map_err(rejection_from_store)?;
        if valid { Ok(()) } else { Err(unauthorized()) }
    }

    /// Makes a new operator token, revoking the others; returns the secret.
    pub async fn rotate_operator_token(&self) -> Result<String, Rejection> {
        let secret = credentials::new_secret(OPERATOR_TOKEN_PREFIX);
        let id = tongdao_domain::id::new_id("opt");
        self.store()
            .rotate_operator_token(&id, &credentials::hash_secret(&secret), self.now_ms())
            .await
            .map_err(rejection_from_store)?;
        self.audit_change("operator_token.rotate", &id, None, None).await;
        Ok(secret)
    }

    // ---- customers -----------------------------------------------------------------------

    pub async fn create_customer(&self, name: &str, address: &str, contact: &str) -> Result<Customer, Rejection> {
        let name_ok = (1..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !tongdao_domain::id::is_id("cus", name);
        if !name_ok {
            return Err(Rejection::invalid("name", "name must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"));
        }
        let customer = NewCustomer {
            id: tongdao_domain::id::new_id("cus"),
            name: name.to_owned(),
            address: text_field("address", address, false)?,
            contact: text_field("contact", contact, false)?,
            created_at: self.now_ms(),
        };
        let customer = self.store().create_customer(customer).await.map_err(rejection_from_store)?;
        let after = json!({"name": customer.name, "address": customer.address, "contact": customer.contact});
        self.audit_change("customer.create", &customer.id, None, Some(after)).await;
        Ok(customer)
    }

    pub async fn customer(&self, id_or_name: &str) -> Result<Customer, Rejection> {
        self.store().find_customer(id_or_name).await.map_err(rejection_from_store)
    }

    pub async fn customers(&self) -> Result<Vec<Customer>, Rejection> {
        self.store().list_customers().await.map_err(rejection_from_store)
    }

    // ---- agreements ----------------------------------------------------------------------

    /// A new agreement version in `draft`.
    pub async fn create_agreement(&self, customer: &str, terms: AgreementTerms) -> Result<Agreement, Rejection> {
        terms.validate()?;
        let customer = self.customer(customer).await?;
        let agreement = Agreement::draft(&customer.id, terms, self.now_ms());
        let stored = self.store().create_agreement(agreement).await.map_err(rejection_from_store)?;
        self.cache().forget_profile(&customer.id);
        let after = json!({"customer_id": customer.id, "version": stored.version, "terms": stored.terms});
        self.audit_change("agreement.create", &stored.id, None, Some(after)).await;
        Ok(stored)
    }

    pub async fn agreement(&self, id: &str) -> Result<Agreement, Rejection> {
        self.store().find_agreement(id).await.map_err(rejection_from_store)
    }

    pub async fn agreements(&self, customer: &str) -> Result<Vec<Agreement>, Rejection> {
        let customer = self.customer(customer).await?;
        self.store().list_agreements(&customer.id).await.map_err(rejection_from_store)
    }

    /// Changes an agreement's lifecycle, in the audit trail: the customer accepts, the
    /// operator does the rest.
    pub async fn change_agreement(&self, id: &str, change: AgreementChange) -> Result<Agreement, Rejection> {
        let actor = match change {
            AgreementChange::Accept { .. } => "customer",
            _ => "operator",
        };
        self.change_agreement_as(id, change, actor).await
    }

    pub(crate) async fn change_agreement_as(
        &self,
        id: &str,
        change: AgreementChange,
        actor: &str,
    ) -> Result<Agreement, Rejection> {
        let (action, reason) = match &change {
            AgreementChange::Sign => ("agreement.sign", None),
            AgreementChange::Accept { terms_version } => ("agreement.accept", Some(format!("terms {terms_version}"))),
            AgreementChange::Suspend { reason } => ("agreement.suspend", Some(reason.clone())),
            AgreementChange::Resume => ("agreement.resume", None),
            AgreementChange::Terminate { reason } => ("agreement.terminate", Some(reason.clone())),
        };
        let now = self.now_ms();
        let audit = self.audit_entry(actor, action, id, reason);
        let agreement =
            self.store().change_agreement(id, change, now, Some(audit)).await.map_err(rejection_from_store)?;
        self.cache().forget_profile(&agreement.customer_id);
        Ok(agreement)
    }

    /// The customer's current agreement (its latest version).
    pub async fn current_agreement(&self, customer_id: &str) -> Result<Agreement, Rejection> {
        self.store()
            .current_agreement(customer_id)
            .await
            .map_err(rejection_from_store)?
            .ok_or_else(|| Rejection::new(ErrorCode::NotFound, "no agreement has been made yet"))
    }

    /// The customer accepts its current agreement's terms (clauses 3.3 and 9).
    pub async fn accept_agreement(&self, customer_id: &str, terms_version: &str) -> Result<Agreement, Rejection> {
        let current = self.current_agreement(customer_id).await?;
        self.change_agreement(&current.id, AgreementChange::Accept { terms_version: terms_version.to_owned() }).await
    }

    // ---- tariffs -------------------------------------------------------------------------

    pub async fn set_tariff(&self, customer: &str, tariff: Tariff) -> Result<Tariff, Rejection> {
        let tariff = tariff.validated().map_err(|e| Rejection::invalid("rules", e.to_string()))?;
        let customer = self.customer(customer).await?;
        let before = self.store().tariff(&customer.id).await.map_err(rejection_from_store)?;
        self.store().put_tariff(&customer.id, tariff.clone(), self.now_ms()).await.map_err(rejection_from_store)?;
        self.cache().forget_profile(&customer.id);
        let snapshot = |t: &Tariff| serde_json::to_value(t).ok();
        self.audit_change("tariff.put", &customer.id, before.as_ref().and_then(snapshot), snapshot(&tariff)).await;
        Ok(tariff)
    }

    /// Segments per message the customer may send: from the agreement in force, else the
    /// latest version, else the default.
    pub async fn max_segments(&self, customer_id: &str) -> Result<u32, Rejection> {
        let profile = self.profile(customer_id).await?;
        let now = self.now_ms();
        let agreement =
            tongdao_domain::agreement::in_force(&profile.agreements, now).ok().or(profile.agreements.last());
        Ok(agreement.map_or(tongdao_domain::message::DEFAULT_MAX_SEGMENTS, |a| a.terms.max_segments))
    }

    /// The customer's tariff (clause 2.1: the customer has the right to know its prices).
    pub async fn tariff(&self, customer_id: &str) -> Result<Tariff, Rejection> {
        Ok(self.profile(customer_id).await?.tariff.clone().unwrap_or_default())
    }

    // ---- money ---------------------------------------------------------------------------

    pub async fn top_up(
        &self,
        customer: &str,
        amount: Money,
        reference: Option<&str>,
    ) -> Result<LedgerEntry, Rejection> {
        if !amount.is_positive() {
            return Err(Rejection::invalid("amount", "a top-up amount must be positive"));
        }
        let reference = reference.map(|r| text_field("reference", r, true)).transpose()?;
        self.post(customer, LedgerKind::Topup, amount, reference, None).await
    }

    /// A manual correction with a reason; refused whole if it would make the balance negative.
    /// With `ticket`, it settles that ticket of the customer (a billing dispute, clause 3.8):
    /// the ledger entry names the ticket in its reference, the ticket lists it, and the
    /// settlement is in the audit trail.
    pub async fn adjust(
        &self,
        customer: &str,
        amount: Money,
        reason: &str,
        ticket: Option<&str>,
    ) -> Result<LedgerEntry, Rejection> {
        if amount == Money::ZERO {
            return Err(Rejection::invalid("amount", "an adjustment amount must not be zero"));
        }
        let reason = text_field("reason", reason, true)?;
        let Some(ticket) = ticket else {
            return self.post(customer, LedgerKind::Adjustment, amount, None, Some(reason)).await;
        };
        if !tongdao_domain::id::is_id("tkt", ticket) {
            return Err(Rejection::field(ErrorCode::InvalidReference, "ticket", "not a ticket id (tkt_…)"));
        }
        let customer = self.customer(customer).await?;
        let entry = NewLedgerEntry {
            customer_id: customer.id,
            kind: LedgerKind::Adjustment,
            amount,
            reference: None,
            reason: Some(reason.clone()),
            created_at: self.now_ms(),
        };
        let audit = self.audit_entry("operator", "ticket.settle", ticket, Some(reason));
        self.store().settle_ticket(ticket, entry, audit).await.map_err(rejection_from_store)
    }

    async fn post(
        &self,
        customer: &str,
        kind: LedgerKind,
        amount: Money,
        reference: Option<String>,
        reason: Option<String>,
    ) -> Result<LedgerEntry, Rejection> {
        let customer = self.customer(customer).await?;
        let entry =
            NewLedgerEntry { customer_id: customer.id, kind, amount, reference, reason, created_at: self.now_ms() };
        let entry = self.store().post_ledger_entry(entry).await.map_err(rejection_from_store)?;
        let after = json!({
            "seq": entry.seq,
            "amount": entry.amount.to_string(),
            "balance_after": entry.balance_after.to_string(),
            "reference": entry.reference,
            "reason": entry.reason,
        });
        self.audit_change(&format!("ledger.{}", kind.as_str()), &entry.customer_id, None, Some(after)).await;
        Ok(entry)
    }

    pub async fn balance(&self, customer_id: &str) -> Result<BalanceCheck, Rejection> {
        self.store().balance(customer_id).await.map_err(rejection_from_store)
    }

    pub async fn ledger(&self, customer: &str, after_seq: i64, limit: u32) -> Result<Vec<LedgerEntry>, Rejection> {
        let customer = self.customer(customer).await?;
        self.store().list_ledger(&customer.id, after_seq, limit.clamp(1, 1000)).await.map_err(rejection_from_store)
    }

    // ---- API keys ------------------------------------------------------------------------

    /// A new key for the customer, limited to `rps` requests a second (0: no limit).
    pub async fn create_api_key(&self, customer: &str, label: &str, rps: u32) -> Result<NewApiKey, Rejection> {
        if rps > MAX_KEY_RPS {
            return Err(Rejection::invalid("rps", format!("rps must be 0 (no limit) to {MAX_KEY_RPS}")));
        }
        let customer = self.customer(customer).await?;
        // Termination revoked its keys (clause 6): no new one undoes that.
        if customer.terminated_at.is_some() {
            return Err(Rejection::new(ErrorCode::AgreementNotActive, "the customer's agreement was terminated"));
        }
        let secret = credentials::new_secret(API_KEY_PREFIX);
        let record = ApiKeyRecord {
            id: tongdao_domain::id::new_id("key"),
            customer_id: customer.id,
            hash: credentials::hash_secret(&secret),
            label: text_field("label", label, false)?,
            created_at: self.now_ms(),
            revoked_at: None,
            rps,
        };
        self.store().create_api_key(record.clone()).await.map_err(rejection_from_store)?;
        let after = json!({"customer_id": record.customer_id, "label": record.label, "rps": record.rps});
        self.audit_change("api_key.create", &record.id, None, Some(after)).await;
        Ok(NewApiKey { record, secret })
    }

    pub async fn api_keys(&self, customer: &str) -> Result<Vec<ApiKeyRecord>, Rejection> {
        let customer = self.customer(customer).await?;
        self.store().list_api_keys(&customer.id).await.map_err(rejection_from_store)
    }

    pub async fn revoke_api_key(&self, customer: &str, key_id: &str) -> Result<ApiKeyRecord, Rejection> {
        let customer = self.customer(customer).await?;
        let record =
            self.store().revoke_api_key(&customer.id, key_id, self.now_ms()).await.map_err(rejection_from_store)?;
        self.cache().forget_key(&record.id);
        self.audit_change("api_key.revoke", &record.id, None, Some(json!({"customer_id": record.customer_id}))).await;
        Ok(record)
    }

    // ---- messages ------------------------------------------------------------------------

    pub async fn message(&self, customer_id: &str, id: &str) -> Result<(StoredMessage, Vec<MessageEvent>), Rejection> {
        if !tongdao_domain::id::is_id("msg", id) {
            return Err(Rejection::new(ErrorCode::NotFound, "no such message"));
        }
        self.store().find_message(customer_id, id).await.map_err(rejection_from_store)
    }

    /// The customer's messages accepted in `[from_ms, to_ms)`, by period and status now.
    pub async fn traffic(
        &self,
        customer_id: &str,
        from_ms: i64,
        to_ms: i64,
        period_ms: i64,
    ) -> Result<Vec<tongdao_store::TrafficRow>, Rejection> {
        self.store().traffic(customer_id, from_ms, to_ms, period_ms).await.map_err(rejection_from_store)
    }

    pub async fn messages(&self, customer_id: &str, filter: MessageFilter) -> Result<Vec<StoredMessage>, Rejection> {
        self.store().list_messages(customer_id, filter).await.map_err(rejection_from_store)
    }

    /// Cancels a scheduled message and refunds it.
    pub async fn cancel_message(&self, customer_id: &str, id: &str) -> Result<StoredMessage, Rejection> {
        if !tongdao_domain::id::is_id("msg", id) {
            return Err(Rejection::new(ErrorCode::NotFound, "no such message"));
        }
        self.store().cancel_message(customer_id, id, self.now_ms()).await.map_err(rejection_from_store)
    }

    /// Releases due scheduled messages and expires overdue ones; returns how many of each.
    pub async fn sweep(&self) -> Result<(u32, u32), Rejection> {
        let report = self.store().sweep(self.now_ms(), 1000).await.map_err(rejection_from_store)?;
        if report.released > 0 {
            self.dispatch_signal().notify_one();
        }
        if report.expired > 0 || report.released > 0 {
            tracing::info!(
                released = report.released,
                expired = report.expired,
                "swept scheduled and expired messages"
            );
        }
        Ok((report.released, report.expired))
    }
}

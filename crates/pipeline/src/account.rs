//! What a customer sets up to hear back, and what comes back: the webhook URL and its
//! signing secret with the log of recent deliveries, the numbers that route replies (MO) to
//! the customer, and the replies.

use tongdao_domain::{ErrorCode, Rejection};
use tongdao_store::{CustomerNumber, InboundMessage, WEBHOOK_DELIVERIES_KEPT, WebhookDelivery, WebhookSettings};

use crate::credentials::new_secret;
use crate::{Platform, rejection_from_store};

/// Prefix of webhook signing secrets.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";
/// Digits of a number that routes replies (sender numbers and their extensions).
const MAX_NUMBER_DIGITS: usize = 21;

impl Platform {
    /// The customer's webhook settings; a secret is made the first time they are read, so
    /// every customer can verify signatures from the start.
    pub async fn webhook_settings(&self, customer_id: &str) -> Result<WebhookSettings, Rejection> {
        let store = self.store();
        let settings = store.webhook_settings(customer_id).await.map_err(rejection_from_store)?;
        if settings.secret.is_some() {
            return Ok(settings);
        }
        store
            .set_webhook_secret(customer_id, &new_secret(WEBHOOK_SECRET_PREFIX), true)
            .await
            .map_err(rejection_from_store)
    }

    /// Sets (or with `None` clears) the default callback URL, checked against the operator's
    /// callback policy.
    pub async fn set_webhook_url(&self, customer_id: &str, url: Option<&str>) -> Result<WebhookSettings, Rejection> {
        if let Some(url) = url {
            self.callback_policy().check("url", url)?;
        }
        self.webhook_settings(customer_id).await?;
        self.store().set_webhook_url(customer_id, url.map(str::to_owned)).await.map_err(rejection_from_store)
    }

    /// A new signing secret; events signed from now on use it.
    pub async fn rotate_webhook_secret(&self, customer_id: &str) -> Result<WebhookSettings, Rejection> {
        self.store()
            .set_webhook_secret(customer_id, &new_secret(WEBHOOK_SECRET_PREFIX), false)
            .await
            .map_err(rejection_from_store)
    }

    /// The notifier's recent attempts at the customer's endpoints, newest first: at most
    /// `limit`, clamped to 1..=100 (the log keeps no more).
    pub async fn webhook_deliveries(&self, customer_id: &str, limit: u32) -> Result<Vec<WebhookDelivery>, Rejection> {
        let limit = limit.clamp(1, WEBHOOK_DELIVERIES_KEPT);
        self.store().webhook_deliveries(customer_id, limit).await.map_err(rejection_from_store)
    }

    pub async fn add_number(&self, customer: &str, number: &str) -> Result<CustomerNumber, Rejection> {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let only_number_chars = number.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-'));
        if digits.is_empty() || digits.len() > MAX_NUMBER_DIGITS || !only_number_chars {
            return Err(Rejection::invalid("number", format!("number must be 1-{MAX_NUMBER_DIGITS} digits")));
        }
        let customer = self.customer(customer).await?;
        let record = CustomerNumber { number: digits, customer_id: customer.id, created_at: self.now_ms() };
        let added = self.store().add_number(record).await.map_err(rejection_from_store)?;
        let after = serde_json::json!({"customer_id": added.customer_id});
        self.audit_change("number.add", &added.number, None, Some(after)).await;
        Ok(added)
    }

    pub async fn remove_number(&self, customer: &str, number: &str) -> Result<(), Rejection> {
        let customer = self.customer(customer).await?;
        self.store().remove_number(&customer.id, number).await.map_err(|e| match e {
            tongdao_store::StoreError::NotFound => {
                Rejection::new(ErrorCode::NotFound, "the customer has no such number")
            }
            other => rejection_from_store(other),
        })?;
        let before = serde_json::json!({"customer_id": customer.id});
        self.audit_change("number.remove", number, Some(before), None).await;
        Ok(())
    }

    pub async fn numbers(&self, customer: &str) -> Result<Vec<CustomerNumber>, Rejection> {
        let customer = self.customer(customer).await?;
        self.store().list_numbers(&customer.id).await.map_err(rejection_from_store)
    }

    /// Replies to the customer's numbers, newest first.
    pub async fn inbound(
        &self,
        customer_id: &str,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<InboundMessage>, Rejection> {
        if let Some(before) = &before
            && !tongdao_domain::id::is_id("mo", before)
        {
            return Err(Rejection::invalid("before", "before must be an inbound message id"));
        }
        self.store().list_inbound(customer_id, before, limit).await.map_err(rejection_from_store)
    }
}

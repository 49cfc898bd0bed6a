//! The accept path: `Submission` → validated, priced messages → one committed batch.
//!
//! Order of checks, each refusing before anything is stored: request shape (counts, sizes,
//! times) → agreement (signed, accepted, in term, not suspended) → text (encoding, segments
//! against the agreement's maximum) → each recipient (number, carrier, price) → balance and
//! idempotency inside the store's transaction.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tongdao_domain::message::{
    MAX_CLIENT_REF_CHARS, MAX_RECIPIENTS, MAX_SCHEDULE_AHEAD_MS, MAX_SENDER_CHARS, MAX_TEXT_BYTES, MAX_VALIDITY_MS,
};
use tongdao_domain::{
    ConcatPart, ErrorCode, FrequencyLimits, MessageStatus, Money, Msisdn, ReceiptRequest, Rejection, ScopePolicy, Text,
};
use tongdao_store::{
    AcceptBatch, AcceptOutcome, IdempotencyRecord, NewMessage, RecipientFlags, ReviewKind, ReviewStatus,
};

use tongdao_compliance::{Category, Verdict};

use crate::cache::Profile;
use crate::credentials::sha256_hex;
use crate::screening::{ScreeningView, content_rejected};
use crate::{Platform, rejection_from_store};

/// One send request, whatever edge it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Submission {
    pub recipients: Vec<String>,
    pub text: String,
    pub sender: Option<String>,
    pub callback_url: Option<String>,
    pub client_ref: Option<String>,
    /// Epoch ms; `None` or a past time means now.
    pub send_at: Option<i64>,
    pub valid_until: Option<i64>,
    /// Accept the valid recipients and report the others, instead of all-or-nothing.
    pub partial: bool,
    /// SMPP: one part of a long message its sender split; billed and sent as one segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concat: Option<ConcatPart>,
    /// SMPP: the delivery receipts to send back on the customer's binds.
    #[serde(skip_serializing_if = "is_no_receipt")]
    pub receipt: ReceiptRequest,
    /// Sent by an approved template: its text is made from the template and `params` (and
    /// `text` is then ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateUse>,
    /// Where the request came from, for the records (clause 3.1): `http:<ip>` or
    /// `smpp:<system_id>@<ip>`. Not part of the request for idempotency.
    #[serde(skip)]
    pub source: Option<String>,
}

/// A template and the parameters for its `${variables}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TemplateUse {
    pub id: String,
    pub params: std::collections::BTreeMap<String, String>,
}

fn is_no_receipt(receipt: &ReceiptRequest) -> bool {
    *receipt == ReceiptRequest::None
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AcceptedMessage {
    /// `None` in a quote: nothing was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub to: String,
    pub segments: u32,
    pub encoding: &'static str,
    pub price: Money,
    pub status: MessageStatus,
    /// Quotes only: what screening would decide (nothing is recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screening: Option<ScreeningView>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RejectedRecipient {
    pub index: usize,
    pub to: String,
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl From<&Rejection> for ErrorBody {
    fn from(r: &Rejection) -> Self {
        ErrorBody { code: r.code.as_str(), message: r.message.clone(), field: r.field.clone() }
    }
}

/// The answer to an accepted request (HTTP 202 body).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AcceptResponse {
    pub messages: Vec<AcceptedMessage>,
    pub total_price: Money,
    /// Present only for `partial` requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Vec<RejectedRecipient>>,
}

/// The answer to a quote: the same shape, nothing stored.
pub type Quote = AcceptResponse;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Stored now. `json` is `response` rendered, as kept for idempotent replays.
    Fresh { response: AcceptResponse, json: String },
    /// The same Idempotency-Key and request were accepted before: the first answer.
    Replayed { status: u16, json: String },
}

/// The HTTP status of an accepted request.
pub const ACCEPTED_STATUS: u16 = 202;

struct Priced {
    messages: Vec<(AcceptedMessage, NewMessage)>,
    /// For each of `messages`, the index of its recipient in the submission.
    indices: Vec<usize>,
    rejected: Vec<RejectedRecipient>,
    first_refusal: Option<Rejection>,
    frequency: FrequencyLimits,
}

/// Accepting checks and refuses; quoting checks and reports, refusing only what cannot be
/// priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Accept,
    Quote,
}

/// What the store knows of a submission's recipients, by index (default: nothing known, for
/// numbers that do not parse).
type Flags = Vec<RecipientFlags>;

impl Priced {
    /// What the store takes: the messages, their customer, and the request's idempotency record.
    fn into_batch(self, customer_id: &str, idempotency: Option<IdempotencyRecord>, now_ms: i64) -> AcceptBatch {
        AcceptBatch {
            customer_id: customer_id.to_owned(),
            messages: self.messages.into_iter().map(|(_, stored)| stored).collect(),
            frequency: self.frequency,
            idempotency,
            now_ms,
        }
    }
}

impl AcceptResponse {
    /// Whether a message went to the dispatch queue now (not scheduled).
    fn has_queued(&self) -> bool {
        self.messages.iter().any(|m| m.status == MessageStatus::Queued)
    }
}

impl Platform {
    /// Prices a submission as `accept` would, storing and charging nothing.
    pub async fn quote(&self, customer_id: &str, submission: &Submission) -> Result<Quote, Rejection> {
        let now = self.now_ms();
        let profile = self.profile(customer_id).await?;
        let submission = &self.resolve_template(customer_id, submission.clone()).await?;
        let flags = self.recipient_flags(&profile, std::slice::from_ref(submission)).await?;
        let flags = flags.first().map_or(&[][..], Vec::as_slice);
        let priced = self.price(&profile, submission, flags, &[], Mode::Quote, now)?;
        let mut quote = response(&priced, submission.partial)?;
        quote.messages.iter_mut().for_each(|m| m.id = None);
        Ok(quote)
    }

    /// Validates, prices, charges and stores a submission: `Ok` means on disk.
    pub async fn accept(
        &self,
        customer_id: &str,
        submission: Submission,
        idempotency_key: Option<&str>,
    ) -> Result<Accepted, Rejection> {
        let result = self.accept_inner(customer_id, submission, idempotency_key).await;
        match &result {
            Err(rejection) => self.metrics().reject(rejection.code),
            Ok(Accepted::Replayed { .. }) => {
                self.metrics().idempotent_replays.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Accepted::Fresh { response, .. }) => self.count_accepted(response),
        }
        result
    }

    fn count_accepted(&self, response: &AcceptResponse) {
        let m = self.metrics();
        m.accepted_requests.fetch_add(1, Ordering::Relaxed);
        m.accepted_messages.fetch_add(response.messages.len() as u64, Ordering::Relaxed);
        m.charged_micros.fetch_add(response.total_price.micros().max(0) as u64, Ordering::Relaxed);
    }

    async fn accept_inner(
        &self,
        customer_id: &str,
        submission: Submission,
        idempotency_key: Option<&str>,
    ) -> Result<Accepted, Rejection> {
        let now = self.now_ms();
        let request_hash = match idempotency_key {
            Some(key) => {
                if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(Rejection::invalid(
                        "Idempotency-Key",
                        "Idempotency-Key must be 1-255 visible ASCII characters",
                    ));
                }
                let request = serde_json::to_vec(&submission).map_err(|_| Rejection::internal())?;
                let hash = sha256_hex(&request);
                // A request seen before gets its first answer, whatever has changed since
                // (time, agreement, tariff): look before validating. The store looks again
                // inside its transaction, for two copies racing each other.
                let kept = self.store().idempotent_answer(customer_id, key, now).await.map_err(rejection_from_store)?;
                if let Some(kept) = kept {
                    return if kept.request_hash == hash {
                        Ok(Accepted::Replayed { status: kept.status, json: kept.response })
                    } else {
                        Err(rejection_from_store(tongdao_store::StoreError::IdempotencyConflict))
                    };
                }
                Some((key, hash))
            }
            None => None,
        };
        let profile = self.profile(customer_id).await?;
        let submission = self.resolve_template(customer_id, submission).await?;
        let flags = self.recipient_flags(&profile, std::slice::from_ref(&submission)).await?;
        let flags = flags.first().map_or(&[][..], Vec::as_slice);
        // A partial request drops a recipient over its frequency limit and tries the rest
        // again; each round drops one, so this ends.
        let mut limited: Vec<(usize, Rejection)> = Vec::new();
        loop {
            let priced = match self.price(&profile, &submission, flags, &limited, Mode::Accept, now) {
                Ok(priced) => priced,
                Err(rejection) => {
                    self.note_refusal(&profile, &submission, &rejection).await;
                    return Err(rejection);
                }
            };
            let indices = priced.indices.clone();
            let answer = response(&priced, submission.partial)?;
            let json = serde_json::to_string(&answer).map_err(|_| Rejection::internal())?;
            let idempotency = request_hash.as_ref().map(|(key, request_hash)| IdempotencyRecord {
                key: (*key).to_owned(),
                request_hash: request_hash.clone(),
                status: ACCEPTED_STATUS,
                response: json.clone(),
            });
            let batch = priced.into_batch(customer_id, idempotency, now);
            match self.store().accept(batch).await {
                Ok(AcceptOutcome::Stored { .. }) => {
                    if answer.has_queued() {
                        self.dispatch_signal().notify_one();
                    }
                    return Ok(Accepted::Fresh { response: answer, json });
                }
                Ok(AcceptOutcome::Replayed { status, response }) => {
                    return Ok(Accepted::Replayed { status, json: response });
                }
                Err(tongdao_store::StoreError::RateLimited { index, retry_after_ms }) => {
                    let recipient = indices.get(index).copied().unwrap_or(0);
                    let rejection = crate::rate_limited(Some(format!("to[{recipient}]")), retry_after_ms);
                    if !submission.partial || limited.len() + 1 >= submission.recipients.len() {
                        return Err(rejection);
                    }
                    limited.push((recipient, rejection));
                }
                Err(error) => return Err(rejection_from_store(error)),
            }
        }
    }

    /// A submission by template becomes one with the template's text.
    async fn resolve_template(&self, customer_id: &str, mut submission: Submission) -> Result<Submission, Rejection> {
        if let Some(template) = &submission.template {
            submission.text = self.template_text(customer_id, &template.id, &template.params).await?;
        }
        Ok(submission)
    }

    /// A refusal for forbidden content is a violation recorded against the customer.
    async fn note_refusal(&self, profile: &Profile, submission: &Submission, rejection: &Rejection) {
        if rejection.code != ErrorCode::ContentRejected {
            return;
        }
        let terms = tongdao_domain::agreement::in_force(&profile.agreements, self.now_ms())
            .map(|a| a.terms.compliance)
            .unwrap_or_default();
        let category = self.screen(&submission.text, &terms).category.map_or("other_unlawful", Category::as_str);
        self.record_violation(&profile.customer_id, &submission.text, category).await;
    }

    /// What the store knows of each submission's recipients (contact, opted out, blocked),
    /// in one read for all of them.
    /// Without contacts, suppressions or blocked numbers there is nothing to read.
    async fn recipient_flags(&self, profile: &Profile, submissions: &[Submission]) -> Result<Vec<Flags>, Rejection> {
        let mut flags: Vec<Flags> =
            submissions.iter().map(|s| vec![RecipientFlags::default(); s.recipients.len()]).collect();
        if profile.lists == tongdao_store::ListsInUse::default() {
            return Ok(flags);
        }
        let mut numbers = Vec::new();
        let mut at = Vec::new();
        for (s, submission) in submissions.iter().enumerate() {
            for (r, to) in submission.recipients.iter().enumerate() {
                if let Ok(number) = Msisdn::parse(to) {
                    numbers.push(number.as_str().to_owned());
                    at.push((s, r));
                }
            }
        }
        if numbers.is_empty() {
            return Ok(flags);
        }
        let found = self.store().recipient_flags(&profile.customer_id, numbers).await.map_err(rejection_from_store)?;
        for ((s, r), f) in at.into_iter().zip(found) {
            flags[s][r] = f;
        }
        Ok(flags)
    }

    /// Accepts independent submissions of one customer in one store job (an SMPP edge's
    /// submit_sm PDUs read together): each is stored or refused on its own, with no
    /// idempotency keys. `Ok` means on disk, as for [`Platform::accept`].
    pub async fn accept_many(
        &self,
        customer_id: &str,
        submissions: Vec<Submission>,
    ) -> Vec<Result<AcceptResponse, Rejection>> {
        let now = self.now_ms();
        // One read of the customer's agreement and tariff serves every submission.
        let profile = match self.profile(customer_id).await {
            Ok(profile) => profile,
            Err(rejection) => {
                self.metrics().reject(rejection.code);
                return submissions.iter().map(|_| Err(rejection.clone())).collect();
            }
        };
        let flags = match self.recipient_flags(&profile, &submissions).await {
            Ok(flags) => flags,
            Err(rejection) => {
                self.metrics().reject(rejection.code);
                return submissions.iter().map(|_| Err(rejection.clone())).collect();
            }
        };
        let mut results: Vec<Result<AcceptResponse, Rejection>> = Vec::with_capacity(submissions.len());
        let mut batches = Vec::new();
        let mut slots = Vec::new();
        for (submission, flags) in submissions.iter().zip(&flags) {
            let priced = match self.price(&profile, submission, flags, &[], Mode::Accept, now) {
                Ok(priced) => priced,
                Err(rejection) => {
                    self.note_refusal(&profile, submission, &rejection).await;
                    results.push(Err(rejection));
                    continue;
                }
            };
            match response(&priced, submission.partial) {
                Ok(answer) => {
                    slots.push(results.len());
                    results.push(Ok(answer));
                    batches.push(priced.into_batch(customer_id, None, now));
                }
                Err(rejection) => results.push(Err(rejection)),
            }
        }
        if !batches.is_empty() {
            match self.store().accept_many(batches).await {
                Ok(outcomes) => {
                    for (slot, outcome) in slots.iter().zip(outcomes) {
                        if let Err(error) = outcome {
                            results[*slot] = Err(rejection_from_store(error));
                        }
                    }
                }
                Err(error) => {
                    let rejection = rejection_from_store(error);
                    for slot in &slots {
                        results[*slot] = Err(rejection.clone());
                    }
                }
            }
        }
        let mut queued = false;
        for result in &results {
            match result {
                Err(rejection) => self.metrics().reject(rejection.code),
                Ok(response) => {
                    queued |= response.has_queued();
                    self.count_accepted(response);
                }
            }
        }
        if queued {
            self.dispatch_signal().notify_one();
        }
        results
    }

    /// Checks and prices a submission; `flags` holds what the store knows of each recipient
    /// and `excluded` the recipients already refused (with their reasons) in a partial request.
    fn price(
        &self,
        profile: &Profile,
        s: &Submission,
        flags: &[RecipientFlags],
        excluded: &[(usize, Rejection)],
        mode: Mode,
        now: i64,
    ) -> Result<Priced, Rejection> {
        check_shape(s, now)?;
        if let Some(url) = &s.callback_url {
            self.callback_policy().check("callback_url", url)?;
        }
        let agreement = tongdao_domain::agreement::in_force(&profile.agreements, now)?;
        if s.text.len() > MAX_TEXT_BYTES {
            return Err(Rejection::field(ErrorCode::TextTooLong, "text", "text is over 64 KiB"));
        }
        let text = Text::parse(&s.text).map_err(|_| Rejection::invalid("text", "text must not be empty"))?;
        let max = agreement.terms.max_segments;
        let segments = match s.concat {
            // A part its sender cut must go out as it is: one segment with room for the header.
            Some(part) => {
                if text.units() > text.encoding().part_limit() {
                    return Err(Rejection::field(
                        ErrorCode::TextTooLong,
                        "text",
                        format!(
                            "part {} of {} does not fit one segment in {}",
                            part.seq,
                            part.total,
                            text.encoding().as_str()
                        ),
                    ));
                }
                if u32::from(part.total) > max {
                    return Err(Rejection::field(
                        ErrorCode::TextTooLong,
                        "text",
                        format!("the message has {} parts; the agreement allows at most {max}", part.total),
                    ));
                }
                1
            }
            None => text.segments(),
        };
        if segments > max {
            return Err(Rejection::field(
                ErrorCode::TextTooLong,
                "text",
                format!("the text needs {segments} segments; the agreement allows at most {max}"),
            ));
        }
        let compliance = &agreement.terms.compliance;
        if compliance.templates_only && s.template.is_none() {
            return Err(Rejection::field(
                ErrorCode::TemplateRequired,
                "text",
                "the agreement allows only approved templates: send template_id and params",
            ));
        }
        if compliance.require_signature
            && !crate::moderation::signature_of(&s.text).is_some_and(|sig| profile.signatures.iter().any(|a| a == sig))
        {
            return Err(Rejection::field(
                ErrorCode::SignatureRequired,
                "text",
                "the text must start or end with one of the customer's approved signatures 【…】",
            ));
        }
        let screening = self.screen(&s.text, compliance);
        let held = match (screening.verdict, mode) {
            (Verdict::Reject, Mode::Accept) => return Err(content_rejected(screening.category)),
            (Verdict::Review, _) => true,
            _ => false,
        };
        let screening_record = held.then(|| crate::screening::screening_record(self.screener().as_deref(), &screening));
        let quoted = (mode == Mode::Quote).then(|| ScreeningView::from(&screening));
        let encoding = text.encoding().as_str();
        let status = match s.send_at {
            _ if held => MessageStatus::Held,
            Some(at) if at > now => MessageStatus::Scheduled,
            _ => MessageStatus::Queued,
        };
        let mut priced = Priced {
            messages: Vec::with_capacity(s.recipients.len()),
            indices: Vec::with_capacity(s.recipients.len()),
            rejected: Vec::new(),
            first_refusal: None,
            frequency: agreement.terms.compliance.frequency,
        };
        let scope = agreement.terms.scope_policy;
        for (index, to) in s.recipients.iter().enumerate() {
            let flags = flags.get(index).copied().unwrap_or_default();
            let checked = match excluded.iter().find(|(i, _)| *i == index) {
                Some((_, rejection)) => Err(rejection.clone()),
                None => self.price_one(profile, to, segments, index, flags, scope),
            };
            match checked {
                Ok((number, carrier, price)) => {
                    let id = tongdao_domain::id::new_id("msg");
                    let shown = AcceptedMessage {
                        id: Some(id.clone()),
                        to: number.as_str().to_owned(),
                        segments,
                        encoding,
                        price,
                        status,
                        screening: quoted,
                    };
                    let stored = NewMessage {
                        id,
                        recipient: number.as_str().to_owned(),
                        carrier,
                        sender: s.sender.clone(),
                        text: s.text.clone(),
                        encoding: encoding.to_owned(),
                        segments,
                        price,
                        status,
                        client_ref: s.client_ref.clone(),
                        callback_url: s.callback_url.clone(),
                        send_at: s.send_at.filter(|at| *at > now),
                        valid_until: s.valid_until,
                        charge_on: agreement.terms.charge_on,
                        concat: s.concat,
                        receipt: s.receipt,
                        out_of_scope: !flags.contact,
                        screening: screening_record.clone(),
                        source: s.source.clone(),
                    };
                    priced.messages.push((shown, stored));
                    priced.indices.push(index);
                }
                Err(rejection) if s.partial => {
                    priced.rejected.push(RejectedRecipient { index, to: to.clone(), error: (&rejection).into() });
                    priced.first_refusal.get_or_insert(rejection);
                }
                Err(rejection) => return Err(rejection),
            }
        }
        if priced.messages.is_empty() {
            // Partial, and nobody could be accepted: refuse with the first recipient's reason.
            return Err(priced.first_refusal.unwrap_or_else(|| Rejection::invalid("to", "no recipients")));
        }
        Ok(priced)
    }

    fn price_one(
        &self,
        profile: &Profile,
        to: &str,
        segments: u32,
        index: usize,
        flags: RecipientFlags,
        scope: ScopePolicy,
    ) -> Result<(Msisdn, Option<String>, Money), Rejection> {
        // Named only when refusing: the happy path allocates no field name.
        let field = || format!("to[{index}]");
        let number =
            Msisdn::parse(to).map_err(|e| Rejection::field(ErrorCode::InvalidNumber, field(), e.to_string()))?;
        if flags.blocked {
            return Err(Rejection::field(
                ErrorCode::RecipientBlocked,
                field(),
                format!("{} is on the operator's blocklist", number.masked()),
            ));
        }
        if flags.opted_out {
            return Err(Rejection::field(
                ErrorCode::RecipientOptedOut,
                field(),
                format!("{} opted out of this customer's messages", number.masked()),
            ));
        }
        if !flags.contact && scope == ScopePolicy::Enforce {
            return Err(Rejection::field(
                ErrorCode::RecipientOutOfScope,
                field(),
                format!(
                    "{} is not in the contact directory, and the agreement allows only the customer's own staff \
                     and customers (clause 2.2)",
                    number.masked()
                ),
            ));
        }
        let carrier = self.numbering().classify(&number);
        let unit = profile.tariff.as_ref().and_then(|t| t.price_for(&number, carrier)).ok_or_else(|| {
            Rejection::field(
                ErrorCode::UnsupportedDestination,
                field(),
                format!("the tariff has no price for {}", number.masked()),
            )
        })?;
        let price = unit
            .checked_mul(i64::from(segments))
            .ok_or_else(|| Rejection::field(ErrorCode::InvalidRequest, field(), "price overflow"))?;
        Ok((number, carrier.map(|c| c.as_str().to_owned()), price))
    }

    /// The customer's agreement and tariff, from the cache when fresh.
    pub(crate) async fn profile(&self, customer_id: &str) -> Result<Arc<Profile>, Rejection> {
        let now = self.now_ms();
        if let Some(profile) = self.cache().profile(customer_id, now) {
            return Ok(profile);
        }
        let store = self.store();
        let generation = self.cache().profile_generation();
        let agreements = store.list_agreements(customer_id).await.map_err(rejection_from_store)?;
        let tariff = store.tariff(customer_id).await.map_err(rejection_from_store)?;
        let signatures = store
            .list_reviewed(ReviewKind::Signature, Some(customer_id), Some(ReviewStatus::Approved))
            .await
            .map_err(rejection_from_store)?
            .into_iter()
            .map(|s| s.text)
            .collect();
        let lists = store.lists_in_use(customer_id).await.map_err(rejection_from_store)?;
        let profile = Arc::new(Profile { customer_id: customer_id.to_owned(), agreements, tariff, signatures, lists });
        self.cache().put_profile(profile.clone(), now, generation);
        Ok(profile)
    }
}

fn response(priced: &Priced, partial: bool) -> Result<AcceptResponse, Rejection> {
    let messages: Vec<AcceptedMessage> = priced.messages.iter().map(|(shown, _)| shown.clone()).collect();
    let total_price = messages
        .iter()
        .try_fold(Money::ZERO, |sum, m| sum.checked_add(m.price))
        .ok_or_else(|| Rejection::invalid("to", "the request's total price is out of range"))?;
    Ok(AcceptResponse { messages, total_price, rejected: partial.then(|| priced.rejected.clone()) })
}

/// Counts, sizes and times, before anything is looked up.
fn check_shape(s: &Submission, now: i64) -> Result<(), Rejection> {
    if s.recipients.is_empty() || s.recipients.len() > MAX_RECIPIENTS {
        return Err(Rejection::invalid("to", format!("give 1 to {MAX_RECIPIENTS} recipients")));
    }
    if let Some(sender) = &s.sender {
        let chars = sender.chars().count();
        if chars == 0 || chars > MAX_SENDER_CHARS || sender.chars().any(char::is_control) {
            return Err(Rejection::invalid(
                "sender",
                format!("sender must be 1-{MAX_SENDER_CHARS} printable characters"),
            ));
        }
    }
    if let Some(reference) = &s.client_ref
        && (reference.chars().count() > MAX_CLIENT_REF_CHARS || reference.chars().any(char::is_control))
    {
        return Err(Rejection::invalid(
            "client_ref",
            format!("client_ref must be at most {MAX_CLIENT_REF_CHARS} printable characters"),
        ));
    }
    if let Some(at) = s.send_at
        && at > now + MAX_SCHEDULE_AHEAD_MS
    {
        return Err(Rejection::invalid("send_at", "send_at may be at most 30 days ahead"));
    }
    if let Some(until) = s.valid_until {
        if until <= now {
            return Err(Rejection::invalid("valid_until", "valid_until must be in the future"));
        }
        let start = s.send_at.unwrap_or(now).max(now);
        if until <= start {
            return Err(Rejection::invalid("valid_until", "valid_until must be after send_at"));
        }
        if until > start + MAX_VALIDITY_MS {
            return Err(Rejection::invalid("valid_until", "valid_until may be at most 30 days after sending"));
        }
    }
    Ok(())
}

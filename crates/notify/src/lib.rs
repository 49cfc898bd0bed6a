//! Webhook delivery: status changes and inbound messages reach customers' callback URLs from
//! the store's durable outbox, signed, batched and retried.
//!
//! # Design
//! - **Durable outbox.** The store writes one outbox row per event (its body one JSON object)
//!   in the same transaction as the change it reports, keyed by endpoint = (customer, URL).
//!   Nothing here holds events in memory: a crash or restart loses nothing, and an event is
//!   removed only after its endpoint answered 2xx (`webhook_delivered`). Delivery is at
//!   least once: receivers deduplicate by the event's `id`.
//! - **Per-endpoint backoff rows.** Each endpoint has a row with `failures` and
//!   `next_attempt_at`; [`notifier::start`]'s loop asks the store only for endpoints that are
//!   due (`due_endpoints`), every `poll` or when woken. A failure writes the next attempt
//!   (`retry_base` doubled per consecutive failure up to `retry_cap`, at a random point in
//!   the upper half) and drops that endpoint's events older than `give_up_after`.
//! - **Delivery log.** Each attempt's result is written with the time it ended, in the same
//!   transaction as its outcome (`webhook_delivered`, `webhook_failed`): the URL, how many
//!   events, the error. The store keeps each customer's newest 100; the portal lists them.
//! - **One worker per endpoint.** A due endpoint gets a worker unless it already has one, at
//!   most `concurrency` at once (a semaphore). A worker POSTs the endpoint's oldest pending
//!   events, up to `max_batch` per request, back to back until none are left, and stops at
//!   the first failure. So a slow or dead endpoint holds one worker for at most one
//!   `timeout` per retry and never delays another endpoint's events.
//! - **Batches.** One request is `{"events":[…]}` with the stored event objects spliced in
//!   verbatim (not re-serialized), `Content-Type: application/json`,
//!   `User-Agent: tongdao-webhooks`. Any 2xx takes the whole batch; anything else (another
//!   status, a redirect, which is never followed, a connection error, the timeout) fails it.
//!   The response body is never parsed: at most 16 KiB of it is read and thrown away.
//! - **Signature** ([`signature`]): header `X-Tongdao-Signature: t=<unix seconds>,v1=<hex>`,
//!   `<hex>` the lowercase hex HMAC-SHA256 of `"<t>.<body>"` keyed with the customer's
//!   signing secret. An endpoint whose customer has no secret is not called (a failure,
//!   logged; the platform always creates one).
//! - **SSRF re-check** ([`ssrf`]): before every call the URL is checked again against the
//!   [`CallbackPolicy`](tongdao_domain::callback::CallbackPolicy) and its host resolved; any
//!   address the policy does not allow refuses the call (counted in `ssrf_refused`). The HTTP
//!   client resolves names through the same check, so the address connected to is one that
//!   was checked (no DNS-rebinding window between check and connect). No proxy from the
//!   environment is used. Logs and stored errors name the host only: paths and queries of
//!   callback URLs may carry tokens.
//! - **Bounded.** Batches (`max_batch`), workers (`concurrency`), each call (`timeout`,
//!   also bounding the DNS lookup), response bytes read; no queue in memory.
//!
//! HTTP/1 over plain TCP or TLS (rustls, with the web PKI's root certificates): an `https`
//! endpoint must present a certificate a public CA issued.
//!
//! # Must never
//! Block the accept path: this crate only reads the outbox and writes delivery results
//! through the store; nothing on the way in waits for a webhook.

pub mod mail;
pub mod notifier;
pub mod signature;
pub mod ssrf;

pub use notifier::{NotifyConfig, NotifyCounts, NotifyStats, backoff, start};
pub use signature::{SIGNATURE_HEADER, VerifyError, sign, verify};

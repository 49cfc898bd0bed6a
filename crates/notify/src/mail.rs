//! Written notices by email (clause 3.2: notice "in writing"): when SMTP is configured, each
//! notice to a customer with a notice address is mailed from the store, where it was
//! marked due in the transaction that posted it. Nothing is held in memory: a failed
//! attempt is retried with a doubling delay, up to [`MAX_ATTEMPTS`], and a restart picks up
//! where it stopped. At least once: a crash between the server's acceptance and the mark
//! sends the notice again.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::watch;
use tongdao_domain::Clock;
use tongdao_store::{EmailOutcome, NoticeEmail, Store};

pub const MAX_ATTEMPTS: u32 = 8;
const BATCH: u32 = 50;

/// How the SMTP server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP, upgraded with STARTTLS (refused if the server does not offer it).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption: only for a relay on loopback or a trusted network.
    None,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// User name and password, when the server wants them.
    pub credentials: Option<(String, String)>,
    /// The sender, e.g. `SMS Service <noreply@provider.example>`.
    pub from: String,
    pub timeout: Duration,
    pub poll: Duration,
    /// The first retry's delay; each next one doubles.
    pub retry_base: Duration,
}

/// Starts the mailer; it stops when `shutdown` turns true. Refuses a configuration whose
/// sender is not an address or whose host cannot make a TLS name.
pub fn start(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: MailConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let from: Mailbox = config.from.parse().map_err(|e| format!("[smtp] from {:?}: {e}", config.from))?;
    let transport = transport(&config)?;
    Ok(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(config.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let due = match store.notices_to_email(clock.now_ms(), BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the notices to email");
                    continue;
                }
            };
            for notice in due {
                let outcome = match send(&transport, &from, &notice).await {
                    Ok(()) => EmailOutcome::Sent { at: clock.now_ms() },
                    Err(error) => {
                        let attempts = notice.attempts + 1;
                        let retry_at = (attempts < MAX_ATTEMPTS).then(|| {
                            let delay = config.retry_base.saturating_mul(1 << (attempts - 1).min(16));
                            clock.now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2)
                        });
                        tracing::warn!(notice = %notice.notice.id, attempts, %error, gave_up = retry_at.is_none(), "cannot email a notice");
                        EmailOutcome::Failed { error, retry_at }
                    }
                };
                if let Err(e) = store.notice_emailed(&notice.notice.id, outcome).await {
                    tracing::warn!(error = %e, "cannot record a notice's email");
                }
            }
        }
    }))
}

fn transport(config: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match config.security {
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host),
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host),
        SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)),
    }
    .map_err(|e| format!("[smtp] host {:?}: {e}", config.host))?;
    let mut builder = builder.port(config.port).timeout(Some(config.timeout));
    if let Some((user, password)) = &config.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
    notice: &NoticeEmail,
) -> Result<(), String> {
    let to: Mailbox = notice.to.parse().map_err(|e| format!("the notice address is not valid: {e}"))?;
    let n = &notice.notice.notice;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(n.subject.as_str())
        .header(ContentType::TEXT_PLAIN)
        .body(format!("{}\n\n-- \nNotice {} ({})\n", n.body, notice.notice.id, n.kind))
        .map_err(|e| e.to_string())?;
    transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
}

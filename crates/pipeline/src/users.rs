//! Console users and their sessions (issue 8).
//!
//! Operator users carry a role (admin, support, moderator, finance); customer users belong to
//! one customer and carry a role there (admin, developer, viewer). Passwords are argon2id
//! ([`crate::passwords`]). A sign-in gives a session token (`tds_…`, 32 random bytes) for the
//! cookie and a CSRF token for the forms; the store keeps only the token's SHA-256, so a
//! stolen database opens no session. Sessions end after 12 hours idle or 7 days in all, on
//! sign-out, and when the user is disabled or its password changes.
//!
//! Sign-in attempts are limited per e-mail and per client address, on this node; an unknown
//! e-mail costs the same argon2 verification as a wrong password, so timing tells nobody
//! which accounts exist.

use std::net::IpAddr;

use serde_json::json;
use tokio::sync::OnceCell;
use tongdao_domain::console::{CustomerRole, OperatorRole, not_allowed};
use tongdao_domain::{ErrorCode, Rejection};
pub use tongdao_store::{ConsoleArea, ConsoleUser};
use tongdao_store::{ConsoleSession, ConsoleUserChange};

use crate::credentials::{hash_secret, new_secret};
use crate::passwords::{hash_password, verify_password, verify_sign_in};
use crate::{Platform, rejection_from_store};

pub const SESSION_PREFIX: &str = "tds_";
pub const SESSION_IDLE_MS: i64 = 12 * 3_600_000;
pub const SESSION_ABSOLUTE_MS: i64 = 7 * 86_400_000;
/// A session's `last_seen` is written at most this often, not on every page.
const TOUCH_EVERY_MS: i64 = 60_000;
pub const MIN_PASSWORD: usize = 10;
pub const MAX_PASSWORD: usize = 256;
const MAX_EMAIL: usize = 254;
/// Sign-in attempts per minute on one account (a burst of that many, then one every 60 / n
/// seconds), whatever address they come from.
pub const SIGN_INS_PER_EMAIL: u32 = 5;
pub const SIGN_INS_PER_ADDRESS: u32 = 20;

tokio::task_local! {
    /// The console user an operator action is done for: named in the audit trail instead
    /// of the bare `operator` of the API's token.
    static ACTOR: String;
}

/// A signed-in user, as each console request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: ConsoleUser,
    /// The session's CSRF token: every form and htmx request must carry it.
    pub csrf: String,
}

impl Identity {
    /// The operator role; `None` for a customer user.
    pub fn operator_role(&self) -> Option<OperatorRole> {
        (self.user.area == ConsoleArea::Operator).then(|| OperatorRole::parse(&self.user.role).ok()).flatten()
    }
    /// The customer and the role there; `None` for an operator user.
    pub fn customer_role(&self) -> Option<(&str, CustomerRole)> {
        let customer = self.user.customer_id.as_deref().filter(|_| self.user.area == ConsoleArea::Customer)?;
        Some((customer, CustomerRole::parse(&self.user.role).ok()?))
    }
    /// How the audit trail names this user.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.user.area.as_str(), self.user.email)
    }
}

/// A new session: the token goes in the cookie, once.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub identity: Identity,
}

/// A change asked for: `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub role: Option<String>,
    pub password: Option<String>,
    pub disabled: Option<bool>,
}

fn check_email(email: &str) -> Result<String, Rejection> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= MAX_EMAIL
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if valid { Ok(email) } else { Err(Rejection::invalid("email", "an e-mail address such as ops@example.com")) }
}

fn check_password(password: &str) -> Result<(), Rejection> {
    let n = password.chars().count();
    if n < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(Rejection::invalid(
            "password",
            format!("a password of {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

fn check_role(area: ConsoleArea, role: &str) -> Result<(), Rejection> {
    match area {
        ConsoleArea::Operator => OperatorRole::parse(role).map(drop),
        ConsoleArea::Customer => CustomerRole::parse(role).map(drop),
    }
}

/// 16 random letters and digits: about 80 bits, typed from a note without confusion.
pub fn generate_password() -> String {
    new_secret("").chars().take(16).collect::<String>().to_lowercase()
}

fn user_snapshot(user: &ConsoleUser) -> serde_json::Value {
    json!({"area": user.area.as_str(), "customer": user.customer_id, "email": user.email, "role": user.role,
           "disabled": user.disabled_at.is_some()})
}

/// Runs `work` as done by `identity`: operator actions in it are audited under its name.
pub async fn acting_as<F: Future>(identity: &Identity, work: F) -> F::Output {
    ACTOR.scope(identity.actor(), work).await
}

/// The actor an audit entry names: the console user acting, if any, for operator actions.
pub(crate) fn actor_for(actor: &str) -> String {
    if actor == "operator" {
        ACTOR.try_with(Clone::clone).unwrap_or_else(|_| actor.to_owned())
    } else {
        actor.to_owned()
    }
}

/// A hash no password matches cheaply: verified against when the e-mail is unknown, so
/// that an unknown e-mail costs the same time as a wrong password. Made once; a failure
/// to make it refuses the sign-in rather than answering early.
async fn dummy_hash() -> Result<&'static str, Rejection> {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY.get_or_try_init(|| async { hash_password(&generate_password()).await }).await.map(String::as_str)
}

/// The sign-in bucket of a client address: IPv6 by its /64 (one subscriber's addresses).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Platform {
    /// Adds a console user. Without `password` one is generated and returned (shown once).
    /// `customer_id` is required for customer users and refused for operator users.
    pub async fn create_console_user(
        &self,
        area: ConsoleArea,
        customer_id: Option<&str>,
        email: &str,
        role: &str,
        password: Option<&str>,
    ) -> Result<(ConsoleUser, Option<String>), Rejection> {
        let email = check_email(email)?;
        check_role(area, role)?;
        let customer_id = match (area, customer_id) {
            (ConsoleArea::Operator, None) => None,
            (ConsoleArea::Customer, Some(c)) => Some(self.customer(c).await?.id),
            (ConsoleArea::Operator, Some(_)) => {
                return Err(Rejection::invalid("customer", "operator users belong to no customer"));
            }
            (ConsoleArea::Customer, None) => {
                return Err(Rejection::invalid("customer", "a customer user needs its customer"));
            }
        };
        let generated = match password {
            Some(p) => {
                check_password(p)?;
                None
            }
            None => Some(generate_password()),
        };
        let password_hash = hash_password(password.or(generated.as_deref()).unwrap_or_default()).await?;
        let now = self.now_ms();
        let user = ConsoleUser {
            id: tongdao_domain::id::new_id("usr"),
            area,
            customer_id,
            email,
            password_hash,
            role: role.to_owned(),
            created_at: now,
            updated_at: now,
            disabled_at: None,
        };
        let audit = tongdao_store::AuditEntry {
            after: Some(user_snapshot(&user).to_string()),
            ..self.audit_entry("operator", "console_user.create", &user.id, None)
        };
        let user = self.store().create_console_user(user, Some(audit)).await.map_err(|e| match e {
            tongdao_store::StoreError::Conflict(_) => {
                Rejection::field(ErrorCode::Conflict, "email", "a user with this e-mail already exists")
            }
            e => rejection_from_store(e),
        })?;
        Ok((user, generated))
    }

    /// The users of `area`, of one customer when given, by e-mail.
    pub async fn console_users(
        &self,
        area: ConsoleArea,
        customer_id: Option<&str>,
    ) -> Result<Vec<ConsoleUser>, Rejection> {
        self.store().list_console_users(area, customer_id).await.map_err(rejection_from_store)
    }

    /// Changes a user's role, password or state. `within` limits it to one customer's users
    /// (a customer admin's own); another's is `not_found`. Returns the user as changed.
    pub async fn change_console_user(
        &self,
        id: &str,
        update: UserUpdate,
        within: Option<&str>,
    ) -> Result<ConsoleUser, Rejection> {
        let before = self.store().get_console_user(id).await.map_err(rejection_from_store)?;
        if within.is_some_and(|c| before.customer_id.as_deref() != Some(c)) {
            return Err(Rejection::new(ErrorCode::NotFound, "no such user"));
        }
        if let Some(role) = &update.role {
            check_role(before.area, role)?;
        }
        let password_hash = match &update.password {
            Some(p) => {
                check_password(p)?;
                Some(hash_password(p).await?)
            }
            None => None,
        };
        let change = ConsoleUserChange { role: update.role, password_hash, disabled: update.disabled };
        let reason = update.password.is_some().then(|| "password changed".to_owned());
        let audit = tongdao_store::AuditEntry {
            before: Some(user_snapshot(&before).to_string()),
            ..self.audit_entry("operator", "console_user.change", id, reason)
        };
        let user =
            self.store().change_console_user(id, change, self.now_ms(), audit).await.map_err(rejection_from_store)?;
        Ok(user)
    }

    /// Signs a user in to `area`: a new session, or `unauthorized` for a wrong e-mail or
    /// password (the same answer for both), or `throttled` past the attempt limits.
    pub async fn sign_in(
        &self,
        area: ConsoleArea,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, Rejection> {
        let email = email.trim().to_lowercase();
        let now = self.now_ms();
        // The key buckets count per second; a per-minute limit is the same bucket on a clock
        // running 60 times slower. The address first: an attempt refused there costs no
        // lookup and leaves no trace keyed by what the client typed.
        let minute_clock = now / 60;
        let throttled = || Rejection {
            retry_after: Some(60 / SIGN_INS_PER_EMAIL),
            ..Rejection::new(ErrorCode::Throttled, "too many sign-in attempts; wait a minute and try again")
        };
        if let Some(ip) = client
            && !self.inner.sign_in_buckets.take(&address_key(ip), SIGN_INS_PER_ADDRESS, minute_clock)
        {
            return Err(throttled());
        }
        let wrong = || Rejection::new(ErrorCode::Unauthorized, "wrong e-mail or password");
        let user = if email.len() <= MAX_EMAIL && password.len() <= MAX_PASSWORD {
            self.store().find_console_user(area, &email).await.map_err(rejection_from_store)?
        } else {
            None
        };
        let Some(user) = user.filter(|u| u.disabled_at.is_none()) else {
            verify_sign_in(password, dummy_hash().await?).await?;
            return Err(wrong());
        };
        // Per account, so that guessing one password from many addresses is slow too; keyed
        // by the user's id, so that made-up e-mails fill no table.
        if !self.inner.sign_in_buckets.take(&format!("user:{}", user.id), SIGN_INS_PER_EMAIL, minute_clock) {
            return Err(throttled());
        }
        if !verify_sign_in(password, &user.password_hash).await? {
            return Err(wrong());
        }
        let token = new_secret(SESSION_PREFIX);
        let csrf = new_secret("");
        let session = ConsoleSession {
            id_hash: hash_secret(&token),
            user_id: user.id.clone(),
            csrf: csrf.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_IDLE_MS,
            absolute_expires_at: now + SESSION_ABSOLUTE_MS,
        };
        self.store().create_console_session(session.clone()).await.map_err(rejection_from_store)?;
        // A password change or a disabling that committed while the password was checked
        // ended the user's sessions before this one existed: this one must end too.
        let now_user = self.store().get_console_user(&user.id).await.map_err(rejection_from_store)?;
        if now_user.password_hash != user.password_hash || now_user.disabled_at.is_some() {
            self.store().delete_console_session(&session.id_hash).await.map_err(rejection_from_store)?;
            return Err(wrong());
        }
        tracing::info!(area = area.as_str(), user = %user.id, "console sign-in");
        Ok(SignedIn { token, identity: Identity { user, csrf } })
    }

    /// Does `password` open `email`'s account in `area`? No session, no attempt counted:
    /// for `--demo`, which keeps a password it wrote while it still works.
    pub async fn console_password_works(&self, area: ConsoleArea, email: &str, password: &str) -> bool {
        match self.store().find_console_user(area, &email.trim().to_lowercase()).await {
            Ok(Some(user)) if user.disabled_at.is_none() => verify_password(password, &user.password_hash).await,
            _ => false,
        }
    }

    /// The signed-in user behind a session token, or `unauthorized` when the session is
    /// unknown, expired or its user disabled.
    pub async fn console_session(&self, token: &str) -> Result<Identity, Rejection> {
        let expired = || Rejection::new(ErrorCode::Unauthorized, "the session has ended; sign in again");
        if !token.starts_with(SESSION_PREFIX) || token.len() > crate::credentials::MAX_SECRET_LEN {
            return Err(expired());
        }
        let id_hash = hash_secret(token);
        let now = self.now_ms();
        let (session, user) = self
            .store()
            .find_console_session(&id_hash, now)
            .await
            .map_err(rejection_from_store)?
            .ok_or_else(expired)?;
        if now - session.last_seen_at >= TOUCH_EVERY_MS {
            self.store()
                .touch_console_session(&id_hash, now, now + SESSION_IDLE_MS)
                .await
                .map_err(rejection_from_store)?;
        }
        Ok(Identity { user, csrf: session.csrf })
    }

    /// Ends the session of this token (sign-out); nothing when there is none.
    pub async fn sign_out(&self, token: &str) -> Result<(), Rejection> {
        self.store().delete_console_session(&hash_secret(token)).await.map_err(rejection_from_store)
    }

    /// `forbidden` unless `allowed`; for the console's role checks.
    pub fn require(&self, identity: &Identity, allowed: bool) -> Result<(), Rejection> {
        if allowed { Ok(()) } else { Err(not_allowed(&identity.user.role)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_passwords_are_checked() {
        assert_eq!(check_email(" Ops@Example.COM ").as_deref(), Ok("ops@example.com"));
        for bad in ["", "ops", "@x", "a@", "a b@c"] {
            assert_eq!(check_email(bad).map_err(|r| r.field), Err(Some("email".to_owned())), "{bad}");
        }
        assert!(check_password("short").is_err());
        assert!(check_password("long enough!").is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD + 1)).is_err());
        assert!(check_role(ConsoleArea::Operator, "finance").is_ok());
        assert!(check_role(ConsoleArea::Customer, "finance").is_err());
        assert_eq!(address_key("192.0.2.7".parse().expect("v4")), "ip:192.0.2.7");
        let a = address_key("2001:db8:1:2:aaaa::1".parse().expect("v6"));
        assert_eq!(a, address_key("2001:db8:1:2:bbbb::9".parse().expect("v6")), "one /64, one bucket");
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().expect("v6")));
        let p = generate_password();
        assert_eq!(p.len(), 16);
        assert!(check_password(&p).is_ok());
    }
}

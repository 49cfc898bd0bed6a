//! SMPP credentials: what the operator sets up, and checking a bind against it.
//!
//! A customer may have several accounts (`system_id`s), each with a password (SMPP allows at
//! most 8 characters, so it is hashed with argon2id like any password, never a fast hash),
//! the addresses binds may come from, how many binds may be open at once and a submit rate.

use std::net::IpAddr;

use rand::Rng;
use tongdao_domain::{ErrorCode, Rejection};
use tongdao_store::SmppAccount;

use crate::passwords::{hash_password, verify_password};
use crate::{Platform, rejection_from_store};

/// SMPP's C-Octet String limits, NUL excluded (SMPP 3.4 §4.1).
pub const MAX_SYSTEM_ID: usize = 15;
pub const MAX_PASSWORD: usize = 8;
pub const DEFAULT_MAX_BINDS: u32 = 4;
pub const DEFAULT_TPS: u32 = 200;
pub const MAX_BINDS_LIMIT: u32 = 64;
pub const MAX_TPS_LIMIT: u32 = 1_000_000;
const MAX_ALLOWED_IPS: usize = 64;

/// What the operator asks for; `None` keeps the current value (or takes the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppAccountRequest {
    pub system_id: Option<String>,
    /// Generated (8 random characters) when absent on creation.
    pub password: Option<String>,
    pub allowed_ips: Option<Vec<String>>,
    pub max_binds: Option<u32>,
    pub tps: Option<u32>,
}

/// An account as shown: everything but the password hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SmppAccountView {
    pub system_id: String,
    pub customer_id: String,
    pub allowed_ips: Vec<String>,
    pub max_binds: u32,
    pub tps: u32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&SmppAccount> for SmppAccountView {
    fn from(a: &SmppAccount) -> Self {
        SmppAccountView {
            system_id: a.system_id.clone(),
            customer_id: a.customer_id.clone(),
            allowed_ips: a.allowed_ips.clone(),
            max_binds: a.max_binds,
            tps: a.tps,
            created_at: tongdao_domain::clock::rfc3339(a.created_at),
            updated_at: tongdao_domain::clock::rfc3339(a.updated_at),
        }
    }
}

/// Why a bind was refused, before the SMPP edge turns it into a command_status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindRefusal {
    UnknownSystemId,
    BadPassword,
    AddressNotAllowed,
    /// The customer's service is suspended (clause 3.5).
    Suspended,
    Unavailable,
}

impl Platform {
    /// Creates SMPP credentials for a customer; returns the account and its password (shown
    /// once: only its hash is kept).
    pub async fn create_smpp_account(
        &self,
        customer: &str,
        request: SmppAccountRequest,
    ) -> Result<(SmppAccountView, String), Rejection> {
        let customer = self.customer(customer).await?;
        let system_id = match request.system_id {
            Some(system_id) => check_system_id(&system_id)?,
            None => format!("{}{}", short_name(&customer.name), random_chars(4)),
        };
        let password = match request.password {
            Some(password) => check_password(&password)?,
            None => generate_password(),
        };
        let now = self.now_ms();
        let account = SmppAccount {
            system_id,
            customer_id: customer.id,
            password_hash: hash_password(&password).await?,
            allowed_ips: check_ips(request.allowed_ips.unwrap_or_default())?,
            max_binds: check_range("max_binds", request.max_binds.unwrap_or(DEFAULT_MAX_BINDS), 1, MAX_BINDS_LIMIT)?,
            tps: check_range("tps", request.tps.unwrap_or(DEFAULT_TPS), 0, MAX_TPS_LIMIT)?,
            created_at: now,
            updated_at: now,
        };
        let stored = self.store().create_smpp_account(account).await.map_err(rejection_from_store)?;
        tracing::info!(system_id = %stored.system_id, customer = %stored.customer_id, "SMPP account created");
        let view = SmppAccountView::from(&stored);
        self.audit_change("smpp_account.create", &stored.system_id, None, serde_json::to_value(&view).ok()).await;
        Ok((view, password))
    }

    /// Changes password, addresses or limits; fields left out stay as they are.
    pub async fn update_smpp_account(
        &self,
        customer: &str,
        system_id: &str,
        request: SmppAccountRequest,
    ) -> Result<SmppAccountView, Rejection> {
        let customer = self.customer(customer).await?;
        let mut account = self.smpp_account_of(&customer.id, system_id).await?;
        let before = serde_json::to_value(SmppAccountView::from(&account)).ok();
        let password_changed = request.password.is_some();
        if request.system_id.as_deref().is_some_and(|s| s != system_id) {
            return Err(Rejection::invalid("system_id", "a system_id cannot be changed; create another account"));
        }
        if let Some(password) = request.password {
            account.password_hash = hash_password(&check_password(&password)?).await?;
        }
        if let Some(ips) = request.allowed_ips {
            account.allowed_ips = check_ips(ips)?;
        }
        if let Some(max_binds) = request.max_binds {
            account.max_binds = check_range("max_binds", max_binds, 1, MAX_BINDS_LIMIT)?;
        }
        if let Some(tps) = request.tps {
            account.tps = check_range("tps", tps, 0, MAX_TPS_LIMIT)?;
        }
        account.updated_at = self.now_ms();
        let stored = self.store().update_smpp_account(account).await.map_err(rejection_from_store)?;
        let view = SmppAccountView::from(&stored);
        let mut after = serde_json::to_value(&view).ok();
        if let Some(after) = after.as_mut() {
            after["password_changed"] = serde_json::Value::from(password_changed);
        }
        self.audit_change("smpp_account.update", system_id, before, after).await;
        Ok(view)
    }

    pub async fn delete_smpp_account(&self, customer: &str, system_id: &str) -> Result<(), Rejection> {
        let customer = self.customer(customer).await?;
        self.store().delete_smpp_account(&customer.id, system_id).await.map_err(rejection_from_store)?;
        self.audit_change(
            "smpp_account.delete",
            system_id,
            Some(serde_json::json!({"customer_id": customer.id})),
            None,
        )
        .await;
        Ok(())
    }

    pub async fn smpp_accounts(&self, customer: &str) -> Result<Vec<SmppAccountView>, Rejection> {
        let customer = self.customer(customer).await?;
        let accounts = self.store().list_smpp_accounts(&customer.id).await.map_err(rejection_from_store)?;
        Ok(accounts.iter().map(SmppAccountView::from).collect())
    }

    async fn smpp_account_of(&self, customer_id: &str, system_id: &str) -> Result<SmppAccount, Rejection> {
        match self.store().find_smpp_account(system_id).await.map_err(rejection_from_store)? {
            Some(account) if account.customer_id == customer_id => Ok(account),
            _ => Err(Rejection::new(ErrorCode::NotFound, "no such SMPP account for this customer")),
        }
    }

    /// Checks a bind's credentials and address.
    pub async fn authenticate_smpp(
        &self,
        system_id: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<SmppAccount, BindRefusal> {
        if system_id.is_empty() || system_id.len() > MAX_SYSTEM_ID {
            return Err(BindRefusal::UnknownSystemId);
        }
        let account = match self.store().find_smpp_account(system_id).await {
            Ok(Some(account)) => account,
            Ok(None) => return Err(BindRefusal::UnknownSystemId),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read SMPP accounts");
                return Err(BindRefusal::Unavailable);
            }
        };
        if !verify_password(password, &account.password_hash).await {
            return Err(BindRefusal::BadPassword);
        }
        if !ip_allowed(&account.allowed_ips, peer) {
            return Err(BindRefusal::AddressNotAllowed);
        }
        match self.ensure_not_suspended(&account.customer_id).await {
            Ok(()) => Ok(account),
            Err(r) if r.code == ErrorCode::AccountSuspended => Err(BindRefusal::Suspended),
            Err(_) => Err(BindRefusal::Unavailable),
        }
    }
}

fn check_system_id(system_id: &str) -> Result<String, Rejection> {
    if system_id.is_empty()
        || system_id.len() > MAX_SYSTEM_ID
        || !system_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Rejection::invalid(
            "system_id",
            format!("system_id must be 1-{MAX_SYSTEM_ID} letters, digits, '_' or '-'"),
        ));
    }
    Ok(system_id.to_owned())
}

fn check_password(password: &str) -> Result<String, Rejection> {
    if password.is_empty() || password.len() > MAX_PASSWORD || !password.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Rejection::invalid(
            "password",
            format!("an SMPP password is 1-{MAX_PASSWORD} visible ASCII characters"),
        ));
    }
    Ok(password.to_owned())
}

fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<u32, Rejection> {
    if value < min || value > max {
        return Err(Rejection::invalid(field, format!("{field} must be {min}-{max}")));
    }
    Ok(value)
}

fn check_ips(ips: Vec<String>) -> Result<Vec<String>, Rejection> {
    if ips.len() > MAX_ALLOWED_IPS {
        return Err(Rejection::invalid("allowed_ips", format!("at most {MAX_ALLOWED_IPS} entries")));
    }
    for ip in &ips {
        if parse_block(ip).is_none() {
            return Err(Rejection::invalid("allowed_ips", format!("{ip:?} is neither an IP address nor a CIDR block")));
        }
    }
    Ok(ips)
}

/// An address or CIDR block (`10.0.0.0/8`, `::1`).
fn parse_block(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = match text.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?),
        None => {
            let ip = text.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

/// Whether `peer` is in one of the blocks; an empty list allows every address.
pub fn ip_allowed(blocks: &[String], peer: IpAddr) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    blocks.is_empty()
        || blocks.iter().filter_map(|b| parse_block(b)).any(|(net, bits)| match (net, peer) {
            (IpAddr::V4(net), IpAddr::V4(peer)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(peer) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(peer)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                u128::from(net) & mask == u128::from(peer) & mask
            }
            _ => false,
        })
}

/// A new 8-character password.
pub fn generate_password() -> String {
    random_chars(MAX_PASSWORD)
}

/// Lowercase letters and digits, without the easily confused ones.
fn random_chars(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

/// The start of a customer's name usable in a system_id.
fn short_name(name: &str) -> String {
    let mut out: String = name.chars().filter(char::is_ascii_alphanumeric).take(MAX_SYSTEM_ID - 4).collect();
    out.make_ascii_lowercase();
    if out.is_empty() { "esme".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_match_blocks() {
        let blocks = vec!["10.1.0.0/16".to_owned(), "192.168.1.7".to_owned(), "2001:db8::/32".to_owned()];
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(ip_allowed(&blocks, ip("10.1.200.3")));
        assert!(!ip_allowed(&blocks, ip("10.2.0.1")));
        assert!(ip_allowed(&blocks, ip("192.168.1.7")) && !ip_allowed(&blocks, ip("192.168.1.8")));
        assert!(ip_allowed(&blocks, ip("2001:db8::1")) && !ip_allowed(&blocks, ip("2001:db9::1")));
        assert!(ip_allowed(&blocks, ip("::ffff:10.1.0.9")), "v4-mapped v6 peers match v4 blocks");
        assert!(ip_allowed(&[], ip("8.8.8.8")), "no list allows any address");
        assert!(ip_allowed(&["0.0.0.0/0".to_owned()], ip("8.8.8.8")));
        assert!(check_ips(vec!["10.0.0.0/33".into()]).is_err() && check_ips(vec!["host".into()]).is_err());
    }

    #[test]
    fn credentials_follow_smpp_limits() {
        assert!(check_system_id("acme_01").is_ok());
        assert!(check_system_id("").is_err() && check_system_id("sixteen_chars_xx").is_err());
        assert!(check_system_id("bad id").is_err());
        assert!(check_password("12345678").is_ok() && check_password("123456789").is_err());
        assert_eq!(random_chars(8).len(), 8);
        assert_eq!(short_name("ACME Trading Co., Ltd."), "acmetrading");
    }
}

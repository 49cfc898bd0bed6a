//! The SSRF guard at call time. A callback URL was checked against the [`CallbackPolicy`]
//! when it was stored, but a host name can resolve elsewhere later (or differently on every
//! lookup: DNS rebinding). So before every call the URL is checked again and its host
//! resolved, and the call is refused if any address is one the policy does not allow; and the
//! HTTP client resolves names through `CheckedResolver`, which applies the same check to
//! the addresses it actually connects to, so no lookup between the check and the connection
//! can slip an internal address in. Literal IP hosts never reach a resolver: the policy's
//! URL check covers them.

use std::net::SocketAddr;
use std::time::Duration;

use tongdao_domain::callback::CallbackPolicy;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The URL or an address it resolves to is not allowed: never called.
    #[error("refused by the callback policy: {0}")]
    Refused(String),
    #[error("cannot resolve the host: {0}")]
    Lookup(String),
}

/// Checks `raw` against the policy and, for a host name, every address it resolves to now.
pub(crate) async fn check_target(policy: CallbackPolicy, raw: &str, timeout: Duration) -> Result<url::Url, GuardError> {
    let url = policy.check("url", raw).map_err(|rejection| GuardError::Refused(rejection.message))?;
    if let Some(url::Host::Domain(name)) = url.host() {
        resolve_allowed(policy, name, timeout).await?;
    }
    Ok(url)
}

/// Resolves `host`; refused if any of its addresses is not allowed by the policy.
pub async fn resolve_allowed(
    policy: CallbackPolicy,
    host: &str,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, GuardError> {
    let lookup = tokio::time::timeout(timeout, tokio::net::lookup_host((host, 0)))
        .await
        .map_err(|_| GuardError::Lookup(format!("timed out after {} ms", timeout.as_millis())))?
        .map_err(|e| GuardError::Lookup(e.to_string()))?;
    let addrs: Vec<SocketAddr> = lookup.collect();
    if addrs.is_empty() {
        return Err(GuardError::Lookup("no address".to_owned()));
    }
    if let Some(bad) = addrs.iter().find(|a| !policy.allows(a.ip())) {
        return Err(GuardError::Refused(format!(
            "the host resolves to {}, an address the operator does not allow",
            bad.ip()
        )));
    }
    Ok(addrs)
}

/// The HTTP client's resolver: a name resolving to any address the policy refuses is not
/// connected to at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckedResolver {
    pub policy: CallbackPolicy,
    pub timeout: Duration,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let CheckedResolver { policy, timeout } = *self;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_allowed(policy, &host, timeout)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a (transport) error was the guard refusing an address.
pub(crate) fn is_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if matches!(e.downcast_ref::<GuardError>(), Some(GuardError::Refused(_))) {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let strict = CallbackPolicy::default();
        assert!(matches!(resolve_allowed(strict, "localhost", SECOND).await, Err(GuardError::Refused(_))));
        let demo = CallbackPolicy { allow_loopback: true, allow_private: false };
        let addrs = resolve_allowed(demo, "localhost", SECOND).await.expect("localhost resolves");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }

    #[tokio::test]
    async fn literal_internal_addresses_are_refused_without_a_lookup() {
        let strict = CallbackPolicy::default();
        for url in ["http://127.0.0.1:1/x", "http://[::1]/", "http://169.254.169.254/latest", "http://10.0.0.1/"] {
            assert!(matches!(check_target(strict, url, SECOND).await, Err(GuardError::Refused(_))), "{url}");
        }
        let demo = CallbackPolicy { allow_loopback: true, allow_private: false };
        assert!(check_target(demo, "http://127.0.0.1:1/x", SECOND).await.is_ok());
    }

    #[test]
    fn a_refusal_is_found_down_an_error_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] GuardError);
        assert!(is_refusal(&Outer(GuardError::Refused("x".into()))));
        assert!(!is_refusal(&Outer(GuardError::Lookup("x".into()))));
    }
}

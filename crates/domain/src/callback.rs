//! Which webhook (callback) URLs may be called: `http`/`https` only, and by default never an
//! address in a loopback, private, link-local or otherwise internal range, so a customer
//! cannot make the platform call into the operator's own network (SSRF). The operator may
//! allow loopback (`--demo` does) or private ranges in config.
//!
//! A host name is checked here when it is literal (`127.0.0.1`, `[::1]`, `localhost`); the
//! webhook sender checks again every address a name resolves to before it connects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::message::MAX_CALLBACK_URL_BYTES;
use crate::rejection::{ErrorCode, Rejection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CallbackPolicy {
    /// Allow 127.0.0.0/8, ::1 and `localhost`.
    pub allow_loopback: bool,
    /// Allow RFC 1918, carrier-grade NAT, link-local, unique-local and similar ranges.
    pub allow_private: bool,
}

/// What kind of address an IP is, for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Public,
    Loopback,
    Private,
    /// Unspecified, multicast, broadcast, documentation, reserved: never called.
    Forbidden,
}

pub fn classify(ip: IpAddr) -> AddressKind {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                AddressKind::Loopback
            } else if v6.is_unspecified() || v6.is_multicast() || first == 0x2001 && v6.segments()[1] == 0x0db8 {
                AddressKind::Forbidden
            } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80 {
                AddressKind::Private
            } else {
                AddressKind::Public
            }
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressKind {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a >= 240
        || a == 0
    {
        AddressKind::Forbidden
    } else if ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
    {
        AddressKind::Private
    } else {
        AddressKind::Public
    }
}

impl CallbackPolicy {
    pub fn allows(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressKind::Public => true,
            AddressKind::Loopback => self.allow_loopback,
            AddressKind::Private => self.allow_private,
            AddressKind::Forbidden => false,
        }
    }

    /// Checks a callback URL as given by a customer; the `field` names it in the refusal.
    pub fn check(&self, field: &str, raw: &str) -> Result<url::Url, Rejection> {
        let refuse = |why: &str| Rejection::field(ErrorCode::CallbackUrlRefused, field, why.to_owned());
        if raw.len() > MAX_CALLBACK_URL_BYTES {
            return Err(refuse("the callback URL is over 2048 bytes"));
        }
        let url = url::Url::parse(raw).map_err(|_| refuse("the callback URL is not a valid absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse("the callback URL must be http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("the callback URL must not carry credentials"));
        }
        let ip = match url.host() {
            None => return Err(refuse("the callback URL has no host")),
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                (name == "localhost" || name.ends_with(".localhost")).then_some(IpAddr::V6(Ipv6Addr::LOCALHOST))
            }
        };
        if let Some(ip) = ip
            && !self.allows(ip)
        {
            return Err(refuse(match classify(ip) {
                AddressKind::Loopback => {
                    "the callback URL points at a loopback address, which the operator does not allow"
                }
                AddressKind::Private => {
                    "the callback URL points at a private address, which the operator does not allow"
                }
                _ => "the callback URL points at an address that is never called",
            }));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: CallbackPolicy, url: &str) -> bool {
        policy.check("callback_url", url).is_err()
    }

    #[test]
    fn internal_targets_are_refused_by_default() {
        let strict = CallbackPolicy::default();
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://api.localhost/hook",
            "http://[::1]/hook",
            "http://10.1.2.3/",
            "http://192.168.1.1/",
            "http://172.16.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "not a url",
        ] {
            assert!(refused(strict, url), "{url} should be refused");
        }
        for url in ["https://example.com/hook", "http://203.0.114.9:8080/x", "http://8.8.8.8/"] {
            assert!(!refused(strict, url), "{url} should be allowed");
        }
    }

    #[test]
    fn the_operator_can_allow_loopback_or_private_ranges() {
        let demo = CallbackPolicy { allow_loopback: true, allow_private: false };
        assert!(!refused(demo, "http://127.0.0.1:9000/hook"));
        assert!(refused(demo, "http://10.0.0.1/"));
        let lan = CallbackPolicy { allow_loopback: false, allow_private: true };
        assert!(!refused(lan, "http://10.0.0.1/"));
        assert!(refused(lan, "http://127.0.0.1/"));
        assert!(refused(CallbackPolicy { allow_loopback: true, allow_private: true }, "http://0.0.0.0/"));
    }
}

//! The webhook signature: `X-Tongdao-Signature: t=<unix seconds>,v1=<hex>`, where `<hex>` is
//! the lowercase hex HMAC-SHA256 of `"<t>.<body>"` keyed with the customer's signing secret
//! (its UTF-8 bytes, as shown to the customer).
//!
//! A receiver recomputes the HMAC over the raw body it got, compares in constant time, and
//! refuses a timestamp too far from its own clock (replays). [`verify`] does exactly that and
//! is what receivers in Rust (and our tests) use. The header may carry several `v1=` values
//! (during a secret rotation one per secret); any one matching is enough. Unknown keys are
//! ignored so that a later scheme (`v2=`) can be added beside `v1`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The request header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Tongdao-Signature";

/// How far a timestamp may be from the receiver's clock, by default (5 minutes).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length (a long key is hashed first), so this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts a key of any length")
}

fn signed_payload_mac(secret: &str, unix_seconds: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = mac(secret.as_bytes());
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header value for `body` sent at `unix_seconds`.
pub fn sign(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let digest = signed_payload_mac(secret, unix_seconds, body).finalize().into_bytes();
    format!("t={unix_seconds},v1={}", hex::encode(digest))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature header has no timestamp (t=)")]
    NoTimestamp,
    #[error("the signature header has no v1 signature")]
    NoSignature,
    #[error("the signature's timestamp is {age_secs} s away from now, over the {tolerance_secs} s allowed")]
    Stale { age_secs: u64, tolerance_secs: u64 },
    #[error("no signature matches the body")]
    Mismatch,
}

/// Checks a signature header against the raw `body` with `secret`; `now_unix` is the
/// receiver's clock and `tolerance_secs` how far the signed timestamp may be from it.
pub fn verify(secret: &str, header: &str, body: &[u8], now_unix: i64, tolerance_secs: u64) -> Result<(), VerifyError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<&str> = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(VerifyError::Malformed)?;
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err(VerifyError::Malformed);
                }
                timestamp = Some(value.trim().parse().map_err(|_| VerifyError::Malformed)?);
            }
            "v1" => signatures.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(VerifyError::NoSignature);
    }
    let age_secs = now_unix.abs_diff(timestamp);
    if age_secs > tolerance_secs {
        return Err(VerifyError::Stale { age_secs, tolerance_secs });
    }
    let expected = signed_payload_mac(secret, timestamp, body);
    let matched = signatures
        .iter()
        .filter_map(|candidate| hex::decode(candidate).ok())
        .any(|candidate| expected.clone().verify_slice(&candidate).is_ok());
    if matched { Ok(()) } else { Err(VerifyError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_hex(key: &[u8], data: &[u8]) -> String {
        let mut m = mac(key);
        m.update(data);
        hex::encode(m.finalize().into_bytes())
    }

    #[test]
    fn the_underlying_hmac_matches_rfc_4231() {
        // Test case 2: a key shorter than the block.
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block (hashed first).
        assert_eq!(
            hmac_hex(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn sign_matches_a_vector_computed_elsewhere() {
        // python3: hmac.new(b"whsec_test", b'1700000000.{"events":[{"id":"evt_1"}]}', hashlib.sha256).hexdigest()
        let body = br#"{"events":[{"id":"evt_1"}]}"#;
        assert_eq!(
            sign("whsec_test", 1_700_000_000, body),
            "t=1700000000,v1=775163879c2cca6107f5177cd3020209d4339b93c0a6e5c52afe6ec30c4b24e6"
        );
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let body = br#"{"events":[{"id":"evt_1","status":"delivered"}]}"#;
        let now = 1_800_000_000;
        let header = sign("s3cret", now, body);
        assert_eq!(verify("s3cret", &header, body, now, 300), Ok(()));
        assert_eq!(verify("s3cret", &header, body, now + 299, 300), Ok(()));
        assert_eq!(verify("s3cret", &header, body, now - 299, 300), Ok(()));

        let tampered = br#"{"events":[{"id":"evt_1","status":"failed"}]}"#;
        assert_eq!(verify("s3cret", &header, tampered, now, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify("other", &header, body, now, 300), Err(VerifyError::Mismatch));
        assert_eq!(
            verify("s3cret", &header, body, now + 301, 300),
            Err(VerifyError::Stale { age_secs: 301, tolerance_secs: 300 })
        );
        assert!(matches!(verify("s3cret", &header, body, now - 3600, 300), Err(VerifyError::Stale { .. })));
        // The timestamp is signed: moving it forward breaks the signature.
        let moved = header.replacen(&format!("t={now}"), &format!("t={}", now + 1), 1);
        assert_eq!(verify("s3cret", &moved, body, now, 300), Err(VerifyError::Mismatch));
    }

    #[test]
    fn several_v1_values_are_accepted_and_unknown_keys_ignored() {
        let body = b"{}";
        let now = 1_800_000_000;
        let good = sign("new", now, body);
        let good_v1 = good.split_once(",v1=").map(|(_, v)| v).unwrap_or_default();
        let old_v1 = sign("old", now, body).split_once(",v1=").map(|(_, v)| v.to_owned()).unwrap_or_default();
        let header = format!("t={now}, v1={old_v1}, v0=zz, v1={good_v1}");
        assert_eq!(verify("new", &header, body, now, 300), Ok(()));
        assert_eq!(verify("old", &header, body, now, 300), Ok(()));
        assert_eq!(verify("neither", &header, body, now, 300), Err(VerifyError::Mismatch));
        // Not hex: not a match, and no panic.
        assert_eq!(verify("new", &format!("t={now},v1=xyz"), body, now, 300), Err(VerifyError::Mismatch));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let body = b"{}";
        let now = 1_800_000_000;
        assert_eq!(verify("s", "", body, now, 300), Err(VerifyError::Malformed));
        assert_eq!(verify("s", "garbage", body, now, 300), Err(VerifyError::Malformed));
        assert_eq!(verify("s", "t=abc,v1=00", body, now, 300), Err(VerifyError::Malformed));
        assert_eq!(verify("s", "t=1,t=2,v1=00", body, now, 300), Err(VerifyError::Malformed));
        assert_eq!(verify("s", "v1=00", body, now, 300), Err(VerifyError::NoTimestamp));
        assert_eq!(verify("s", &format!("t={now}"), body, now, 300), Err(VerifyError::NoSignature));
        assert!(matches!(
            verify("s", "t=-9223372036854775808,v1=00", body, i64::MAX, 300),
            Err(VerifyError::Stale { .. })
        ));
    }
}

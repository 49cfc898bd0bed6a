//! Ids: a short type prefix and a UUIDv7 in lowercase Crockford base32, so ids sort by
//! creation time (useful as cursors and as B-tree keys) and say what they name.

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new id such as `msg_06f2k7q...`: `prefix`, `_`, 26 base32 characters.
pub fn new_id(prefix: &str) -> String {
    encode(prefix, uuid::Uuid::now_v7().as_u128())
}

/// `prefix_` and the 128 bits of `value` in base32, most significant first, so that ids
/// sort as their values do.
fn encode(prefix: &str, value: u128) -> String {
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    // 128 bits in 26 characters of 5 bits; the first character carries the top 3 bits.
    for i in (0..26).rev() {
        let index = ((value >> (i * 5)) & 0x1f) as usize;
        out.push(char::from(ALPHABET[index]));
    }
    out
}

/// The smallest id of `prefix` made at or after `ms` (ids are ordered by time): a bound for
/// range scans by creation time.
pub fn id_floor(prefix: &str, ms: i64) -> String {
    // UUIDv7: the 48-bit Unix time in ms in the top bits, then version and random bits.
    encode(prefix, (u128::from(u64::try_from(ms.max(0)).unwrap_or(0)) & 0xFFFF_FFFF_FFFF) << 80)
}

/// Random bytes for secrets, rendered in the same base32 alphabet.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize]));
    }
    out
}

/// Whether `s` looks like an id of ours with this prefix (cheap check before a lookup).
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.len() == prefix.len() + 27
        && s.starts_with(prefix)
        && s.as_bytes()[prefix.len()] == b'_'
        && s[prefix.len() + 1..].bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_id_floor_sorts_before_every_id_made_from_its_time_on() {
        use crate::Clock;
        let now = crate::clock::SystemClock.now_ms();
        let id = super::new_id("msg");
        assert!(super::id_floor("msg", now - 1000) <= id, "{id}");
        assert!(super::id_floor("msg", now + 60_000) > id, "{id}");
    }

    use super::*;

    #[test]
    fn ids_are_prefixed_and_sort_by_creation() {
        let a = new_id("msg");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("msg");
        assert!(is_id("msg", &a), "{a}");
        assert!(a < b);
        assert!(!is_id("msg", "msg_short"));
        assert!(!is_id("cus", &a));
    }

    #[test]
    fn base32_renders_every_bit() {
        assert_eq!(base32(&[0xff]), "zw");
        assert_eq!(base32(&[0, 0, 0, 0, 0]), "00000000");
    }
}

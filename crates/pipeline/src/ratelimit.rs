//! Requests per second per API key (a token bucket per key, holding at most a second's
//! worth), on this node. SMPP accounts have their own, per system_id over all its binds.

use std::collections::HashMap;
use std::sync::Mutex;

use tongdao_domain::tokens::TokenBucket;

/// Keys tracked at most; past it the buckets start over full (a crude but bounded policy).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct KeyBuckets {
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: TokenBucket,
    at_ms: i64,
}

impl KeyBuckets {
    /// Takes one request of `key_id` at `now_ms` under `rps` (0: no limit); `false` when the
    /// key has used up its second.
    pub fn take(&self, key_id: &str, rps: u32, now_ms: i64) -> bool {
        if rps == 0 {
            return true;
        }
        let Ok(mut buckets) = self.buckets.lock() else { return true };
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key_id) {
            buckets.clear();
        }
        let bucket =
            buckets.entry(key_id.to_owned()).or_insert(Bucket { tokens: TokenBucket::full(rps), at_ms: now_ms });
        let elapsed = (now_ms - bucket.at_ms).max(0) as f64 / 1000.0;
        bucket.at_ms = now_ms.max(bucket.at_ms);
        bucket.tokens.take(rps, elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_rate_and_then_waits_for_time_to_pass() {
        let buckets = KeyBuckets::default();
        let allowed = (0..5).filter(|_| buckets.take("k", 3, 1000)).count();
        assert_eq!(allowed, 3, "a second's worth at once");
        assert!(!buckets.take("k", 3, 1100));
        assert!(buckets.take("k", 3, 1400), "a third of a second brings one back");
        assert!(buckets.take("other", 3, 1400), "keys are separate");
        assert!((0..1000).all(|_| buckets.take("free", 0, 1400)), "0 is no limit");
    }
}

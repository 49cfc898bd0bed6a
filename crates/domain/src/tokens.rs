//! A token bucket's arithmetic, for request rates (per API key, per SMPP account): `rate`
//! tokens a second, at most `rate` saved up (the burst), one per request. The callers keep
//! the time and the lock.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
}

impl TokenBucket {
    /// A full bucket: a burst of `rate` at once.
    pub fn full(rate: u32) -> TokenBucket {
        TokenBucket { tokens: f64::from(rate) }
    }

    /// Keeps at most `rate` saved up (a lowered rate).
    pub fn cap(&mut self, rate: u32) {
        self.tokens = self.tokens.min(f64::from(rate));
    }

    /// Refills for `elapsed_secs` at `rate`, then takes one token if there is one.
    pub fn take(&mut self, rate: u32, elapsed_secs: f64) -> bool {
        let rate = f64::from(rate);
        self.tokens = (self.tokens + elapsed_secs.max(0.0) * rate).min(rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate_and_saves_no_more_than_the_burst() {
        let mut bucket = TokenBucket::full(10);
        assert_eq!((0..20).filter(|_| bucket.take(10, 0.0)).count(), 10);
        assert!(!bucket.take(10, 0.05), "half a token is not a token");
        assert!(bucket.take(10, 0.06));
        // A minute idle saves up no more than the burst.
        let after_a_minute = usize::from(bucket.take(10, 60.0));
        assert_eq!(after_a_minute + (0..20).filter(|_| bucket.take(10, 0.0)).count(), 10);
    }
}

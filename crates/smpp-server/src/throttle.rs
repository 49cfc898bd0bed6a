//! The token bucket of one system_id, shared by all its binds: `tps` tokens a second, at most
//! `tps` saved up (the burst), one per submit_sm. A rate of 0 is unlimited.

use std::sync::Mutex;
use std::time::Instant;

use tongdao_domain::tokens::TokenBucket;

use crate::server::lock;

#[derive(Debug)]
pub(crate) struct Bucket {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    rate: u32,
    tokens: TokenBucket,
    refilled: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: u32) -> Bucket {
        Bucket { state: Mutex::new(State { rate, tokens: TokenBucket::full(rate), refilled: Instant::now() }) }
    }

    /// Takes up a changed rate (the account was edited between two binds).
    pub fn set_rate(&self, rate: u32) {
        let mut state = lock(&self.state);
        if state.rate != rate {
            // From unlimited the bucket starts full, else it keeps what it had saved up.
            if state.rate == 0 {
                state.tokens = TokenBucket::full(rate);
            } else {
                state.tokens.cap(rate);
            }
            state.rate = rate;
        }
    }

    /// One token if there is one.
    pub fn take(&self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> bool {
        let mut state = lock(&self.state);
        if state.rate == 0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.refilled = now;
        let rate = state.rate;
        state.tokens.take(rate, elapsed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let bucket = Bucket::new(10);
        let start = Instant::now();
        assert_eq!((0..20).filter(|_| bucket.take_at(start)).count(), 10, "the burst is the rate");
        assert!(!bucket.take_at(start + Duration::from_millis(50)), "half a token is not a token");
        assert!(bucket.take_at(start + Duration::from_millis(110)));
        let later = start + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| bucket.take_at(later)).count(), 10, "never more than the burst saved up");
    }

    #[test]
    fn a_rate_of_zero_is_unlimited() {
        let bucket = Bucket::new(0);
        assert!((0..10_000).all(|_| bucket.take()));
        bucket.set_rate(1);
        assert!(bucket.take() ^ bucket.take(), "one token, then none");
    }
}

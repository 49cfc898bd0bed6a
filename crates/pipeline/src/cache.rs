//! Short-lived copies of what every request needs: which customer an API key belongs to,
//! and that customer's agreement and tariff. Changes made through this node invalidate
//! their entries at once; changes made by another process (the CLI against the same
//! database) are seen within [`TTL_MS`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tongdao_domain::{Agreement, Tariff};

pub const TTL_MS: i64 = 2_000;
/// Entries kept at most per map; past it the map is cleared (a crude but bounded policy).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub key_id: String,
    pub customer_id: String,
    pub revoked: bool,
    /// Requests per second; 0: no limit.
    pub rps: u32,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub customer_id: String,
    /// Every version, oldest first (see `tongdao_domain::agreement::in_force`).
    pub agreements: Vec<Agreement>,
    pub tariff: Option<Tariff>,
    /// The customer's approved signatures (the text between 【 and 】).
    pub signatures: Vec<String>,
    /// Whether the contact directory, the suppression list and the blocklist hold anything.
    pub lists: tongdao_store::ListsInUse,
}

#[derive(Debug, Default)]
pub struct Cache {
    keys: Map<KeyEntry>,
    profiles: Map<Profile>,
}

/// One map of entries with their load times, and a generation that every `forget` bumps:
/// a value read from the store before a `forget` is not put back after it (the value may
/// predate the change that caused the `forget`).
#[derive(Debug)]
struct Map<T> {
    entries: RwLock<HashMap<String, (i64, Arc<T>)>>,
    generation: AtomicU64,
    /// Open [`Hold`]s: while any is open nothing is put (a write whose effect is visible
    /// before its `forget` runs must not be hidden by a value cached in between).
    holds: AtomicU64,
}

impl<T> Default for Map<T> {
    fn default() -> Self {
        Map { entries: RwLock::new(HashMap::new()), generation: AtomicU64::new(0), holds: AtomicU64::new(0) }
    }
}

impl<T> Map<T> {
    fn get(&self, key: &str, now_ms: i64) -> Option<Arc<T>> {
        let entries = self.entries.read().ok()?;
        let (loaded, value) = entries.get(key)?;
        (now_ms - loaded < TTL_MS && now_ms >= *loaded).then(|| value.clone())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn put(&self, key: String, value: Arc<T>, now_ms: i64, read_at_generation: u64) {
        if let Ok(mut entries) = self.entries.write() {
            if self.generation.load(Ordering::SeqCst) != read_at_generation || self.holds.load(Ordering::SeqCst) > 0 {
                return;
            }
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (now_ms, value));
        }
    }

    fn forget(&self, mut matches: impl FnMut(&str, &T) -> bool) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            entries.retain(|key, (_, value)| !matches(key, value));
        }
    }
}

impl Cache {
    pub fn key(&self, hash: &str, now_ms: i64) -> Option<Arc<KeyEntry>> {
        self.keys.get(hash, now_ms)
    }
    /// Read before loading a key from the store; hand it back to [`Cache::put_key`].
    pub fn key_generation(&self) -> u64 {
        self.keys.generation()
    }
    pub fn put_key(&self, hash: String, entry: Arc<KeyEntry>, now_ms: i64, read_at_generation: u64) {
        self.keys.put(hash, entry, now_ms, read_at_generation);
    }
    pub fn forget_key(&self, key_id: &str) {
        self.keys.forget(|_, entry| entry.key_id == key_id);
    }
    /// After every key of the customer was revoked (termination).
    pub fn forget_customer_keys(&self, customer_id: &str) {
        self.keys.forget(|_, entry| entry.customer_id == customer_id);
    }
    pub fn profile(&self, customer_id: &str, now_ms: i64) -> Option<Arc<Profile>> {
        self.profiles.get(customer_id, now_ms)
    }
    /// Read before loading a profile from the store; hand it back to [`Cache::put_profile`].
    pub fn profile_generation(&self) -> u64 {
        self.profiles.generation()
    }
    pub fn put_profile(&self, profile: Arc<Profile>, now_ms: i64, read_at_generation: u64) {
        self.profiles.put(profile.customer_id.clone(), profile, now_ms, read_at_generation);
    }
    pub fn forget_profile(&self, customer_id: &str) {
        self.profiles.forget(|key, _| key == customer_id);
    }
    /// After a change that concerns every customer (the blocklist).
    pub fn forget_profiles(&self) {
        self.profiles.forget(|_, _| true);
    }
    /// Around a write that changes some customer's profile, that customer not known until
    /// the write is done (a reply opting its sender out names its customer by the number it
    /// was sent to): every profile is forgotten and none cached until the hold is dropped,
    /// which forgets them all again. Between the commit and the drop, requests read the store.
    pub fn hold_profiles(&self) -> Hold<'_> {
        self.profiles.holds.fetch_add(1, Ordering::SeqCst);
        self.forget_profiles();
        Hold { cache: self }
    }
}

/// See [`Cache::hold_profiles`].
#[derive(Debug)]
pub struct Hold<'a> {
    cache: &'a Cache,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.cache.forget_profiles();
        self.cache.profiles.holds.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key_id: &str) -> Arc<KeyEntry> {
        Arc::new(KeyEntry { key_id: key_id.into(), customer_id: "cus_1".into(), revoked: false, rps: 0 })
    }

    #[test]
    fn a_value_read_before_a_forget_is_not_put_back_after_it() {
        let cache = Cache::default();
        let generation = cache.key_generation(); // a request starts loading the key...
        cache.forget_key("key_1"); // ...the operator revokes it meanwhile...
        cache.put_key("h".into(), entry("key_1"), 0, generation); // ...the stale load arrives
        assert!(cache.key("h", 0).is_none(), "the revocation must win");
        let generation = cache.key_generation();
        cache.put_key("h".into(), entry("key_1"), 0, generation);
        assert!(cache.key("h", 0).is_some());
        assert!(cache.key("h", TTL_MS).is_none(), "entries expire");
    }

    fn profile(customer_id: &str) -> Arc<Profile> {
        Arc::new(Profile {
            customer_id: customer_id.into(),
            agreements: Vec::new(),
            tariff: None,
            signatures: Vec::new(),
            lists: tongdao_store::ListsInUse::default(),
        })
    }

    #[test]
    fn nothing_is_cached_while_a_hold_is_open_and_its_end_forgets_what_was() {
        let cache = Cache::default();
        cache.put_profile(profile("cus_1"), 0, cache.profile_generation());
        let hold = cache.hold_profiles();
        assert!(cache.profile("cus_1", 0).is_none(), "the hold forgets what was cached");
        // A request loads the profile after the write committed but before the hold ends:
        // its value is right, but one loaded just before the commit would not be.
        cache.put_profile(profile("cus_1"), 0, cache.profile_generation());
        assert!(cache.profile("cus_1", 0).is_none(), "nothing is cached during a hold");
        drop(hold);
        cache.put_profile(profile("cus_1"), 0, cache.profile_generation());
        assert!(cache.profile("cus_1", 0).is_some());
    }
}

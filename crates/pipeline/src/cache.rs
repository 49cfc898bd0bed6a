//! Short-lived copies of what every request needs: which customer an API key belongs to,
//! and that customer's agreement and tariff. Changes made through this node invalidate
//! their entries at once; changes made by another process (the CLI against the same
//! database) are seen within [`TTL_MS`].

use std::collections::HashMap;
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
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub customer_id: String,
    pub agreement: Option<Agreement>,
    pub tariff: Option<Tariff>,
}

#[derive(Debug, Default)]
pub struct Cache {
    keys: RwLock<HashMap<String, (i64, Arc<KeyEntry>)>>,
    profiles: RwLock<HashMap<String, (i64, Arc<Profile>)>>,
}

fn get<T>(map: &RwLock<HashMap<String, (i64, Arc<T>)>>, key: &str, now_ms: i64) -> Option<Arc<T>> {
    let map = map.read().ok()?;
    let (loaded, value) = map.get(key)?;
    (now_ms - loaded < TTL_MS && now_ms >= *loaded).then(|| value.clone())
}

fn put<T>(map: &RwLock<HashMap<String, (i64, Arc<T>)>>, key: String, value: Arc<T>, now_ms: i64) {
    if let Ok(mut map) = map.write() {
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (now_ms, value));
    }
}

impl Cache {
    pub fn key(&self, hash: &str, now_ms: i64) -> Option<Arc<KeyEntry>> {
        get(&self.keys, hash, now_ms)
    }
    pub fn put_key(&self, hash: String, entry: Arc<KeyEntry>, now_ms: i64) {
        put(&self.keys, hash, entry, now_ms);
    }
    pub fn forget_key(&self, key_id: &str) {
        if let Ok(mut map) = self.keys.write() {
            map.retain(|_, (_, entry)| entry.key_id != key_id);
        }
    }
    pub fn profile(&self, customer_id: &str, now_ms: i64) -> Option<Arc<Profile>> {
        get(&self.profiles, customer_id, now_ms)
    }
    pub fn put_profile(&self, profile: Arc<Profile>, now_ms: i64) {
        put(&self.profiles, profile.customer_id.clone(), profile, now_ms);
    }
    pub fn forget_profile(&self, customer_id: &str) {
        if let Ok(mut map) = self.profiles.write() {
            map.remove(customer_id);
        }
    }
}

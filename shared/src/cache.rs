//! A tiny TTL cache for what a warm Lambda keeps between invocations
//! (secrets, parsed signing keys, tenant and client records).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        TtlCache {
            ttl,
            max_entries,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().ok()?;
        match map.get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            _ => None,
        }
    }

    pub fn insert(&self, key: K, value: V) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.max_entries {
                let ttl = self.ttl;
                map.retain(|_, (at, _)| at.elapsed() < ttl);
                if map.len() >= self.max_entries {
                    map.clear();
                }
            }
            map.insert(key, (Instant::now(), value));
        }
    }

    /// How long ago the entry was stored, if it is there (expired or not).
    pub fn age(&self, key: &K) -> Option<Duration> {
        let map = self.map.lock().ok()?;
        map.get(key).map(|(at, _)| at.elapsed())
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }

    pub fn remove(&self, key: &K) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }
}

/// Records looked up by a key a caller chose (a tenant alias, a `client_id`,
/// an issuer): found records and absent keys are kept apart, so no number of
/// made-up keys can evict a real record (SPEC: Storage and secrets). Only
/// records that exist enter `found`; absent keys share a small cache of their
/// own, which a flood of them may cycle (each then costs one more read).
pub struct RecordCache<K, V> {
    found: TtlCache<K, V>,
    absent: TtlCache<K, ()>,
}

impl<K: Eq + Hash + Clone, V: Clone> RecordCache<K, V> {
    pub fn new(ttl: Duration, max_found: usize, max_absent: usize) -> Self {
        RecordCache {
            found: TtlCache::new(ttl, max_found),
            absent: TtlCache::new(ttl, max_absent),
        }
    }

    /// `Some(Some(v))`: found; `Some(None)`: known to be absent; `None`: not
    /// cached (read it).
    pub fn get(&self, key: &K) -> Option<Option<V>> {
        if let Some(v) = self.found.get(key) {
            return Some(Some(v));
        }
        self.absent.get(key).map(|()| None)
    }

    pub fn insert(&self, key: K, value: Option<V>) {
        match value {
            Some(v) => {
                self.absent.remove(&key);
                self.found.insert(key, v);
            }
            None => {
                self.found.remove(&key);
                self.absent.insert(key, ());
            }
        }
    }

    pub fn clear(&self) {
        self.found.clear();
        self.absent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_bounded() {
        let c = TtlCache::new(Duration::from_millis(0), 2);
        c.insert(1, "a");
        assert_eq!(c.get(&1), None);
        let c = TtlCache::new(Duration::from_secs(60), 2);
        c.insert(1, "a");
        c.insert(2, "b");
        c.insert(3, "c");
        assert_eq!(c.get(&3), Some("c"));
        assert!(c.map.lock().unwrap().len() <= 2);
    }

    #[test]
    fn absent_keys_never_evict_a_found_record() {
        let c = RecordCache::new(Duration::from_secs(60), 2, 2);
        c.insert(0, Some("real"));
        for k in 1..5_000 {
            c.insert(k, None);
        }
        assert_eq!(c.get(&0), Some(Some("real")));
        assert_eq!(c.get(&4_999), Some(None));
        assert!(c.absent.map.lock().unwrap().len() <= 2);
        c.insert(0, None);
        assert_eq!(c.get(&0), Some(None), "a deleted record is absent");
        c.insert(0, Some("back"));
        assert_eq!(c.get(&0), Some(Some("back")));
    }
}

//! A map whose entries may carry an expiry time, like Redis keys set with `PX`.
//!
//! An entry past its expiry reads as absent at once. [`ExpiringMap::purge`] frees the memory of
//! such entries later, in expiry order, so each entry costs one heap push and one heap pop over
//! its whole life instead of a scan of the map.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

struct Entry<V> {
    value: V,
    /// Wall-clock time in ms after which the entry reads as absent, or `None` for no expiry.
    expires_at_ms: Option<i64>,
}

impl<V> Entry<V> {
    /// Redis treats a key as expired once its expiry time is strictly in the past.
    fn is_live(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_none_or(|at| now_ms <= at)
    }
}

pub(super) struct ExpiringMap<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Expiry times with their keys, earliest first. An item goes stale when its key is removed,
    /// set again or made persistent; `purge` drops stale items when it reaches them.
    deadlines: BinaryHeap<Reverse<(i64, K)>>,
}

impl<K, V> Default for ExpiringMap<K, V> {
    fn default() -> Self {
        Self { entries: HashMap::new(), deadlines: BinaryHeap::new() }
    }
}

impl<K: Clone + Eq + Hash + Ord, V> ExpiringMap<K, V> {
    /// Returns the live value of `key`, or `None` when it is absent or expired.
    pub fn get<Q>(&self, key: &Q, now_ms: i64) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).filter(|entry| entry.is_live(now_ms)).map(|entry| &entry.value)
    }

    pub fn get_mut<Q>(&mut self, key: &Q, now_ms: i64) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get_mut(key).filter(|entry| entry.is_live(now_ms)).map(|entry| &mut entry.value)
    }

    pub fn contains<Q>(&self, key: &Q, now_ms: i64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key, now_ms).is_some()
    }

    /// Sets `key` to `value`, replacing any earlier value and expiry, as Redis `SET` does.
    pub fn insert(&mut self, key: K, value: V, expires_at_ms: Option<i64>) {
        if let Some(at) = expires_at_ms {
            self.deadlines.push(Reverse((at, key.clone())));
        }
        self.entries.insert(key, Entry { value, expires_at_ms });
    }

    pub fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.remove(key);
    }

    /// Removes every entry whose expiry time passed before `now_ms`.
    pub fn purge(&mut self, now_ms: i64) {
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at >= now_ms {
                break;
            }
            let Some(Reverse((at, key))) = self.deadlines.pop() else {
                break;
            };
            // Only an entry that still carries this expiry time is due. Otherwise the item is stale.
            if self.entries.get(&key).is_some_and(|entry| entry.expires_at_ms == Some(at)) {
                self.entries.remove(&key);
            }
        }
    }

    /// Number of stored entries, live or not yet purged.
    #[cfg(test)]
    pub fn stored_len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_reads_absent_after_expiry() {
        let mut map = ExpiringMap::default();
        map.insert("k", 1, Some(100));
        assert_eq!(map.get("k", 100), Some(&1));
        assert_eq!(map.get("k", 101), None);
    }

    #[test]
    fn purge_keeps_entries_set_again() {
        let mut map = ExpiringMap::default();
        map.insert("a", 1, Some(100));
        map.insert("b", 2, Some(100));
        map.insert("b", 3, None);
        map.insert("c", 4, Some(100));
        map.insert("c", 5, Some(500));
        map.purge(200);
        assert_eq!(map.stored_len(), 2);
        assert_eq!(map.get("b", 200), Some(&3));
        assert_eq!(map.get("c", 200), Some(&5));
        map.purge(600);
        assert_eq!(map.stored_len(), 1);
    }
}

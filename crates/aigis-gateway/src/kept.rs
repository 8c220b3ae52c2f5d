//! A bounded map of what is worth keeping between calls (verified tokens, Cedar's
//! entities and addresses): read under a shared lock, and emptied when full rather than
//! evicted one by one, so a flood of new keys costs rebuilding, never unbounded memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

pub(crate) struct Kept<K, V> {
    map: RwLock<HashMap<K, V>>,
    max: usize,
}

impl<K: Eq + Hash, V: Clone> Kept<K, V> {
    /// Keeps at most `max` values.
    pub(crate) fn new(max: usize) -> Self {
        Kept {
            map: RwLock::default(),
            max,
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    pub(crate) fn put(&self, key: K, value: V) {
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_at_most_its_bound() {
        let kept = Kept::new(3);
        for i in 0..3 {
            kept.put(i, i * 10);
        }
        assert_eq!(kept.get(&2), Some(20));
        kept.put(3, 30);
        assert_eq!((kept.get(&0), kept.get(&3)), (None, Some(30)));
    }
}

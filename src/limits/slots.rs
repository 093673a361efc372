//! Counted slots with a cap per key: sockets per visitor token, connections per source address.
//! Taking a slot returns a guard; dropping it gives the slot back, so every exit path releases it.

use dashmap::DashMap;
use std::hash::Hash;
use std::sync::Arc;

/// Up to `cap` holders per key, counted on this node.
pub struct SlotTable<K: Eq + Hash + Clone> {
    cap: usize,
    held: DashMap<K, usize>,
}

/// One held slot; released on drop.
pub struct Slot<K: Eq + Hash + Clone> {
    table: Arc<SlotTable<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> SlotTable<K> {
    /// A table allowing `cap` holders per key (0 means no cap).
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self { cap, held: DashMap::new() })
    }

    /// A slot for `key`, or `None` when the key already holds `cap`.
    pub fn take(self: &Arc<Self>, key: K) -> Option<Slot<K>> {
        let mut count = self.held.entry(key.clone()).or_insert(0);
        if self.cap > 0 && *count >= self.cap {
            return None;
        }
        *count += 1;
        drop(count);
        Some(Slot { table: self.clone(), key })
    }

    /// Slots held for `key` now (the tests' window into the table).
    #[cfg(test)]
    pub fn held(&self, key: &K) -> usize {
        self.held.get(key).map_or(0, |c| *c)
    }
}

impl<K: Eq + Hash + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        // The last holder removes the key, so the table only holds keys in use.
        self.table.held.remove_if_mut(&self.key, |_, count| {
            *count = count.saturating_sub(1);
            *count == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_key_and_given_back_on_drop() {
        let table = SlotTable::new(2);
        let a1 = table.take("a");
        let a2 = table.take("a");
        assert!(a1.is_some() && a2.is_some());
        assert!(table.take("a").is_none());
        assert!(table.take("b").is_some());
        drop(a1);
        assert_eq!(table.held(&"a"), 1);
        assert!(table.take("a").is_some());
        drop(a2);
        assert!(table.held.is_empty(), "the last holder removes its key");
    }
}

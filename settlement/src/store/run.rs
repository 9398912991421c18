//! [`IndexRun`]: the duplicate-index entries the machine collects in memory before it hands
//! them to the store.

use hashbrown::hash_table::Entry;

use super::{IndexKey, IndexValue, hash32, spread};

/// A run of duplicate-index entries, as the machine collected them: the entries in the order
/// they were added, and a hash table of their positions. Handed over whole, so the machine
/// never sorts or copies it (a store that keeps runs sorted sorts them off the machine's
/// thread).
///
/// Why not a `HashMap<IndexKey, IndexValue>`: every accepted record adds an entry, and in a
/// map of 42-byte slots that outgrows the caches (45 MB at the machine's run size) an insert
/// missed the cache probing and again writing the slot: 19.7% of a Raft thread's time in the
/// cluster bench. Here an entry is appended to a vector (sequential writes) and the table
/// holds 8 bytes per entry, its position and 32 bits of its key's hash, compared before the
/// key is read. Measured after the change: inserts 17.6% of a Raft thread (the slot write
/// and the vector's stores still miss the cache), the whole thread about 5% less.
#[derive(Clone, Default)]
pub struct IndexRun {
    entries: Vec<(IndexKey, IndexValue)>,
    /// `(position in entries, hash32 of its key)` of every entry.
    table: hashbrown::HashTable<(u32, u32)>,
}

impl IndexRun {
    /// An empty run that holds `capacity` entries without growing.
    pub fn with_capacity(capacity: usize) -> IndexRun {
        IndexRun {
            entries: Vec::with_capacity(capacity),
            table: hashbrown::HashTable::with_capacity(capacity),
        }
    }

    /// Entries in the run.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the run holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries the run holds without growing its table.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Room for `additional` more entries without growing.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        self.table.reserve(additional, |&(_, tag)| spread(tag));
    }

    /// Removes every entry and keeps the memory: a run refilled after this writes to pages
    /// already in use, where a new run's first writes each fault in a fresh page.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.table.clear();
    }

    /// The value of `key`, if the run holds it.
    pub fn get(&self, key: &IndexKey) -> Option<&IndexValue> {
        let tag = hash32(key);
        self.table
            .find(spread(tag), |&(pos, t)| {
                t == tag && self.entries[pos as usize].0 == *key
            })
            .map(|&(pos, _)| &self.entries[pos as usize].1)
    }

    /// Sets `key` to `value`; returns the value it replaces (the entry keeps its position).
    ///
    /// # Panics
    /// When the run already holds 2^32 entries (positions are 32-bit).
    pub fn insert(&mut self, key: IndexKey, value: IndexValue) -> Option<IndexValue> {
        let tag = hash32(&key);
        let IndexRun { entries, table } = self;
        let entry = table.entry(
            spread(tag),
            |&(pos, t)| t == tag && entries[pos as usize].0 == key,
            |&(_, t)| spread(t),
        );
        match entry {
            Entry::Occupied(o) => {
                let pos = o.get().0 as usize;
                Some(std::mem::replace(&mut entries[pos].1, value))
            }
            Entry::Vacant(v) => {
                let pos = u32::try_from(entries.len()).expect("a run holds fewer than 2^32 entries");
                v.insert((pos, tag));
                entries.push((key, value));
                None
            }
        }
    }

    /// The entries, in the order they were first added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&IndexKey, &IndexValue)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in the order they were first added.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &IndexKey> {
        self.entries.iter().map(|(k, _)| k)
    }
}

impl Extend<(IndexKey, IndexValue)> for IndexRun {
    fn extend<I: IntoIterator<Item = (IndexKey, IndexValue)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(IndexKey, IndexValue)> for IndexRun {
    fn from_iter<I: IntoIterator<Item = (IndexKey, IndexValue)>>(iter: I) -> IndexRun {
        let mut run = IndexRun::default();
        run.extend(iter);
        run
    }
}

impl IntoIterator for IndexRun {
    type Item = (IndexKey, IndexValue);
    type IntoIter = std::vec::IntoIter<(IndexKey, IndexValue)>;

    /// The entries, in the order they were first added.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl std::fmt::Debug for IndexRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::INDEX_KEY_LEN;

    fn key(i: u32) -> IndexKey {
        let mut k = [7u8; INDEX_KEY_LEN];
        k[INDEX_KEY_LEN - 4..].copy_from_slice(&i.to_be_bytes());
        k
    }

    /// Against a `HashMap` on the same operations: the same answers, entries in the order
    /// they were first added, replaced values in place, growth past the initial capacity.
    #[test]
    fn behaves_like_a_map_and_keeps_insertion_order() {
        let mut run = IndexRun::with_capacity(16);
        let mut map = std::collections::HashMap::new();
        for i in 0..5_000u32 {
            let k = key(i.wrapping_mul(2_654_435_761) % 3_000);
            let v = [(i % 251) as u8; 12];
            assert_eq!(run.insert(k, v), map.insert(k, v), "insert {i}");
        }
        assert_eq!(run.len(), map.len());
        assert!(run.capacity() >= run.len());
        for i in 0..4_000u32 {
            assert_eq!(run.get(&key(i)), map.get(&key(i)), "get {i}");
        }
        let mut first_seen = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for i in 0..5_000u32 {
            let k = key(i.wrapping_mul(2_654_435_761) % 3_000);
            if seen.insert(k) {
                first_seen.push(k);
            }
        }
        assert_eq!(run.keys().copied().collect::<Vec<_>>(), first_seen);
        let collected: IndexRun = run.clone().into_iter().collect();
        assert_eq!(
            collected.iter().collect::<Vec<_>>(),
            run.iter().collect::<Vec<_>>()
        );
        assert!(IndexRun::default().is_empty());
        let capacity = run.capacity();
        run.clear();
        assert!(
            run.is_empty() && run.capacity() == capacity,
            "cleared, capacity kept"
        );
        assert_eq!(run.get(&key(1)), None, "a cleared run holds nothing");
        assert_eq!(run.insert(key(1), [1; 12]), None);
        assert_eq!(run.iter().collect::<Vec<_>>(), vec![(&key(1), &[1; 12])]);
    }
}

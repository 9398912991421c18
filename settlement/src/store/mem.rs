//! [`MemStore`], the in-memory [`Store`]: entries in insertion order with a hash index of
//! their positions for point reads and writes, and the keys in order as sorted runs for
//! scans (a log-structured merge kept in memory), built when a scan needs them.
//!
//! Why not one ordered map: the state machine's hot path is a point lookup and an insert of
//! a 31-byte duplicate-detection key per record. In a `BTreeMap` of millions of keys
//! each of those walks eight or more levels, a cache miss per level; a hash map answers with
//! one or two. Scans are rare (queries, period close, snapshots) and read the ordered runs.
//!
//! Entries are appended to a vector and never move (until a rebuild after many deletes); the
//! hash table holds each live entry's position and 32 bits of its key's hash, 8 bytes. When
//! it grows, it rehashes those 8 bytes from the stored hash, never touching the entries,
//! and the entry vector grows by reallocation (glibc remaps the pages of a large vector
//! instead of copying them). With the entries themselves in the table, growing
//! a store of millions of keys moved every 64-byte entry at each doubling and faulted in
//! twice the memory: a third of the apply benchmark's time on a growing ledger.
//!
//! Ordering structure: keys are grouped into families by their first byte (the state's key
//! families: `L` ledgers, `B` batches, `H` leaf hashes, …). A new key is appended,
//! unsorted, to its family's `recent` list; nothing is sorted on the write path. A scan
//! first sorts the `recent` keys of the families its range touches into a run, and runs merge
//! like a binary counter (two runs of similar size become one), so each key is moved
//! O(log n) times and a family has O(log n) runs. Families outside a scan's range are left
//! alone: closing a period scans ledgers and batch lists, never the stored batches or leaf
//! hashes, which are only ordered when a snapshot reads the whole state. A deleted key leaves
//! the value map at once but may stay listed until the lists are rebuilt; scans skip keys the
//! value map no longer holds, and a key listed twice (deleted, then put again) is visited
//! once.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Bytes, IndexKey, IndexRun, IndexValue, ReadStore, Store, WriteBatch, WriteOp, hash32, spread};
use crate::error::StoreError;

/// Key families: the empty key, then one per first byte.
const FAMILIES: usize = 257;

/// Deleted keys still listed in runs, beyond which the runs and entries are rebuilt from the
/// live entries.
const STALE_KEYS_MIN_REBUILD: usize = 4_096;

/// Entry slots a store may hold (live entries and deleted ones not yet rebuilt away): slot
/// positions are 32 bits.
const SLOTS_MAX: usize = 1 << 32;

/// Keys up to this many bytes are stored inline.
const INLINE_KEY_BYTES: usize = 32;

/// A stored key that keeps short keys inline: no allocation per key, and comparisons read
/// the key where the run or the map already is instead of chasing a pointer. Almost every
/// key of the ledger is at most 32 bytes (the duplicate-detection keys are 31).
///
/// An inline key is built from fixed-size loads of the input into two 16-byte words, and is
/// compared and hashed as those two words. Built with a variable-length `memcpy` and then read
/// at other widths, a fresh key stalled the CPU on store forwarding at every use (a sixth of
/// the store's time in the profile).
#[derive(Clone)]
enum Key {
    Inline(u8, [u8; INLINE_KEY_BYTES]),
    Heap(Box<[u8]>),
}

impl Key {
    #[inline]
    fn new(k: &[u8]) -> Key {
        if k.len() > INLINE_KEY_BYTES {
            return Key::Heap(k.into());
        }
        let (w0, w1) = padded_words(k);
        let mut b = [0u8; INLINE_KEY_BYTES];
        b[..16].copy_from_slice(&w0.to_le_bytes());
        b[16..].copy_from_slice(&w1.to_le_bytes());
        Key::Inline(k.len() as u8, b)
    }

    /// Bytes `0..16` and `16..32` as big-endian integers.
    #[inline]
    fn halves(b: &[u8; INLINE_KEY_BYTES]) -> (u128, u128) {
        let hi = u128::from_be_bytes(b[..16].try_into().expect("16 bytes"));
        let lo = u128::from_be_bytes(b[16..].try_into().expect("16 bytes"));
        (hi, lo)
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline(n, b) => &b[..usize::from(*n)],
            Key::Heap(b) => b,
        }
    }
}

/// Little-endian words holding bytes `0..16` and `16..32` of `k` (at most 32 bytes), zero
/// past its end, from a few fixed-size loads. Where two loads overlap they carry the same
/// bytes, so OR-ing them is exact.
#[inline]
fn padded_words(k: &[u8]) -> (u128, u128) {
    fn at<const N: usize>(k: &[u8], i: usize) -> [u8; N] {
        k[i..i + N].try_into().expect("in bounds")
    }
    let n = k.len();
    debug_assert!(n <= INLINE_KEY_BYTES);
    match n {
        0 => (0, 0),
        1..=3 => {
            let w = u128::from(k[0])
                | u128::from(k[n / 2]) << (8 * (n / 2))
                | u128::from(k[n - 1]) << (8 * (n - 1));
            (w, 0)
        }
        4..=8 => {
            let w = u64::from(u32::from_le_bytes(at(k, 0)))
                | u64::from(u32::from_le_bytes(at(k, n - 4))) << (8 * (n - 4));
            (u128::from(w), 0)
        }
        9..=16 => {
            let w = u128::from(u64::from_le_bytes(at(k, 0)))
                | u128::from(u64::from_le_bytes(at(k, n - 8))) << (8 * (n - 8));
            (w, 0)
        }
        _ => (
            u128::from_le_bytes(at(k, 0)),
            u128::from_le_bytes(at(k, n - 16)) >> (8 * (32 - n)),
        ),
    }
}

impl PartialEq for Key {
    fn eq(&self, o: &Self) -> bool {
        match (self, o) {
            (Key::Inline(n, a), Key::Inline(m, b)) => n == m && a == b,
            _ => self.as_slice() == o.as_slice(),
        }
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Key {
    /// Byte order, as `[u8]` orders slices (runs are searched with byte slices). Two inline keys
    /// compare as big-endian integers: the bytes past `len` are zero, and ordering by
    /// (zero-padded bytes, length) is exactly lexicographic order — where the padded bytes
    /// first differ within the shorter key's length, that byte decides; past it, the shorter
    /// key reads a zero against a larger byte, and a proper prefix sorts first; when all
    /// padded bytes agree, the shorter is a prefix. No `memcmp` call on the hot path.
    #[inline]
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        match (self, o) {
            (Key::Inline(n, a), Key::Inline(m, b)) => {
                let (a0, a1) = Key::halves(a);
                let (b0, b1) = Key::halves(b);
                (a0, a1, n).cmp(&(b0, b1, m))
            }
            _ => self.as_slice().cmp(o.as_slice()),
        }
    }
}

/// Inline keys hash as their two words and length; a heap key (longer than any inline key,
/// so never equal to one) as its bytes.
impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::Inline(n, b) => {
                let (w0, w1) = Key::halves(b);
                state.write_u128(w0);
                state.write_u128(w1);
                state.write_u8(*n);
            }
            Key::Heap(b) => b.hash(state),
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

/// The in-memory store. Cloning it gives a point-in-time view.
pub struct MemStore {
    /// Every entry.
    values: Entries,
    /// The keys of each family (index: [`family_of`]) for ordered scans. Scans take `&self`
    /// and sort what was written since the last scan, hence the lock; writes reach it through
    /// `&mut self` without locking.
    families: Mutex<Vec<Family>>,
    /// The sealed duplicate index and its `through`.
    index: Arc<DupIndex>,
}

/// The sealed duplicate index of a [`MemStore`]: shared by clones until one of them seals
/// (copy on write), so cloning a store stays cheap.
#[derive(Clone, Default)]
struct DupIndex {
    entries: IndexRun,
    through: u64,
}

/// Entries in the order they were first put, and a hash table of the live ones' positions.
/// A deleted entry's slot stays (with its key, its value emptied) until a rebuild: the
/// families list positions.
#[derive(Clone, Default)]
struct Entries {
    slots: Vec<(Key, Value)>,
    /// `(position in slots, hash32 of its key)` of every live entry.
    table: hashbrown::HashTable<(u32, u32)>,
}

impl Entries {
    fn position(&self, k: &Key) -> Option<usize> {
        let h = hash32(k);
        let slots = &self.slots;
        self.table
            .find(spread(h), |&(i, eh)| eh == h && slots[i as usize].0 == *k)
            .map(|&(i, _)| i as usize)
    }

    fn get(&self, k: &Key) -> Option<&(Key, Value)> {
        self.position(k).map(|i| &self.slots[i])
    }

    /// Puts `k`: replaces the value of a live entry and returns `None`, or appends an entry
    /// and returns its position. The caller has checked that a position fits in 32 bits
    /// ([`SLOTS_MAX`]).
    fn put(&mut self, k: Key, v: Value) -> Option<u32> {
        let h = hash32(&k);
        let slots = &mut self.slots;
        match self.table.entry(
            spread(h),
            |&(i, eh)| eh == h && slots[i as usize].0 == k,
            |&(_, eh)| spread(eh),
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => {
                slots[o.get().0 as usize].1 = v;
                None
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                let i = u32::try_from(slots.len()).expect("slot count checked against SLOTS_MAX");
                e.insert((i, h));
                slots.push((k, v));
                Some(i)
            }
        }
    }

    /// Removes `k`; true if it was there. Its slot keeps the key and drops the value.
    fn remove(&mut self, k: &Key) -> bool {
        let h = hash32(k);
        let slots = &self.slots;
        match self
            .table
            .find_entry(spread(h), |&(i, eh)| eh == h && slots[i as usize].0 == *k)
        {
            Ok(o) => {
                let ((i, _), _) = o.remove();
                self.slots[i as usize].1 = Value::new();
                true
            }
            Err(_) => false,
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    /// Slots of deleted entries (each still listed by its family) since the last rebuild.
    fn dead(&self) -> usize {
        self.slots.len() - self.table.len()
    }

    /// The live entries, in no particular order.
    fn live(&self) -> impl Iterator<Item = &(Key, Value)> {
        self.table.iter().map(|&(i, _)| &self.slots[i as usize])
    }
}

/// A stored value: up to 16 bytes inline (a record id is 12), in the space of a `Vec`.
type Value = smallvec::SmallVec<[u8; 16]>;

/// A written value as stored: a value already on the heap keeps its buffer.
fn stored_value(v: Bytes) -> Value {
    if v.spilled() {
        Value::from_vec(v.into_vec())
    } else {
        Value::from_slice(&v)
    }
}

/// The family of a key: 0 for the empty key, else its first byte plus one, so families are
/// in key order.
fn family_of(k: &[u8]) -> usize {
    k.first().map_or(0, |&b| usize::from(b) + 1)
}

/// The listed keys of one family.
#[derive(Clone, Default)]
struct Family {
    /// Sorted, strictly increasing runs, larger runs first. Shared so that a scan can hold
    /// them without holding the lock.
    runs: Vec<Arc<[Key]>>,
    /// Positions (in the entry slots) of the keys put since the family was last ordered.
    recent: Vec<u32>,
}

impl Family {
    /// Sorts the keys of `recent` into a run and merges runs of similar size.
    fn flush(&mut self, slots: &[(Key, Value)]) {
        if self.recent.is_empty() {
            return;
        }
        let mut run: Vec<Key> = self
            .recent
            .drain(..)
            .map(|i| slots[i as usize].0.clone())
            .collect();
        run.sort_unstable();
        run.dedup();
        self.runs.push(run.into());
        while let [.., a, b] = self.runs.as_slice() {
            if a.len() >= 2 * b.len() {
                break;
            }
            let merged = merge(a, b);
            self.runs.truncate(self.runs.len() - 2);
            self.runs.push(merged.into());
        }
    }
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore {
            values: Entries::default(),
            families: Mutex::new(vec![Family::default(); FAMILIES]),
            index: Arc::default(),
        }
    }
}

impl Clone for MemStore {
    fn clone(&self) -> Self {
        MemStore {
            values: self.values.clone(),
            families: Mutex::new(self.lock_families().clone()),
            index: self.index.clone(),
        }
    }
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore::default()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.len() == 0
    }

    /// All entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut all = Vec::with_capacity(self.values.len());
        for runs in self.ordered_runs(&[], None) {
            for k in Ordered::new(&runs, &[]) {
                if let Some((k, v)) = self.values.get(k) {
                    all.push((k.as_slice(), v.as_slice()));
                }
            }
        }
        all.into_iter()
    }

    /// The families' lists, even after a panic elsewhere while holding the lock: every
    /// change to them is complete before the lock is released (a flush replaces runs with
    /// their merge only once the merge is built).
    fn lock_families(&self) -> std::sync::MutexGuard<'_, Vec<Family>> {
        self.families.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sorted runs of every family that may hold keys in `[start, end)`, in family order,
    /// after sorting what each of them received since it was last ordered.
    fn ordered_runs(&self, start: &[u8], end: Option<&[u8]>) -> Vec<Vec<Arc<[Key]>>> {
        let first = family_of(start);
        let last = match end {
            None => FAMILIES - 1,
            Some([]) => return Vec::new(),
            // A one-byte bound is the smallest key of its family: nothing of it is in range.
            Some([b]) => usize::from(*b),
            Some(e) => family_of(e),
        };
        if last < first {
            return Vec::new();
        }
        let mut families = self.lock_families();
        families[first..=last]
            .iter_mut()
            .filter(|f| !f.runs.is_empty() || !f.recent.is_empty())
            .map(|f| {
                f.flush(&self.values.slots);
                f.runs.clone()
            })
            .collect()
    }

    fn put(&mut self, key: &[u8], value: Value) {
        if let Some(i) = self.values.put(Key::new(key), value) {
            let families = self.families.get_mut().unwrap_or_else(PoisonError::into_inner);
            families[family_of(key)].recent.push(i);
        }
    }

    fn delete(&mut self, key: &[u8]) {
        // A deleted key stays listed in a run or in `recent` until a rebuild.
        if self.values.remove(&Key::new(key))
            && self.values.dead() >= STALE_KEYS_MIN_REBUILD.max(self.values.len())
        {
            self.rebuild();
        }
    }

    /// Keeps only the live entries (in their order) and lists exactly their keys again, one
    /// run per family.
    fn rebuild(&mut self) {
        let mut slots: Vec<(Key, Value)> = std::mem::take(&mut self.values.slots);
        let mut live = vec![false; slots.len()];
        for &(i, _) in self.values.table.iter() {
            live[i as usize] = true;
        }
        let mut at = 0;
        slots.retain(|_| {
            at += 1;
            live[at - 1]
        });
        let mut values = Entries {
            slots: Vec::with_capacity(slots.len()),
            table: hashbrown::HashTable::with_capacity(slots.len()),
        };
        let mut families = vec![Family::default(); FAMILIES];
        for (k, v) in slots {
            let family = family_of(k.as_slice());
            let i = values.put(k, v).expect("live keys are distinct");
            families[family].recent.push(i);
        }
        for f in &mut families {
            f.flush(&values.slots);
        }
        self.values = values;
        *self.families.get_mut().unwrap_or_else(PoisonError::into_inner) = families;
    }
}

/// Merges two sorted runs into one, each key once.
fn merge(a: &[Key], b: &[Key]) -> Vec<Key> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i].clone());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j].clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i].clone());
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// A merge of one family's runs from a start key on, in key order, each key once (possibly
/// deleted since).
struct Ordered<'a> {
    /// The unvisited rest of each sorted run.
    sources: Vec<&'a [Key]>,
    last: Option<&'a Key>,
}

impl<'a> Ordered<'a> {
    fn new(runs: &'a [Arc<[Key]>], start: &[u8]) -> Self {
        let sources = runs
            .iter()
            .map(|run| &run[run.partition_point(|k| k.as_slice() < start)..])
            .collect();
        Ordered { sources, last: None }
    }
}

impl<'a> Iterator for Ordered<'a> {
    type Item = &'a Key;

    fn next(&mut self) -> Option<&'a Key> {
        loop {
            let mut best: Option<(usize, &'a Key)> = None;
            for (i, s) in self.sources.iter().enumerate() {
                if let Some(k) = s.first()
                    && best.is_none_or(|(_, b)| k < b)
                {
                    best = Some((i, k));
                }
            }
            let (i, k) = best?;
            self.sources[i] = &self.sources[i][1..];
            if self.last != Some(k) {
                self.last = Some(k);
                return Some(k);
            }
        }
    }
}

impl PartialEq for MemStore {
    fn eq(&self, o: &Self) -> bool {
        self.values.len() == o.values.len()
            && self
                .values
                .live()
                .all(|(k, v)| o.values.get(k).is_some_and(|(_, ov)| ov == v))
    }
}

impl Eq for MemStore {}

impl std::fmt::Debug for MemStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (String::from_utf8_lossy(k), v)))
            .finish()
    }
}

impl ReadStore for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.values.get(&Key::new(key)).map(|(_, v)| v.to_vec()))
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        for runs in self.ordered_runs(start, end) {
            for key in Ordered::new(&runs, start) {
                let k = key.as_slice();
                if end.is_some_and(|e| k >= e) {
                    return Ok(());
                }
                if let Some((_, v)) = self.values.get(key)
                    && !visit(k, v)
                {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

impl Store for MemStore {
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        // All or nothing: refuse a batch that could run out of slot positions (each put takes
        // at most one) before applying any of it.
        let ops = batch.ops().len();
        if self.values.slots.len().saturating_add(ops) > SLOTS_MAX {
            return Err(StoreError {
                message: format!(
                    "the in-memory store holds at most {SLOTS_MAX} entry slots; it has {} and the batch has {ops} operations",
                    self.values.slots.len()
                ),
            });
        }
        for op in batch.into_ops() {
            match op {
                WriteOp::Put(k, v) => self.put(&k, stored_value(v)),
                WriteOp::Delete(k) => self.delete(&k),
                WriteOp::DeleteRange(s, e) => {
                    let mut doomed = Vec::new();
                    self.scan(&s, Some(&e), &mut |k, _| {
                        doomed.push(k.to_vec());
                        true
                    })?;
                    for k in doomed {
                        self.delete(&k);
                    }
                }
            }
        }
        Ok(())
    }

    fn index_get_many(&self, keys: &[&IndexKey]) -> Result<Vec<Option<IndexValue>>, StoreError> {
        Ok(keys.iter().map(|k| self.index.entries.get(k).copied()).collect())
    }

    fn index_seal(&mut self, mut run: IndexRun, through: u64) -> Result<Option<IndexRun>, StoreError> {
        let index = Arc::make_mut(&mut self.index);
        index.entries.extend(run.iter().map(|(k, v)| (*k, *v)));
        index.through = through;
        run.clear();
        Ok(Some(run))
    }

    fn index_through(&self) -> Result<u64, StoreError> {
        Ok(self.index.through)
    }

    fn index_clear(&mut self) -> Result<(), StoreError> {
        self.index = Arc::default();
        Ok(())
    }
}

impl MemStore {
    /// Gives this store the duplicate index of `other` (tests: an index that a crash left
    /// ahead of, or behind, the state).
    #[cfg(any(test, feature = "testkit"))]
    pub fn set_index_from(&mut self, other: &MemStore) {
        self.index = other.index.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough keys for several flushes and merges, deletes that leave stale listings, keys
    /// put again after their delete: scans still list exactly the live keys in order.
    #[test]
    fn runs_merges_and_stale_keys_scan_like_an_ordered_map() {
        let mut s = MemStore::new();
        let mut model = std::collections::BTreeMap::new();
        let key = |i: u64| {
            (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 50_000)
                .to_be_bytes()
                .to_vec()
        };
        for round in 0..6u64 {
            let mut b = WriteBatch::new();
            for i in 0..9_000u64 {
                let k = key(round * 9_000 + i);
                if i % 7 == 3 {
                    b.delete(k.clone());
                    model.remove(&k);
                } else {
                    b.put(k.clone(), vec![round as u8]);
                    model.insert(k, vec![round as u8]);
                }
            }
            let (lo, hi) = (key(round).to_vec(), key(round + 11).to_vec());
            let (lo, hi) = if lo < hi { (lo, hi) } else { (hi, lo) };
            b.delete_range(lo.clone(), hi.clone());
            let doomed: Vec<_> = model.range(lo..hi).map(|(k, _)| k.clone()).collect();
            for k in doomed {
                model.remove(&k);
            }
            s.write(b).unwrap();
            let listed: Vec<(Vec<u8>, Vec<u8>)> = s.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            let expected: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
            assert_eq!(listed.len(), expected.len(), "round {round}: key count");
            assert!(
                listed == expected,
                "round {round}: scan differs from the ordered model"
            );
            assert_eq!(s.len(), model.len());
            let families = s.lock_families();
            let runs: usize = families.iter().map(|f| f.runs.len()).max().unwrap_or(0);
            assert!(runs <= 16, "runs merge: {runs} runs in a family");
        }
        let mut from_mid = Vec::new();
        let mid = key(12_345);
        s.scan(&mid, None, &mut |k, _| {
            from_mid.push(k.to_vec());
            from_mid.len() < 100
        })
        .unwrap();
        let expected: Vec<Vec<u8>> = model.range(mid..).take(100).map(|(k, _)| k.clone()).collect();
        assert_eq!(from_mid, expected, "a scan from the middle stops when asked");
    }

    /// A scan sorts only the families its range touches; a one-byte end bound (the smallest
    /// key of its family) leaves that family alone. Keys at the family edges (the empty key,
    /// one-byte keys, 0xff) scan in order.
    /// Enough deletes to rebuild: the dead slots are dropped, positions renumbered, and
    /// reads, scans and later puts (of new keys and of deleted ones) still agree with an
    /// ordered map.
    #[test]
    fn a_rebuild_after_many_deletes_keeps_exactly_the_live_entries() {
        let mut s = MemStore::new();
        let mut model = std::collections::BTreeMap::new();
        let key = |i: u64| {
            [
                b"K".as_slice(),
                &i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes(),
            ]
            .concat()
        };
        let put =
            |s: &mut MemStore, model: &mut std::collections::BTreeMap<Vec<u8>, Vec<u8>>, i: u64, v: u8| {
                let mut b = WriteBatch::new();
                b.put(key(i), vec![v; 1 + (i % 40) as usize]);
                s.write(b).unwrap();
                model.insert(key(i), vec![v; 1 + (i % 40) as usize]);
            };
        for i in 0..10_000 {
            put(&mut s, &mut model, i, 1);
        }
        // A scan lists every key (all in runs), then the deletes leave them listed.
        assert_eq!(s.iter().count(), 10_000);
        let mut b = WriteBatch::new();
        for i in (0..10_000).filter(|i| i % 10 != 0) {
            b.delete(key(i));
            model.remove(&key(i));
        }
        s.write(b).unwrap();
        assert!(
            s.values.slots.len() < 10_000,
            "9,000 deletes of 10,000 keys rebuild the store"
        );
        assert!(
            s.values.dead() < STALE_KEYS_MIN_REBUILD,
            "{} dead slots: the rebuild bound holds",
            s.values.dead()
        );
        for i in (0..10_000).step_by(7) {
            put(&mut s, &mut model, i, 2);
        }
        for i in 10_000..10_500 {
            put(&mut s, &mut model, i, 3);
        }
        for i in 0..10_500 {
            assert_eq!(s.get(&key(i)).unwrap(), model.get(&key(i)).cloned(), "key {i}");
        }
        let listed: Vec<(Vec<u8>, Vec<u8>)> = s.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
        assert!(
            listed == expected,
            "scan after the rebuild differs from the ordered model"
        );
        assert_eq!(s.len(), expected.len());
    }

    #[test]
    fn scans_order_only_the_families_they_touch() {
        let mut s = MemStore::new();
        let mut b = WriteBatch::new();
        for k in [
            &b""[..],
            b"C1",
            b"C",
            b"D",
            b"D2",
            b"D1",
            b"E",
            &[0xff],
            &[0xff, 0],
        ] {
            b.put(k.to_vec(), k.to_vec());
        }
        s.write(b).unwrap();
        let listed = |s: &MemStore, start: &[u8], end: Option<&[u8]>| {
            let mut out = Vec::new();
            s.scan(start, end, &mut |k, _| {
                out.push(k.to_vec());
                true
            })
            .unwrap();
            out
        };
        assert_eq!(listed(&s, b"C", Some(b"D")), vec![b"C".to_vec(), b"C1".to_vec()]);
        let unsorted = |s: &MemStore, fam: u8| s.lock_families()[family_of(&[fam])].recent.len();
        assert_eq!(unsorted(&s, b'C'), 0, "the scanned family is ordered");
        assert_eq!(
            unsorted(&s, b'D'),
            3,
            "the family past a one-byte end bound is not"
        );
        assert_eq!(listed(&s, b"D", Some(b"D2")), vec![b"D".to_vec(), b"D1".to_vec()]);
        assert_eq!(unsorted(&s, b'D'), 0);
        assert_eq!(unsorted(&s, b'E'), 1);
        assert_eq!(listed(&s, b"", Some(b"")), Vec::<Vec<u8>>::new());
        assert_eq!(listed(&s, b"E", Some(b"C")), Vec::<Vec<u8>>::new());
        let all: Vec<Vec<u8>> = s.iter().map(|(k, _)| k.to_vec()).collect();
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(all, expected);
        assert_eq!(all.len(), 9);
        assert_eq!(all[0], Vec::<u8>::new(), "the empty key sorts first");
        assert_eq!(listed(&s, &[0xff], None), vec![vec![0xff], vec![0xff, 0]]);
    }

    fn key_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        // Short alphabets make shared prefixes, zero bytes and prefix pairs common; lengths
        // cross the inline limit.
        prop::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xff), any::<u8>()], 0..40)
    }

    /// One step of a random workload against the store and an ordered model.
    #[derive(Debug, Clone)]
    enum Step {
        Put(Vec<u8>, u8),
        Delete(Vec<u8>),
        DeleteRange(Vec<u8>, Vec<u8>),
        Scan(Vec<u8>, Option<Vec<u8>>, usize),
        Clone,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        // Few first bytes, so families fill up and scans cross family edges; one-byte bounds
        // (a family's smallest key) are frequent.
        let key = prop::collection::vec(prop_oneof![Just(0u8), Just(b'C'), Just(b'D'), Just(0xff)], 0..4);
        prop_oneof![
            4 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Step::Put(k, v)),
            1 => key.clone().prop_map(Step::Delete),
            1 => (key.clone(), key.clone()).prop_map(|(a, b)| Step::DeleteRange(a, b)),
            2 => (key.clone(), prop::option::of(key), 0usize..6).prop_map(|(a, b, n)| Step::Scan(a, b, n)),
            1 => Just(Step::Clone),
        ]
    }

    proptest::proptest! {
        /// Puts, deletes, range deletes, scans (bounded, unbounded, stopped early) and clones
        /// in any order: every scan lists what an ordered map lists.
        #[test]
        fn behaves_like_an_ordered_map(steps in proptest::collection::vec(step(), 1..80)) {
            use std::collections::BTreeMap;
            let mut s = MemStore::new();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for st in steps {
                match st {
                    Step::Put(k, v) => {
                        let mut b = WriteBatch::new();
                        b.put(k.clone(), vec![v]);
                        s.write(b).unwrap();
                        model.insert(k, vec![v]);
                    }
                    Step::Delete(k) => {
                        let mut b = WriteBatch::new();
                        b.delete(k.clone());
                        s.write(b).unwrap();
                        model.remove(&k);
                    }
                    Step::DeleteRange(a, z) => {
                        let mut b = WriteBatch::new();
                        b.delete_range(a.clone(), z.clone());
                        s.write(b).unwrap();
                        if a < z {
                            let doomed: Vec<_> = model.range(a..z).map(|(k, _)| k.clone()).collect();
                            for k in doomed {
                                model.remove(&k);
                            }
                        }
                    }
                    Step::Scan(a, z, stop) => {
                        let mut got = Vec::new();
                        s.scan(&a, z.as_deref(), &mut |k, v| {
                            got.push((k.to_vec(), v.to_vec()));
                            got.len() < stop
                        })
                        .unwrap();
                        let expected: Vec<(Vec<u8>, Vec<u8>)> = model
                            .range(a.clone()..)
                            .take_while(|(k, _)| z.as_ref().is_none_or(|z| *k < z))
                            .take(stop.max(1))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        proptest::prop_assert_eq!(got, expected, "scan {:?}..{:?}", a, z);
                    }
                    Step::Clone => s = s.clone(),
                }
                proptest::prop_assert_eq!(s.len(), model.len());
            }
            let all: Vec<(Vec<u8>, Vec<u8>)> = s.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            let expected: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
            proptest::prop_assert_eq!(all, expected);
        }

        #[test]
        fn keys_order_and_compare_as_byte_slices(a in key_bytes(), b in key_bytes()) {
            let (ka, kb) = (Key::new(&a), Key::new(&b));
            proptest::prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            proptest::prop_assert_eq!(ka == kb, a == b);
            proptest::prop_assert_eq!(ka.as_slice(), a.as_slice());
        }
    }

    #[test]
    fn prefixes_and_zero_padding_sort_first() {
        let ord = |a: &[u8], b: &[u8]| Key::new(a).cmp(&Key::new(b));
        use std::cmp::Ordering::*;
        assert_eq!(
            ord(b"D", b"D\0"),
            Less,
            "a proper prefix sorts first, even before a zero"
        );
        assert_eq!(ord(b"D\0", b"D"), Greater);
        assert_eq!(ord(b"", b"\0"), Less);
        assert_eq!(ord(&[7; 32], &[7; 33]), Less, "inline against heap");
        assert_eq!(ord(&[7; 33], &[7; 32]), Greater);
        let mut k = [0u8; 32];
        k[15] = 1;
        let mut l = [0u8; 32];
        l[31] = 1;
        assert_eq!(ord(&k, &l), Greater, "the first word decides before the second");
        assert_eq!(ord(&l[..31], &l), Less);
        // Every inline length round-trips through the word construction.
        let src: Vec<u8> = (1..=32u8).map(|x| x.wrapping_mul(37) | 0x80).collect();
        for n in 0..=32 {
            assert_eq!(Key::new(&src[..n]).as_slice(), &src[..n], "length {n}");
        }
    }
}

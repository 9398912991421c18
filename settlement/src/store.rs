//! The storage the state machine writes through: ordered key-value reads and atomic write
//! batches. The state of a real consortium (hundreds of millions of records) does not fit in
//! memory, so `apply` reads and writes through a [`Store`]; [`MemStore`] is the in-memory
//! implementation for tests and benchmarks, and the `consensus` crate provides the RocksDB
//! one.
//!
//! Contract (checked by [`conformance`], which every implementation must pass):
//! - `scan` visits keys in ascending byte order within `[start, end)`;
//! - `write` applies the whole batch or nothing, in order (a later put of the same key wins);
//! - reads after a successful `write` see it.
//!
//! The machine puts its applied log index into the same batch as the state changes of that
//! command, so a crash between two commands leaves a store that says exactly how far it got.

use crate::error::StoreError;

mod mem;
mod run;

pub use mem::MemStore;
pub use run::IndexRun;

/// 32 bits of a key's hash, for the tables of positions of [`MemStore`] and [`IndexRun`]:
/// stored beside a position, so a table rehashes without reading the entries, and compared
/// before the key, so a probe rarely reads an entry that is not the one looked for.
#[inline]
fn hash32<K: std::hash::Hash + ?Sized>(key: &K) -> u32 {
    use std::hash::BuildHasher;
    let h = foldhash::fast::FixedState::default().hash_one(key);
    (h >> 32) as u32 ^ h as u32
}

/// A table's 64-bit hash of a stored [`hash32`]: multiplying by an odd constant keeps the low
/// bits (the bucket) uniform and fills the top bits (hashbrown's 7-bit control tag) from all
/// 32.
#[inline]
fn spread(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The bytes of a key or value in a [`WriteBatch`]: up to 32 bytes inline, longer ones on the
/// heap. Most keys of the ledger are that short, so staging them does not allocate each.
pub type Bytes = smallvec::SmallVec<[u8; 32]>;

/// One write.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put(Bytes, Bytes),
    /// Remove `key`.
    Delete(Vec<u8>),
    /// Remove every key in `[start, end)`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// Writes applied atomically, in order.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        WriteBatch::default()
    }

    /// Makes room for `additional` more operations (a batch's writes are counted before they
    /// are staged, so the list does not regrow).
    pub fn reserve(&mut self, additional: usize) {
        self.ops.reserve(additional);
    }

    /// Sets `key` to `value`. Takes anything that converts to [`Bytes`]: a `Vec<u8>` (its
    /// buffer moves unless it is short), a slice or a `[u8; 32]` (copied).
    pub fn put(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        let (key, value) = (key.into(), value.into());
        self.bytes += key.len() + value.len();
        self.ops.push(WriteOp::Put(key, value));
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.bytes += key.len();
        self.ops.push(WriteOp::Delete(key));
    }

    /// Removes every key in `[start, end)`.
    pub fn delete_range(&mut self, start: Vec<u8>, end: Vec<u8>) {
        self.bytes += start.len() + end.len();
        self.ops.push(WriteOp::DeleteRange(start, end));
    }

    /// The writes, in order.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// Takes the writes out.
    pub fn into_ops(self) -> Vec<WriteOp> {
        self.ops
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Approximate payload bytes.
    pub fn size_bytes(&self) -> usize {
        self.bytes
    }
}

/// Ordered reads.
pub trait ReadStore {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits `(key, value)` for keys in `[start, end)` (no upper bound when `end` is
    /// `None`) in ascending order until `visit` returns `false`.
    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
}

/// Length of a duplicate-index key: an event's fingerprint
/// ([`crate::types::EventIdentity::fingerprint`]).
pub const INDEX_KEY_LEN: usize = crate::types::EventIdentity::FINGERPRINT_LEN;

/// Length of a duplicate-index value: the accepted record's id
/// ([`crate::command::RecordId::to_bytes`]).
pub const INDEX_VALUE_LEN: usize = 12;

/// A duplicate-index key.
pub type IndexKey = [u8; INDEX_KEY_LEN];

/// A duplicate-index value.
pub type IndexValue = [u8; INDEX_VALUE_LEN];

/// Ordered reads and atomic batched writes, plus the sealed part of the duplicate index.
///
/// The duplicate index (event fingerprint -> id of the record accepted with it) is not
/// replicated state: every entry is derived from the stored batches, so it is neither in
/// [`WriteBatch`]es, scans, snapshots nor the state digest. The machine keeps the entries of
/// recent batches in memory and hands them over in runs ([`Store::index_seal`]); a
/// store keeps the runs, durably if it is durable. What a crash may leave, and the machine
/// copes with (see `SettlementMachine::open`):
/// - the index behind the state: `index_through` says from which batch the machine rebuilds
///   entries from the stored batches;
/// - the index ahead of the state (a run sealed for batches whose state writes were lost and
///   are replayed): lookups ignore ids of batches the state has not applied yet.
pub trait Store: ReadStore {
    /// Applies `batch` atomically.
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError>;

    /// The values of `keys` in the sealed index, in order (`None` when absent). Sees every
    /// run handed to [`Store::index_seal`], also one still being written.
    fn index_get_many(&self, keys: &[&IndexKey]) -> Result<Vec<Option<IndexValue>>, StoreError>;

    /// Adds a run of entries that completes the index for every batch below `through`. All
    /// or nothing: after a crash the store holds the whole run and `through`, or neither. May
    /// finish in the background; lookups see the run at once.
    ///
    /// Returns a run the store is through with (this one or an earlier one), emptied, for
    /// the caller to fill next: its memory is already in use, where a new run's is not. `None`
    /// when no run is free yet.
    fn index_seal(&mut self, run: IndexRun, through: u64) -> Result<Option<IndexRun>, StoreError>;

    /// True when [`Store::index_seal`] called now would wait for earlier runs still being
    /// sealed in the background. A caller that can do other work first (a Raft driver that
    /// must keep its heartbeats going) asks before it applies a command that may seal. Never
    /// changes what a seal stores. Default: false (a store that seals in place never waits).
    fn index_seal_would_wait(&self) -> bool {
        false
    }

    /// The `through` of the last run (0 for an empty or cleared index), once it is durable:
    /// waits for a run still being written.
    fn index_through(&self) -> Result<u64, StoreError>;

    /// Removes every index entry and sets `through` to 0, durably (the state it was derived
    /// from is being replaced).
    fn index_clear(&mut self) -> Result<(), StoreError>;
}

/// The storage conformance suite: every [`Store`] implementation runs these checks against a
/// fresh, empty instance made by `fresh`.
pub mod conformance {
    use super::*;

    fn all<S: ReadStore>(s: &S) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        s.scan(&[], None, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
        out
    }

    /// Runs every check; panics with a message naming the failed property.
    pub fn run<S: Store>(mut fresh: impl FnMut() -> S) {
        puts_and_gets(&mut fresh());
        scan_is_ordered_and_bounded(&mut fresh());
        batch_order_last_write_wins(&mut fresh());
        delete_and_delete_range(&mut fresh());
        scan_stops_when_asked(&mut fresh());
        index_seal_get_and_clear(&mut fresh());
    }

    fn index_key(b: u8) -> IndexKey {
        let mut k = [b'K'; INDEX_KEY_LEN];
        k[INDEX_KEY_LEN - 1] = b;
        k
    }

    fn index_seal_get_and_clear<S: Store>(s: &mut S) {
        assert_eq!(s.index_through().unwrap(), 0, "a fresh index is through batch 0");
        let (a, b, c) = (index_key(1), index_key(2), index_key(3));
        let run = |entries: &[(IndexKey, IndexValue)]| entries.iter().copied().collect::<IndexRun>();
        s.index_seal(run(&[(c, [3; INDEX_VALUE_LEN]), (a, [1; INDEX_VALUE_LEN])]), 5)
            .unwrap();
        assert_eq!(
            s.index_get_many(&[&c, &b, &a]).unwrap(),
            vec![Some([3; INDEX_VALUE_LEN]), None, Some([1; INDEX_VALUE_LEN])],
            "a sealed run answers lookups, in the order asked"
        );
        if let Some(mut spent) = s.index_seal(run(&[(b, [2; INDEX_VALUE_LEN])]), 9).unwrap() {
            assert!(spent.is_empty(), "a run handed back is empty");
            // The caller refills it; the store must not be using it.
            spent.insert(a, [9; INDEX_VALUE_LEN]);
            spent.insert(index_key(4), [4; INDEX_VALUE_LEN]);
        }
        assert_eq!(s.index_get_many(&[&index_key(4)]).unwrap(), vec![None]);
        assert_eq!(
            s.index_get_many(&[&a, &b, &c]).unwrap(),
            vec![
                Some([1; INDEX_VALUE_LEN]),
                Some([2; INDEX_VALUE_LEN]),
                Some([3; INDEX_VALUE_LEN])
            ],
            "runs add up"
        );
        assert_eq!(s.index_through().unwrap(), 9, "through is the last run's");
        assert_eq!(s.get(&a).unwrap(), None, "index entries are not state keys");
        let mut keys = 0;
        s.scan(&[], None, &mut |_, _| {
            keys += 1;
            true
        })
        .unwrap();
        assert_eq!(keys, 0, "index entries are not in scans");
        s.index_clear().unwrap();
        assert_eq!(s.index_through().unwrap(), 0, "cleared");
        assert_eq!(s.index_get_many(&[&a, &b]).unwrap(), vec![None, None], "cleared");
        s.index_seal(run(&[(b, [7; INDEX_VALUE_LEN])]), 2).unwrap();
        assert_eq!(
            s.index_get_many(&[&a, &b]).unwrap(),
            vec![None, Some([7; INDEX_VALUE_LEN])]
        );
        assert_eq!(s.index_through().unwrap(), 2);
    }

    fn puts_and_gets<S: Store>(s: &mut S) {
        assert_eq!(s.get(b"a").unwrap(), None, "fresh store must be empty");
        let mut b = WriteBatch::new();
        b.put(b"a".to_vec(), b"1".to_vec());
        b.put(vec![0xff, 0x00], vec![]);
        s.write(b).unwrap();
        assert_eq!(s.get(b"a").unwrap(), Some(b"1".to_vec()), "put then get");
        assert_eq!(
            s.get(&[0xff, 0x00]).unwrap(),
            Some(vec![]),
            "empty values are kept"
        );
    }

    fn scan_is_ordered_and_bounded<S: Store>(s: &mut S) {
        let mut b = WriteBatch::new();
        for k in [&b"b2"[..], b"a", b"b1", b"c", b"b", &[0x80][..]] {
            b.put(k.to_vec(), k.to_vec());
        }
        s.write(b).unwrap();
        let keys: Vec<Vec<u8>> = all(s).into_iter().map(|(k, _)| k).collect();
        let expected: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"b1".to_vec(),
            b"b2".to_vec(),
            b"c".to_vec(),
            vec![0x80],
        ];
        assert_eq!(keys, expected, "scan must visit keys in unsigned byte order");
        let mut ranged = Vec::new();
        s.scan(b"b", Some(b"b2"), &mut |k, _| {
            ranged.push(k.to_vec());
            true
        })
        .unwrap();
        assert_eq!(
            ranged,
            vec![b"b".to_vec(), b"b1".to_vec()],
            "scan is [start, end)"
        );
    }

    fn batch_order_last_write_wins<S: Store>(s: &mut S) {
        // Puts only, keys out of order, one key twice (a store may reorder the puts of a
        // batch, but not the two puts of one key).
        let mut b = WriteBatch::new();
        b.put(b"twice".to_vec(), b"first".to_vec());
        b.put(b"a-before".to_vec(), b"x".to_vec());
        b.put(b"twice".to_vec(), b"second".to_vec());
        b.put(b"z-after".to_vec(), b"y".to_vec());
        s.write(b).unwrap();
        assert_eq!(
            s.get(b"twice").unwrap(),
            Some(b"second".to_vec()),
            "later put of a key in a batch of puts wins"
        );
        let mut b = WriteBatch::new();
        b.put(b"k".to_vec(), b"1".to_vec());
        b.put(b"k".to_vec(), b"2".to_vec());
        b.delete(b"gone".to_vec());
        s.write(b).unwrap();
        assert_eq!(
            s.get(b"k").unwrap(),
            Some(b"2".to_vec()),
            "later put in a batch wins"
        );
        let mut b = WriteBatch::new();
        b.delete(b"k".to_vec());
        b.put(b"k".to_vec(), b"3".to_vec());
        s.write(b).unwrap();
        assert_eq!(
            s.get(b"k").unwrap(),
            Some(b"3".to_vec()),
            "put after delete in a batch wins"
        );
    }

    fn delete_and_delete_range<S: Store>(s: &mut S) {
        let mut b = WriteBatch::new();
        for k in [&b"p1"[..], b"p2", b"p3", b"q1"] {
            b.put(k.to_vec(), vec![1]);
        }
        s.write(b).unwrap();
        let mut b = WriteBatch::new();
        b.delete_range(b"p2".to_vec(), b"q".to_vec());
        b.delete(b"p1".to_vec());
        s.write(b).unwrap();
        let keys: Vec<Vec<u8>> = all(s).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"q1".to_vec()], "delete and delete_range [start, end)");
    }

    fn scan_stops_when_asked<S: Store>(s: &mut S) {
        let mut b = WriteBatch::new();
        for i in 0u8..10 {
            b.put(vec![i], vec![i]);
        }
        s.write(b).unwrap();
        let mut n = 0;
        s.scan(&[], None, &mut |_, _| {
            n += 1;
            n < 3
        })
        .unwrap();
        assert_eq!(n, 3, "scan must stop when the visitor returns false");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_store_passes_the_conformance_suite() {
        conformance::run(MemStore::new);
    }
}

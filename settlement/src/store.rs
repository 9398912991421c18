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

use std::collections::BTreeMap;

use crate::error::StoreError;

/// One write.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
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

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
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

    /// The values of several keys, in order. Backends with a batched point lookup (RocksDB's
    /// `multi_get`) override this; the state machine asks for all of a batch's duplicate
    /// checks at once.
    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Visits `(key, value)` for keys in `[start, end)` (no upper bound when `end` is
    /// `None`) in ascending order until `visit` returns `false`.
    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
}

/// Ordered reads and atomic batched writes.
pub trait Store: ReadStore {
    /// Applies `batch` atomically.
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError>;
}

/// Keys up to this many bytes are stored inside the map's nodes.
const INLINE_KEY_BYTES: usize = 30;

/// A map key that keeps short keys inline. With `Vec<u8>` keys every comparison during a
/// lookup first loads the key from the heap, a cache miss per tree level; inline keys are
/// compared where the node already is. Almost every key of the ledger is shorter than 30
/// bytes (the duplicate-detection keys are 17).
#[derive(Clone)]
enum Key {
    Inline(u8, [u8; INLINE_KEY_BYTES]),
    Heap(Box<[u8]>),
}

impl Key {
    fn new(k: &[u8]) -> Key {
        if k.len() <= INLINE_KEY_BYTES {
            let mut b = [0u8; INLINE_KEY_BYTES];
            b[..k.len()].copy_from_slice(k);
            Key::Inline(k.len() as u8, b)
        } else {
            Key::Heap(k.into())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline(n, b) => &b[..usize::from(*n)],
            Key::Heap(b) => b,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, o: &Self) -> bool {
        self.as_slice() == o.as_slice()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Key {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(o.as_slice())
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

/// The in-memory store: an ordered map. Cloning it gives a point-in-time view.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct MemStore {
    map: BTreeMap<Key, Vec<u8>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore::default()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Iterates over all entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Vec<u8>)> {
        self.map.iter().map(|(k, v)| (k.as_slice(), v))
    }
}

impl ReadStore for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.get(key).cloned())
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        use std::ops::Bound;
        let upper = match end {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        for (k, v) in self.map.range::<[u8], _>((Bound::Included(start), upper)) {
            if !visit(k.as_slice(), v) {
                break;
            }
        }
        Ok(())
    }
}

impl Store for MemStore {
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        for op in batch.into_ops() {
            match op {
                WriteOp::Put(k, v) => {
                    self.map.insert(Key::new(&k), v);
                }
                WriteOp::Delete(k) => {
                    self.map.remove(k.as_slice());
                }
                WriteOp::DeleteRange(s, e) => {
                    if s < e {
                        // map = [.., s) ; tail = [s, ..) ; rest = [e, ..): drop [s, e).
                        let mut tail = self.map.split_off(s.as_slice());
                        let mut rest = tail.split_off(e.as_slice());
                        self.map.append(&mut rest);
                    }
                }
            }
        }
        Ok(())
    }
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
        get_many_matches_get(&mut fresh());
        scan_is_ordered_and_bounded(&mut fresh());
        batch_order_last_write_wins(&mut fresh());
        delete_and_delete_range(&mut fresh());
        scan_stops_when_asked(&mut fresh());
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

    fn get_many_matches_get<S: Store>(s: &mut S) {
        let mut b = WriteBatch::new();
        b.put(b"x".to_vec(), b"1".to_vec());
        b.put(b"z".to_vec(), b"3".to_vec());
        s.write(b).unwrap();
        let keys = vec![b"z".to_vec(), b"y".to_vec(), b"x".to_vec(), b"z".to_vec()];
        assert_eq!(
            s.get_many(&keys).unwrap(),
            vec![
                Some(b"3".to_vec()),
                None,
                Some(b"1".to_vec()),
                Some(b"3".to_vec())
            ],
            "get_many returns values in the order asked, None for missing keys"
        );
        assert_eq!(s.get_many(&[]).unwrap(), Vec::<Option<Vec<u8>>>::new());
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

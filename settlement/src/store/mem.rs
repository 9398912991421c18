//! [`MemStore`], the in-memory [`Store`]: a hash map for point reads and writes, and the
//! keys in order as sorted runs for scans (a log-structured merge kept in memory).
//!
//! Why not one ordered map: the state machine's hot path is a point lookup and an insert of
//! a random 27-byte duplicate-detection key per record. In a `BTreeMap` of millions of keys
//! each of those walks eight or more levels, a cache miss per level; a hash map answers with
//! one or two. Scans are rare (queries, period close, snapshots) and read the ordered runs.
//!
//! Ordering structure: keys inserted since the last flush are appended to `recent`; when it
//! fills, it is sorted into a run, and runs merge like a binary counter (two runs of similar
//! size become one), so each key is moved O(log n) times and there are O(log n) runs. The
//! first scan after a write sorts a copy of `recent` (at most [`RECENT_KEYS_MAX`] keys) and
//! keeps it for the scans that follow until the next write. A deleted key leaves the value
//! map at once but may stay listed in a run until the runs are rebuilt; scans skip keys the
//! value map no longer holds, and a key listed twice (deleted, then put again) is visited
//! once.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{Hash, Hasher};

use super::{ReadStore, Store, WriteBatch, WriteOp};
use crate::error::StoreError;

/// Keys put since the last flush before they are sorted into a run.
const RECENT_KEYS_MAX: usize = 16_384;

/// Deleted keys still listed in runs, beyond which the runs are rebuilt from the value map.
const STALE_KEYS_MIN_REBUILD: usize = 4_096;

/// Keys up to this many bytes are stored inline.
const INLINE_KEY_BYTES: usize = 32;

/// A stored key that keeps short keys inline: no allocation per key, and comparisons read
/// the key where the run or the map already is instead of chasing a pointer. Almost every
/// key of the ledger is at most 32 bytes (the duplicate-detection keys are 27).
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
#[derive(Clone, Default)]
pub struct MemStore {
    /// Every entry.
    values: HashMap<Key, Vec<u8>, foldhash::fast::FixedState>,
    /// Sorted, strictly increasing runs of keys, larger runs first.
    runs: Vec<Vec<Key>>,
    /// Keys put since the last flush, in the order they came.
    recent: Vec<Key>,
    /// `recent` sorted, made by the first scan that needs it; reset by every write that
    /// changes `recent`.
    recent_sorted: std::sync::OnceLock<Vec<Key>>,
    /// Keys deleted from `values` that runs may still list.
    stale: usize,
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
        self.values.is_empty()
    }

    /// Iterates over all entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.ordered_from(&[])
            .filter_map(|k| self.values.get(k).map(|v| (k.as_slice(), v.as_slice())))
    }

    /// Every listed key from `start` on, in order, each once (possibly stale).
    fn ordered_from<'a>(&'a self, start: &[u8]) -> Ordered<'a> {
        let recent = self.recent_sorted.get_or_init(|| {
            let mut v = self.recent.clone();
            v.sort_unstable();
            v.dedup();
            v
        });
        let sources = self
            .runs
            .iter()
            .chain(std::iter::once(recent))
            .map(|run| &run[run.partition_point(|k| k.as_slice() < start)..])
            .collect();
        Ordered { sources, last: None }
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>) {
        match self.values.entry(Key::new(key)) {
            Entry::Occupied(mut o) => {
                o.insert(value);
            }
            Entry::Vacant(v) => {
                self.recent.push(v.key().clone());
                self.recent_sorted.take();
                v.insert(value);
                if self.recent.len() >= RECENT_KEYS_MAX {
                    self.flush();
                }
            }
        }
    }

    fn delete(&mut self, key: &[u8]) {
        if self.values.remove(&Key::new(key)).is_some() {
            // Still listed in a run or in `recent`.
            self.stale += 1;
            if self.stale >= STALE_KEYS_MIN_REBUILD.max(self.values.len()) {
                self.rebuild();
            }
        }
    }

    /// Sorts `recent` into a run and merges runs of similar size.
    fn flush(&mut self) {
        let recent = std::mem::take(&mut self.recent);
        // A scan may have sorted it already.
        let run = self.recent_sorted.take().unwrap_or_else(|| {
            let mut run = recent;
            run.sort_unstable();
            run.dedup();
            run
        });
        self.runs.push(run);
        while let [.., a, b] = self.runs.as_slice() {
            if a.len() >= 2 * b.len() {
                break;
            }
            let b = self.runs.pop().expect("two runs");
            let a = self.runs.pop().expect("two runs");
            self.runs.push(merge(a, b));
        }
    }

    /// Lists exactly the live keys again, in one run.
    fn rebuild(&mut self) {
        let mut keys: Vec<Key> = self.values.keys().cloned().collect();
        keys.sort_unstable();
        self.runs = vec![keys];
        self.recent.clear();
        self.recent_sorted.take();
        self.stale = 0;
    }
}

/// Merges two sorted runs into one, each key once.
fn merge(a: Vec<Key>, b: Vec<Key>) -> Vec<Key> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match x.cmp(y) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next(),
                std::cmp::Ordering::Equal => {
                    b.next();
                    a.next()
                }
            },
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => return out,
        };
        out.extend(next);
    }
}

/// A merge of the runs and `recent`, in key order, each key once.
struct Ordered<'a> {
    /// The unvisited rest of each sorted run.
    sources: Vec<&'a [Key]>,
    last: Option<&'a Key>,
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
        self.values == o.values
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
        Ok(self.values.get(&Key::new(key)).cloned())
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        for key in self.ordered_from(start) {
            let k = key.as_slice();
            if end.is_some_and(|e| k >= e) {
                break;
            }
            if let Some(v) = self.values.get(key)
                && !visit(k, v)
            {
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
                WriteOp::Put(k, v) => self.put(&k, v),
                WriteOp::Delete(k) => self.delete(&k),
                WriteOp::DeleteRange(s, e) => {
                    let doomed: Vec<Vec<u8>> = self
                        .ordered_from(&s)
                        .take_while(|k| k.as_slice() < e.as_slice())
                        .filter(|k| self.values.contains_key(*k))
                        .map(|k| k.as_slice().to_vec())
                        .collect();
                    for k in doomed {
                        self.delete(&k);
                    }
                }
            }
        }
        Ok(())
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
            assert!(s.runs.len() <= 16, "runs merge: {} runs", s.runs.len());
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

    fn key_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        // Short alphabets make shared prefixes, zero bytes and prefix pairs common; lengths
        // cross the inline limit.
        prop::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xff), any::<u8>()], 0..40)
    }

    proptest::proptest! {
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

//! An in-memory filter over every key of a duplicate-index column family, checked before
//! RocksDB is asked.
//!
//! Nearly every duplicate lookup misses, and RocksDB answers a miss only after its MultiGet
//! has sorted the keys, picked the candidate table of every level and consulted each table's
//! own filter: measured at about 1 µs a key, a fifth of the cluster bench's CPU. One blocked
//! Bloom filter over the whole column family answers most misses with one cache line; only
//! the keys it cannot rule out go to RocksDB.
//!
//! The invariant lookups rely on: every key in the column family is in the installed
//! filter, or no filter is installed (then every key goes to RocksDB). The sealing thread
//! adds a run's keys after ingesting it and before its job counts as done; a filter is
//! (re)built from a scan of the column family on a thread of its own, and the runs sealed
//! while the scan runs are added before the new filter is installed. A cleared column family
//! keeps any filter: stale keys only cost a RocksDB lookup that finds nothing.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rocksdb::{DB, ReadOptions};
use settlement::store::{INDEX_KEY_LEN, IndexKey, IndexRun};

use crate::limits::{INDEX_FILTER_BITS_PER_KEY, INDEX_FILTER_GROWTH, INDEX_FILTER_KEYS_MIN};

/// Bits of one filter block: a cache line.
const BLOCK_BITS: usize = 512;
/// Bits set per key, each chosen by 9 bits of the second hash (7 × 9 = 63).
const PROBES: u32 = 7;
/// Keys a build's scan hashes before it sorts and inserts them (8 MB of hashes).
const BUILD_CHUNK_KEYS: usize = 1 << 20;

/// A blocked Bloom filter: each key sets and tests `PROBES` bits of one 512-bit block.
/// Inserts and lookups may run concurrently (relaxed atomics; callers publish a filter
/// through a mutex or a thread join, which orders the inserts before later lookups).
pub(crate) struct KeyFilter {
    blocks: Box<[[AtomicU64; BLOCK_BITS / 64]]>,
    capacity: usize,
    count: AtomicUsize,
}

/// The filter's hash of `key`.
pub(crate) fn hash(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5eed_0001).hash_one(key)
}

/// The probe bits of a key from its hash: a multiply-fold of it (a bijective mix, so keys
/// whose hashes differ choose their block and their bits from different values).
fn probes(a: u64) -> u64 {
    let m = u128::from(a) * 0x9e37_79b9_7f4a_7c15_u128;
    (m as u64) ^ ((m >> 64) as u64)
}

impl KeyFilter {
    /// A filter sized for `capacity` keys at [`INDEX_FILTER_BITS_PER_KEY`].
    pub(crate) fn with_capacity(capacity: usize) -> KeyFilter {
        let capacity = capacity.max(1);
        let n = (capacity * INDEX_FILTER_BITS_PER_KEY).div_ceil(BLOCK_BITS).max(1);
        KeyFilter {
            blocks: (0..n).map(|_| Default::default()).collect(),
            capacity,
            count: AtomicUsize::new(0),
        }
    }

    fn locate(&self, a: u64) -> (&[AtomicU64; BLOCK_BITS / 64], u64) {
        // Multiply-shift maps the hash onto the blocks without a modulo.
        let i = ((u128::from(a) * self.blocks.len() as u128) >> 64) as usize;
        (&self.blocks[i], probes(a))
    }

    /// Adds `key`.
    #[cfg(test)]
    pub(crate) fn insert(&self, key: &[u8]) {
        self.insert_hash(hash(key));
    }

    /// Adds the key whose [`hash`] is `a`.
    #[cfg(test)]
    pub(crate) fn insert_hash(&self, a: u64) {
        self.set_bits(a);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the bits of the key whose [`hash`] is `a` (the caller counts it).
    fn set_bits(&self, a: u64) {
        let (block, mut b) = self.locate(a);
        for _ in 0..PROBES {
            let bit = (b & 511) as usize;
            block[bit / 64].fetch_or(1 << (bit % 64), Ordering::Relaxed);
            b >>= 9;
        }
    }

    /// Adds the keys whose [`hash`]es are `hashes`, in ascending order of hash: the block
    /// of a hash rises with it (multiply-shift), so the inserts sweep the bit array from
    /// start to end and stream through memory, where inserting in the order the keys come
    /// misses the cache at nearly every key once the filter outgrows it (measured: inserts
    /// were 6.9% of the cluster bench's CPU, in the sealing and filter-build threads).
    pub(crate) fn insert_hashes(&self, hashes: &mut [u64]) {
        hashes.sort_unstable();
        for &a in hashes.iter() {
            self.set_bits(a);
        }
        self.count.fetch_add(hashes.len(), Ordering::Relaxed);
    }

    /// False when `key` was never inserted; true when it was, or by chance (about 0.1% at
    /// 16 bits a key, up to its capacity).
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        let (block, mut b) = self.locate(hash(key));
        for _ in 0..PROBES {
            let bit = (b & 511) as usize;
            if block[bit / 64].load(Ordering::Relaxed) & (1 << (bit % 64)) == 0 {
                return false;
            }
            b >>= 9;
        }
        true
    }

    /// Keys inserted (counting repeats).
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True once more keys went in than it was sized for (its false-positive rate rises).
    pub(crate) fn is_full(&self) -> bool {
        self.len() > self.capacity
    }

    /// Memory of the bit array.
    pub(crate) fn bytes(&self) -> usize {
        self.blocks.len() * BLOCK_BITS / 8
    }
}

#[derive(Default)]
struct State {
    /// The installed filter; `None` until the first build is done.
    current: Option<Arc<KeyFilter>>,
    /// While a build runs: the key hashes of the runs sealed since it began (8 bytes a key,
    /// not the runs), added to the new filter before it is installed.
    sealed_during_build: Option<Vec<u64>>,
}

/// The filter of one duplicate-index column family and the thread (re)building it.
pub(crate) struct IndexFilter {
    state: Mutex<State>,
    build: Mutex<Option<JoinHandle<()>>>,
    /// Set when the engine goes away: a running build stops early.
    stop: AtomicBool,
    /// Keys a filter is sized for at least.
    keys_min: usize,
}

impl Default for IndexFilter {
    fn default() -> Self {
        IndexFilter::new(INDEX_FILTER_KEYS_MIN)
    }
}

impl IndexFilter {
    /// A filter manager whose filters hold at least `keys_min` keys (tests use small ones to
    /// make rebuilds happen).
    pub(crate) fn new(keys_min: usize) -> IndexFilter {
        IndexFilter {
            state: Mutex::default(),
            build: Mutex::default(),
            stop: AtomicBool::new(false),
            keys_min,
        }
    }

    /// The installed filter, if any.
    pub(crate) fn current(&self) -> Option<Arc<KeyFilter>> {
        self.lock().current.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts building a filter from a scan of `cf` on a thread of its own, unless a build
    /// is running. Lookups keep using the installed filter (or RocksDB alone) until it is
    /// done.
    pub(crate) fn start_build(self: &Arc<Self>, db: Arc<DB>, cf: &'static str) {
        let mut build = self.build.lock().unwrap_or_else(PoisonError::into_inner);
        {
            let mut state = self.lock();
            if state.sealed_during_build.is_some() {
                return;
            }
            // From here on every sealed run is also kept for the new filter, so one that
            // lands after the scan's snapshot is not missed.
            state.sealed_during_build = Some(Vec::new());
        }
        if let Some(previous) = build.take() {
            let _ = previous.join();
        }
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{cf}-filter"))
            .spawn(move || {
                super::lower_current_thread_priority("duplicate-index filter build");
                this.run_build(&db, cf)
            });
        match spawned {
            Ok(h) => *build = Some(h),
            Err(e) => {
                tracing::warn!(error = %e, index = cf, "duplicate-index filter not built; lookups go to RocksDB");
                self.lock().sealed_during_build = None;
            }
        }
    }

    fn run_build(&self, db: &DB, cf: &'static str) {
        let started = std::time::Instant::now();
        let Some(handle) = db.cf_handle(cf) else {
            self.lock().sealed_during_build = None;
            return;
        };
        // Sized before the scan (the keys are not kept: a large index would not fit in
        // memory twice); an estimate too low only makes the next sealed run start a rebuild.
        let estimate = db
            .property_int_value_cf(handle, "rocksdb.estimate-num-keys")
            .ok()
            .flatten()
            .unwrap_or(0) as usize;
        let previous = self.current().map_or(0, |f| f.len());
        let filter =
            KeyFilter::with_capacity((estimate.max(previous) * INDEX_FILTER_GROWTH).max(self.keys_min));
        let mut ro = ReadOptions::default();
        ro.fill_cache(false);
        // The scan's hashes go in by the chunk, sorted (see `insert_hashes`). A raw iterator
        // lends each key without copying it (or the value) into an allocation of its own.
        let mut chunk = Vec::with_capacity(BUILD_CHUNK_KEYS);
        let mut it = db.raw_iterator_cf_opt(handle, ro);
        it.seek_to_first();
        let mut n = 0u64;
        while it.valid() {
            if n.is_multiple_of(65_536) && self.stop.load(Ordering::Relaxed) {
                self.lock().sealed_during_build = None;
                return;
            }
            n += 1;
            // The run's `through` key is not a fingerprint.
            if let Some(k) = it.key().filter(|k| k.len() == INDEX_KEY_LEN) {
                chunk.push(hash(k));
                if chunk.len() == BUILD_CHUNK_KEYS {
                    filter.insert_hashes(&mut chunk);
                    chunk.clear();
                }
            }
            it.next();
        }
        if let Err(e) = it.status() {
            tracing::warn!(error = %e, index = cf, "duplicate-index filter not built; lookups go to RocksDB");
            self.lock().sealed_during_build = None;
            return;
        }
        filter.insert_hashes(&mut chunk);
        // The hashes of runs sealed during the scan: most are added outside the lock, so
        // lookups do not wait; the last few under it, with the installation.
        let mut state = loop {
            let mut pending = std::mem::take(self.lock().sealed_during_build.get_or_insert_with(Vec::new));
            let few = pending.len() <= 65_536;
            filter.insert_hashes(&mut pending);
            if few {
                break self.lock();
            }
        };
        filter.insert_hashes(&mut state.sealed_during_build.take().unwrap_or_default());
        tracing::info!(
            index = cf,
            keys = filter.len(),
            bytes = filter.bytes(),
            ms = started.elapsed().as_millis() as u64,
            "duplicate-index filter built"
        );
        state.current = Some(Arc::new(filter));
    }

    /// Adds a sealed run's keys (called after it was ingested, before its job is done).
    /// Returns true when the filter is full and should be rebuilt larger.
    ///
    /// The keys go into the installed filter outside the lock (its bits are atomic), so the
    /// Raft thread's lookups never wait for a whole run's inserts. A build that installs a
    /// newer filter meanwhile has the keys too: from its scan (the run was ingested before
    /// it began) or from the hashes kept here.
    pub(crate) fn add_run(&self, run: &IndexRun) -> bool {
        let mut hashes: Vec<u64> = run.keys().map(|k| hash(k)).collect();
        let current = {
            let mut state = self.lock();
            if let Some(sealed) = state.sealed_during_build.as_mut() {
                sealed.extend_from_slice(&hashes);
            }
            state.current.clone()
        };
        match current {
            Some(f) => {
                f.insert_hashes(&mut hashes);
                f.is_full()
            }
            None => false,
        }
    }

    /// Keeps of `asked` (positions in `keys`) those the filter cannot rule out: all of them
    /// while no filter is installed.
    pub(crate) fn retain_candidates(&self, keys: &[&IndexKey], asked: &mut Vec<usize>) {
        if let Some(f) = self.current() {
            asked.retain(|&i| f.may_contain(&keys[i][..]));
        }
    }
}

impl IndexFilter {
    /// After the column family was emptied: an empty filter (a build still running installs
    /// one with stale keys, which only cost lookups that find nothing).
    pub(crate) fn reset(&self) {
        self.lock().current = Some(Arc::new(KeyFilter::with_capacity(self.keys_min)));
    }

    /// Waits for a running build (tests).
    #[cfg(test)]
    pub(crate) fn wait_build(&self) {
        let build = self.build.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(h) = build {
            h.join().expect("filter build thread");
        }
    }

    /// Stops a running build and waits for its thread (which holds the database open).
    pub(crate) fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let build = self.build.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(h) = build {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> IndexKey {
        let mut k = [0u8; INDEX_KEY_LEN];
        k[..8].copy_from_slice(&i.to_be_bytes());
        k[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        k
    }

    #[test]
    fn no_false_negatives_and_few_false_positives_at_capacity() {
        let f = KeyFilter::with_capacity(100_000);
        for i in 0..100_000 {
            f.insert(&key(i));
        }
        assert!(
            (0..100_000).all(|i| f.may_contain(&key(i))),
            "every inserted key is found"
        );
        let fp = (1_000_000..1_200_000).filter(|&i| f.may_contain(&key(i))).count();
        // 16 bits a key and 7 probes in a 512-bit block: 0.1% measured; 0.5% bounds it.
        assert!(fp < 1_000, "{fp} false positives in 200,000 absent keys");
        assert!(!f.is_full());
        f.insert(&key(100_000));
        assert!(f.is_full());
    }

    /// Sorted batch inserts set exactly the bits and count that one-by-one inserts do.
    #[test]
    fn batch_inserts_equal_single_inserts() {
        let (one, batch) = (KeyFilter::with_capacity(50_000), KeyFilter::with_capacity(50_000));
        let mut hashes: Vec<u64> = (0..50_000).map(|i| hash(&key(i))).collect();
        for &a in &hashes {
            one.insert_hash(a);
        }
        batch.insert_hashes(&mut hashes);
        assert_eq!(one.len(), batch.len());
        let bits = |f: &KeyFilter| -> Vec<u64> {
            f.blocks
                .iter()
                .flat_map(|b| b.iter().map(|w| w.load(Ordering::Relaxed)))
                .collect()
        };
        assert_eq!(bits(&one), bits(&batch));
        assert!((0..50_000).all(|i| batch.may_contain(&key(i))));
    }
}

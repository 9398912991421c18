//! The state machine's storage: a settlement [`Store`] over one state column family.

use std::sync::Arc;

use rocksdb::{DB, ReadOptions, ReadTier, SnapshotWithThreadMode, WriteBatch as RocksBatch, WriteOptions};
use settlement::error::StoreError;
use settlement::store::{ReadStore, Store, WriteBatch, WriteOp};

use crate::storage::StateSlot;

fn store_error(op: &str, e: rocksdb::Error) -> StoreError {
    StoreError {
        message: format!("rocksdb {op}: {e}"),
    }
}

/// [`Store`] over one state column family. Each [`Store::write`] is one RocksDB write batch:
/// atomic, so the settlement machine's state change and applied index land together.
#[derive(Clone)]
pub struct RocksStateStore {
    db: Arc<DB>,
    slot: StateSlot,
}

impl std::fmt::Debug for RocksStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStateStore")
            .field("slot", &self.slot)
            .finish()
    }
}

impl RocksStateStore {
    pub(crate) fn new(db: Arc<DB>, slot: StateSlot) -> Self {
        RocksStateStore { db, slot }
    }

    /// The slot this store writes.
    pub fn slot(&self) -> StateSlot {
        self.slot
    }

    fn cf(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(self.slot.cf_name())
            .expect("state column families are created at open")
    }

    /// A point-in-time view of this store (a RocksDB snapshot) for building a snapshot.
    pub fn view(&self) -> RocksStateView<'_> {
        RocksStateView {
            snap: self.db.snapshot(),
            store: self,
        }
    }

    /// What of this store is durable: point reads that see only flushed table files, never
    /// the memtables (RocksDB's persisted read tier, which skips the memtables once a write
    /// has bypassed the write-ahead log, as every state write does; before the first one
    /// after opening, the state's memtables are empty, since nothing of the state is in the
    /// log RocksDB replays at open). Reading the applied index through it tells how far the
    /// state survives a crash.
    pub fn persisted(&self) -> PersistedState<'_> {
        PersistedState { store: self }
    }
}

/// The durable part of a state store (see [`RocksStateStore::persisted`]). Point reads only:
/// RocksDB has no iterators over the persisted tier, so [`ReadStore::scan`] is an error.
pub struct PersistedState<'a> {
    store: &'a RocksStateStore,
}

impl ReadStore for PersistedState<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut ro = ReadOptions::default();
        ro.set_read_tier(ReadTier::Persisted);
        self.store
            .db
            .get_pinned_cf_opt(self.store.cf(), key, &ro)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| store_error("persisted get", e))
    }

    fn scan(
        &self,
        _start: &[u8],
        _end: Option<&[u8]>,
        _visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        Err(StoreError {
            message: "rocksdb: the persisted read tier has point reads only, no scans".into(),
        })
    }
}

fn scan_iter(
    mut it: rocksdb::DBRawIteratorWithThreadMode<'_, DB>,
    start: &[u8],
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<(), StoreError> {
    it.seek(start);
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        if !visit(k, v) {
            return Ok(());
        }
        it.next();
    }
    it.status().map_err(|e| store_error("scan", e))
}

fn read_opts(end: Option<&[u8]>) -> ReadOptions {
    let mut ro = ReadOptions::default();
    if let Some(e) = end {
        ro.set_iterate_upper_bound(e.to_vec());
    }
    ro
}

impl ReadStore for RocksStateStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .get_pinned_cf(self.cf(), key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| store_error("get", e))
    }

    /// One batched lookup (RocksDB's `MultiGet`: the keys are sorted and looked up together,
    /// sharing block reads) for a batch's duplicate checks.
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.db
            .batched_multi_get_cf(self.cf(), keys, false)
            .into_iter()
            .map(|r| {
                r.map(|v| v.map(|v| v.to_vec()))
                    .map_err(|e| store_error("multi_get", e))
            })
            .collect()
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if end.is_some_and(|e| e <= start) {
            return Ok(());
        }
        scan_iter(
            self.db.raw_iterator_cf_opt(self.cf(), read_opts(end)),
            start,
            visit,
        )
    }
}

impl Store for RocksStateStore {
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        let cf = self.cf();
        let mut b = RocksBatch::default();
        let ops = batch.into_ops();
        // A batch of puts goes into the memtable in key order. The memtable's skip list
        // starts each insert from where the previous one landed (its cached splice), so
        // sorted keys skip most of the search from the top; a batch's 1,000 duplicate-check
        // keys are random, and that search was the largest item of the cluster profile. The
        // sort is stable, so a key put twice still ends with its last value; a batch with
        // deletes keeps its order (a delete and a put of one key must not swap).
        let mut order: Vec<&WriteOp> = ops.iter().collect();
        if ops.iter().all(|op| matches!(op, WriteOp::Put(..))) {
            order.sort_by(|a, b| match (a, b) {
                (WriteOp::Put(x, _), WriteOp::Put(y, _)) => x.cmp(y),
                _ => std::cmp::Ordering::Equal,
            });
        }
        for op in order {
            match op {
                WriteOp::Put(k, v) => b.put_cf(cf, k, v),
                WriteOp::Delete(k) => b.delete_cf(cf, k),
                WriteOp::DeleteRange(s, e) => {
                    if s < e {
                        b.delete_range_cf(cf, s, e)
                    }
                }
            }
        }
        // Not in the write-ahead log: see the storage module docs. A state write is durable
        // once its column family is flushed; until then a crash loses it and the node
        // replays the entries from the Raft log, which is not compacted past a flush.
        let mut wo = WriteOptions::default();
        wo.disable_wal(true);
        self.db.write_opt(b, &wo).map_err(|e| store_error("write", e))
    }
}

/// A point-in-time view of a state store: what a snapshot is built from.
pub struct RocksStateView<'a> {
    snap: SnapshotWithThreadMode<'a, DB>,
    store: &'a RocksStateStore,
}

impl ReadStore for RocksStateView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.snap
            .get_cf(self.store.cf(), key)
            .map_err(|e| store_error("snapshot get", e))
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if end.is_some_and(|e| e <= start) {
            return Ok(());
        }
        scan_iter(
            self.snap.raw_iterator_cf_opt(self.store.cf(), read_opts(end)),
            start,
            visit,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::RocksEngine;

    #[test]
    fn rocks_state_store_passes_the_settlement_conformance_suite() {
        let dirs = std::cell::RefCell::new(Vec::new());
        settlement::store::conformance::run(|| {
            let dir = tempfile::tempdir().unwrap();
            let engine = RocksEngine::open(dir.path(), false).unwrap();
            dirs.borrow_mut().push(dir);
            engine.state_store().unwrap()
        });
    }

    #[test]
    fn a_view_does_not_see_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let mut s = engine.state_store().unwrap();
        let mut b = WriteBatch::new();
        b.put(b"k".to_vec(), b"1".to_vec());
        s.write(b).unwrap();
        let reader = s.clone();
        let view = reader.view();
        let mut b = WriteBatch::new();
        b.put(b"k".to_vec(), b"2".to_vec());
        b.put(b"l".to_vec(), b"3".to_vec());
        s.write(b).unwrap();
        assert_eq!(view.get(b"k").unwrap(), Some(b"1".to_vec()));
        let mut n = 0;
        view.scan(b"", None, &mut |_, _| {
            n += 1;
            true
        })
        .unwrap();
        assert_eq!(n, 1, "the view is point-in-time");
        assert_eq!(s.get(b"l").unwrap(), Some(b"3".to_vec()));
    }

    /// Large values live in blob files once flushed: reads, scans, views, reopening and
    /// range deletion with compaction still see exactly what was written.
    #[test]
    fn large_values_round_trip_through_blob_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = |i: u8| -> Vec<u8> { (0..20_000u32).map(|j| (j as u8).wrapping_mul(31) ^ i).collect() };
        {
            let engine = RocksEngine::open(dir.path(), false).unwrap();
            let mut s = engine.state_store().unwrap();
            let mut b = WriteBatch::new();
            for i in 0..4u8 {
                b.put(vec![b'B', i], big(i));
                b.put(vec![b'D', i], vec![i; 12]);
            }
            s.write(b).unwrap();
            s.db.flush_cf(s.cf()).unwrap();
            let blobs = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|f| {
                    f.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".blob")
                })
                .count();
            assert!(
                blobs > 0,
                "a flush of values of 4 KiB and more writes a blob file"
            );
            let reader = s.clone();
            let view = reader.view();
            assert_eq!(view.get(&[b'B', 2]).unwrap(), Some(big(2)));
            let mut seen = Vec::new();
            s.scan(b"B", Some(b"C"), &mut |k, v| {
                seen.push((k.to_vec(), v.to_vec()));
                true
            })
            .unwrap();
            assert_eq!(
                seen,
                (0..4u8).map(|i| (vec![b'B', i], big(i))).collect::<Vec<_>>()
            );
            let mut b = WriteBatch::new();
            b.delete_range(vec![b'B', 1], vec![b'B', 3]);
            s.write(b).unwrap();
            s.db.flush_cf(s.cf()).unwrap();
            s.db.compact_range_cf(s.cf(), None::<&[u8]>, None::<&[u8]>);
        }
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let s = engine.state_store().unwrap();
        for i in 0..4u8 {
            let expected = (!(1..3).contains(&i)).then(|| big(i));
            assert_eq!(
                s.get(&[b'B', i]).unwrap(),
                expected,
                "large value {i} after reopen"
            );
            assert_eq!(s.get(&[b'D', i]).unwrap(), Some(vec![i; 12]), "small value {i}");
        }
    }

    /// The persisted view sees a state write only once it is flushed, and sees the flushed
    /// value while a newer one waits in the memtable.
    #[test]
    fn the_persisted_view_sees_only_flushed_writes() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), true).unwrap();
        let mut s = engine.state_store().unwrap();
        let put = |s: &mut RocksStateStore, v: &[u8]| {
            let mut b = WriteBatch::new();
            b.put(b"applied".to_vec(), v.to_vec());
            s.write(b).unwrap();
        };
        put(&mut s, b"1");
        assert_eq!(s.get(b"applied").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.persisted().get(b"applied").unwrap(), None, "not flushed yet");
        engine.flush_state(s.slot()).unwrap();
        assert_eq!(s.persisted().get(b"applied").unwrap(), Some(b"1".to_vec()));
        put(&mut s, b"2");
        assert_eq!(
            s.persisted().get(b"applied").unwrap(),
            Some(b"1".to_vec()),
            "the newer value is only in the memtable"
        );
        engine.request_state_flush(s.slot()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while s.persisted().get(b"applied").unwrap() != Some(b"2".to_vec()) {
            assert!(
                std::time::Instant::now() < deadline,
                "a requested background flush did not complete within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let err = s.persisted().scan(b"", None, &mut |_, _| true).unwrap_err();
        assert!(err.message.contains("no scans"), "{}", err.message);
    }

    /// State writes bypass the write-ahead log and closing does not flush them: what was not
    /// flushed is gone after a reopen, exactly as after a crash (the Raft log replays it);
    /// what `flush_state` flushed survives.
    #[test]
    fn only_flushed_state_writes_survive_a_close() {
        let dir = tempfile::tempdir().unwrap();
        let put = |s: &mut RocksStateStore, k: &[u8]| {
            let mut b = WriteBatch::new();
            b.put(k.to_vec(), b"v".to_vec());
            s.write(b).unwrap();
        };
        {
            let engine = RocksEngine::open(dir.path(), true).unwrap();
            let mut s = engine.state_store().unwrap();
            put(&mut s, b"flushed");
            engine.flush_state(s.slot()).unwrap();
            put(&mut s, b"unflushed");
            assert_eq!(s.get(b"unflushed").unwrap(), Some(b"v".to_vec()));
        }
        let engine = RocksEngine::open(dir.path(), true).unwrap();
        let s = engine.state_store().unwrap();
        assert_eq!(s.get(b"flushed").unwrap(), Some(b"v".to_vec()));
        assert_eq!(
            s.get(b"unflushed").unwrap(),
            None,
            "closing must not flush the state"
        );
    }
}

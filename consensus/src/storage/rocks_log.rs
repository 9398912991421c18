//! The RocksDB log store.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use protobuf::Message as _;
use raft::prelude::{Entry, HardState, SnapshotMetadata};
use rocksdb::{DB, ReadOptions, WriteBatch, WriteOptions};

use crate::error::{ConsensusError, Result};
use crate::storage::engine::{CF_LOG, CF_META, KEY_ACTIVE_STATE};
use crate::storage::log::{check_append, limit_entries};
use crate::storage::{LogStore, Membership, StateSlot};

const KEY_HARD_STATE: &[u8] = b"hard_state";
const KEY_MEMBERSHIP: &[u8] = b"membership";
const KEY_SNAPSHOT_POINT: &[u8] = b"snapshot_point";

/// Room an entry takes beyond its data and context: its other fields encoded (index, term,
/// type, sync_log and their tags) and, in a write batch, the record's tag, column family and
/// lengths and its 8-byte key. An estimate for sizing buffers; more is allocated if needed.
const ENTRY_OVERHEAD_BYTES: usize = 48;
/// A write batch's own header and the hard state written with an append.
const BATCH_OVERHEAD_BYTES: usize = 128;

fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> ConsensusError {
    ConsensusError::Corrupt {
        what,
        reason: e.to_string(),
    }
}

/// The Raft log in the `raft_log` column family and its metadata in `raft_meta`.
///
/// Hard state, membership and snapshot point are cached in memory, as are the terms of the
/// held entries (8 bytes each: raft-rs asks for terms far more often than for entries).
pub struct RocksLogStore {
    db: Arc<DB>,
    sync: bool,
    hard_state: HardState,
    membership: Membership,
    snapshot_point: (u64, u64),
    /// Terms of entries `snapshot_point.0 + 1 ..= last_index`.
    terms: VecDeque<u64>,
    /// Deletes the table files of compacted entries off the Raft thread.
    reclaimer: FileReclaimer,
}

/// A thread that deletes the log's table files holding only compacted entries.
///
/// Deleting the files is an unlink of tens of megabytes each (65 MB log table files in the
/// cluster bench; on a filesystem mounted with `discard`, the freed blocks are discarded as
/// it unlinks) plus a synced manifest write. On the Raft thread, a log compaction with it
/// took 39-134 ms in the cluster bench, during which the node neither appended nor
/// applied; without it, at most 42 ms (its synced write, when the disk was busy). Only disk
/// space depends on the deletion, so the Raft thread hands the compaction point over and goes
/// on; a newer point replaces one not yet taken (deleting below the newer point covers it).
struct FileReclaimer {
    shared: Arc<ReclaimShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct ReclaimShared {
    state: Mutex<ReclaimState>,
    changed: Condvar,
}

#[derive(Default)]
struct ReclaimState {
    /// Delete the files wholly below this index.
    requested: Option<u64>,
    /// The highest index whose files the thread has deleted (or tried to).
    done: u64,
    stop: bool,
}

impl FileReclaimer {
    fn start(db: Arc<DB>) -> Result<FileReclaimer> {
        let shared = Arc::new(ReclaimShared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("raft-log-reclaim".into())
            .spawn(move || reclaim_loop(&db, &s))
            .map_err(|e| ConsensusError::storage("start the log file reclaimer", e))?;
        Ok(FileReclaimer {
            shared,
            thread: Some(thread),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReclaimState> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for the files wholly below `index` to be deleted.
    fn request(&self, index: u64) {
        let mut st = self.lock();
        if index > st.done && st.requested.is_none_or(|r| r < index) {
            st.requested = Some(index);
            self.shared.changed.notify_all();
        }
    }

    /// Waits until the files below `index` have been deleted (tests).
    #[cfg(test)]
    fn wait_done(&self, index: u64) {
        let mut st = self.lock();
        while st.done < index {
            let (g, timeout) = self
                .shared
                .changed
                .wait_timeout(st, std::time::Duration::from_secs(30))
                .unwrap_or_else(PoisonError::into_inner);
            assert!(
                !timeout.timed_out(),
                "log files below {index} not reclaimed within 30 s"
            );
            st = g;
        }
    }
}

fn reclaim_loop(db: &DB, shared: &ReclaimShared) {
    let lock = || shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let index = {
            let mut st = lock();
            loop {
                if st.stop {
                    return;
                }
                if let Some(i) = st.requested.take() {
                    break i;
                }
                st = shared.changed.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        };
        // Table files wholly inside the range go; RocksDB skips level-0 files and files
        // that also hold later entries, which the range deletion covers until compaction.
        // A failure costs disk space only until compaction reaches the range deletion.
        let cf = db.cf_handle(CF_LOG).expect("log column family exists");
        if let Err(e) = db.delete_file_in_range_cf(cf, log_key(0), log_key(index)) {
            tracing::warn!(error = %e, to = index, "could not delete compacted log files");
        }
        let mut st = lock();
        st.done = st.done.max(index);
        shared.changed.notify_all();
    }
}

impl Drop for FileReclaimer {
    /// Stops the thread (a request not yet taken is left to RocksDB's compaction) and waits
    /// for it, so the database closes once its stores are dropped.
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for RocksLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksLogStore")
            .field("snapshot_point", &self.snapshot_point)
            .field("last_index", &self.last_index())
            .finish()
    }
}

impl RocksLogStore {
    pub(crate) fn open(db: Arc<DB>, sync: bool) -> Result<RocksLogStore> {
        let meta = db.cf_handle(CF_META).expect("meta column family exists");
        let get = |k: &[u8]| {
            db.get_cf(meta, k)
                .map_err(|e| ConsensusError::storage("read raft meta", e))
        };
        let mut hard_state = HardState::default();
        if let Some(b) = get(KEY_HARD_STATE)? {
            hard_state
                .merge_from_bytes(&b)
                .map_err(|e| corrupt("hard state", e))?;
        }
        let membership = match get(KEY_MEMBERSHIP)? {
            Some(b) => Membership::decode(&b)?,
            None => Membership::default(),
        };
        let snapshot_point = match get(KEY_SNAPSHOT_POINT)? {
            Some(b) if b.len() == 16 => (
                u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
                u64::from_be_bytes(b[8..].try_into().expect("8 bytes")),
            ),
            Some(b) => return Err(corrupt("snapshot point", format!("{} bytes", b.len()))),
            None => (0, 0),
        };
        let mut terms = VecDeque::new();
        {
            let log = db.cf_handle(CF_LOG).expect("log column family exists");
            let mut it = db.raw_iterator_cf(log);
            it.seek(log_key(snapshot_point.0 + 1));
            let mut expect = snapshot_point.0 + 1;
            while it.valid() {
                let (Some(k), Some(v)) = (it.key(), it.value()) else {
                    break;
                };
                let index = u64::from_be_bytes(k.try_into().map_err(|_| corrupt("log key", "not 8 bytes"))?);
                if index != expect {
                    return Err(corrupt(
                        "raft log",
                        format!("entry {index} where {expect} was expected"),
                    ));
                }
                let e = Entry::parse_from_bytes(v).map_err(|e| corrupt("log entry", e))?;
                terms.push_back(e.term);
                expect += 1;
                it.next();
            }
            it.status()
                .map_err(|e| ConsensusError::storage("scan raft log", e))?;
        }
        let reclaimer = FileReclaimer::start(db.clone())?;
        Ok(RocksLogStore {
            db,
            sync,
            hard_state,
            membership,
            snapshot_point,
            terms,
            reclaimer,
        })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    fn write(&self, batch: WriteBatch, sync: bool, op: &'static str) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync && self.sync);
        self.db
            .write_opt(batch, &wo)
            .map_err(|e| ConsensusError::storage(op, e))
    }

    fn put_snapshot_point(&self, b: &mut WriteBatch, point: (u64, u64)) {
        let mut v = point.0.to_be_bytes().to_vec();
        v.extend_from_slice(&point.1.to_be_bytes());
        b.put_cf(self.cf(CF_META), KEY_SNAPSHOT_POINT, v);
    }

    /// Installs a received snapshot in one synced batch: the snapshot point, hard state and
    /// membership of [`LogStore::apply_snapshot`], every log entry removed, and the active
    /// state flag flipped to `slot` (which holds the snapshot's state). This one batch is the
    /// installation's commit point.
    pub fn install_snapshot(
        &mut self,
        meta: &SnapshotMetadata,
        membership: &Membership,
        slot: StateSlot,
    ) -> Result<()> {
        let mut b = self.snapshot_batch(meta, membership);
        b.put_cf(self.cf(CF_META), KEY_ACTIVE_STATE, [slot.to_byte()]);
        self.write(b, true, "install snapshot")?;
        self.after_snapshot(meta, membership);
        Ok(())
    }

    fn snapshot_batch(&self, meta: &SnapshotMetadata, membership: &Membership) -> WriteBatch {
        let mut b = WriteBatch::default();
        b.delete_range_cf(self.cf(CF_LOG), log_key(0), log_key(u64::MAX));
        self.put_snapshot_point(&mut b, (meta.index, meta.term));
        let mut hs = self.hard_state.clone();
        hs.commit = hs.commit.max(meta.index);
        hs.term = hs.term.max(meta.term);
        b.put_cf(
            self.cf(CF_META),
            KEY_HARD_STATE,
            hs.write_to_bytes().expect("encoding a HardState cannot fail"),
        );
        b.put_cf(self.cf(CF_META), KEY_MEMBERSHIP, membership.encode());
        b
    }

    fn after_snapshot(&mut self, meta: &SnapshotMetadata, membership: &Membership) {
        self.terms.clear();
        self.snapshot_point = (meta.index, meta.term);
        self.hard_state.commit = self.hard_state.commit.max(meta.index);
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.membership = membership.clone();
    }
}

impl LogStore for RocksLogStore {
    fn hard_state(&self) -> HardState {
        self.hard_state.clone()
    }

    fn membership(&self) -> Membership {
        self.membership.clone()
    }

    fn snapshot_point(&self) -> (u64, u64) {
        self.snapshot_point
    }

    fn last_index(&self) -> u64 {
        self.snapshot_point.0 + self.terms.len() as u64
    }

    fn held_term(&self, offset: usize) -> u64 {
        self.terms[offset]
    }

    fn entries(&self, low: u64, high: u64, max_bytes: Option<u64>) -> Result<Vec<Entry>> {
        assert!(
            low >= self.first_index() && high <= self.last_index() + 1 && low <= high,
            "entries [{low}, {high}) outside the held range [{}, {}]",
            self.first_index(),
            self.last_index()
        );
        let mut out = Vec::with_capacity((high - low).min(1024) as usize);
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(log_key(high).to_vec());
        let mut it = self.db.raw_iterator_cf_opt(self.cf(CF_LOG), ro);
        it.seek(log_key(low));
        let mut bytes = 0u64;
        let mut expect = low;
        while it.valid() {
            let v = it.value().expect("valid iterator has a value");
            let e = Entry::parse_from_bytes(v).map_err(|e| corrupt("log entry", e))?;
            if e.index != expect {
                return Err(corrupt(
                    "raft log",
                    format!("entry {} where {expect} was expected", e.index),
                ));
            }
            bytes += u64::from(e.compute_size());
            let over = max_bytes.is_some_and(|m| bytes > m);
            if over && !out.is_empty() {
                break;
            }
            out.push(e);
            expect += 1;
            if over {
                break;
            }
            it.next();
        }
        it.status()
            .map_err(|e| ConsensusError::storage("read raft log", e))?;
        if max_bytes.is_none() && out.len() as u64 != high - low {
            return Err(corrupt(
                "raft log",
                format!("entries [{low}, {high}) missing from {expect}"),
            ));
        }
        limit_entries(&mut out, max_bytes);
        Ok(out)
    }

    fn append(&mut self, entries: &[Entry], hard_state: Option<&HardState>, sync: bool) -> Result<()> {
        check_append(self.first_index(), self.last_index(), entries);
        // Encoded into one buffer, and the batch sized for all of it up front: appends carry
        // megabytes, and a batch grown write by write copied itself at every doubling.
        let mut encoded = Vec::with_capacity(
            entries
                .iter()
                .map(|e| e.data.len() + e.context.len() + ENTRY_OVERHEAD_BYTES)
                .sum(),
        );
        let mut ends = Vec::with_capacity(entries.len());
        for e in entries {
            e.write_to_vec(&mut encoded)
                .expect("encoding an Entry cannot fail");
            ends.push(encoded.len());
        }
        let mut b = WriteBatch::with_capacity_bytes(
            encoded.len() + entries.len() * ENTRY_OVERHEAD_BYTES + BATCH_OVERHEAD_BYTES,
        );
        if let Some(first) = entries.first() {
            let last = self.last_index();
            let new_last = entries.last().expect("non-empty").index;
            if first.index <= last && new_last < last {
                // Entries after the new last one belong to a deposed leader's log.
                b.delete_range_cf(self.cf(CF_LOG), log_key(new_last + 1), log_key(last + 1));
            }
            let mut start = 0;
            for (e, &end) in entries.iter().zip(&ends) {
                b.put_cf(self.cf(CF_LOG), log_key(e.index), &encoded[start..end]);
                start = end;
            }
        }
        if let Some(hs) = hard_state {
            b.put_cf(
                self.cf(CF_META),
                KEY_HARD_STATE,
                hs.write_to_bytes().expect("encoding a HardState cannot fail"),
            );
        }
        self.write(b, sync, "append raft log")?;
        if let Some(first) = entries.first() {
            let keep = (first.index - self.first_index()) as usize;
            self.terms.truncate(keep);
            self.terms.extend(entries.iter().map(|e| e.term));
        }
        if let Some(hs) = hard_state {
            self.hard_state = hs.clone();
        }
        Ok(())
    }

    fn set_membership(&mut self, membership: &Membership) -> Result<()> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_META), KEY_MEMBERSHIP, membership.encode());
        // Synced: a node must not forget a configuration it acted on.
        self.write(b, true, "write membership")?;
        self.membership = membership.clone();
        Ok(())
    }

    fn compact(&mut self, index: u64) -> Result<()> {
        if index <= self.snapshot_point.0 {
            return Ok(());
        }
        let term = self
            .term(index)
            .unwrap_or_else(|| panic!("compact to {index} beyond the last index {}", self.last_index()));
        let first = self.first_index();
        let mut b = WriteBatch::default();
        b.delete_range_cf(self.cf(CF_LOG), log_key(first), log_key(index + 1));
        self.put_snapshot_point(&mut b, (index, term));
        // Synced: the table files below the compaction point are deleted next, and a crash
        // must not bring back a log start whose entries are gone.
        self.write(b, true, "compact raft log")?;
        let drop = (index + 1 - first) as usize;
        self.terms.drain(..drop);
        self.snapshot_point = (index, term);
        // The range deletion alone leaves the entries on disk until a RocksDB compaction
        // reaches them (measured: 0.7-1.1 GB of log column family per node in long runs,
        // several times what retention keeps), so the table files of compacted entries are
        // deleted next, by the reclaimer's thread.
        self.reclaimer.request(index);
        Ok(())
    }

    fn apply_snapshot(&mut self, meta: &SnapshotMetadata, membership: &Membership) -> Result<()> {
        let b = self.snapshot_batch(meta, membership);
        self.write(b, true, "apply snapshot")?;
        self.after_snapshot(meta, membership);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rocksdb::DB;

    use super::{CF_LOG, RocksLogStore, log_key};
    use crate::storage::{LogStore, RocksEngine, conformance};
    use raft::eraftpb::Entry;

    fn entries(from: u64, to: u64) -> Vec<Entry> {
        (from..=to)
            .map(|index| Entry {
                index,
                term: 1,
                data: vec![index as u8; 1024].into(),
                ..Default::default()
            })
            .collect()
    }

    /// A log store in a new engine in `dir`, and the log's database.
    fn open_log(dir: &tempfile::TempDir, sync: bool) -> (RocksEngine, RocksLogStore, Arc<DB>) {
        let engine = RocksEngine::open(dir.path(), sync).unwrap();
        let log = engine.log_store().unwrap();
        let db = log.db.clone();
        (engine, log, db)
    }

    /// Compaction removes whole table files of compacted entries at once instead of leaving
    /// them until a RocksDB compaction reaches the range deletion.
    #[test]
    fn compaction_deletes_the_table_files_of_compacted_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, mut log, db) = open_log(&dir, true);
        let cf = || db.cf_handle(CF_LOG).unwrap();
        // Entries 1-50 in a bottom-level file, 51-100 in a level-0 file.
        log.append(&entries(1, 50), None, true).unwrap();
        db.flush_cf(&cf()).unwrap();
        db.compact_range_cf(&cf(), None::<&[u8]>, None::<&[u8]>);
        log.append(&entries(51, 100), None, true).unwrap();
        db.flush_cf(&cf()).unwrap();
        let log_files = || -> Vec<(i32, Vec<u8>, Vec<u8>)> {
            db.live_files()
                .unwrap()
                .into_iter()
                .filter(|f| f.column_family_name == CF_LOG)
                .map(|f| (f.level, f.start_key.unwrap(), f.end_key.unwrap()))
                .collect()
        };
        let before = log_files();
        assert!(
            before
                .iter()
                .any(|(level, _, end)| *level > 0 && end[..] == log_key(50)),
            "setup: entries 1-50 in a file below level 0: {before:?}"
        );
        log.compact(60).unwrap();
        log.reclaimer.wait_done(60);
        let after = log_files();
        assert!(
            after.iter().all(|(_, _, end)| end[..] > log_key(60)[..]),
            "the file holding only compacted entries is gone: {after:?}"
        );
        // What remains reads as before, also after reopening.
        assert_eq!(log.first_index(), 61);
        assert_eq!(log.entries(61, 101, None).unwrap(), entries(61, 100));
        drop((log, db, engine));
        let log = RocksEngine::open(dir.path(), true).unwrap().log_store().unwrap();
        assert_eq!(log.first_index(), 61);
        assert_eq!(log.entries(61, 101, None).unwrap(), entries(61, 100));
    }

    /// Entries compacted while still in the memtable are dropped when it is flushed, not
    /// written to a table file (what `limits::LOG_MEMTABLE_BYTES` relies on).
    #[test]
    fn a_flush_drops_the_entries_compacted_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_engine, mut log, db) = open_log(&dir, false);
        log.append(&entries(1, 1000), None, false).unwrap();
        log.compact(990).unwrap();
        db.flush_cf(&db.cf_handle(CF_LOG).unwrap()).unwrap();
        let written: usize = db
            .live_files()
            .unwrap()
            .into_iter()
            .filter(|f| f.column_family_name == CF_LOG)
            .map(|f| f.size)
            .sum();
        // 1,000 KiB of entries were appended; 10 KiB of them are kept.
        assert!(
            written < 64 << 10,
            "the flush wrote {written} bytes of log table files"
        );
        assert_eq!(log.first_index(), 991);
        assert_eq!(log.entries(991, 1001, None).unwrap(), entries(991, 1000));
    }

    #[test]
    fn rocks_log_store_passes_the_conformance_suite() {
        let dirs = std::cell::RefCell::new(Vec::new());
        conformance::run(
            || {
                let dir = tempfile::tempdir().unwrap();
                let engine = RocksEngine::open(dir.path(), true).unwrap();
                let path = dir.path().to_path_buf();
                dirs.borrow_mut().push((dir, path));
                engine.log_store().unwrap()
            },
            |store| {
                // Reopen the database from disk: every cached field must come back.
                let path = dirs.borrow().last().unwrap().1.clone();
                drop(store);
                RocksEngine::open(&path, true).unwrap().log_store().unwrap()
            },
        );
    }
}

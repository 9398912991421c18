//! The state machine's storage: a settlement [`Store`] over one state column family.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use rocksdb::{
    DB, IngestExternalFileOptions, ReadOptions, ReadTier, SnapshotWithThreadMode, SstFileWriter,
    WriteBatch as RocksBatch, WriteOptions,
};
use settlement::error::StoreError;
use settlement::store::{
    INDEX_KEY_LEN, IndexKey, IndexRun, IndexValue, ReadStore, Store, WriteBatch, WriteOp,
};

use crate::limits::{self, SEAL_RUNS_QUEUED_MAX};
use crate::storage::StateSlot;
use crate::storage::engine::index_options;
use crate::storage::index_filter::IndexFilter;

/// The key of a sealed run's `through` in the index column family: after every fingerprint
/// (whose first byte is a TADIG character), so it can end each run's sorted file.
const INDEX_THROUGH_KEY: &[u8] = &[0xff];

fn store_error(op: &str, e: rocksdb::Error) -> StoreError {
    StoreError {
        message: format!("rocksdb {op}: {e}"),
    }
}

/// [`Store`] over one state column family. Each [`Store::write`] is one RocksDB write batch:
/// atomic, so the settlement machine's state change and applied index land together.
///
/// The duplicate index's sealed runs go to the slot's own column family (`dedup_a` or
/// `dedup_b`): each run is written as a sorted table file with its `through` as the last key
/// and ingested whole (RocksDB's external file ingestion: atomic and durable, no memtable, no
/// flush), by a background thread so the Raft thread does not wait for it. Until the thread
/// is done, lookups search the run in memory. Runs are ingested in order; at most
/// [`SEAL_RUNS_QUEUED_MAX`] are in the hands of sealing threads, and sealing one more waits
/// for the oldest. Lookups ask RocksDB only for the keys the slot's in-memory filter
/// ([`IndexFilter`]) cannot rule out.
#[derive(Clone)]
pub struct RocksStateStore {
    db: Arc<DB>,
    slot: StateSlot,
    sealing: Arc<Sealing>,
}

/// The runs being ingested, oldest first, and the filter over what was ingested. One per
/// slot and engine, shared by every store over that slot, so no store's filter misses
/// another's runs.
#[derive(Default)]
pub(crate) struct Sealing {
    jobs: Mutex<Jobs>,
    filter: Arc<IndexFilter>,
    /// The vectors sealing threads sorted their runs in, for the next threads to sort in: their
    /// pages are in use already, where a new vector's first writes each fault one in. At most
    /// [`SEAL_RUNS_QUEUED_MAX`], as many as threads may sort at once.
    sort_buffers: Arc<Mutex<Vec<Vec<SortEntry>>>>,
}

#[derive(Default)]
struct Jobs {
    /// The runs being sealed, oldest first.
    queue: VecDeque<SealJob>,
    /// The runs of joined jobs, emptied, until seals hand them back to the machine (see
    /// [`Store::index_seal`]), one each. Runs move from the queue to here and back to the
    /// machine, and a seal that finds none here lets the machine make a new one, so the
    /// machine's run, the queue and these together never hold more than
    /// 1 + [`SEAL_RUNS_QUEUED_MAX`] runs.
    spent: Vec<IndexRun>,
}

impl Jobs {
    /// Joins the finished jobs at the front of the queue, oldest first.
    fn join_finished(&mut self) -> Result<(), StoreError> {
        while self.queue.front().is_some_and(|j| j.done.is_finished()) {
            self.join_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest job and keeps its run when nothing else holds it (the thread's
    /// own reference is gone once the thread has ended).
    fn join_oldest(&mut self) -> Result<(), StoreError> {
        let job = self.queue.pop_front().expect("a job is queued");
        join(job.done)?;
        self.spent.extend(emptied(job.run));
        Ok(())
    }
}

/// A joined job's run, emptied for reuse, when nothing else holds it.
fn emptied(run: Arc<IndexRun>) -> Option<IndexRun> {
    let mut run = Arc::try_unwrap(run).ok()?;
    run.clear();
    Some(run)
}

struct SealJob {
    run: Arc<IndexRun>,
    done: JoinHandle<Result<(), String>>,
    /// Set when the thread is through with its run (ingested or failed): the next run's
    /// thread ingests only after it, so runs (and their `through`s) land in order.
    ended: Arc<Ended>,
}

/// Whether a sealing thread ingested its run, once it knows; set on every path out of the
/// thread, a panic included.
#[derive(Default)]
struct Ended {
    ingested: Mutex<Option<bool>>,
    cv: Condvar,
}

impl Ended {
    fn set(&self, ingested: bool) {
        let mut slot = self.ingested.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(ingested);
        self.cv.notify_all();
    }

    fn wait(&self) -> bool {
        let slot = self.ingested.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = self
            .cv
            .wait_while(slot, |s| s.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        slot.unwrap_or(false)
    }
}

/// Marks its thread's run as not ingested if the thread leaves without saying otherwise
/// (a panic), so the next run's thread does not wait forever.
struct EndGuard(Arc<Ended>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl Sealing {
    /// Sealing whose filters hold at least `keys_min` keys (tests make rebuilds happen).
    #[cfg(test)]
    pub(crate) fn with_filter_keys_min(keys_min: usize) -> Sealing {
        Sealing {
            jobs: Mutex::default(),
            filter: Arc::new(IndexFilter::new(keys_min)),
            sort_buffers: Arc::default(),
        }
    }

    /// Starts building the slot's filter from what its column family holds (at open).
    pub(crate) fn start_filter(&self, db: Arc<DB>, slot: StateSlot) {
        self.filter.start_build(db, slot.index_cf_name());
    }

    /// Waits for every run being ingested and reports the first failure.
    fn wait(&self) -> Result<(), StoreError> {
        let queue = std::mem::take(&mut self.jobs.lock().unwrap_or_else(PoisonError::into_inner).queue);
        let mut result = Ok(());
        let mut spent = Vec::new();
        for job in queue {
            let joined = join(job.done);
            if result.is_ok() {
                result = joined;
            }
            spent.extend(emptied(job.run));
        }
        if result.is_ok() {
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .spent
                .extend(spent);
        }
        result
    }
}

/// Waits for a sealing thread and reports how it ended.
fn join(done: JoinHandle<Result<(), String>>) -> Result<(), StoreError> {
    match done.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(StoreError {
            message: format!("sealing a duplicate-index run: {message}"),
        }),
        Err(_) => Err(StoreError {
            message: "the thread sealing a duplicate-index run panicked".into(),
        }),
    }
}

impl Drop for Sealing {
    fn drop(&mut self) {
        if let Err(e) = self.wait() {
            tracing::error!(error = %e, "duplicate-index run not sealed; the next start rebuilds it");
        }
        // After the job: a sealed run may have started a rebuild.
        self.filter.shutdown();
    }
}

/// Writes `run` and `through` as one sorted table file at `path` and ingests it into `cf`
/// (which moves the file into the database). A file left behind by a failure or a crash is
/// removed here or when the engine next opens ([`remove_unsealed_runs`]).
/// With `after`, the file is ingested only once the previous run's thread has ingested its
/// own, and not at all if that failed.
fn write_and_ingest(
    db: &DB,
    cf: &str,
    path: PathBuf,
    (run, through): (&IndexRun, u64),
    after: Option<&Ended>,
    sort_buffers: &Mutex<Vec<Vec<SortEntry>>>,
) -> Result<(), String> {
    let taken = sort_buffers.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let mut sorted = taken.unwrap_or_default();
    let written = write_run_file(&path, run, through, &mut sorted);
    let mut kept = sort_buffers.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() < SEAL_RUNS_QUEUED_MAX {
        kept.push(sorted);
    }
    drop(kept);
    let result = written.and_then(|()| {
        if after.is_some_and(|previous| !previous.wait()) {
            return Err("the previous run was not sealed, so this one is not ingested".into());
        }
        ingest_run_file(db, cf, &path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    result
}

/// Suffix of the name of a run's table file while it is written (before ingestion moves it).
pub(crate) const UNSEALED_RUN_SUFFIX: &str = ".unsealed-run.sst";

/// Removes run files a crash left between writing and ingestion (RocksDB ignores them).
pub(crate) fn remove_unsealed_runs(dir: &std::path::Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(UNSEALED_RUN_SUFFIX) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// A run entry while it is sorted: the key as two big-endian integers, which order like the
/// bytes.
struct SortEntry {
    high: u128,
    low: u128,
    value: IndexValue,
}

const _: () = assert!(INDEX_KEY_LEN > 16 && INDEX_KEY_LEN <= 32, "a key fits two u128");

impl SortEntry {
    fn new((key, value): (&IndexKey, &IndexValue)) -> SortEntry {
        let mut low = [0u8; 16];
        low[..INDEX_KEY_LEN - 16].copy_from_slice(&key[16..]);
        SortEntry {
            high: u128::from_be_bytes(key[..16].try_into().expect("16 bytes")),
            low: u128::from_be_bytes(low),
            value: *value,
        }
    }

    fn key(&self) -> IndexKey {
        let mut k = [0u8; INDEX_KEY_LEN];
        k[..16].copy_from_slice(&self.high.to_be_bytes());
        k[16..].copy_from_slice(&self.low.to_be_bytes()[..INDEX_KEY_LEN - 16]);
        k
    }
}

/// Writes `run` and `through` as a sorted table file at `path`, sorting in `sorted` (emptied
/// first).
fn write_run_file(
    path: &std::path::Path,
    run: &IndexRun,
    through: u64,
    sorted: &mut Vec<SortEntry>,
) -> Result<(), String> {
    // Copied out of the run and sorted in place: sorting references into the run made
    // every comparison (and the writer's order check) a cache miss, measured at 12% of the
    // cluster bench's CPU.
    sorted.clear();
    sorted.extend(run.iter().map(SortEntry::new));
    sorted.sort_unstable_by_key(|e| (e.high, e.low));
    let opts = index_options();
    let mut w = SstFileWriter::create(&opts);
    w.open(path)
        .map_err(|e| format!("create {}: {e}", path.display()))?;
    let mut pacer = SyncPacer::open(path, limits::SEAL_SYNC_BYTES)?;
    for (i, e) in sorted.iter().enumerate() {
        w.put(e.key(), e.value)
            .map_err(|e| format!("write {}: {e}", path.display()))?;
        if i % SYNC_CHECK_ENTRIES == SYNC_CHECK_ENTRIES - 1 {
            pacer.written()?;
        }
    }
    w.put(INDEX_THROUGH_KEY, through.to_be_bytes())
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    w.finish().map_err(|e| format!("finish {}: {e}", path.display()))
}

/// Entries written between two looks at a run file's size.
const SYNC_CHECK_ENTRIES: usize = 4096;

/// Writes a run file's pages to the disk as it grows, [`limits::SEAL_SYNC_BYTES`] at a time.
/// RocksDB's table-file writer (the Rust bindings give it default I/O options) leaves the
/// whole file, about 45 MB, in the page cache until its final fsync, a burst on the disk
/// that every node's log appends share. Syncing as it goes (what RocksDB's `bytes_per_sync`
/// does for its own files) keeps each burst small; the sealing thread, not the Raft thread,
/// waits for it. Measured in the paced cluster bench: the slowest 250 ms window during
/// seals 30-39 ms with it against 31-60 ms without; no difference in the p99.
struct SyncPacer {
    file: std::fs::File,
    /// The file's length at its last sync.
    synced: u64,
    step: u64,
    path: PathBuf,
}

impl SyncPacer {
    /// Opens the file at `path` (being written through another handle) to sync it.
    fn open(path: &std::path::Path, step: u64) -> Result<SyncPacer, String> {
        let file =
            std::fs::File::open(path).map_err(|e| format!("open {} to sync it: {e}", path.display()))?;
        Ok(SyncPacer {
            file,
            synced: 0,
            step,
            path: path.to_path_buf(),
        })
    }

    /// Syncs the file when it has grown by the step since the last sync.
    fn written(&mut self) -> Result<(), String> {
        let len = self
            .file
            .metadata()
            .map_err(|e| format!("size of {}: {e}", self.path.display()))?
            .len();
        if len >= self.synced + self.step {
            rustix::fs::fdatasync(&self.file).map_err(|e| format!("sync {}: {e}", self.path.display()))?;
            self.synced = len;
        }
        Ok(())
    }
}

fn ingest_run_file(db: &DB, cf: &str, path: &std::path::Path) -> Result<(), String> {
    let cf = db
        .cf_handle(cf)
        .expect("index column families are created at open");
    let mut io = IngestExternalFileOptions::default();
    io.set_move_files(true);
    db.ingest_external_file_cf_opts(cf, &io, vec![path])
        .map_err(|e| format!("ingest {}: {e}", path.display()))
}

impl std::fmt::Debug for RocksStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStateStore")
            .field("slot", &self.slot)
            .finish()
    }
}

impl RocksStateStore {
    pub(crate) fn new(db: Arc<DB>, slot: StateSlot, sealing: Arc<Sealing>) -> Self {
        RocksStateStore { db, slot, sealing }
    }

    fn index_cf(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(self.slot.index_cf_name())
            .expect("index column families are created at open")
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
        for op in batch.into_ops() {
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

    fn index_get_many(&self, keys: &[&IndexKey]) -> Result<Vec<Option<IndexValue>>, StoreError> {
        let mut found = vec![None; keys.len()];
        let mut asked = Vec::with_capacity(keys.len());
        {
            let mut jobs = self.sealing.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            jobs.join_finished()?;
            for (i, k) in keys.iter().enumerate() {
                let in_run = jobs.queue.iter().find_map(|j| j.run.get(k).copied());
                match in_run {
                    Some(v) => found[i] = Some(v),
                    None => asked.push(i),
                }
            }
        }
        self.sealing.filter.retain_candidates(keys, &mut asked);
        if asked.is_empty() {
            return Ok(found);
        }
        let cf = self.index_cf();
        let values = self
            .db
            .batched_multi_get_cf(cf, asked.iter().map(|&i| &keys[i][..]), false);
        for (i, v) in asked.into_iter().zip(values) {
            let v = v.map_err(|e| store_error("index multi_get", e))?;
            found[i] = match v {
                None => None,
                Some(v) => Some(IndexValue::try_from(&v[..]).map_err(|_| StoreError {
                    message: format!(
                        "duplicate index {}: entry {} has a {}-byte value, not {}",
                        self.slot.index_cf_name(),
                        keys[i].iter().map(|b| format!("{b:02x}")).collect::<String>(),
                        v.len(),
                        std::mem::size_of::<IndexValue>()
                    ),
                })?),
            };
        }
        Ok(found)
    }

    fn index_seal(&mut self, run: IndexRun, through: u64) -> Result<Option<IndexRun>, StoreError> {
        let mut jobs = self.sealing.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.join_finished()?;
        if jobs.queue.len() >= SEAL_RUNS_QUEUED_MAX {
            let began = std::time::Instant::now();
            jobs.join_oldest()?;
            let waited = began.elapsed();
            if waited.as_millis() >= u128::from(limits::SEAL_WAIT_WARN_MS) {
                // The applying thread (a Raft driver) stood still this long: sealing did not
                // keep up with ingest, usually because the machine's CPUs are saturated and the
                // low-priority sealing threads got none.
                tracing::warn!(
                    index = self.slot.index_cf_name(),
                    waited_ms = waited.as_millis() as u64,
                    "applying waited for an earlier duplicate-index run to be sealed"
                );
            }
        }
        let after = jobs.queue.back().map(|j| j.ended.clone());
        let ended = Arc::new(Ended::default());
        let guard = EndGuard(ended.clone());
        let run = Arc::new(run);
        let (db, cf, ingest) = (self.db.clone(), self.slot.index_cf_name(), run.clone());
        let filter = self.sealing.filter.clone();
        let sort_buffers = self.sealing.sort_buffers.clone();
        let path = self
            .db
            .path()
            .join(format!("{cf}-through-{through}{UNSEALED_RUN_SUFFIX}"));
        let done = std::thread::Builder::new()
            .name(format!("{cf}-seal"))
            .spawn(move || {
                super::lower_current_thread_priority("duplicate-index sealing");
                write_and_ingest(&db, cf, path, (&ingest, through), after.as_deref(), &sort_buffers)?;
                // Before the job counts as done: lookups then rely on the filter.
                if filter.add_run(&ingest) {
                    filter.start_build(db, cf);
                }
                guard.0.set(true);
                Ok(())
            })
            .map_err(|e| StoreError {
                message: format!("start the thread sealing a duplicate-index run: {e}"),
            })?;
        jobs.queue.push_back(SealJob { run, done, ended });
        Ok(jobs.spent.pop())
    }

    fn index_seal_would_wait(&self) -> bool {
        // What `index_seal` would find after joining the finished jobs at the front (left
        // to it, so that it reports a failed one).
        let jobs = self.sealing.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let finished = jobs.queue.iter().take_while(|j| j.done.is_finished()).count();
        jobs.queue.len() - finished >= SEAL_RUNS_QUEUED_MAX
    }

    fn index_through(&self) -> Result<u64, StoreError> {
        self.sealing.wait()?;
        let v = self
            .db
            .get_pinned_cf(self.index_cf(), INDEX_THROUGH_KEY)
            .map_err(|e| store_error("read the index's through", e))?;
        match v {
            None => Ok(0),
            Some(v) => <[u8; 8]>::try_from(&v[..])
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError {
                    message: format!(
                        "duplicate index {}: `through` is {} bytes, not 8",
                        self.slot.index_cf_name(),
                        v.len()
                    ),
                }),
        }
    }

    fn index_clear(&mut self) -> Result<(), StoreError> {
        // A run still being ingested would land after the clear.
        self.sealing.wait()?;
        let cf = self.index_cf();
        let mut b = RocksBatch::default();
        b.delete_range_cf(cf, [].as_slice(), [0xffu8, 0xff].as_slice());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .write_opt(b, &wo)
            .map_err(|e| store_error("clear the duplicate index", e))?;
        // The tombstone hides everything; dropping the table files under it frees the space
        // now (RocksDB leaves level-0 files to compaction).
        if let Err(e) = self
            .db
            .delete_file_in_range_cf(cf, [].as_slice(), [0xffu8, 0xff].as_slice())
        {
            tracing::warn!(error = %e, index = self.slot.index_cf_name(), "cleared duplicate index: table files not deleted");
        }
        self.sealing.filter.reset();
        Ok(())
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

    /// The pacer syncs each time the file has grown by its step since the last sync, and
    /// not in between.
    #[test]
    fn a_run_file_is_synced_each_time_it_grows_by_the_step() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.sst");
        let mut f = std::fs::File::create(&path).unwrap();
        let mut pacer = SyncPacer::open(&path, 1000).unwrap();
        // (bytes written, the length synced after): less than a step, exactly one, a sync
        // covering everything written so far, then less than a step again.
        for (grow, synced) in [(999, 0), (1, 1000), (2500, 3500), (999, 3500)] {
            f.write_all(&vec![7u8; grow]).unwrap();
            pacer.written().unwrap();
            assert_eq!(pacer.synced, synced, "after writing {grow} more bytes");
        }
    }

    /// Lookups answer from the in-memory filter and RocksDB together: with filters sized for
    /// 64 keys, runs of 50 fill them, so rebuilds from a scan run while further runs are
    /// sealed; whichever way the threads interleave, every sealed key is found and no other.
    #[test]
    fn lookups_find_every_sealed_key_across_filter_rebuilds_clears_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let key = numbered_key;
        let value = |i: u32| {
            let mut v = [0u8; 12];
            v[..4].copy_from_slice(&i.to_be_bytes());
            v
        };
        let check = |s: &RocksStateStore, sealed: std::ops::Range<u32>, what: &str| {
            let probe: Vec<IndexKey> = (0..sealed.end + 300).map(key).collect();
            let refs: Vec<&IndexKey> = probe.iter().collect();
            let got = s.index_get_many(&refs).unwrap();
            for (i, g) in (0..).zip(got) {
                let want = sealed.contains(&i).then(|| value(i));
                assert_eq!(g, want, "{what}: key {i}");
            }
        };
        let seal = |s: &mut RocksStateStore, keys: std::ops::Range<u32>| {
            let through = u64::from(keys.end);
            s.index_seal(keys.map(|i| (key(i), value(i))).collect(), through)
                .unwrap();
        };
        {
            let engine = RocksEngine::open(dir.path(), false).unwrap();
            let sealing = Arc::new(Sealing::with_filter_keys_min(64));
            sealing.start_filter(engine.db().clone(), StateSlot::A);
            let mut s = RocksStateStore::new(engine.db().clone(), StateSlot::A, sealing.clone());
            // 64, then 4x: 16 runs of 50 keys fill the filter at least twice.
            for n in 0..16 {
                seal(&mut s, n * 50..(n + 1) * 50);
                check(&s, 0..(n + 1) * 50, "while sealing");
            }
            s.index_through().unwrap();
            sealing.filter.wait_build();
            let f = sealing.filter.current().expect("a filter is installed");
            assert!(f.len() >= 800, "the rebuilt filter holds every key: {}", f.len());
            check(&s, 0..800, "after the rebuilds");
            s.index_clear().unwrap();
            check(&s, 0..0, "after a clear");
            seal(&mut s, 1_000..1_050);
            check(&s, 1_000..1_050, "sealed after a clear");
        }
        // Reopened: lookups before the filter is built go to RocksDB, after it to both.
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let s = engine.state_store().unwrap();
        check(&s, 1_000..1_050, "reopened");
        engine.sealing_of(StateSlot::A).filter.wait_build();
        check(&s, 1_000..1_050, "reopened, filter built");
    }

    #[test]
    fn sort_entries_order_like_their_key_bytes_and_give_the_key_back() {
        let mut x = 0x243f_6a88_85a3_08d3_u64;
        let mut keys: Vec<IndexKey> = (0..2_000)
            .map(|i| {
                let mut k = [0u8; INDEX_KEY_LEN];
                for b in k.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Few distinct bytes, so keys share prefixes and differ late, as they do.
                    *b = (x % 3) as u8 + u8::from(i % 2 == 0);
                }
                k
            })
            .collect();
        let value = [7u8; 12];
        let mut entries: Vec<SortEntry> = keys.iter().map(|k| SortEntry::new((k, &value))).collect();
        entries.sort_unstable_by_key(|e| (e.high, e.low));
        keys.sort_unstable();
        assert_eq!(entries.iter().map(SortEntry::key).collect::<Vec<_>>(), keys);
    }

    /// A sealed run is durable once `index_through` reports it: it survives closing without
    /// a flush (as after a crash), and a run file a crash left before ingestion is removed
    /// when the engine opens.
    #[test]
    fn sealed_runs_survive_a_reopen_and_stray_run_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let key = |b: u8| [b; settlement::store::INDEX_KEY_LEN];
        {
            let engine = RocksEngine::open(dir.path(), true).unwrap();
            let mut s = engine.state_store().unwrap();
            let run: IndexRun = [(key(b'A'), [1; 12]), (key(b'B'), [2; 12])].into_iter().collect();
            s.index_seal(run, 7).unwrap();
            assert_eq!(s.index_through().unwrap(), 7);
        }
        let stray = dir.path().join(format!("dedup_a-through-9{UNSEALED_RUN_SUFFIX}"));
        std::fs::write(&stray, b"half a table file").unwrap();
        let engine = RocksEngine::open(dir.path(), true).unwrap();
        assert!(!stray.exists(), "a stray run file is removed at open");
        let s = engine.state_store().unwrap();
        assert_eq!(s.index_through().unwrap(), 7);
        assert_eq!(
            s.index_get_many(&[&key(b'B'), &key(b'C'), &key(b'A')]).unwrap(),
            vec![Some([2; 12]), None, Some([1; 12])]
        );
        assert_eq!(
            engine.slot_store(s.slot().other()).index_through().unwrap(),
            0,
            "each slot has its own index"
        );
    }

    fn numbered_key(i: u32) -> IndexKey {
        let mut k = [b'K'; INDEX_KEY_LEN];
        k[INDEX_KEY_LEN - 4..].copy_from_slice(&i.to_be_bytes());
        k
    }

    /// Runs handed to sealing threads back to back are ingested in order: a large run then a
    /// one-entry run (whose thread, alone, would finish first) leave the second `through`,
    /// and every key of both is found, in memory while sealing and in RocksDB after.
    #[test]
    fn queued_runs_are_ingested_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let mut s = engine.state_store().unwrap();
        let big: IndexRun = (0..200_000u32).map(|i| (numbered_key(i), [1; 12])).collect();
        s.index_seal(big, 5).unwrap();
        s.index_seal([(numbered_key(200_000), [2; 12])].into_iter().collect(), 9)
            .unwrap();
        let probe = [numbered_key(7), numbered_key(200_000), numbered_key(200_001)];
        let refs: Vec<&IndexKey> = probe.iter().collect();
        let want = vec![Some([1; 12]), Some([2; 12]), None];
        assert_eq!(s.index_get_many(&refs).unwrap(), want, "while sealing");
        assert_eq!(s.index_through().unwrap(), 9, "the later run landed last");
        assert_eq!(s.index_get_many(&refs).unwrap(), want, "after sealing");
    }

    /// Once a run's thread has ingested it, the next seal hands it back emptied, with its
    /// capacity, and refilling it changes no lookup; the thread's sort buffer is kept.
    #[test]
    fn an_ingested_run_comes_back_empty_with_the_next_seal() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let mut s = engine.state_store().unwrap();
        let mut first = IndexRun::with_capacity(4_096);
        first.extend((0..1_000u32).map(|i| (numbered_key(i), [1; 12])));
        assert!(
            s.index_seal(first, 5).unwrap().is_none(),
            "no run was sealed before"
        );
        assert_eq!(s.index_through().unwrap(), 5);
        let kept: Vec<usize> = (engine.sealing_of(s.slot()).sort_buffers.lock().unwrap().iter())
            .map(Vec::capacity)
            .collect();
        assert!(
            kept.len() == 1 && kept[0] >= 1_000,
            "the sort buffer is kept: {kept:?}"
        );
        let one: IndexRun = [(numbered_key(5_000), [2; 12])].into_iter().collect();
        let mut back = s
            .index_seal(one, 9)
            .unwrap()
            .expect("the ingested run comes back");
        assert!(
            back.is_empty() && back.capacity() >= 4_096,
            "emptied, capacity kept"
        );
        back.extend((0..1_000u32).map(|i| (numbered_key(i), [3; 12])));
        let probe = [numbered_key(0), numbered_key(999), numbered_key(5_000)];
        let refs: Vec<&IndexKey> = probe.iter().collect();
        let want = vec![Some([1; 12]), Some([1; 12]), Some([2; 12])];
        assert_eq!(s.index_get_many(&refs).unwrap(), want, "while sealing");
        assert_eq!(s.index_through().unwrap(), 9);
        assert_eq!(s.index_get_many(&refs).unwrap(), want, "after sealing");
    }

    /// A seal would wait exactly while [`SEAL_RUNS_QUEUED_MAX`] earlier runs are still in
    /// the sealing threads' hands (held here at their start, where they take a sort buffer).
    #[test]
    fn a_seal_would_wait_while_earlier_runs_are_still_being_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let mut s = engine.state_store().unwrap();
        assert!(!s.index_seal_would_wait(), "nothing is being sealed");
        let sealing = engine.sealing_of(s.slot());
        let held = sealing.sort_buffers.lock().unwrap();
        for i in 0..SEAL_RUNS_QUEUED_MAX as u32 {
            let run: IndexRun = [(numbered_key(i), [1; 12])].into_iter().collect();
            s.index_seal(run, u64::from(i) + 1).unwrap();
            let full = i + 1 == SEAL_RUNS_QUEUED_MAX as u32;
            assert_eq!(s.index_seal_would_wait(), full, "after {} seals", i + 1);
        }
        drop(held);
        assert_eq!(s.index_through().unwrap(), SEAL_RUNS_QUEUED_MAX as u64);
        assert!(!s.index_seal_would_wait(), "every run is sealed");
    }

    /// A run whose sealing fails keeps the runs queued behind it out of the index (their
    /// `through` would skip it) and the failure reaches the caller.
    #[test]
    fn a_failed_seal_stops_the_runs_queued_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let mut s = engine.state_store().unwrap();
        // The first run's table file cannot be created: a directory holds its name.
        std::fs::create_dir(dir.path().join(format!("dedup_a-through-5{UNSEALED_RUN_SUFFIX}"))).unwrap();
        let first: IndexRun = (0..50_000u32).map(|i| (numbered_key(i), [1; 12])).collect();
        s.index_seal(first, 5).unwrap();
        s.index_seal([(numbered_key(60_000), [2; 12])].into_iter().collect(), 9)
            .unwrap();
        let err = s.index_through().unwrap_err();
        assert!(err.message.contains("dedup_a-through-5"), "{}", err.message);
        let cf = engine.db().cf_handle("dedup_a").unwrap();
        assert_eq!(engine.db().get_cf(cf, numbered_key(60_000)).unwrap(), None);
        assert_eq!(engine.db().get_cf(cf, INDEX_THROUGH_KEY).unwrap(), None);
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

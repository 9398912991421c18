//! The RocksDB databases holding a node's log, metadata and state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{BlockBasedOptions, ColumnFamilyDescriptor, DB, DBCompressionType, FlushOptions, Options};

use crate::error::{ConsensusError, Result};
use crate::limits::{LOG_MEMTABLE_BYTES, WAL_BYTES_MAX, WAL_FILES_RECYCLED};
use crate::storage::state::Sealing;
use crate::storage::{RocksLogStore, RocksStateStore};

pub(crate) const CF_LOG: &str = "raft_log";
pub(crate) const CF_META: &str = "raft_meta";
const CF_STATE_A: &str = "state_a";
const CF_STATE_B: &str = "state_b";
const CF_INDEX_A: &str = "dedup_a";
const CF_INDEX_B: &str = "dedup_b";

pub(crate) const KEY_ACTIVE_STATE: &[u8] = b"active_state";

/// One of the two state column families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateSlot {
    /// `state_a` (the active one of a fresh node).
    A,
    /// `state_b`.
    B,
}

impl StateSlot {
    pub(crate) fn cf_name(self) -> &'static str {
        match self {
            StateSlot::A => CF_STATE_A,
            StateSlot::B => CF_STATE_B,
        }
    }

    /// The column family of the duplicate index derived from this slot's state.
    pub(crate) fn index_cf_name(self) -> &'static str {
        match self {
            StateSlot::A => CF_INDEX_A,
            StateSlot::B => CF_INDEX_B,
        }
    }

    /// The other slot.
    pub fn other(self) -> StateSlot {
        match self {
            StateSlot::A => StateSlot::B,
            StateSlot::B => StateSlot::A,
        }
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            StateSlot::A => 0,
            StateSlot::B => 1,
        }
    }

    pub(crate) fn from_byte(b: &[u8]) -> Result<StateSlot> {
        match b {
            [0] => Ok(StateSlot::A),
            [1] => Ok(StateSlot::B),
            _ => Err(ConsensusError::Corrupt {
                what: "active state flag",
                reason: format!("{b:?}"),
            }),
        }
    }
}

/// Options of the duplicate-index column families, also used to write the sorted runs they
/// ingest. Keys are event fingerprints, values record ids: nearly every lookup is a miss.
/// The in-memory filter in front of each column family (`IndexFilter`) answers most misses;
/// the few keys it lets through meet RocksDB's whole-key bloom filters, 10 bits a key
/// (1.25 bytes of memory per indexed record), so they rarely read a block. Hashes do not
/// compress.
///
/// Measured before that filter existed: every record's lookup consulted the filter of each
/// level-0 run and of one table per level, and at 10 bits a key the data-block reads of
/// their false positives took about 9% of the cluster bench's CPU (20 bits: 1.5%).
pub(crate) fn index_options() -> Options {
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::None);
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    // Filter sizes fit the allocator's size classes instead of wasting the rounding.
    table.set_optimize_filters_for_memory(true);
    table.set_whole_key_filtering(true);
    opts.set_block_based_table_factory(&table);
    opts
}

/// Whether files in `dir` (created if missing) can be written with `O_DIRECT` (tmpfs before
/// Linux 6.6 and some FUSE file systems refuse it). Probed with one aligned 4 KiB block in a
/// scratch file, removed after. RocksDB checks only when it reopens an existing database,
/// and then refuses to open it; a new database would meet the refusal in its first flush.
fn supports_direct_io(dir: &Path) -> bool {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    #[repr(align(4096))]
    struct Block([u8; 4096]);

    let probe = dir.join("DIRECT_IO_PROBE");
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let flags = rustix::fs::OFlags::DIRECT.bits();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(i32::try_from(flags).expect("O_DIRECT fits an int"))
            .open(&probe)?;
        f.write_all(&Block([0; 4096]).0)
    });
    let _ = std::fs::remove_file(&probe);
    written.is_ok()
}

/// Whether the file system holding `dir` is mounted with online `discard`, per the text of
/// `/proc/self/mountinfo` (`mountinfo`): the mount whose mount point is the longest prefix
/// of `dir` (canonical), with `discard` among its mount or super-block options.
fn mounted_with_discard(mountinfo: &str, dir: &Path) -> bool {
    // "36 35 98:0 /root /mnt/point rw,relatime shared:1 - ext4 /dev/vda rw,discard"
    let mut best: Option<(usize, bool)> = None;
    for line in mountinfo.lines() {
        let (mount, fs) = line.split_once(" - ").unwrap_or((line, ""));
        let fields: Vec<&str> = mount.split(' ').collect();
        let (Some(point), Some(options)) = (fields.get(4), fields.get(5)) else {
            continue;
        };
        let point = unescape_mount_path(point);
        if !dir.starts_with(&point) {
            continue;
        }
        let len = point.as_os_str().len();
        let super_options = fs.split(' ').nth(2).unwrap_or("");
        let discard = options
            .split(',')
            .chain(super_options.split(','))
            .any(|o| o == "discard");
        // A later line with the same mount point is mounted over the earlier one.
        if best.is_none_or(|(l, _)| len >= l) {
            best = Some((len, discard));
        }
    }
    best.is_some_and(|(_, discard)| discard)
}

/// A mount point as mountinfo writes it: space, tab, newline and backslash as octal escapes.
fn unescape_mount_path(field: &str) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out).into()
}

/// Warns when the data directory's file system discards blocks as files are deleted. RocksDB
/// compactions and the Raft log's compactions delete hundreds of megabytes of table files at
/// a time, and each deletion then stalls the disk's queue, the Raft log's fsyncs included. Measured on the
/// development machine (ext4 on a virtual disk), cluster bench paced at 100,000 records/s,
/// 15,000 batches, the file system remounted between runs: 53 and 19 batches over 25 ms
/// without `discard`, 120 and 140 with it.
fn warn_if_mounted_with_discard(dir: &Path) {
    let (Ok(info), Ok(dir)) = (
        std::fs::read_to_string("/proc/self/mountinfo"),
        dir.canonicalize(),
    ) else {
        return;
    };
    if mounted_with_discard(&info, &dir) {
        tracing::warn!(path = %dir.display(), "the data directory's file system is mounted with `discard`: file deletions stall the Raft log's fsyncs; mount it without `discard` and trim periodically (fstrim)");
    }
}

/// The log database's directory inside a node's data directory.
const LOG_DB_DIR: &str = "raft-log";

/// Options both databases share.
fn base_options(direct: bool) -> Result<Options> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_max_background_jobs(2);
    opts.set_use_direct_io_for_flush_and_compaction(direct);
    // Closing does not flush the memtables (a graceful `Node::stop` flushes the state
    // before it closes): an unclean close is a crash as far as the state is concerned,
    // and the restart replays the entries applied since the last flush from the Raft
    // log. The tests' simulated crashes close the databases this way, so they exercise
    // that replay. The Rust bindings have no setter for this option; RocksDB's
    // options-string parser sets it.
    opts.get_options_from_string("avoid_flush_during_shutdown=true")
        .map_err(|e| ConsensusError::storage("options", e))
}

/// The Raft log's database: log entries and metadata, every write in its write-ahead log.
///
/// The WAL is bounded: a WAL file is deleted (here: recycled) only once every column family
/// with writes in it has flushed them, and `raft_meta` takes a hard state write with almost
/// every append and flushes almost never, so it kept every WAL file alive (measured: 450 MB
/// per node after 4,000 batches, growing with the log, up to RocksDB's default bound of
/// four times all write buffers). Beyond the bound RocksDB flushes the column families
/// holding the oldest WAL file: `raft_meta`'s few kilobytes and the log's memtable
/// (limits::LOG_MEMTABLE_BYTES).
///
/// WAL files are recycled: RocksDB overwrites an old WAL file instead of creating a new one
/// and deleting the old. An append's fdatasync then writes data blocks only, not the
/// file's size and block map, and no WAL file is unlinked (on a file system mounted with
/// `discard`, an unlink discards its blocks, and the cluster bench's log appends stalled
/// while 256 MB of WAL went at once). RocksDB refuses recycling in a database with writes
/// that skip the WAL, which is why the log has a database of its own.
fn log_db_options(direct: bool) -> Result<Options> {
    let mut opts = base_options(direct)?;
    opts.set_max_total_wal_size(WAL_BYTES_MAX);
    opts.set_recycle_log_file_num(WAL_FILES_RECYCLED);
    Ok(opts)
}

fn log_column_families() -> Vec<ColumnFamilyDescriptor> {
    let mut log_opts = Options::default();
    // Entries are read back soon after they are written and deleted by compaction; not
    // compressing them saves CPU on the hot path.
    log_opts.set_compression_type(DBCompressionType::None);
    // Flushed when the WAL bound is reached, by which time the log's compactions have
    // covered most of the memtable's entries with range deletions and the flush drops
    // them (limits::LOG_MEMTABLE_BYTES).
    log_opts.set_write_buffer_size(LOG_MEMTABLE_BYTES);
    vec![
        ColumnFamilyDescriptor::new(CF_LOG, log_opts),
        ColumnFamilyDescriptor::new(CF_META, Options::default()),
    ]
}

fn state_column_families() -> Vec<ColumnFamilyDescriptor> {
    let mut state_opts = Options::default();
    state_opts.set_compression_type(DBCompressionType::Lz4);
    // Point reads of the state that miss (each new batch's idempotency key) are answered
    // by whole-key bloom filters in the memtable and in every table file without walking
    // the skip list or reading blocks. They were sized when every record's duplicate
    // check was a state read; not measured again since the duplicate index moved out.
    state_opts.set_memtable_prefix_bloom_ratio(0.1);
    state_opts.set_memtable_whole_key_filtering(true);
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_whole_key_filtering(true);
    state_opts.set_block_based_table_factory(&table);
    // Values of 4 KiB and more (each stored batch with its records, about 90 KB per 1,000
    // records; leaf-hash chunks, 8 KiB) go to blob files when the memtable is flushed and
    // are never rewritten by compaction, which then moves only the small keys and values
    // (ledgers, batch keys) and a reference per large value. Without this, every
    // compaction decompressed and recompressed the records (RocksDB's BlobDB, the
    // key-value separation of WiscKey). Blob files are LZ4-compressed once; garbage
    // collection reclaims the blobs of a state slot cleared by a snapshot install.
    state_opts.set_enable_blob_files(true);
    state_opts.set_min_blob_size(4096);
    state_opts.set_blob_compression_type(DBCompressionType::Lz4);
    state_opts.set_enable_blob_gc(true);
    let index_opts = index_options();
    vec![
        ColumnFamilyDescriptor::new(CF_STATE_A, state_opts.clone()),
        ColumnFamilyDescriptor::new(CF_STATE_B, state_opts),
        ColumnFamilyDescriptor::new(CF_INDEX_A, index_opts.clone()),
        ColumnFamilyDescriptor::new(CF_INDEX_B, index_opts),
    ]
}

/// Copies the log and its metadata from the state's database (where versions before the
/// split kept them) into a new log database at `log_path`: written and flushed in a
/// scratch directory, which is then renamed into place, so a crash leaves either no log
/// database (the copy is redone) or a complete one (the caller then drops the old column
/// families).
fn move_log_out(old: &DB, log_path: &Path, direct: bool) -> Result<()> {
    let err = |what: &'static str| move |e: rocksdb::Error| ConsensusError::storage(what, e);
    let scratch = log_path.with_extension("moving");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .map_err(|e| ConsensusError::storage("remove an unfinished log move", e))?;
    }
    {
        let new = DB::open_cf_descriptors(&log_db_options(direct)?, &scratch, log_column_families())
            .map_err(err("create the log database"))?;
        for name in [CF_LOG, CF_META] {
            let (Some(from), Some(to)) = (old.cf_handle(name), new.cf_handle(name)) else {
                continue;
            };
            let mut it = old.raw_iterator_cf(from);
            it.seek_to_first();
            let mut batch = rocksdb::WriteBatch::default();
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                batch.put_cf(to, k, v);
                if batch.size_in_bytes() >= 4 << 20 {
                    new.write(std::mem::take(&mut batch))
                        .map_err(err("copy the log"))?;
                }
                it.next();
            }
            it.status().map_err(err("read the log to move"))?;
            new.write(batch).map_err(err("copy the log"))?;
        }
        for name in [CF_LOG, CF_META] {
            let cf = new
                .cf_handle(name)
                .expect("log column families are created at open");
            new.flush_cf(cf).map_err(err("flush the moved log"))?;
        }
    }
    std::fs::rename(&scratch, log_path)
        .and_then(|()| {
            let parent = log_path.parent().unwrap_or(Path::new("."));
            std::fs::File::open(parent)?.sync_all()
        })
        .map_err(|e| ConsensusError::storage("move the log database into place", e))?;
    tracing::info!(path = %log_path.display(), "moved the Raft log into its own database");
    Ok(())
}

/// A node's RocksDB: open it once, then take its log store and state stores.
#[derive(Clone)]
pub struct RocksEngine {
    /// The state slots and duplicate indexes.
    db: Arc<DB>,
    /// The Raft log and its metadata (hard state, membership, snapshot point, active slot).
    log_db: Arc<DB>,
    path: PathBuf,
    sync: bool,
    /// Each slot's duplicate-index sealing and filter (A, then B), shared by its stores.
    sealing: Arc<[Arc<Sealing>; 2]>,
}

impl std::fmt::Debug for RocksEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksEngine")
            .field("path", &self.path)
            .field("sync", &self.sync)
            .finish()
    }
}

impl RocksEngine {
    /// Opens (creating if needed) a node's databases in `path`: the state's there, the
    /// Raft log's in its `raft-log` directory (moving the log out of the state's database
    /// if an earlier version kept it there). With `sync`, log appends and hard state writes
    /// wait for the WAL fsync; turn it off only for tests that do not crash the machine.
    pub fn open(path: impl AsRef<Path>, sync: bool) -> Result<RocksEngine> {
        let path = path.as_ref().to_path_buf();
        // Flushes and compactions write their table and blob files with O_DIRECT where the
        // directory allows it. Buffered, a flush left tens of megabytes dirty in the page cache
        // to be written back in a burst, and the log appends of all three nodes of the cluster
        // bench (one disk) stalled together in fdatasync for 15-50 ms whenever a node flushed;
        // direct, the flush writes as it goes and copies nothing into the page cache. Measured
        // under strace, 1,200 batches paced at 100,000 records/s: 6 fdatasyncs over 15 ms
        // against 39; flush threads' CPU about halved. (That machine's ext4 has no journal, so
        // the stalls are the disk's queue, not journal commits.)
        let direct = supports_direct_io(&path);
        if !direct {
            tracing::warn!(path = %path.display(), "the data directory does not take direct I/O; flushes and compactions write through the page cache");
        }
        warn_if_mounted_with_discard(&path);
        let open_log = |log_path: &Path| {
            DB::open_cf_descriptors(&log_db_options(direct)?, log_path, log_column_families())
                .map_err(|e| ConsensusError::storage("open the log database", e))
        };
        // The state's database, if there is one, and which log column families it still has.
        let existing = DB::list_cf(&Options::default(), &path).ok();
        let legacy: Vec<String> = existing
            .iter()
            .flatten()
            .filter(|cf| *cf == CF_LOG || *cf == CF_META)
            .cloned()
            .collect();
        let log_path = path.join(LOG_DB_DIR);
        if existing.is_some() && legacy.is_empty() && !log_path.exists() {
            // A new log would forget the hard state (the vote of the current term) and every
            // entry the state has not covered.
            return Err(ConsensusError::Corrupt {
                what: "data directory",
                reason: format!(
                    "{} holds a state database but no Raft log database ({LOG_DB_DIR}/); restore it, or empty the directory and let the node rejoin and catch up by snapshot",
                    path.display()
                ),
            });
        }
        // A new data directory gets its log database first: one that stops between the two
        // opens has a log database and no state database, which the next open completes.
        let log_db = if legacy.is_empty() {
            Some(open_log(&log_path)?)
        } else {
            None
        };
        let mut cfs = state_column_families();
        cfs.extend(
            legacy
                .iter()
                .map(|cf| ColumnFamilyDescriptor::new(cf, Options::default())),
        );
        // The state's database takes the shared options only: state writes skip its
        // write-ahead log (see the storage module docs), which holds only the
        // duplicate-index clears.
        let mut db = DB::open_cf_descriptors(&base_options(direct)?, &path, cfs)
            .map_err(|e| ConsensusError::storage("open the state database", e))?;
        if !legacy.is_empty() {
            if !log_path.exists() {
                move_log_out(&db, &log_path, direct)?;
            }
            for cf in &legacy {
                db.drop_cf(cf)
                    .map_err(|e| ConsensusError::storage("drop the moved log column family", e))?;
            }
        }
        let log_db = match log_db {
            Some(log_db) => log_db,
            None => open_log(&log_path)?,
        };
        crate::storage::state::remove_unsealed_runs(&path)
            .map_err(|e| ConsensusError::storage("remove unsealed duplicate-index runs", e))?;
        let db = Arc::new(db);
        let sealing: [Arc<Sealing>; 2] = Default::default();
        for slot in [StateSlot::A, StateSlot::B] {
            sealing[usize::from(slot.to_byte())].start_filter(db.clone(), slot);
        }
        Ok(RocksEngine {
            db,
            log_db: Arc::new(log_db),
            path,
            sync,
            sealing: Arc::new(sealing),
        })
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when log writes are synced.
    pub fn sync(&self) -> bool {
        self.sync
    }

    /// The state slot the state machine reads and writes.
    pub fn active_slot(&self) -> Result<StateSlot> {
        let cf = self.log_db.cf_handle(CF_META).expect("meta column family exists");
        match self
            .log_db
            .get_cf(cf, KEY_ACTIVE_STATE)
            .map_err(|e| ConsensusError::storage("read active state flag", e))?
        {
            None => Ok(StateSlot::A),
            Some(b) => StateSlot::from_byte(&b),
        }
    }

    /// The log store.
    pub fn log_store(&self) -> Result<RocksLogStore> {
        RocksLogStore::open(self.log_db.clone(), self.sync)
    }

    /// The active state store (what the state machine is opened over).
    pub fn state_store(&self) -> Result<RocksStateStore> {
        Ok(self.slot_store(self.active_slot()?))
    }

    /// Makes every state write to `slot` so far durable: flushes its memtables to table files
    /// and waits. State writes bypass the write-ahead log, so something must make them
    /// durable before they become unrecoverable from the Raft log: this precedes making
    /// `slot` the active one; log compaction either waits for it (deterministic tests) or
    /// compacts only as far as the persisted view shows ([`Self::request_state_flush`]).
    pub fn flush_state(&self, slot: StateSlot) -> Result<()> {
        self.flush_slot(slot, true)
            .map_err(|e| ConsensusError::storage("flush state", e))
    }

    /// Starts a flush of `slot`'s memtables and returns without waiting for it (RocksDB's
    /// flush threads do the work). The driver uses it to make the state durable up to a
    /// point it wants to compact the log to, and learns when that happened by reading the
    /// applied index through [`RocksStateStore::persisted`].
    pub fn request_state_flush(&self, slot: StateSlot) -> Result<()> {
        self.flush_slot(slot, false)
            .map_err(|e| ConsensusError::storage("request state flush", e))
    }

    fn flush_slot(&self, slot: StateSlot, wait: bool) -> std::result::Result<(), rocksdb::Error> {
        let cf = self
            .db
            .cf_handle(slot.cf_name())
            .expect("state column families are created at open");
        let mut fo = FlushOptions::default();
        fo.set_wait(wait);
        self.db.flush_cf_opt(cf, &fo)
    }

    /// RocksDB's statistics for every column family (`rocksdb.cfstats-no-file-histogram`:
    /// bytes flushed and compacted per level, write amplification, stalls) followed by the
    /// database-wide ones (`rocksdb.dbstats`), for diagnostics and benchmarks.
    pub fn stats(&self) -> Result<String> {
        let mut out = String::new();
        let dbs = [
            ("log", &self.log_db, &[CF_LOG, CF_META][..]),
            (
                "state",
                &self.db,
                &[CF_STATE_A, CF_STATE_B, CF_INDEX_A, CF_INDEX_B][..],
            ),
        ];
        for (_, db, names) in dbs {
            for name in names {
                let cf = db.cf_handle(name).expect("column families are created at open");
                let s = db
                    .property_value_cf(cf, "rocksdb.cfstats-no-file-histogram")
                    .map_err(|e| ConsensusError::storage("read statistics", e))?;
                out.push_str(&format!("column family {name}\n{}\n", s.unwrap_or_default()));
            }
        }
        for (label, db, _) in dbs {
            let s = db
                .property_value("rocksdb.dbstats")
                .map_err(|e| ConsensusError::storage("read statistics", e))?;
            out.push_str(&format!("{label} database\n{}\n", s.unwrap_or_default()));
        }
        Ok(out)
    }

    /// The RocksDB LOG files of the log and state databases, for diagnostics and benchmarks.
    pub fn info_logs(&self) -> [PathBuf; 2] {
        [self.path.join(LOG_DB_DIR).join("LOG"), self.path.join("LOG")]
    }

    /// The database (tests of the stores).
    #[cfg(test)]
    pub(crate) fn db(&self) -> &Arc<DB> {
        &self.db
    }

    /// A slot's duplicate-index sealing (tests).
    #[cfg(test)]
    pub(crate) fn sealing_of(&self, slot: StateSlot) -> &Arc<Sealing> {
        &self.sealing[usize::from(slot.to_byte())]
    }

    /// The store over a given slot (the inactive one receives snapshots).
    pub fn slot_store(&self, slot: StateSlot) -> RocksStateStore {
        let sealing = self.sealing[usize::from(slot.to_byte())].clone();
        RocksStateStore::new(self.db.clone(), slot, sealing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlement::store::{Store, WriteBatch};

    #[test]
    fn the_statistics_name_every_column_family_and_count_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let mut store = engine.state_store().unwrap();
        let mut wb = WriteBatch::default();
        wb.put(b"k".to_vec(), b"v".to_vec());
        store.write(wb).unwrap();
        engine.flush_state(engine.active_slot().unwrap()).unwrap();
        let stats = engine.stats().unwrap();
        for cf in [CF_LOG, CF_META, CF_STATE_A, CF_STATE_B, CF_INDEX_A, CF_INDEX_B] {
            assert!(
                stats.contains(&format!("column family {cf}\n")),
                "{cf} missing:\n{stats}"
            );
        }
        // The active slot's section records the flush; the other slot's does not.
        let section = |cf: &str| {
            let from = stats.find(&format!("column family {cf}\n")).unwrap();
            let rest = &stats[from..];
            let to = rest[1..].find("column family ").map_or(rest.len(), |i| i + 1);
            rest[..to].to_owned()
        };
        assert!(section(CF_STATE_A).contains("Flush(GB): cumulative"), "{stats}");
        assert!(
            section(CF_STATE_A).contains("  L0      1/0"),
            "{}",
            section(CF_STATE_A)
        );
        assert!(!section(CF_STATE_B).contains("  L0 "), "{}", section(CF_STATE_B));
        assert!(
            stats.contains("Uptime(secs)"),
            "database-wide statistics missing:\n{stats}"
        );
    }

    /// Opens an engine in `dir`, writes and flushes a state key, and returns what its RocksDB
    /// LOG says of direct I/O for flushes and compactions.
    fn open_flush_and_read_direct_io_option(dir: &Path) -> String {
        let engine = RocksEngine::open(dir, false).unwrap();
        let mut store = engine.state_store().unwrap();
        let mut wb = WriteBatch::default();
        wb.put(b"k".to_vec(), b"v".to_vec());
        store.write(wb).unwrap();
        engine.flush_state(engine.active_slot().unwrap()).unwrap();
        let log = std::fs::read_to_string(dir.join("LOG")).unwrap();
        let line = log
            .lines()
            .find(|l| l.contains("Options.use_direct_io_for_flush_and_compaction:"))
            .expect("RocksDB logs its options");
        line.rsplit(':').next().unwrap().trim().to_owned()
    }

    /// The mount holding a path is the longest mount point above it (the last of equal ones);
    /// `discard` counts in its mount options and its super-block options, and escaped mount
    /// points are read back.
    #[test]
    fn online_discard_is_read_from_the_mount_holding_the_data_directory() {
        let info = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
23 22 0:21 / /proc rw,nosuid - proc proc rw
30 22 254:16 / /srv rw,noatime shared:9 - xfs /dev/vdb rw,attr2
31 30 254:32 / /srv/fast\\040disk rw,noatime,discard shared:10 - ext4 /dev/vdc rw
32 22 254:48 / /mnt rw shared:11 - ext4 /dev/vdd rw,discard
33 22 254:49 / /mnt rw shared:12 - ext4 /dev/vde rw
";
        let on = |p: &str| mounted_with_discard(info, Path::new(p));
        assert!(on("/var/lib/roamledger"), "the root's super-block options");
        assert!(!on("/srv/roamledger"), "the longer mount point decides");
        assert!(on("/srv/fast disk/node1"), "mount options, escaped mount point");
        assert!(!on("/srv/fast"), "a mount point is matched by whole components");
        assert!(!on("/mnt/data"), "the later of two mounts on one point");
        assert!(!mounted_with_discard("", Path::new("/x")), "no mountinfo");
        assert_eq!(unescape_mount_path("/a\\134b\\011c"), Path::new("/a\\b\tc"));
        assert_eq!(
            unescape_mount_path("/odd\\9"),
            Path::new("/odd\\9"),
            "not an escape"
        );
    }

    /// The probe creates the directory, leaves no file behind, and RocksDB is told what it
    /// found. (A directory refusing O_DIRECT, e.g. tmpfs before Linux 6.6 or some FUSE file
    /// systems, cannot be made here portably: this kernel's tmpfs takes it.)
    #[test]
    fn direct_io_follows_the_probe_of_the_data_directory() {
        let disk = tempfile::tempdir().unwrap();
        let sub = disk.path().join("new");
        let direct = supports_direct_io(&sub);
        assert!(sub.is_dir(), "the probe creates the directory");
        assert!(
            !sub.join("DIRECT_IO_PROBE").exists(),
            "the probe removes its file"
        );
        let want = if direct { "1" } else { "0" };
        assert_eq!(open_flush_and_read_direct_io_option(&sub), want);
        assert!(!sub.join("DIRECT_IO_PROBE").exists());
    }

    /// Bytes of WAL files (live and kept for reuse) in the log database of `dir`.
    fn wal_bytes(dir: &Path) -> u64 {
        // RocksDB deletes and renames WAL files in the background: one listed here may be
        // gone by the time its size is read, and then it no longer counts.
        std::fs::read_dir(dir.join(LOG_DB_DIR))
            .unwrap()
            .map(|f| f.unwrap())
            .filter(|f| f.file_name().to_string_lossy().ends_with(".log"))
            .filter_map(|f| match f.metadata() {
                Ok(m) => Some(m.len()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => panic!("size of {:?}: {e}", f.path()),
            })
            .sum()
    }

    /// The write-ahead log does not grow with the Raft log: the hard state written beside
    /// each append used to keep every WAL file alive (its column family almost never
    /// flushes). 1.5 GiB of entries, each append with a hard state and the log compacted
    /// every 16 entries, as the driver does.
    #[test]
    fn the_write_ahead_log_stays_bounded_while_the_log_grows() {
        use crate::storage::LogStore;
        use raft::eraftpb::{Entry, HardState};
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), false).unwrap();
        let mut log = engine.log_store().unwrap();
        let data = vec![7u8; 1 << 20];
        let mut wal_max = 0u64;
        for index in 1..=1536u64 {
            let e = Entry {
                index,
                term: 1,
                data: data.clone().into(),
                ..Default::default()
            };
            let hs = HardState {
                term: 1,
                commit: index - 1,
                ..Default::default()
            };
            log.append(&[e], Some(&hs), false).unwrap();
            if index % 16 == 0 && index > 64 {
                log.compact(index - 64).unwrap();
            }
            wal_max = wal_max.max(wal_bytes(dir.path()));
        }
        // The live WAL reaches the bound plus what is written while the flush it asked for
        // runs (one memtable at most), and each file kept for reuse is one such WAL.
        let per_file = WAL_BYTES_MAX + (128 << 20);
        let bound = per_file * (1 + WAL_FILES_RECYCLED as u64);
        assert!(
            wal_max <= bound,
            "the WAL reached {} MiB (bound {} MiB)",
            wal_max >> 20,
            bound >> 20
        );
    }

    /// A state database whose log database is gone is refused, not given an empty log.
    #[test]
    fn a_state_database_without_its_log_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(RocksEngine::open(dir.path(), false).unwrap());
        std::fs::remove_dir_all(dir.path().join(LOG_DB_DIR)).unwrap();
        let err = RocksEngine::open(dir.path(), false).unwrap_err().to_string();
        assert!(
            err.contains("no Raft log database (raft-log/)"),
            "unexpected error: {err}"
        );
        assert!(!dir.path().join(LOG_DB_DIR).exists(), "nothing is created");
    }

    /// A data directory of a version that kept the log in the state's database: the log,
    /// its metadata and the active slot move to the log database, the old column families
    /// go, the state stays; an unfinished earlier move is redone, and a second open finds
    /// nothing to move.
    #[test]
    fn a_log_kept_in_the_state_database_is_moved_out_at_open() {
        use crate::storage::LogStore;
        use raft::eraftpb::{Entry, HardState};
        use settlement::store::{ReadStore, Store, WriteBatch};
        let dir = tempfile::tempdir().unwrap();
        let entries: Vec<Entry> = (1..=20u64)
            .map(|index| Entry {
                index,
                term: 2,
                data: vec![index as u8; 3000].into(),
                ..Default::default()
            })
            .collect();
        let hs = HardState {
            term: 2,
            vote: 1,
            commit: 20,
            ..Default::default()
        };
        {
            // Write with today's stores, then fold the log database's contents into the
            // state's database, as the earlier layout had them.
            let engine = RocksEngine::open(dir.path(), false).unwrap();
            let mut log = engine.log_store().unwrap();
            log.append(&entries, Some(&hs), false).unwrap();
            let mut state = engine.slot_store(StateSlot::B);
            let mut wb = WriteBatch::default();
            wb.put(b"k".to_vec(), b"v".to_vec());
            state.write(wb).unwrap();
            engine.flush_state(StateSlot::B).unwrap();
            let meta = engine.log_db.cf_handle(CF_META).unwrap();
            engine
                .log_db
                .put_cf(meta, KEY_ACTIVE_STATE, [StateSlot::B.to_byte()])
                .unwrap();
            drop((log, state, engine));
            let mut opts = Options::default();
            opts.create_missing_column_families(true);
            let mut cfs: Vec<String> = DB::list_cf(&opts, dir.path()).unwrap();
            cfs.extend([CF_LOG.to_owned(), CF_META.to_owned()]);
            let old = DB::open_cf(&opts, dir.path(), cfs).unwrap();
            let log_db = DB::open_cf(&opts, dir.path().join(LOG_DB_DIR), [CF_LOG, CF_META]).unwrap();
            for name in [CF_LOG, CF_META] {
                let (from, to) = (log_db.cf_handle(name).unwrap(), old.cf_handle(name).unwrap());
                for kv in log_db.iterator_cf(from, rocksdb::IteratorMode::Start) {
                    let (k, v) = kv.unwrap();
                    old.put_cf(to, k, v).unwrap();
                }
                old.flush_cf(to).unwrap();
            }
            drop(log_db);
            drop(old);
            std::fs::remove_dir_all(dir.path().join(LOG_DB_DIR)).unwrap();
            // An earlier move that stopped half way.
            std::fs::create_dir_all(dir.path().join("raft-log.moving")).unwrap();
            std::fs::write(dir.path().join("raft-log.moving/CURRENT"), b"garbage").unwrap();
        }
        for _ in 0..2 {
            let engine = RocksEngine::open(dir.path(), false).unwrap();
            let cfs = DB::list_cf(&Options::default(), dir.path()).unwrap();
            assert!(
                !cfs.iter().any(|c| c == CF_LOG || c == CF_META),
                "the old column families are gone: {cfs:?}"
            );
            assert!(!dir.path().join("raft-log.moving").exists());
            assert_eq!(engine.active_slot().unwrap(), StateSlot::B);
            let log = engine.log_store().unwrap();
            assert_eq!(log.hard_state(), hs);
            assert_eq!((log.first_index(), log.last_index()), (1, 20));
            assert_eq!(log.entries(1, 21, None).unwrap(), entries);
            let state = engine.state_store().unwrap();
            assert_eq!(state.get(b"k").unwrap(), Some(b"v".to_vec()));
        }
    }
}

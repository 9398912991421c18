//! Durable storage: the Raft log and its metadata ([`LogStore`]) and the state machine's
//! key-value state ([`RocksStateStore`]), in two RocksDB databases a [`RocksEngine`] opens
//! together: the log's in the data directory's `raft-log` directory, the state's in the data
//! directory itself. No write spans both: the log store writes only the log's, the state
//! store only the state's. They are apart because their write-ahead logs differ (below).
//! A data directory of a version that kept the log in the state's database has it moved
//! out when it is opened.
//!
//! Column families (`raft_log` and `raft_meta` in the log's database, the rest in the
//! state's):
//! - `raft_log`: `index (u64 BE) -> eraftpb.Entry` (protobuf 2 bytes).
//! - `raft_meta`: hard state, membership (conf state, the index it was applied at, peer
//!   addresses), snapshot metadata (index and term the log was compacted to), and which state
//!   column family is active.
//! - `state_a`, `state_b`: the state machine's keys. One is active; the other receives an
//!   incoming snapshot; once it is flushed, one synced batch flips the active flag, rewrites
//!   the snapshot metadata and clears the log. That flip is what makes snapshot installation atomic: a
//!   crash before it leaves the old state and log, a crash after it the new state.
//! - `dedup_a`, `dedup_b`: the duplicate index derived from `state_a` / `state_b`, as the
//!   sorted runs the machine seals (fingerprint -> record id, and the run's `through` under
//!   key `0xff`), each ingested whole as a table file; cleared with its slot's state.
//!
//! Durability: log appends and hard state are written with `sync` (WAL fsync) before any
//! message that depends on them is sent. State writes bypass the write-ahead log (the Raft
//! log already holds every command): they are durable once the state column family is
//! flushed, and the applied index is in the same batch as the state it describes, so a
//! flushed state is always a consistent prefix. A crash, or closing the database without
//! a graceful stop (closing does not flush; `Node::stop` flushes first), loses the unflushed
//! state writes; the restart replays their entries from the log.
//! So the log is never compacted past an unflushed state: it is compacted only up to the
//! applied index read through the state's persisted view (which sees flushed table files
//! only; `RocksStateStore::persisted`), and a staged snapshot slot is flushed before the
//! batch that makes it active. Opening a node whose state is behind its log's start is
//! refused as corrupt.
//!
//! The log's write-ahead log is capped (`limits::WAL_BYTES_MAX`): past the cap RocksDB
//! flushes whatever still holds the oldest WAL file: the few kilobytes of `raft_meta`, and
//! the log's memtable, which is sized so that this is what flushes it
//! (`limits::LOG_MEMTABLE_BYTES`): by then most of its entries are compacted, and the
//! flush drops them. Its WAL files are recycled (`limits::WAL_FILES_RECYCLED`): overwritten
//! in place instead of created and deleted, which RocksDB allows only in a database whose
//! writes all go through the WAL; the state's writes skip it, hence two databases.
//!
//! [`RocksEngine::stats`] reports what each column family has flushed and compacted.

mod engine;
mod index_filter;
mod log;
pub(crate) mod membership;
mod rocks_log;
mod state;

pub use engine::{RocksEngine, StateSlot};
pub use log::{LogStore, MemLogStore, conformance};
pub use membership::{Membership, conf_members};
pub use rocks_log::RocksLogStore;
pub use state::{PersistedState, RocksStateStore, RocksStateView};

/// Lowers the calling thread's CPU priority to [`crate::limits::BACKGROUND_THREAD_NICE`]:
/// the duplicate-index sealing and filter-build threads call it first. On Linux niceness is
/// per thread. A failure is logged, not fatal: only latency depends on it.
pub(crate) fn lower_current_thread_priority(what: &str) {
    let nice = crate::limits::BACKGROUND_THREAD_NICE;
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::warn!(error = %e, thread = what, nice, "could not lower a background thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use rustix::{process::getpriority_process, thread::gettid};

    #[test]
    fn a_background_thread_lowers_its_own_priority_and_no_other() {
        let nice = || getpriority_process(Some(gettid())).expect("read own niceness");
        let before = nice();
        let background = std::thread::spawn(move || {
            super::lower_current_thread_priority("test");
            nice()
        })
        .join()
        .expect("background thread");
        assert_eq!(background, crate::limits::BACKGROUND_THREAD_NICE);
        assert_eq!(nice(), before, "the spawning thread keeps its priority");
    }
}

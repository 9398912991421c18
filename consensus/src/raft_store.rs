//! raft-rs's [`Storage`] over a [`LogStore`], plus the hand-off of generated snapshots.
//!
//! raft-rs asks for a snapshot from inside `step`/`tick` when a follower is too far behind.
//! Building one needs the state machine (which the storage cannot see), so the first request
//! answers `SnapshotTemporarilyUnavailable` and records it; the driver then generates the
//! snapshot (metadata at the applied index plus a pinned RocksDB view of the state) and
//! parks it in [`SnapshotSlot`], where raft-rs finds it on its next attempt. This is the
//! asynchronous generation raft-rs documents for `Storage::snapshot`.

use std::sync::{Arc, Mutex};

use raft::prelude::{ConfState, Entry, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use crate::storage::{LogStore, conf_members};

/// Snapshot requests from raft-rs and the snapshot generated for them.
#[derive(Default, Debug)]
pub struct SnapshotSlot {
    /// The most recently generated snapshot (metadata and descriptor; the data is streamed).
    pub generated: Option<Snapshot>,
    /// The highest index raft-rs asked for that `generated` does not cover.
    pub requested: Option<u64>,
}

/// raft-rs storage: reads from the log store; the driver writes through [`RaftStore::log_mut`].
pub struct RaftStore<L: LogStore> {
    log: L,
    slot: Arc<Mutex<SnapshotSlot>>,
}

fn other(e: crate::error::ConsensusError) -> raft::Error {
    raft::Error::Store(StorageError::Other(Box::new(e)))
}

impl<L: LogStore> RaftStore<L> {
    /// Wraps a log store.
    pub fn new(log: L) -> Self {
        RaftStore {
            log,
            slot: Arc::default(),
        }
    }

    /// The log store.
    pub fn log(&self) -> &L {
        &self.log
    }

    /// The log store, for writing.
    pub fn log_mut(&mut self) -> &mut L {
        &mut self.log
    }

    /// The snapshot hand-off slot.
    pub fn slot(&self) -> &Arc<Mutex<SnapshotSlot>> {
        &self.slot
    }
}

impl<L: LogStore> Storage for RaftStore<L> {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let conf_state: ConfState = self.log.membership().conf_state;
        Ok(RaftState::new(self.log.hard_state(), conf_state))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.log.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        assert!(
            high <= self.log.last_index() + 1,
            "raft asked for entries up to {high}, last index is {}",
            self.log.last_index()
        );
        self.log.entries(low, high, max_size.into()).map_err(other)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        match self.log.term(idx) {
            Some(t) => Ok(t),
            None if idx < self.log.first_index() => Err(raft::Error::Store(StorageError::Compacted)),
            None => Err(raft::Error::Store(StorageError::Unavailable)),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.log.first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.log.last_index())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let mut slot = self.slot.lock().expect("snapshot slot lock");
        if let Some(s) = &slot.generated {
            let meta = s.get_metadata();
            // Useful only if it is recent enough, the follower can continue from our log
            // after it (otherwise it would be sent the same stale snapshot forever), and its
            // configuration includes the follower (a new learner refuses one that does not).
            let fresh_enough = meta.index >= request_index && meta.index + 1 >= self.log.first_index();
            let knows_peer = conf_members(meta.get_conf_state()).contains(&to);
            if fresh_enough && knows_peer {
                return Ok(s.clone());
            }
        }
        slot.requested = Some(slot.requested.map_or(request_index, |r| r.max(request_index)));
        Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemLogStore;

    #[test]
    fn snapshot_requests_are_recorded_until_one_is_generated() {
        let s = RaftStore::new(MemLogStore::new());
        assert!(s.snapshot(5, 2).is_err());
        assert!(s.snapshot(3, 3).is_err());
        assert_eq!(s.slot().lock().unwrap().requested, Some(5));
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 7;
        snap.mut_metadata().mut_conf_state().set_voters(vec![1, 2]);
        s.slot().lock().unwrap().generated = Some(snap);
        assert_eq!(s.snapshot(5, 2).unwrap().get_metadata().index, 7);
        assert!(s.snapshot(8, 2).is_err(), "too old for index 8");
        assert!(
            s.snapshot(5, 3).is_err(),
            "node 3 is not in the snapshot's configuration"
        );
    }

    #[test]
    fn term_errors_distinguish_compacted_from_unavailable() {
        let mut log = MemLogStore::new();
        let ents: Vec<Entry> = (1..=5)
            .map(|i| Entry {
                index: i,
                term: 1,
                ..Default::default()
            })
            .collect();
        log.append(&ents, None, false).unwrap();
        log.compact(3).unwrap();
        let s = RaftStore::new(log);
        assert_eq!(s.term(3).unwrap(), 1);
        assert_eq!(s.term(2), Err(raft::Error::Store(StorageError::Compacted)));
        assert_eq!(s.term(9), Err(raft::Error::Store(StorageError::Unavailable)));
        assert_eq!(
            s.entries(2, 4, None, GetEntriesContext::empty(false)),
            Err(raft::Error::Store(StorageError::Compacted))
        );
    }
}

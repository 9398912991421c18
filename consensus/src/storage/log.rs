//! The Raft log store contract, the in-memory implementation, and the conformance suite every
//! implementation passes.
//!
//! A log store holds entries `[first_index, last_index]`, the hard state, the membership
//! record, and the (index, term) the log was compacted or snapshotted to. raft-rs reads it
//! through [`crate::raft_store::RaftStore`]; the driver writes it.

use protobuf::Message as _;
use raft::prelude::{Entry, HardState, SnapshotMetadata};

use crate::error::Result;
use crate::storage::Membership;

/// Where a log store stands: for raft-rs's `first_index`/`last_index`/`term`.
pub trait LogStore: Send + 'static {
    /// The persisted hard state.
    fn hard_state(&self) -> HardState;

    /// The persisted membership record.
    fn membership(&self) -> Membership;

    /// `(index, term)` of the last entry removed by compaction or a snapshot; `(0, 0)` for a
    /// fresh log.
    fn snapshot_point(&self) -> (u64, u64);

    /// First index available: `snapshot_point().0 + 1`.
    fn first_index(&self) -> u64 {
        self.snapshot_point().0 + 1
    }

    /// Last index (equal to `snapshot_point().0` when no entry is held).
    fn last_index(&self) -> u64;

    /// Term of `index`: `Some` for the snapshot point and every held entry, `None` otherwise.
    fn term(&self, index: u64) -> Option<u64> {
        let (point, point_term) = self.snapshot_point();
        if index == point {
            return Some(point_term);
        }
        if index < self.first_index() || index > self.last_index() {
            return None;
        }
        Some(self.held_term((index - self.first_index()) as usize))
    }

    /// Term of the held entry at `offset` from `first_index()` (in range).
    fn held_term(&self, offset: usize) -> u64;

    /// Entries `[low, high)` (which must be held), cut after `max_bytes` but never empty.
    fn entries(&self, low: u64, high: u64, max_bytes: Option<u64>) -> Result<Vec<Entry>>;

    /// Appends `entries` (replacing any held entries from the first one's index on) and
    /// stores `hard_state`, atomically; with `sync`, durable when this returns.
    ///
    /// Panics when the entries would leave a gap or overwrite compacted entries: raft-rs
    /// never asks for that, so it is a bug.
    fn append(&mut self, entries: &[Entry], hard_state: Option<&HardState>, sync: bool) -> Result<()>;

    /// Stores a new hard state only.
    fn set_hard_state(&mut self, hard_state: &HardState, sync: bool) -> Result<()> {
        self.append(&[], Some(hard_state), sync)
    }

    /// Stores a new membership record.
    fn set_membership(&mut self, membership: &Membership) -> Result<()>;

    /// Removes entries up to and including `index` (which must be held), keeping its term.
    fn compact(&mut self, index: u64) -> Result<()>;

    /// Replaces the log by a snapshot point: all entries go, the snapshot's index and term
    /// become the snapshot point, the hard state's commit moves up to it, and the membership
    /// becomes the snapshot's. Atomic.
    fn apply_snapshot(&mut self, meta: &SnapshotMetadata, membership: &Membership) -> Result<()>;
}

/// The in-memory log store, for tests and for comparing against the RocksDB one.
#[derive(Default, Debug, Clone)]
pub struct MemLogStore {
    hard_state: HardState,
    membership: Membership,
    snapshot_point: (u64, u64),
    entries: Vec<Entry>,
}

impl MemLogStore {
    /// An empty log.
    pub fn new() -> Self {
        MemLogStore::default()
    }
}

/// Checks an append against the held range: no gap, no overwrite of compacted entries.
pub(crate) fn check_append(first: u64, last: u64, entries: &[Entry]) {
    if let Some(e) = entries.first() {
        assert!(
            e.index >= first,
            "append at {} would overwrite compacted entries (first index {first})",
            e.index
        );
        assert!(
            e.index <= last + 1,
            "append at {} leaves a gap after last index {last}",
            e.index
        );
        for w in entries.windows(2) {
            assert_eq!(w[0].index + 1, w[1].index, "appended entries are not contiguous");
        }
    }
}

/// Keeps the first entries of `ents` whose encoded size fits in `max_bytes` (at least one).
pub(crate) fn limit_entries(ents: &mut Vec<Entry>, max_bytes: Option<u64>) {
    let Some(max) = max_bytes else { return };
    let mut total = 0u64;
    let keep = ents
        .iter()
        .take_while(|e| {
            total += u64::from(e.compute_size());
            total <= max
        })
        .count();
    ents.truncate(keep.max(1));
}

impl LogStore for MemLogStore {
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
        self.entries.last().map_or(self.snapshot_point.0, |e| e.index)
    }

    fn held_term(&self, offset: usize) -> u64 {
        self.entries[offset].term
    }

    fn entries(&self, low: u64, high: u64, max_bytes: Option<u64>) -> Result<Vec<Entry>> {
        let first = self.first_index();
        assert!(
            low >= first && high <= self.last_index() + 1 && low <= high,
            "entries [{low}, {high}) outside the held range [{first}, {}]",
            self.last_index()
        );
        let mut out = self.entries[(low - first) as usize..(high - first) as usize].to_vec();
        limit_entries(&mut out, max_bytes);
        Ok(out)
    }

    fn append(&mut self, entries: &[Entry], hard_state: Option<&HardState>, _sync: bool) -> Result<()> {
        check_append(self.first_index(), self.last_index(), entries);
        if let Some(e) = entries.first() {
            let keep = (e.index - self.first_index()) as usize;
            self.entries.truncate(keep);
            self.entries.extend_from_slice(entries);
        }
        if let Some(hs) = hard_state {
            self.hard_state = hs.clone();
        }
        Ok(())
    }

    fn set_membership(&mut self, membership: &Membership) -> Result<()> {
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
        let drop = (index + 1 - self.first_index()) as usize;
        self.entries.drain(..drop);
        self.snapshot_point = (index, term);
        Ok(())
    }

    fn apply_snapshot(&mut self, meta: &SnapshotMetadata, membership: &Membership) -> Result<()> {
        self.entries.clear();
        self.snapshot_point = (meta.index, meta.term);
        self.hard_state.commit = self.hard_state.commit.max(meta.index);
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.membership = membership.clone();
        Ok(())
    }
}

/// The log store conformance suite: every [`LogStore`] runs these checks. `reopen` turns a
/// store into a freshly opened one over the same data (the identity for in-memory stores),
/// so persistence is checked too.
pub mod conformance {
    use super::*;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            index,
            term,
            data: data.to_vec().into(),
            ..Default::default()
        }
    }

    /// Runs every check against fresh stores from `fresh`.
    pub fn run<L: LogStore>(mut fresh: impl FnMut() -> L, mut reopen: impl FnMut(L) -> L) {
        empty_log(&fresh());
        append_and_read(fresh(), &mut reopen);
        overwrite_conflicting_suffix(fresh());
        compact_keeps_term(fresh(), &mut reopen);
        size_limit_returns_at_least_one(fresh());
        snapshot_replaces_log(fresh(), &mut reopen);
        membership_and_hard_state_persist(fresh(), &mut reopen);
    }

    fn empty_log<L: LogStore>(s: &L) {
        assert_eq!(s.first_index(), 1, "fresh log starts at 1");
        assert_eq!(s.last_index(), 0, "fresh log is empty");
        assert_eq!(s.term(0), Some(0), "term of index 0 is 0");
        assert_eq!(s.term(1), None, "no entry 1 yet");
        assert_eq!(s.hard_state(), HardState::default());
    }

    fn append_and_read<L: LogStore>(mut s: L, reopen: &mut impl FnMut(L) -> L) {
        let ents: Vec<Entry> = (1..=5).map(|i| entry(i, 1 + i / 3, &[i as u8; 10])).collect();
        let hs = HardState {
            term: 2,
            vote: 3,
            commit: 2,
            ..Default::default()
        };
        s.append(&ents, Some(&hs), true).unwrap();
        let s = reopen(s);
        assert_eq!(s.last_index(), 5);
        assert_eq!(s.hard_state(), hs, "hard state persists with the append");
        assert_eq!(s.entries(2, 5, None).unwrap(), ents[1..4].to_vec());
        assert_eq!(s.term(3), Some(2));
        assert_eq!(s.term(6), None);
    }

    fn overwrite_conflicting_suffix<L: LogStore>(mut s: L) {
        let ents: Vec<Entry> = (1..=5).map(|i| entry(i, 1, b"old")).collect();
        s.append(&ents, None, false).unwrap();
        s.append(&[entry(3, 2, b"new")], None, false).unwrap();
        assert_eq!(s.last_index(), 3, "entries after an overwritten one are gone");
        assert_eq!(s.entries(3, 4, None).unwrap()[0].data.as_ref(), b"new");
        assert_eq!(s.term(4), None);
        s.append(&[entry(4, 2, b"x"), entry(5, 2, b"y")], None, false)
            .unwrap();
        assert_eq!(s.last_index(), 5);
    }

    fn compact_keeps_term<L: LogStore>(mut s: L, reopen: &mut impl FnMut(L) -> L) {
        let ents: Vec<Entry> = (1..=10).map(|i| entry(i, i, b"e")).collect();
        s.append(&ents, None, true).unwrap();
        s.compact(6).unwrap();
        s.compact(3).unwrap(); // compacting backwards is a no-op
        let s = reopen(s);
        assert_eq!(s.first_index(), 7);
        assert_eq!(s.snapshot_point(), (6, 6));
        assert_eq!(s.term(6), Some(6), "term of the compaction point is kept");
        assert_eq!(s.term(5), None, "compacted");
        assert_eq!(s.entries(7, 11, None).unwrap().len(), 4);
    }

    fn size_limit_returns_at_least_one<L: LogStore>(mut s: L) {
        let ents: Vec<Entry> = (1..=4).map(|i| entry(i, 1, &[0; 100])).collect();
        s.append(&ents, None, false).unwrap();
        assert_eq!(s.entries(1, 5, Some(1)).unwrap().len(), 1, "never empty");
        let one = u64::from(ents[0].compute_size());
        assert_eq!(s.entries(1, 5, Some(2 * one + 1)).unwrap().len(), 2);
    }

    fn snapshot_replaces_log<L: LogStore>(mut s: L, reopen: &mut impl FnMut(L) -> L) {
        let ents: Vec<Entry> = (1..=3).map(|i| entry(i, 1, b"e")).collect();
        let hs = HardState {
            term: 1,
            commit: 3,
            ..Default::default()
        };
        s.append(&ents, Some(&hs), true).unwrap();
        let mut meta = SnapshotMetadata {
            index: 50,
            term: 4,
            ..Default::default()
        };
        meta.mut_conf_state().set_voters(vec![1, 2, 3]);
        let mut m = Membership {
            conf_state: meta.get_conf_state().clone(),
            index: 50,
            ..Membership::default()
        };
        m.peers.insert(2, "b".into());
        s.apply_snapshot(&meta, &m).unwrap();
        let mut s = reopen(s);
        assert_eq!(s.first_index(), 51);
        assert_eq!(s.last_index(), 50);
        assert_eq!(s.term(50), Some(4));
        assert_eq!(s.hard_state().commit, 50, "commit moves up to the snapshot");
        assert_eq!(s.hard_state().term, 4);
        assert_eq!(s.membership(), m);
        s.append(&[entry(51, 4, b"after")], None, true).unwrap();
        assert_eq!(s.last_index(), 51);
    }

    fn membership_and_hard_state_persist<L: LogStore>(mut s: L, reopen: &mut impl FnMut(L) -> L) {
        let mut m = Membership {
            index: 7,
            ..Membership::default()
        };
        m.conf_state.set_voters(vec![1, 2]);
        m.conf_state.set_learners(vec![3]);
        m.peers.insert(3, "127.0.0.1:3".into());
        s.set_membership(&m).unwrap();
        let hs = HardState {
            term: 9,
            vote: 2,
            ..Default::default()
        };
        s.set_hard_state(&hs, true).unwrap();
        let s = reopen(s);
        assert_eq!(s.membership(), m);
        assert_eq!(s.hard_state(), hs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_log_store_passes_the_conformance_suite() {
        conformance::run(MemLogStore::new, |s| s);
    }
}

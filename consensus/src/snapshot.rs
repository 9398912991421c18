//! Snapshot streams: building them from a pinned view of the state on the sending side, and
//! staging them on the receiving side.
//!
//! Sending: when raft-rs asks for a snapshot, the driver starts a [`SnapshotSource`]: a
//! thread that pins a RocksDB snapshot of the active state column family at the applied
//! index (taken while the driver is between two applies, so state and metadata agree) and
//! streams it, chunk by chunk (settlement's [`SnapshotReader`]), to every follower raft-rs
//! sends a `MsgSnapshot` to. The `MsgSnapshot` itself rides on the last chunk. A multi-GB
//! state is therefore never one buffer or one message, and the driver never blocks on it.
//!
//! Receiving: chunks are validated and written into the *inactive* state column family
//! ([`Staging`]); only when the trailer matched is the `MsgSnapshot` stepped into Raft, and
//! only when Raft hands the snapshot back in a `Ready` is the staged column family flushed
//! (state writes skip RocksDB's write-ahead log) and one synced batch flips the active
//! column family ([`crate::storage::RocksLogStore::install_snapshot`]). While Raft holds a
//! staged snapshot waiting for that `Ready`, the first chunk of another stream is ignored,
//! so nothing clears the slot underneath it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use raft::prelude::Message;
use settlement::snapshot::{SnapshotInstaller, SnapshotReader};
use settlement::store::Store;

use crate::error::{ConsensusError, Result};
use crate::limits::SNAPSHOT_CHUNKS_IN_FLIGHT_MAX;
use crate::storage::RocksStateStore;
use crate::storage::membership::{Cursor, decode_peers, encode_peers};
use crate::transport::{SnapshotChunk, Transport, WireMessage};

const DESCRIPTOR_VERSION: u8 = 1;

/// How long a background sender waits for a full peer queue before giving up the stream.
const SEND_STALL_MAX: Duration = Duration::from_secs(30);

/// The small descriptor carried in `Snapshot.data`: the peer addresses at the snapshot's
/// index (the state itself is streamed).
pub(crate) fn encode_descriptor(peers: &BTreeMap<u64, String>) -> Vec<u8> {
    let mut out = vec![DESCRIPTOR_VERSION];
    encode_peers(peers, &mut out);
    out
}

pub(crate) fn decode_descriptor(bytes: &[u8]) -> Result<BTreeMap<u64, String>> {
    let mut c = Cursor::new(bytes, "snapshot descriptor");
    let v = c.take(1)?[0];
    if v != DESCRIPTOR_VERSION {
        return Err(ConsensusError::Corrupt {
            what: "snapshot descriptor",
            reason: format!("version {v}"),
        });
    }
    let peers = decode_peers(&mut c)?;
    c.finish()?;
    Ok(peers)
}

/// The outcome of streaming a snapshot to a peer, reported back to Raft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotReport {
    pub to: u64,
    pub index: u64,
    pub ok: bool,
}

struct Job {
    msg: Message,
    done: Option<mpsc::Sender<()>>,
}

/// A generated snapshot: a thread holding a pinned view of the state at `index`.
pub(crate) struct SnapshotSource {
    pub index: u64,
    pub created_tick: u64,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Inline mode joins the thread on drop, so the RocksDB it pins is released before a
    /// test reopens the same directory. Background mode lets a running stream finish.
    join_on_drop: bool,
}

impl Drop for SnapshotSource {
    fn drop(&mut self) {
        self.jobs = None; // the thread exits once its queue is closed and drained
        if let (true, Some(t)) = (self.join_on_drop, self.thread.take()) {
            let _ = t.join();
        }
    }
}

pub(crate) struct SourceParams {
    pub from: u64,
    pub index: u64,
    pub term: u64,
    pub chunk_bytes: usize,
    /// Pace by the peer's queue (background mode); inline mode sends everything at once.
    pub pace: bool,
    pub created_tick: u64,
}

impl SnapshotSource {
    /// Pins the view of `store` now and returns once it is pinned.
    pub fn start(
        store: RocksStateStore,
        transport: Arc<dyn Transport>,
        reports: mpsc::Sender<SnapshotReport>,
        p: SourceParams,
    ) -> Result<SnapshotSource> {
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (pinned_tx, pinned_rx) = mpsc::channel::<()>();
        let (index, term, created_tick, join_on_drop) = (p.index, p.term, p.created_tick, !p.pace);
        let thread = std::thread::Builder::new()
            .name(format!("snapshot-{index}"))
            .spawn(move || {
                let view = store.view();
                let _ = pinned_tx.send(());
                while let Ok(job) = jobs_rx.recv() {
                    let to = job.msg.to;
                    let ok = match stream(&view, transport.as_ref(), &p, job.msg) {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(to, index, error = %e, "snapshot stream failed");
                            false
                        }
                    };
                    let _ = reports.send(SnapshotReport { to, index, ok });
                    if let Some(d) = job.done {
                        let _ = d.send(());
                    }
                }
            })
            .map_err(|e| ConsensusError::Snapshot {
                index,
                term,
                reason: format!("cannot start the sender thread: {e}"),
            })?;
        pinned_rx.recv().map_err(|_| ConsensusError::Snapshot {
            index,
            term,
            reason: "the sender thread died before pinning the state".into(),
        })?;
        Ok(SnapshotSource {
            index,
            created_tick,
            jobs: Some(jobs_tx),
            thread: Some(thread),
            join_on_drop,
        })
    }

    /// Streams the snapshot to `msg.to`; with `wait`, returns once the stream was sent.
    pub fn send(&self, msg: Message, wait: bool) -> bool {
        let (done, rx) = if wait {
            let (tx, rx) = mpsc::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let Some(jobs) = &self.jobs else { return false };
        if jobs.send(Job { msg, done }).is_err() {
            return false;
        }
        if let Some(rx) = rx {
            let _ = rx.recv();
        }
        true
    }
}

fn stream(
    view: &dyn settlement::store::ReadStore,
    transport: &dyn Transport,
    p: &SourceParams,
    msg: Message,
) -> Result<()> {
    let to = msg.to;
    let err = |reason: String| ConsensusError::Snapshot {
        index: p.index,
        term: p.term,
        reason,
    };
    let mut reader = SnapshotReader::with_chunk_bytes(view, p.chunk_bytes);
    let mut next = reader.next();
    let mut seq = 0u64;
    let mut final_message = Some(Box::new(msg));
    while let Some(chunk) = next {
        let data = chunk.map_err(|e| err(format!("reading the state: {e}")))?;
        next = reader.next();
        let last = next.is_none();
        let wire = WireMessage::Snapshot(SnapshotChunk {
            from: p.from,
            to,
            index: p.index,
            term: p.term,
            seq,
            data,
            final_message: if last { final_message.take() } else { None },
        });
        let started = Instant::now();
        loop {
            let stalled = started.elapsed() > SEND_STALL_MAX;
            if p.pace
                && transport
                    .links()
                    .get(&to)
                    .is_some_and(|l| l.queued >= SNAPSHOT_CHUNKS_IN_FLIGHT_MAX)
            {
                if stalled {
                    return Err(err(format!("peer {to} stopped draining its queue")));
                }
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            // A clone per attempt: a refused send consumes the message.
            match transport.send(wire.clone()) {
                Ok(()) => break,
                Err(ConsensusError::Busy { .. }) if p.pace && !stalled => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(err(format!("sending chunk {seq}: {e}"))),
            }
        }
        seq += 1;
    }
    Ok(())
}

/// A snapshot being received into the inactive state column family.
pub(crate) struct Staging {
    pub from: u64,
    pub index: u64,
    pub term: u64,
    pub next_seq: u64,
    installer: SnapshotInstaller,
    store: RocksStateStore,
}

impl Staging {
    /// Starts staging into `store` (cleared first).
    pub fn begin(mut store: RocksStateStore, from: u64, index: u64, term: u64) -> Result<Staging> {
        store
            .write(SnapshotInstaller::clear_all())
            .map_err(|e| ConsensusError::storage("clear staging state", e))?;
        // The slot's duplicate index was derived from the state just cleared; the machine
        // opened over the installed state rebuilds it from the stored batches.
        store
            .index_clear()
            .map_err(|e| ConsensusError::storage("clear staging duplicate index", e))?;
        Ok(Staging {
            from,
            index,
            term,
            next_seq: 0,
            installer: SnapshotInstaller::new(),
            store,
        })
    }

    /// Validates and writes one chunk.
    pub fn chunk(&mut self, data: &[u8]) -> Result<()> {
        let batch = self.installer.chunk(data).map_err(|e| ConsensusError::Snapshot {
            index: self.index,
            term: self.term,
            reason: e.to_string(),
        })?;
        self.store
            .write(batch)
            .map_err(|e| ConsensusError::storage("write staging state", e))?;
        self.next_seq += 1;
        Ok(())
    }

    /// Succeeds when the trailer was received and matched.
    pub fn finish(&self) -> Result<()> {
        self.installer
            .finish()
            .map(|_| ())
            .map_err(|e| ConsensusError::Snapshot {
                index: self.index,
                term: self.term,
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trips() {
        let mut peers = BTreeMap::new();
        peers.insert(1, "a:1".to_string());
        peers.insert(9, "b:9".to_string());
        let d = encode_descriptor(&peers);
        assert_eq!(decode_descriptor(&d).unwrap(), peers);
        assert!(decode_descriptor(&d[..d.len() - 1]).is_err());
        let mut bad = d;
        bad[0] = 7;
        assert!(decode_descriptor(&bad).is_err());
    }
}

//! The Raft driver: one node's `RawNode`, its storage, its state machine, and the clients
//! waiting on it. [`Peer`] is synchronous and does no waiting of its own: it is ticked,
//! stepped and asked to handle its `Ready` by a runtime — the threaded [`crate::node`] in
//! production, or a test that drives a whole cluster from one thread with virtual time.
//!
//! Proposals: one command is one Raft entry. The settlement machine's ledger head chains
//! one command per log index, so entries are not packed; grouping happens one level down:
//! every proposal that arrives between two `Ready`s is appended and fsynced by one write
//! (group commit), and raft-rs packs many entries into each append message. Each proposal
//! remembers the `(index, term)` its entry got; when that index is applied the client gets
//! the state machine's response if the term matches, and `LeadershipLost` if another
//! leader's entry took the slot.
//!
//! Applying: committed entries join a queue and are applied in order on this thread, up to
//! [`APPLY_BYTES_PER_LOOP_MAX`] per ready. While the state machine says applying would wait
//! for its background work ([`StateMachine::apply_would_wait`]) they stay queued, up to
//! `unapplied_bytes_max`, and the node keeps ticking, replicating and answering meanwhile:
//! a leader whose thread stood still for an election timeout would lose its followers.
//! raft-rs learns the applied index through `advance_apply_to`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use protobuf::Message as _;
use raft::prelude::*;
use raft::{RawNode, StateRole};
use tokio::sync::oneshot;

use crate::error::{ConsensusError, Result};
use crate::limits::*;
use crate::machine::StateMachine;
use crate::raft_store::RaftStore;
use crate::snapshot::{
    SnapshotReport, SnapshotSource, SourceParams, Staging, decode_descriptor, encode_descriptor,
};
use crate::storage::membership::{Cursor, decode_peers, encode_peers};
use crate::storage::{LogStore, Membership, RocksEngine, RocksLogStore, StateSlot, conf_members};
use crate::transport::{SnapshotChunk, Transport, WireMessage};

/// Crashes the node at a named point when the `failpoints` feature is on and the point is
/// configured (`fail::cfg(name, "return")`); compiles to nothing otherwise.
macro_rules! crash_point {
    ($name:expr) => {
        fail::fail_point!($name, |_| Err(ConsensusError::Injected { point: $name }));
    };
}

/// Driver settings. Times are in ticks; the runtime decides how long a tick is.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// This node's Raft id (non-zero).
    pub id: u64,
    /// Ticks without a leader before a follower campaigns (randomised up to twice this).
    pub election_tick: usize,
    /// Ticks between leader heartbeats.
    pub heartbeat_tick: usize,
    /// Election timeout range `[min, max)` in ticks, randomised by raft-rs per term; 0 means
    /// raft-rs's default (`[election_tick, 2 * election_tick)`). Deterministic tests give
    /// each node a one-tick range so no randomness outside the seed remains.
    pub min_election_tick: usize,
    /// See `min_election_tick`.
    pub max_election_tick: usize,
    /// Pre-vote: a partitioned node rejoining does not depose a working leader.
    pub pre_vote: bool,
    /// At most this many log entries are kept behind the applied index when compacting.
    pub log_retain_entries: u64,
    /// At most this many bytes of commands are kept behind the applied index when
    /// compacting (both limits hold; entries applied before the process started count as
    /// 0 bytes, their sizes are not known).
    pub log_retain_bytes: u64,
    /// A compaction is planned after this many applied entries...
    pub log_compact_interval_entries: u64,
    /// ...or after this many bytes of applied commands, whichever comes first.
    pub log_compact_interval_bytes: u64,
    /// Target snapshot chunk size.
    pub snapshot_chunk_bytes: usize,
    /// Stream snapshots from a background thread (production). `false` streams them inline
    /// in the ready loop, which deterministic tests need.
    pub snapshot_in_background: bool,
    /// Make the state durable for a log compaction with a flush in RocksDB's background
    /// threads, compacting once the durable applied index has caught up (production: the
    /// ready loop never waits for a flush). `false` flushes and waits in the ready loop, so
    /// compaction happens at the same point of every run, which deterministic tests need.
    pub state_flush_in_background: bool,
    /// Ticks a read-index request may wait before it is answered with a retry.
    pub read_timeout_ticks: u64,
    /// Bytes of committed commands kept queued while the state machine says applying would
    /// wait ([`StateMachine::apply_would_wait`]); past it the driver applies anyway and
    /// waits.
    pub unapplied_bytes_max: u64,
}

impl PeerConfig {
    /// Defaults for node `id`.
    pub fn new(id: u64) -> Self {
        PeerConfig {
            id,
            election_tick: 10,
            heartbeat_tick: 2,
            min_election_tick: 0,
            max_election_tick: 0,
            pre_vote: true,
            log_retain_entries: LOG_RETAIN_ENTRIES,
            log_retain_bytes: LOG_RETAIN_BYTES,
            log_compact_interval_entries: LOG_COMPACT_INTERVAL_ENTRIES,
            log_compact_interval_bytes: LOG_COMPACT_INTERVAL_BYTES,
            snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
            snapshot_in_background: true,
            state_flush_in_background: true,
            read_timeout_ticks: 50,
            unapplied_bytes_max: UNAPPLIED_BYTES_MAX,
        }
    }

    fn raft_config(&self, applied: u64) -> raft::Config {
        raft::Config {
            id: self.id,
            election_tick: self.election_tick,
            heartbeat_tick: self.heartbeat_tick,
            min_election_tick: self.min_election_tick,
            max_election_tick: self.max_election_tick,
            applied,
            max_size_per_msg: RAFT_MESSAGE_BYTES_MAX,
            max_inflight_msgs: RAFT_INFLIGHT_MESSAGES_MAX,
            check_quorum: true,
            pre_vote: self.pre_vote,
            max_uncommitted_size: UNCOMMITTED_BYTES_MAX,
            max_committed_size_per_ready: COMMITTED_BYTES_PER_READY_MAX,
            ..raft::Config::default()
        }
    }
}

/// A membership change step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Add `id` as a learner (receives the log, does not vote).
    AddLearner {
        /// Raft id.
        id: u64,
        /// Transport address.
        address: String,
    },
    /// Add `id` as a voter, or promote a learner.
    AddVoter {
        /// Raft id.
        id: u64,
        /// Transport address.
        address: String,
    },
    /// Remove `id`.
    Remove {
        /// Raft id.
        id: u64,
    },
}

/// Answers a proposal or a membership change: the state machine's response bytes.
pub type Responder = oneshot::Sender<Result<Vec<u8>>>;

/// Runs on the driver thread once a read is linearizable: the state machine reflects every
/// entry committed before the read started.
pub type ReadCallback<M> = Box<dyn FnOnce(Result<&M>) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingKind {
    Command,
    ConfChange,
}

struct Pending {
    index: u64,
    term: u64,
    kind: PendingKind,
    bytes: usize,
    tx: Responder,
}

struct PendingRead<M> {
    started_tick: u64,
    callback: ReadCallback<M>,
}

/// Role of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader.
    Follower,
    /// Campaigning.
    Candidate,
    /// Pre-vote campaign.
    PreCandidate,
    /// Leads.
    Leader,
}

/// Replication progress of one follower, as its leader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Highest index known to be replicated on it.
    pub matched: u64,
    /// Next index to send.
    pub next_index: u64,
    /// `Probe`, `Replicate` or `Snapshot`.
    pub state: String,
    /// Heard from within the last election timeout.
    pub recent_active: bool,
}

/// A node's state for status pages, metrics and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Raft id.
    pub id: u64,
    /// Current term.
    pub term: u64,
    /// Role.
    pub role: Role,
    /// Leader known to this node.
    pub leader_id: Option<u64>,
    /// Leader's address, when known.
    pub leader_address: Option<String>,
    /// Commit index.
    pub commit_index: u64,
    /// Applied index.
    pub applied_index: u64,
    /// Committed entries queued for applying (see [`StateMachine::apply_would_wait`]).
    pub unapplied_entries: usize,
    /// First index held in the log.
    pub first_index: u64,
    /// Last index in the log.
    pub last_index: u64,
    /// Voters (the incoming set during a joint change).
    pub voters: Vec<u64>,
    /// Outgoing voters while a joint change is in progress (empty otherwise).
    pub voters_outgoing: Vec<u64>,
    /// Learners.
    pub learners: Vec<u64>,
    /// Peer addresses.
    pub peers: BTreeMap<u64, String>,
    /// Follower progress (leader only).
    pub progress: BTreeMap<u64, Progress>,
    /// Proposals waiting for their outcome.
    pub pending_proposals: usize,
    /// Reads waiting.
    pub pending_reads: usize,
    /// Snapshots installed since start.
    pub snapshots_installed: u64,
    /// True once this node applied its own removal.
    pub removed: bool,
}

/// Where the last [`Peer::on_ready`] spent its time. The runtime reports a loop that took
/// longer than a heartbeat interval with these numbers: while the driver is busy here, no
/// tick runs and no heartbeat leaves, and a leader stalled for an election timeout loses
/// its followers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadyTimings {
    /// Installing a snapshot received from the leader.
    pub snapshot_install: Duration,
    /// Applying committed entries to the state machine.
    pub apply: Duration,
    /// Entries applied.
    pub applied_entries: usize,
    /// Command bytes applied.
    pub applied_bytes: u64,
    /// Appending entries and the hard state to the log, synced.
    pub log_append: Duration,
    /// Entries appended.
    pub appended_entries: usize,
    /// Planning and running log compaction.
    pub compaction: Duration,
}

/// One node: Raft, storage, state machine and waiting clients.
pub struct Peer<M: StateMachine> {
    cfg: PeerConfig,
    raw: RawNode<RaftStore<RocksLogStore>>,
    engine: RocksEngine,
    sm: M,
    transport: Arc<dyn Transport>,
    membership: Membership,
    proposals: VecDeque<Pending>,
    proposal_bytes: usize,
    next_read_id: u64,
    reads_waiting: BTreeMap<u64, PendingRead<M>>,
    reads_ready: VecDeque<(u64, PendingRead<M>)>,
    role: StateRole,
    leader_id: u64,
    term: u64,
    ticks: u64,
    last_compact_applied: u64,
    /// Command bytes applied since the last compaction was planned.
    bytes_since_compact: u64,
    /// `(index, command bytes)` of the applied entries the log still holds, oldest first,
    /// for retention by bytes (entries applied before the process started are not here).
    applied_sizes: VecDeque<(u64, u64)>,
    /// A log compaction waiting for the state to be durable up to its index.
    compact_pending: Option<PendingCompaction>,
    /// Set by `tick`: a pending compaction reads the durable applied index at most once a
    /// tick.
    compact_recheck: bool,
    source: Option<SnapshotSource>,
    reports_tx: mpsc::Sender<SnapshotReport>,
    reports_rx: mpsc::Receiver<SnapshotReport>,
    staging: Option<Staging>,
    staged: Option<(u64, u64)>,
    snapshots_installed: u64,
    removed: bool,
    timings: ReadyTimings,
    /// Committed entries raft-rs handed out that are not applied yet, oldest first: applying
    /// pauses while the state machine would wait for background work, so that ticks,
    /// heartbeats, appends and replies go on meanwhile.
    unapplied: VecDeque<Entry>,
    /// Command bytes in `unapplied`.
    unapplied_bytes: u64,
}

/// See `Peer::maybe_compact`.
#[derive(Clone, Copy, Debug)]
struct PendingCompaction {
    /// Compact the log up to here once the state is durable that far.
    to: u64,
    /// A background flush of the state was requested for it.
    flush_requested: bool,
}

fn sm_error(index: u64, e: impl std::fmt::Display) -> ConsensusError {
    ConsensusError::StateMachine {
        index,
        reason: e.to_string(),
    }
}

impl<M: StateMachine> Peer<M> {
    /// Opens a node over `engine`. `bootstrap` is the initial membership of a new cluster
    /// (the same on every founding node); it is ignored once the log holds a configuration.
    /// A node joining an existing cluster passes `None` and waits for the leader's snapshot.
    pub fn open(
        cfg: PeerConfig,
        engine: RocksEngine,
        transport: Arc<dyn Transport>,
        bootstrap: Option<Membership>,
    ) -> Result<Peer<M>> {
        if cfg.id == 0 {
            return Err(ConsensusError::Config {
                reason: "node id 0 is reserved by raft".into(),
            });
        }
        let mut log = engine.log_store()?;
        let fresh = log.membership().conf_state == ConfState::default() && log.last_index() == 0;
        if let (true, Some(b)) = (fresh, bootstrap) {
            if !b.conf_state.get_voters().contains(&cfg.id) {
                return Err(ConsensusError::Config {
                    reason: format!(
                        "bootstrap voters {:?} do not include this node {}",
                        b.conf_state.get_voters(),
                        cfg.id
                    ),
                });
            }
            log.set_membership(&b)?;
        }
        let membership = log.membership();
        let sm = M::open(engine.state_store()?).map_err(|e| sm_error(0, e))?;
        let applied = sm.applied_index();
        let commit = log.hard_state().commit;
        if applied > log.last_index() {
            return Err(ConsensusError::Corrupt {
                what: "applied index",
                reason: format!(
                    "state applied to {applied} but the log ends at {}",
                    log.last_index()
                ),
            });
        }
        if applied < log.snapshot_point().0 {
            // The entries between would be needed to replay the state, and are gone.
            return Err(ConsensusError::Corrupt {
                what: "applied index",
                reason: format!(
                    "state applied to {applied} but the log was compacted to {}: the state's \
                     unflushed writes were lost and the log no longer holds them",
                    log.snapshot_point().0
                ),
            });
        }
        if applied > commit {
            // Committed entries are applied (ready step 3) before the hard state carrying
            // their commit index is persisted (step 4); a crash in between leaves the state
            // ahead of the stored commit. What was applied was committed, so raise it.
            let mut hs = log.hard_state();
            hs.commit = applied;
            log.set_hard_state(&hs, true)?;
        }
        for (&id, addr) in &membership.peers {
            if id != cfg.id {
                transport.set_peer(id, addr);
            }
        }
        let raft_cfg = cfg.raft_config(applied);
        raft_cfg.validate()?;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw = RawNode::new(&raft_cfg, RaftStore::new(log), &logger)?;
        let (reports_tx, reports_rx) = mpsc::channel();
        tracing::info!(id = cfg.id, applied, commit, voters = ?membership.conf_state.get_voters(), "peer opened");
        Ok(Peer {
            last_compact_applied: applied,
            bytes_since_compact: 0,
            applied_sizes: VecDeque::new(),
            compact_pending: None,
            compact_recheck: false,
            cfg,
            raw,
            engine,
            sm,
            transport,
            membership,
            proposals: VecDeque::new(),
            proposal_bytes: 0,
            next_read_id: 1,
            reads_waiting: BTreeMap::new(),
            reads_ready: VecDeque::new(),
            role: StateRole::Follower,
            leader_id: 0,
            term: 0,
            ticks: 0,
            source: None,
            reports_tx,
            reports_rx,
            staging: None,
            staged: None,
            snapshots_installed: 0,
            removed: false,
            timings: ReadyTimings::default(),
            unapplied: VecDeque::new(),
            unapplied_bytes: 0,
        })
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.cfg.id
    }

    /// The state machine (for queries on the driver thread).
    pub fn state_machine(&self) -> &M {
        &self.sm
    }

    /// Makes the state durable as applied so far (state writes skip RocksDB's WAL): what a
    /// graceful stop does, so that the next start has nothing to replay.
    pub fn flush_state(&self) -> Result<()> {
        self.engine.flush_state(self.engine.active_slot()?)
    }

    /// The storage engine.
    pub fn engine(&self) -> &RocksEngine {
        &self.engine
    }

    fn leader_hint(&self) -> (Option<u64>, Option<String>) {
        let id = self.raw.raft.leader_id;
        if id == 0 {
            (None, None)
        } else {
            (Some(id), self.membership.peers.get(&id).cloned())
        }
    }

    /// Whether raft-rs leads right now. Not the role the last ready reported: a message or
    /// a tick since then may have made this node a follower (a newer term, check quorum),
    /// and a proposal handed to a follower would be forwarded by raft-rs, not appended.
    fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    fn not_leader(&self) -> ConsensusError {
        let (leader_id, leader_addr) = self.leader_hint();
        ConsensusError::NotLeader {
            leader_id,
            leader_addr,
        }
    }

    fn leadership_lost(&self) -> ConsensusError {
        let (leader_id, leader_addr) = self.leader_hint();
        ConsensusError::LeadershipLost {
            term: self.raw.raft.term,
            leader_id,
            leader_addr,
        }
    }

    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        self.ticks += 1;
        self.compact_recheck = true;
        self.raw.tick();
        self.expire_reads();
        if let Some(s) = &self.source
            && self.ticks.saturating_sub(s.created_tick) > SNAPSHOT_SOURCE_IDLE_TICKS_MAX
        {
            // Unpins the RocksDB snapshot; raft-rs asks again if it still needs one.
            self.source = None;
            self.raw
                .mut_store()
                .slot()
                .lock()
                .expect("snapshot slot lock")
                .generated = None;
        }
    }

    /// Starts an election now (tests and operator tools).
    pub fn campaign(&mut self) -> Result<()> {
        Ok(self.raw.campaign()?)
    }

    /// Asks the leader to hand leadership to `to`.
    pub fn transfer_leader(&mut self, to: u64) -> Result<()> {
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        self.raw.transfer_leader(to);
        Ok(())
    }

    /// Proposes a command; `tx` is answered once it applied (or could not).
    pub fn propose(&mut self, data: Vec<u8>, tx: Responder) {
        if let Err(e) = self.admit(data.len()) {
            let _ = tx.send(Err(e));
            return;
        }
        let bytes = data.len();
        let before = self.raw.raft.raft_log.last_index();
        match self.raw.propose(Vec::new(), data) {
            Ok(()) => self.track(before, bytes, PendingKind::Command, tx),
            Err(raft::Error::ProposalDropped) => {
                let _ = tx.send(Err(ConsensusError::ProposalDropped {
                    reason: "leader transfer in progress or uncommitted size limit reached",
                }));
            }
            Err(e) => {
                let _ = tx.send(Err(e.into()));
            }
        }
    }

    fn admit(&self, bytes: usize) -> Result<()> {
        if bytes > ENTRY_BYTES_MAX {
            return Err(ConsensusError::EntryTooLarge {
                bytes,
                max: ENTRY_BYTES_MAX,
            });
        }
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        if self.proposals.len() >= PENDING_PROPOSALS_MAX {
            return Err(ConsensusError::Busy {
                queue: "pending proposals",
                limit: PENDING_PROPOSALS_MAX,
            });
        }
        if self.proposal_bytes + bytes > PENDING_PROPOSAL_BYTES_MAX {
            return Err(ConsensusError::Busy {
                queue: "pending proposal bytes",
                limit: PENDING_PROPOSAL_BYTES_MAX,
            });
        }
        Ok(())
    }

    fn track(&mut self, before: u64, bytes: usize, kind: PendingKind, tx: Responder) {
        let index = self.raw.raft.raft_log.last_index();
        if index != before + 1 {
            // Only a follower takes a proposal without appending it (raft-rs forwards it to
            // the leader, and this raft-rs version cannot turn that off); `admit` checks the
            // live role first, so this is a second line: nothing was appended here, so
            // nothing can be tracked, and the client hears so now.
            let _ = tx.send(Err(ConsensusError::ProposalDropped {
                reason: "raft appended no entry for it",
            }));
            return;
        }
        self.proposals.push_back(Pending {
            index,
            term: self.raw.raft.term,
            kind,
            bytes,
            tx,
        });
        self.proposal_bytes += bytes;
    }

    /// Proposes a membership change as one ConfChangeV2: several voter changes at once go
    /// through joint consensus, left automatically once the joint configuration commits.
    pub fn change_membership(&mut self, changes: Vec<MemberChange>, tx: Responder) {
        if let Err(e) = self.admit(0) {
            let _ = tx.send(Err(e));
            return;
        }
        if changes.is_empty() || changes.len() > PEERS_MAX {
            let _ = tx.send(Err(ConsensusError::Membership {
                reason: format!("{} changes (1 to {PEERS_MAX})", changes.len()),
            }));
            return;
        }
        if self.raw.raft.has_pending_conf() {
            let _ = tx.send(Err(ConsensusError::ProposalDropped {
                reason: "another membership change is in progress",
            }));
            return;
        }
        let mut cc = ConfChangeV2::default();
        let mut addresses = BTreeMap::new();
        let mut singles = Vec::new();
        for c in &changes {
            let mut s = ConfChangeSingle::default();
            match c {
                MemberChange::AddLearner { id, address } | MemberChange::AddVoter { id, address } => {
                    if address.len() > PEER_ADDRESS_BYTES_MAX || *id == 0 {
                        let _ = tx.send(Err(ConsensusError::Membership {
                            reason: format!("invalid node {id} at {address:?}"),
                        }));
                        return;
                    }
                    s.set_change_type(if matches!(c, MemberChange::AddLearner { .. }) {
                        ConfChangeType::AddLearnerNode
                    } else {
                        ConfChangeType::AddNode
                    });
                    s.node_id = *id;
                    addresses.insert(*id, address.clone());
                }
                MemberChange::Remove { id } => {
                    s.set_change_type(ConfChangeType::RemoveNode);
                    s.node_id = *id;
                }
            }
            singles.push(s);
        }
        cc.set_changes(singles.into());
        cc.set_transition(ConfChangeTransition::Auto);
        let mut context = Vec::new();
        encode_peers(&addresses, &mut context);
        let cs = &self.membership.conf_state;
        let adds_a_newcomer = addresses
            .keys()
            .any(|id| !cs.get_voters().contains(id) && !cs.get_learners().contains(id));
        if adds_a_newcomer && let Err(e) = self.compact_bootstrap_prefix() {
            let _ = tx.send(Err(e));
            return;
        }
        let before = self.raw.raft.raft_log.last_index();
        match self.raw.propose_conf_change(context, cc) {
            Ok(()) => self.track(before, 0, PendingKind::ConfChange, tx),
            Err(e) => {
                let _ = tx.send(Err(ConsensusError::Membership {
                    reason: e.to_string(),
                }));
            }
        }
    }

    /// Starts a linearizable read: `callback` runs once the state machine has applied
    /// everything committed when the read started (raft-rs read index).
    pub fn read(&mut self, callback: ReadCallback<M>) {
        if self.raw.raft.leader_id == 0 {
            callback(Err(self.not_leader()));
            return;
        }
        if self.reads_waiting.len() + self.reads_ready.len() >= PENDING_READS_MAX {
            callback(Err(ConsensusError::Busy {
                queue: "pending reads",
                limit: PENDING_READS_MAX,
            }));
            return;
        }
        let id = self.next_read_id;
        self.next_read_id += 1;
        self.raw.read_index(id.to_be_bytes().to_vec());
        self.reads_waiting.insert(
            id,
            PendingRead {
                started_tick: self.ticks,
                callback,
            },
        );
    }

    fn expire_reads(&mut self) {
        let limit = self.cfg.read_timeout_ticks;
        let now = self.ticks;
        let expired: Vec<u64> = self
            .reads_waiting
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.started_tick) > limit)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            if let Some(r) = self.reads_waiting.remove(&id) {
                (r.callback)(Err(self.leadership_lost()));
            }
        }
    }

    /// Handles a message from the transport.
    pub fn receive(&mut self, msg: WireMessage) -> Result<()> {
        match msg {
            WireMessage::Raft(m) => {
                if m.to != self.cfg.id {
                    tracing::warn!(to = m.to, id = self.cfg.id, "dropping a message for another node");
                    return Ok(());
                }
                match self.raw.step(*m) {
                    Ok(()) | Err(raft::Error::StepPeerNotFound) | Err(raft::Error::StepLocalMsg) => Ok(()),
                    Err(e) => {
                        tracing::debug!(error = %e, "step refused a message");
                        Ok(())
                    }
                }
            }
            WireMessage::Snapshot(c) => self.receive_chunk(c),
        }
    }

    fn receive_chunk(&mut self, c: SnapshotChunk) -> Result<()> {
        if c.to != self.cfg.id {
            return Ok(());
        }
        if c.seq == 0 {
            if self.staged_pending() {
                // Raft accepted the snapshot staged in the inactive slot and installs it at
                // the next Ready; a new stream (a retry, or a duplicated first chunk) would
                // clear that slot underneath it. The leader retries if this one was needed.
                tracing::debug!(
                    from = c.from,
                    index = c.index,
                    "snapshot stream ignored: a staged snapshot awaits installation"
                );
                return Ok(());
            }
            let slot = self.engine.active_slot()?.other();
            self.staging = Some(Staging::begin(
                self.engine.slot_store(slot),
                c.from,
                c.index,
                c.term,
            )?);
            self.staged = None;
        }
        let Some(st) = self.staging.as_mut() else {
            return Ok(()); // the start of this stream was lost; the leader will retry
        };
        if (st.from, st.index, st.term, st.next_seq) != (c.from, c.index, c.term, c.seq) {
            tracing::warn!(
                from = c.from,
                index = c.index,
                seq = c.seq,
                "snapshot chunk out of sequence; abandoning stream"
            );
            self.staging = None;
            return Ok(());
        }
        crash_point!("consensus::snapshot_stage_chunk");
        if let Err(e) = st.chunk(&c.data) {
            tracing::warn!(error = %e, "invalid snapshot chunk; abandoning stream");
            self.staging = None;
            return Ok(());
        }
        if let Some(m) = c.final_message {
            let st = self.staging.take().expect("staging present");
            if let Err(e) = st.finish() {
                tracing::warn!(error = %e, "snapshot stream incomplete");
                return Ok(());
            }
            self.staged = Some((st.index, st.term));
            let _ = self.raw.step(*m);
            if !self.staged_pending() {
                // Raft did not take it (stale, or already covered by the log): nothing to
                // install, and the slot is free for the next stream.
                self.staged = None;
            }
        }
        Ok(())
    }

    /// True while raft holds the staged snapshot as its pending (unstable) snapshot, to be
    /// handed out in a Ready and installed from the inactive slot.
    fn staged_pending(&self) -> bool {
        let Some((index, term)) = self.staged else {
            return false;
        };
        self.raw
            .raft
            .raft_log
            .unstable
            .snapshot
            .as_ref()
            .is_some_and(|s| {
                let m = s.get_metadata();
                (m.index, m.term) == (index, term)
            })
    }

    /// Snapshot reports, unreachable peers, snapshot generation: housekeeping between two
    /// `Ready`s.
    pub fn poll_background(&mut self) -> Result<()> {
        while let Ok(r) = self.reports_rx.try_recv() {
            let status = if r.ok {
                SnapshotStatus::Finish
            } else {
                SnapshotStatus::Failure
            };
            self.raw.report_snapshot(r.to, status);
        }
        for id in self.transport.take_unreachable() {
            self.raw.report_unreachable(id);
        }
        self.generate_snapshot_if_requested()
    }

    fn generate_snapshot_if_requested(&mut self) -> Result<()> {
        let requested = self
            .raw
            .store()
            .slot()
            .lock()
            .expect("snapshot slot lock")
            .requested;
        let Some(request) = requested else { return Ok(()) };
        let applied = self.sm.applied_index();
        if applied < request {
            return Ok(()); // generated once the state machine caught up
        }
        let term = self
            .raw
            .store()
            .log()
            .term(applied)
            .ok_or_else(|| ConsensusError::Snapshot {
                index: applied,
                term: 0,
                reason: "term of the applied index is not held".into(),
            })?;
        let source = SnapshotSource::start(
            self.engine.state_store()?,
            self.transport.clone(),
            self.reports_tx.clone(),
            SourceParams {
                from: self.cfg.id,
                index: applied,
                term,
                chunk_bytes: self.cfg.snapshot_chunk_bytes,
                pace: self.cfg.snapshot_in_background,
                created_tick: self.ticks,
            },
        )?;
        let mut snap = Snapshot::default();
        let meta = snap.mut_metadata();
        meta.index = applied;
        meta.term = term;
        meta.set_conf_state(self.membership.conf_state.clone());
        snap.data = encode_descriptor(&self.membership.peers).into();
        let mut slot = self.raw.store().slot().lock().expect("snapshot slot lock");
        slot.generated = Some(snap);
        slot.requested = None;
        drop(slot);
        tracing::info!(id = self.cfg.id, index = applied, term, "snapshot generated");
        self.source = Some(source);
        Ok(())
    }

    fn send(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            if m.get_msg_type() == MessageType::MsgSnapshot {
                let index = m.get_snapshot().get_metadata().index;
                let to = m.to;
                match &self.source {
                    Some(s) if s.index == index => {
                        if !s.send(m, !self.cfg.snapshot_in_background) {
                            self.raw.report_snapshot(to, SnapshotStatus::Failure);
                        }
                    }
                    _ => self.raw.report_snapshot(to, SnapshotStatus::Failure),
                }
                continue;
            }
            let to = m.to;
            if let Err(e) = self.transport.send(WireMessage::Raft(Box::new(m))) {
                tracing::debug!(to, error = %e, "message not queued");
                self.raw.report_unreachable(to);
            }
        }
    }

    /// Handles one `Ready`, in the order raft-rs requires. Returns an error only when the
    /// node must stop (storage or state machine failure, or an injected crash); the runtime
    /// then drops the peer, and a restart resumes from what was persisted.
    pub fn on_ready(&mut self) -> Result<()> {
        self.timings = ReadyTimings::default();
        if !self.raw.has_ready() {
            if !self.unapplied.is_empty() {
                self.apply_queued()?;
                self.report_applied();
                self.maybe_compact()?;
            }
            self.answer_reads();
            return Ok(());
        }
        let mut ready = self.raw.ready();

        // 0. Soft state: leadership changes answer the clients that were waiting on it.
        if let Some(ss) = ready.ss() {
            self.on_soft_state(ss.raft_state, ss.leader_id);
        }

        // 1. Send messages. A leader may send appends before it persists them itself (raft
        //    thesis §10.2.1): they only count toward commit once followers persisted them.
        if !ready.messages().is_empty() {
            let msgs = ready.take_messages();
            self.send(msgs);
        }

        // 2. Apply a snapshot received from the leader (persisted before anything else).
        if !ready.snapshot().is_empty() {
            let snap = ready.snapshot().clone();
            let began = Instant::now();
            self.install_snapshot(&snap)?;
            self.timings.snapshot_install = began.elapsed();
        }

        // Read states: linearizable reads become servable once their index is applied.
        for rs in ready.take_read_states() {
            self.read_state(rs);
        }

        // 3. Apply committed entries (raft-rs only hands out entries this node persisted),
        //    unless applying would wait: then they stay queued for a later loop.
        self.queue_committed(ready.take_committed_entries());
        self.apply_queued()?;

        // 4. Append new entries and persist the hard state, synced: nothing that depends on
        //    them (votes, append responses) may leave before they are durable.
        if !ready.entries().is_empty() || ready.hs().is_some() {
            crash_point!("consensus::before_log_persist");
            let hs = ready.hs().cloned();
            let began = Instant::now();
            self.raw
                .mut_store()
                .log_mut()
                .append(ready.entries(), hs.as_ref(), true)?;
            self.timings.log_append = began.elapsed();
            self.timings.appended_entries = ready.entries().len();
            crash_point!("consensus::after_log_persist");
        }

        // 5. Send the messages that had to wait for persistence.
        if !ready.persisted_messages().is_empty() {
            let msgs = ready.take_persisted_messages();
            self.send(msgs);
        }

        // 6. Advance: tell raft-rs this ready is persisted (what is applied is told in 8).
        let mut light = self.raw.advance_append(ready);

        // 7. Light ready: a new commit index, more messages, more committed entries.
        if let Some(commit) = light.commit_index() {
            let mut hs = self.raw.store().log().hard_state();
            hs.commit = commit;
            // Not synced: the commit index is recomputed from the quorum after a crash.
            self.raw.mut_store().log_mut().set_hard_state(&hs, false)?;
        }
        let msgs = light.take_messages();
        self.send(msgs);
        self.queue_committed(light.take_committed_entries());
        self.apply_queued()?;

        // 8. Advance apply: tell raft-rs how far this node applied.
        self.report_applied();

        self.answer_reads();
        let began = Instant::now();
        self.maybe_compact()?;
        self.timings.compaction = began.elapsed();
        Ok(())
    }

    /// Where the last [`Peer::on_ready`] spent its time.
    pub fn ready_timings(&self) -> ReadyTimings {
        self.timings
    }

    fn on_soft_state(&mut self, role: StateRole, leader_id: u64) {
        let was_leader = self.role == StateRole::Leader;
        let leader_changed = leader_id != self.leader_id;
        self.role = role;
        self.leader_id = leader_id;
        let term = self.raw.raft.term;
        if (was_leader && role != StateRole::Leader) || (term != self.term && !self.proposals.is_empty()) {
            let err_term = term;
            while let Some(p) = self.proposals.pop_front() {
                let _ = p.tx.send(Err(ConsensusError::LeadershipLost {
                    term: err_term,
                    leader_id: (leader_id != 0).then_some(leader_id),
                    leader_addr: self.membership.peers.get(&leader_id).cloned(),
                }));
            }
            self.proposal_bytes = 0;
        }
        if leader_changed {
            // A read forwarded to the old leader may never be answered.
            let waiting = std::mem::take(&mut self.reads_waiting);
            for (_, r) in waiting {
                (r.callback)(Err(self.leadership_lost()));
            }
        }
        self.term = term;
        tracing::info!(id = self.cfg.id, term, ?role, leader_id, "role changed");
    }

    fn read_state(&mut self, rs: ReadState) {
        let Ok(bytes) = <[u8; 8]>::try_from(rs.request_ctx.as_slice()) else {
            return;
        };
        let id = u64::from_be_bytes(bytes);
        if let Some(r) = self.reads_waiting.remove(&id) {
            self.reads_ready.push_back((rs.index, r));
        }
    }

    fn answer_reads(&mut self) {
        let applied = self.sm.applied_index();
        while self.reads_ready.front().is_some_and(|(i, _)| *i <= applied) {
            let (_, r) = self.reads_ready.pop_front().expect("front exists");
            (r.callback)(Ok(&self.sm));
        }
    }

    fn queue_committed(&mut self, entries: Vec<Entry>) {
        for e in entries {
            self.unapplied_bytes += e.data.len() as u64;
            self.unapplied.push_back(e);
        }
    }

    /// True while committed entries wait to be applied; the runtime then comes back soon
    /// even when nothing else happens.
    pub fn has_unapplied(&self) -> bool {
        !self.unapplied.is_empty()
    }

    /// Applies the queued entries in order. While the queue is within `unapplied_bytes_max`
    /// it stops when the state machine would wait for background work, and once this ready
    /// applied [`APPLY_BYTES_PER_LOOP_MAX`]: the runtime ticks and handles messages before
    /// the next ready applies more. Past the bound it applies down to it, waiting if it must.
    fn apply_queued(&mut self) -> Result<()> {
        let began = Instant::now();
        let mut applied = 0;
        while !self.unapplied.is_empty() {
            if self.unapplied_bytes <= self.cfg.unapplied_bytes_max
                && (self.timings.applied_bytes >= APPLY_BYTES_PER_LOOP_MAX || self.sm.apply_would_wait())
            {
                break;
            }
            let e = self.unapplied.pop_front().expect("queue not empty");
            let bytes = e.data.len() as u64;
            self.unapplied_bytes -= bytes;
            self.timings.applied_entries += 1;
            self.timings.applied_bytes += bytes;
            applied += 1;
            self.apply_entry(e)?;
        }
        if applied > 0 {
            self.timings.apply += began.elapsed();
        }
        Ok(())
    }

    /// Tells raft-rs the applied index (joint consensus leaves its joint configuration
    /// once the entry entering it is applied).
    fn report_applied(&mut self) {
        let applied = self.sm.applied_index();
        if applied > self.raw.raft.raft_log.applied {
            self.raw.advance_apply_to(applied);
        }
    }

    fn apply_entry(&mut self, e: Entry) -> Result<()> {
        let index = e.index;
        if index <= self.sm.applied_index() {
            // Already in the state: a restart replays from the applied index, and a
            // snapshot installed while entries were queued covers them.
            return Ok(());
        }
        crash_point!("consensus::before_apply");
        let (kind, result) = match e.get_entry_type() {
            EntryType::EntryNormal if e.data.is_empty() => {
                self.sm.skip(index).map_err(|err| sm_error(index, err))?;
                (PendingKind::Command, None)
            }
            EntryType::EntryNormal => {
                let out = self
                    .sm
                    .apply(index, &e.data)
                    .map_err(|err| sm_error(index, err))?;
                (PendingKind::Command, Some(out))
            }
            EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                self.apply_conf_change(&e)?;
                self.sm.skip(index).map_err(|err| sm_error(index, err))?;
                (PendingKind::ConfChange, Some(Vec::new()))
            }
        };
        let bytes = e.data.len() as u64;
        self.applied_sizes.push_back((index, bytes));
        self.bytes_since_compact = self.bytes_since_compact.saturating_add(bytes);
        crash_point!("consensus::after_apply");
        crash_point!("consensus::before_ack");
        self.answer(index, e.term, kind, result);
        Ok(())
    }

    fn answer(&mut self, index: u64, term: u64, kind: PendingKind, result: Option<Vec<u8>>) {
        while let Some(p) = self.proposals.front() {
            if p.index > index {
                break;
            }
            let p = self.proposals.pop_front().expect("front exists");
            self.proposal_bytes -= p.bytes;
            let reply = if p.index < index || p.term != term {
                Err(self.leadership_lost())
            } else if p.kind != kind || result.is_none() {
                // raft-rs turns a conf change into an empty entry while another is pending.
                Err(ConsensusError::ProposalDropped {
                    reason: "another membership change was in progress",
                })
            } else {
                Ok(result.clone().expect("checked"))
            };
            let _ = p.tx.send(reply);
        }
    }

    fn apply_conf_change(&mut self, e: &Entry) -> Result<()> {
        let cc: ConfChangeV2 = if e.get_entry_type() == EntryType::EntryConfChange {
            let mut v1 = ConfChange::default();
            v1.merge_from_bytes(&e.data)
                .map_err(|err| sm_error(e.index, err))?;
            // This driver proposes only V2 changes; a V1 entry is converted the way
            // raft-rs's `ConfChangeI::into_v2` does (one change, same context).
            let mut single = ConfChangeSingle::default();
            single.set_change_type(v1.get_change_type());
            single.node_id = v1.node_id;
            let mut v2 = ConfChangeV2::default();
            v2.set_changes(vec![single].into());
            v2.context = v1.context;
            v2
        } else {
            let mut v2 = ConfChangeV2::default();
            v2.merge_from_bytes(&e.data)
                .map_err(|err| sm_error(e.index, err))?;
            v2
        };
        if self.membership.index >= e.index {
            return Ok(()); // persisted before a crash that came ahead of the skip
        }
        let cs = self.raw.apply_conf_change(&cc)?;
        let mut peers = self.membership.peers.clone();
        let added = if e.context.is_empty() {
            BTreeMap::new()
        } else {
            let mut c = Cursor::new(&e.context, "conf change context");
            decode_peers(&mut c)?
        };
        for s in cc.get_changes() {
            match s.get_change_type() {
                ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                    if let Some(a) = added.get(&s.node_id) {
                        peers.insert(s.node_id, a.clone());
                        if s.node_id != self.cfg.id {
                            self.transport.set_peer(s.node_id, a);
                        }
                    }
                }
                ConfChangeType::RemoveNode => {
                    if s.node_id == self.cfg.id {
                        self.removed = true;
                    }
                }
            }
        }
        // Peers that are no longer in any set are forgotten.
        let members = conf_members(&cs);
        let gone: Vec<u64> = peers
            .keys()
            .filter(|id| members.binary_search(*id).is_err())
            .copied()
            .collect();
        for id in gone {
            peers.remove(&id);
            if id != self.cfg.id {
                self.transport.remove_peer(id);
            }
        }
        self.membership = Membership {
            conf_state: cs,
            index: e.index,
            peers,
        };
        self.raw.mut_store().log_mut().set_membership(&self.membership)?;
        tracing::info!(id = self.cfg.id, index = e.index, conf = ?self.membership.conf_state, "membership changed");
        Ok(())
    }

    fn install_snapshot(&mut self, snap: &Snapshot) -> Result<()> {
        let meta = snap.get_metadata();
        let (index, term) = (meta.index, meta.term);
        if self.staged != Some((index, term)) {
            return Err(ConsensusError::Snapshot {
                index,
                term,
                reason: format!(
                    "raft installs a snapshot whose state was not staged (staged: {:?})",
                    self.staged
                ),
            });
        }
        let peers = decode_descriptor(&snap.data)?;
        let membership = Membership {
            conf_state: meta.get_conf_state().clone(),
            index,
            peers,
        };
        let slot: StateSlot = self.engine.active_slot()?.other();
        // The staged state was written without the write-ahead log: durable before the flip.
        self.engine.flush_state(slot)?;
        crash_point!("consensus::snapshot_before_install");
        self.raw
            .mut_store()
            .log_mut()
            .install_snapshot(meta, &membership, slot)?;
        crash_point!("consensus::snapshot_after_install");
        self.sm = M::open(self.engine.slot_store(slot)).map_err(|e| sm_error(index, e))?;
        assert_eq!(
            self.sm.applied_index(),
            index,
            "the installed state must be at the snapshot's index"
        );
        // The old state is garbage now; clear it so the next snapshot starts from nothing.
        let mut old = self.engine.slot_store(slot.other());
        settlement::store::Store::write(&mut old, settlement::snapshot::SnapshotInstaller::clear_all())
            .map_err(|e| ConsensusError::storage("clear old state", e))?;
        settlement::store::Store::index_clear(&mut old)
            .map_err(|e| ConsensusError::storage("clear old duplicate index", e))?;
        for (&id, a) in &membership.peers {
            if id != self.cfg.id {
                self.transport.set_peer(id, a);
            }
        }
        self.membership = membership;
        self.staged = None;
        // Entries queued before the install are at or below its index (raft-rs installs only
        // snapshots past the commit index): the state holds their effect.
        self.unapplied.retain(|e| e.index > index);
        self.unapplied_bytes = self.unapplied.iter().map(|e| e.data.len() as u64).sum();
        self.last_compact_applied = index;
        self.bytes_since_compact = 0;
        self.applied_sizes.clear();
        // The install replaced the log; a compaction planned on the old one is moot.
        self.compact_pending = None;
        self.snapshots_installed += 1;
        tracing::info!(id = self.cfg.id, index, term, "snapshot installed");
        Ok(())
    }

    /// A node joining starts from an empty configuration, and the founding configuration
    /// lives beside the log (bootstrap), not in it: replaying the log from index 1 would
    /// leave the newcomer without voters (raft-rs: "removed all voters"). While the log still
    /// starts at index 1, compact it to the applied index, so the leader sends the newcomer a
    /// snapshot, which carries the configuration.
    fn compact_bootstrap_prefix(&mut self) -> Result<()> {
        let applied = self.sm.applied_index();
        let log = self.raw.mut_store().log_mut();
        if log.snapshot_point().0 == 0 && applied >= 1 && applied <= log.last_index() {
            self.engine.flush_state(self.engine.active_slot()?)?;
            let log = self.raw.mut_store().log_mut();
            log.compact(applied)?;
            self.last_compact_applied = applied;
            self.forget_sizes_through(applied);
            tracing::info!(
                id = self.cfg.id,
                to = applied,
                "log compacted so a new member starts from a snapshot"
            );
        }
        Ok(())
    }

    /// Every `log_compact_interval_entries` applied entries or `log_compact_interval_bytes`
    /// applied command bytes, whichever comes first, plans to compact the log so that what
    /// stays behind the applied index is within `log_retain_entries` and `log_retain_bytes`
    /// ([`Self::retention_point`]). The log holds the only copy of state
    /// writes not yet flushed (they bypass the write-ahead log), so it is compacted only
    /// as far as the state is durable:
    /// - `state_flush_in_background` (production): reads the applied index through the
    ///   state's persisted view (at most once a tick), compacts up to it, and while it is
    ///   short of the plan asks RocksDB for a flush without waiting. Under load the state's
    ///   memtable fills and flushes on its own long before the plan comes due, so this is
    ///   usually a single read.
    /// - otherwise: flushes the state and waits, then compacts.
    fn maybe_compact(&mut self) -> Result<()> {
        let applied = self.sm.applied_index();
        if self.compact_pending.is_none()
            && (applied >= self.last_compact_applied + self.cfg.log_compact_interval_entries
                || self.bytes_since_compact >= self.cfg.log_compact_interval_bytes)
        {
            self.last_compact_applied = applied;
            self.bytes_since_compact = 0;
            let to = self.retention_point(applied);
            let log = self.raw.mut_store().log_mut();
            if to > log.snapshot_point().0 && to <= log.last_index() {
                self.compact_pending = Some(PendingCompaction {
                    to,
                    flush_requested: false,
                });
                self.compact_recheck = true;
            }
        }
        let Some(mut pending) = self.compact_pending else {
            return Ok(());
        };
        if self.cfg.state_flush_in_background && !std::mem::take(&mut self.compact_recheck) {
            return Ok(());
        }
        let slot = self.engine.active_slot()?;
        let durable = if self.cfg.state_flush_in_background {
            let store = self.engine.slot_store(slot);
            M::stored_applied_index(&store.persisted())
                .map_err(|e| ConsensusError::storage("read the durable applied index", e))?
        } else {
            self.engine.flush_state(slot)?;
            pending.to
        };
        let to = pending.to.min(durable);
        let log = self.raw.mut_store().log_mut();
        if to > log.snapshot_point().0 && to <= log.last_index() {
            log.compact(to)?;
            self.forget_sizes_through(to);
            tracing::debug!(id = self.cfg.id, to, durable, "log compacted");
        }
        if durable >= pending.to {
            self.compact_pending = None;
        } else {
            if !pending.flush_requested {
                self.engine.request_state_flush(slot)?;
                pending.flush_requested = true;
            }
            self.compact_pending = Some(pending);
        }
        Ok(())
    }

    /// The index to compact the log to, from the applied index: the entries left behind it
    /// number at most `log_retain_entries` and hold at most `log_retain_bytes` of commands.
    /// Entries applied before this process started have no recorded size and count as 0
    /// bytes, so only the entry limit removes them.
    fn retention_point(&self, applied: u64) -> u64 {
        let by_entries = applied.saturating_sub(self.cfg.log_retain_entries);
        let mut kept = 0u64;
        let mut by_bytes = 0;
        for &(index, bytes) in self.applied_sizes.iter().rev() {
            kept = kept.saturating_add(bytes);
            if kept > self.cfg.log_retain_bytes {
                by_bytes = index;
                break;
            }
        }
        by_entries.max(by_bytes)
    }

    /// Drops the recorded sizes of entries the log no longer holds.
    fn forget_sizes_through(&mut self, index: u64) {
        while self.applied_sizes.front().is_some_and(|&(i, _)| i <= index) {
            self.applied_sizes.pop_front();
        }
    }

    /// Answers every waiting client (the node is stopping).
    pub fn fail_all(&mut self, err: impl Fn() -> ConsensusError) {
        while let Some(p) = self.proposals.pop_front() {
            let _ = p.tx.send(Err(err()));
        }
        self.proposal_bytes = 0;
        for (_, r) in std::mem::take(&mut self.reads_waiting) {
            (r.callback)(Err(err()));
        }
        while let Some((_, r)) = self.reads_ready.pop_front() {
            (r.callback)(Err(err()));
        }
    }

    /// The node's status.
    pub fn status(&self) -> Status {
        let raft = &self.raw.raft;
        let cs = &self.membership.conf_state;
        let progress = if raft.state == StateRole::Leader {
            raft.prs()
                .iter()
                .filter(|(id, _)| **id != self.cfg.id)
                .map(|(&id, p)| {
                    (
                        id,
                        Progress {
                            matched: p.matched,
                            next_index: p.next_idx,
                            state: format!("{:?}", p.state),
                            recent_active: p.recent_active,
                        },
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let (leader_id, leader_address) = self.leader_hint();
        Status {
            id: self.cfg.id,
            term: raft.term,
            role: match raft.state {
                StateRole::Leader => Role::Leader,
                StateRole::Candidate => Role::Candidate,
                StateRole::PreCandidate => Role::PreCandidate,
                StateRole::Follower => Role::Follower,
            },
            leader_id,
            leader_address,
            commit_index: raft.raft_log.committed,
            applied_index: self.sm.applied_index(),
            unapplied_entries: self.unapplied.len(),
            first_index: self.raw.store().log().first_index(),
            last_index: raft.raft_log.last_index(),
            voters: cs.get_voters().to_vec(),
            voters_outgoing: cs.get_voters_outgoing().to_vec(),
            learners: cs.get_learners().to_vec(),
            peers: self.membership.peers.clone(),
            progress,
            pending_proposals: self.proposals.len(),
            pending_reads: self.reads_waiting.len() + self.reads_ready.len(),
            snapshots_installed: self.snapshots_installed,
            removed: self.removed,
        }
    }
}

//! Test support: a key-value state machine, the settlement machine adapter, and a
//! deterministic cluster driven from one thread over the simulated network.
#![allow(dead_code, missing_docs)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use consensus::peer::{MemberChange, Peer, PeerConfig, ReadCallback, Responder};
use consensus::storage::{Membership, RocksEngine, RocksStateStore};
use consensus::transport::WireMessage;
use consensus::transport::sim::SimNetwork;
use consensus::{ConsensusError, Role, StateMachine, StateMachineError};
use settlement::store::{ReadStore, Store, WriteBatch};
use tokio::sync::oneshot;

const APPLIED_KEY: &[u8] = b"\x00applied";
const APPLY_COUNT_PREFIX: &[u8] = b"\x01count/";
const VALUE_PREFIX: &[u8] = b"\x02value/";

/// A key-value machine with exactly-once requests: a command is `request_id:key=value`;
/// a repeated request id is answered `dup` and changes nothing. It counts applies per
/// request id so tests can check that nothing applied twice.
pub struct KvMachine {
    store: RocksStateStore,
    applied: u64,
}

impl KvMachine {
    pub fn value(&self, key: &str) -> Option<String> {
        let k = [VALUE_PREFIX, key.as_bytes()].concat();
        self.store.get(&k).unwrap().map(|v| String::from_utf8(v).unwrap())
    }

    /// Every (key, value) of the state, in order: the digest tests compare.
    pub fn digest(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        self.store
            .scan(b"", None, &mut |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                true
            })
            .unwrap();
        out
    }

    /// Request ids whose effect is in the state.
    pub fn requests(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.store
            .scan(APPLY_COUNT_PREFIX, Some(b"\x02"), &mut |k, _| {
                out.push(String::from_utf8_lossy(&k[APPLY_COUNT_PREFIX.len()..]).into_owned());
                true
            })
            .unwrap();
        out
    }
}

impl StateMachine for KvMachine {
    fn open(store: RocksStateStore) -> Result<Self, StateMachineError> {
        let applied = match store.get(APPLIED_KEY)? {
            Some(b) => u64::from_be_bytes(b.as_slice().try_into()?),
            None => 0,
        };
        Ok(KvMachine { store, applied })
    }

    fn apply(&mut self, index: u64, command: &[u8]) -> Result<Vec<u8>, StateMachineError> {
        assert_eq!(index, self.applied + 1, "applies are contiguous");
        let s = std::str::from_utf8(command)?;
        let (id, kv) = s.split_once(':').ok_or("missing request id")?;
        let (k, v) = kv.split_once('=').ok_or("missing =")?;
        let count_key = [APPLY_COUNT_PREFIX, id.as_bytes()].concat();
        let mut b = WriteBatch::new();
        let reply = if self.store.get(&count_key)?.is_some() {
            b"dup".to_vec()
        } else {
            b.put(count_key, vec![1]);
            b.put([VALUE_PREFIX, k.as_bytes()].concat(), v.as_bytes().to_vec());
            format!("ok@{index}").into_bytes()
        };
        b.put(APPLIED_KEY.to_vec(), index.to_be_bytes().to_vec());
        self.store.write(b)?;
        self.applied = index;
        Ok(reply)
    }

    fn skip(&mut self, index: u64) -> Result<(), StateMachineError> {
        assert_eq!(index, self.applied + 1, "skips are contiguous");
        let mut b = WriteBatch::new();
        b.put(APPLIED_KEY.to_vec(), index.to_be_bytes().to_vec());
        self.store.write(b)?;
        self.applied = index;
        Ok(())
    }

    fn applied_index(&self) -> u64 {
        self.applied
    }

    fn stored_applied_index(store: &dyn ReadStore) -> Result<u64, StateMachineError> {
        Ok(match store.get(APPLIED_KEY)? {
            Some(b) => u64::from_be_bytes(b.as_slice().try_into()?),
            None => 0,
        })
    }
}

/// The real settlement machine behind the consensus `StateMachine` trait (what the node
/// crate does in production), with room for only [`SETTLEMENT_INDEX_ENTRIES`] duplicate-index
/// entries in memory: the tests' batches of a few hundred records seal a run into RocksDB
/// with almost every batch.
pub struct SettlementSm(pub settlement::machine::SettlementMachine<RocksStateStore>);

/// Duplicate-index entries a [`SettlementSm`] keeps in memory.
pub const SETTLEMENT_INDEX_ENTRIES: usize = 150;

impl StateMachine for SettlementSm {
    fn open(store: RocksStateStore) -> Result<Self, StateMachineError> {
        let mut m = settlement::machine::SettlementMachine::open(store)?;
        m.set_index_memory_entries(SETTLEMENT_INDEX_ENTRIES);
        Ok(SettlementSm(m))
    }

    fn apply(&mut self, index: u64, command: &[u8]) -> Result<Vec<u8>, StateMachineError> {
        Ok(self.0.apply(index, command)?.encode())
    }

    fn skip(&mut self, index: u64) -> Result<(), StateMachineError> {
        Ok(self.0.skip(index)?)
    }

    fn applied_index(&self) -> u64 {
        self.0.applied_index()
    }

    fn stored_applied_index(store: &dyn ReadStore) -> Result<u64, StateMachineError> {
        Ok(settlement::machine::stored_meta(store)?.applied_index)
    }
}

/// A machine whose state can be compared across nodes.
pub trait Digest {
    fn digest_bytes(&self) -> Vec<u8>;
}

impl Digest for KvMachine {
    fn digest_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in self.digest() {
            out.extend_from_slice(&(k.len() as u32).to_be_bytes());
            out.extend_from_slice(&k);
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(&v);
        }
        out
    }
}

impl Digest for SettlementSm {
    fn digest_bytes(&self) -> Vec<u8> {
        self.0.state_digest().unwrap().0.to_vec()
    }
}

type Inbox = Arc<Mutex<VecDeque<WireMessage>>>;

struct SimNode<M: StateMachine> {
    peer: Option<Peer<M>>,
    inbox: Inbox,
    dir: tempfile::TempDir,
}

/// A cluster in one thread: each step delivers due messages, ticks every node and runs its
/// ready loop, then advances virtual time by one tick. Given the seed, a run is exactly
/// reproducible (snapshots stream inline).
pub struct SimCluster<M: StateMachine> {
    pub net: SimNetwork,
    nodes: BTreeMap<u64, SimNode<M>>,
    pub steps: u64,
    pub cfg: Box<dyn Fn(u64) -> PeerConfig>,
    bootstrap: Membership,
    /// Nodes that crashed at an injected failpoint, with the point.
    pub crashes: Vec<(u64, String)>,
    /// A failpoint active only while this node takes its turn (`failpoints` feature).
    pub fail_target: Option<(u64, &'static str)>,
    seed: u64,
}

pub const TICK_MS: u64 = 10;

pub fn test_config(id: u64) -> PeerConfig {
    let mut c = PeerConfig::new(id);
    c.snapshot_in_background = false;
    c.state_flush_in_background = false;
    c.snapshot_chunk_bytes = 4096;
    c
}

impl<M: StateMachine + Digest> SimCluster<M> {
    /// `n` founding voters with ids 1..=n.
    pub fn new(n: u64, seed: u64) -> Self {
        Self::with_config(n, seed, Box::new(test_config))
    }

    pub fn with_config(n: u64, seed: u64, cfg: Box<dyn Fn(u64) -> PeerConfig>) -> Self {
        let mut bootstrap = Membership::default();
        bootstrap.conf_state.set_voters((1..=n).collect());
        for id in 1..=n {
            bootstrap.peers.insert(id, format!("sim:{id}"));
        }
        let mut c = SimCluster {
            net: SimNetwork::new(seed),
            nodes: BTreeMap::new(),
            steps: 0,
            cfg,
            bootstrap,
            crashes: Vec::new(),
            fail_target: None,
            seed,
        };
        for id in 1..=n {
            c.add_node(id, true);
        }
        c
    }

    /// Creates node `id` with a fresh directory; founding nodes get the bootstrap
    /// membership, others start empty and wait to be added.
    pub fn add_node(&mut self, id: u64, founding: bool) {
        let dir = tempfile::tempdir().unwrap();
        self.nodes.insert(
            id,
            SimNode {
                peer: None,
                inbox: Arc::default(),
                dir,
            },
        );
        let boot = founding.then(|| self.bootstrap.clone());
        self.open(id, boot);
    }

    fn open(&mut self, id: u64, bootstrap: Option<Membership>) {
        // raft-rs draws election timeouts from its own thread-local generator; a one-tick
        // range per node, chosen from the seed, takes that randomness out of the run.
        let jitter = self.election_jitter(id, (self.cfg)(id).election_tick);
        let node = self.nodes.get_mut(&id).unwrap();
        let inbox = node.inbox.clone();
        inbox.lock().unwrap().clear();
        let sink_inbox = inbox.clone();
        let transport = self.net.join(
            id,
            Arc::new(move |m| {
                sink_inbox.lock().unwrap().push_back(m);
                true
            }),
        );
        let engine = RocksEngine::open(node.dir.path(), true).unwrap();
        let mut cfg = (self.cfg)(id);
        cfg.min_election_tick = cfg.election_tick + jitter;
        cfg.max_election_tick = cfg.min_election_tick + 1;
        let peer = Peer::open(cfg, engine, Arc::new(transport), bootstrap).unwrap();
        node.peer = Some(peer);
    }

    /// Node `id`'s election timeout offset (ticks beyond `election_tick`), from the seed and
    /// distinct from every lower id's: nodes with equal fixed timeouts split every vote
    /// forever (seed 64 once gave all three nodes the same offset and never elected a leader).
    /// A collision moves to the next free offset, so seeds without one keep their schedule.
    fn election_jitter(&self, id: u64, election_tick: usize) -> usize {
        let drawn = |i: u64| {
            consensus::transport::sim::SimRng::new(self.seed ^ i.wrapping_mul(0x9E37_79B9))
                .below(election_tick as u64) as usize
        };
        let mut used = Vec::new();
        for i in self.ids().into_iter().filter(|&i| i <= id) {
            let mut j = drawn(i);
            while used.contains(&j) && used.len() < election_tick {
                j = (j + 1) % election_tick;
            }
            used.push(j);
            if i == id {
                return j;
            }
        }
        drawn(id)
    }

    /// Stops node `id` abruptly: the peer is dropped (its RocksDB closed) without any
    /// further write, as after a process crash.
    pub fn crash(&mut self, id: u64) {
        self.net.leave(id);
        if let Some(mut p) = self.nodes.get_mut(&id).unwrap().peer.take() {
            p.fail_all(|| ConsensusError::Stopped);
        }
    }

    pub fn restart(&mut self, id: u64) {
        assert!(self.nodes[&id].peer.is_none(), "node {id} is running");
        self.open(id, None);
    }

    pub fn is_up(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.peer.is_some())
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    pub fn up_ids(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.peer.is_some())
            .map(|(&i, _)| i)
            .collect()
    }

    pub fn peer(&self, id: u64) -> &Peer<M> {
        self.nodes[&id]
            .peer
            .as_ref()
            .unwrap_or_else(|| panic!("node {id} is down"))
    }

    pub fn peer_mut(&mut self, id: u64) -> &mut Peer<M> {
        self.nodes
            .get_mut(&id)
            .unwrap()
            .peer
            .as_mut()
            .unwrap_or_else(|| panic!("node {id} is down"))
    }

    /// One turn of node `id`: inbound messages, a tick, background work, the ready loop.
    /// A configured [`SimCluster::fail_target`] is armed only during its node's turn.
    pub fn step_node(&mut self, id: u64) {
        #[cfg(feature = "failpoints")]
        let armed = match self.fail_target {
            Some((node, point)) if node == id => {
                fail::cfg(point, "return").unwrap();
                Some(point)
            }
            _ => None,
        };
        self.step_node_inner(id);
        #[cfg(feature = "failpoints")]
        if let Some(point) = armed {
            fail::remove(point);
        }
    }

    /// Messages delivered to node `id` that it has not read yet.
    pub fn inbox_len(&self, id: u64) -> usize {
        self.nodes[&id].inbox.lock().unwrap().len()
    }

    /// Hands node `id` the messages waiting for it and nothing else: no tick, no ready loop
    /// (what happens to a node between two turns of its loop).
    pub fn receive_only(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).unwrap();
        let peer = node.peer.as_mut().unwrap_or_else(|| panic!("node {id} is down"));
        let inbox: Vec<WireMessage> = node.inbox.lock().unwrap().drain(..).collect();
        for m in inbox {
            peer.receive(m)
                .unwrap_or_else(|e| panic!("node {id} failed: {e}"));
        }
    }

    /// Steps only `ids` (the others are frozen: they neither tick nor read messages) until
    /// `cond` holds; panics with `what` after `max_steps`.
    pub fn run_only_until(
        &mut self,
        ids: &[u64],
        max_steps: u64,
        what: &str,
        mut cond: impl FnMut(&mut Self) -> bool,
    ) {
        for _ in 0..max_steps {
            if cond(self) {
                return;
            }
            self.step_only(ids);
        }
        assert!(
            cond(self),
            "{what}: not reached within {max_steps} steps (statuses: {:#?})",
            self.statuses()
        );
    }

    fn step_node_inner(&mut self, id: u64) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let Some(peer) = node.peer.as_mut() else { return };
        let inbox: Vec<WireMessage> = node.inbox.lock().unwrap().drain(..).collect();
        let mut result = Ok(());
        for m in inbox {
            result = peer.receive(m);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            peer.tick();
            result = peer.poll_background().and_then(|()| peer.on_ready());
        }
        if let Err(e) = result {
            match e {
                ConsensusError::Injected { point } => {
                    self.crashes.push((id, point.to_string()));
                    self.crash(id);
                }
                e => panic!("node {id} failed: {e}"),
            }
        }
    }

    /// One step of the whole cluster.
    pub fn step(&mut self) {
        let ids = self.ids();
        self.step_only(&ids);
    }

    /// One step in which only `ids` take a turn; the others are frozen (they neither tick
    /// nor read messages, which still arrive in their inboxes).
    pub fn step_only(&mut self, ids: &[u64]) {
        self.steps += 1;
        self.net.deliver_due();
        for &id in ids {
            self.step_node(id);
        }
        self.net.advance(TICK_MS);
    }

    /// Steps until `cond` holds; panics with `what` after `max_steps`.
    pub fn run_until(&mut self, max_steps: u64, what: &str, mut cond: impl FnMut(&mut Self) -> bool) {
        for _ in 0..max_steps {
            if cond(self) {
                return;
            }
            self.step();
        }
        assert!(
            cond(self),
            "{what}: not reached within {max_steps} steps (seed-determined run; statuses: {:#?})",
            self.statuses()
        );
    }

    pub fn statuses(&self) -> Vec<consensus::Status> {
        self.nodes
            .values()
            .filter_map(|n| n.peer.as_ref().map(|p| p.status()))
            .collect()
    }

    /// The leader, if exactly one running node leads in the highest term.
    pub fn leader(&self) -> Option<u64> {
        let st = self.statuses();
        let max_term = st.iter().map(|s| s.term).max()?;
        let leaders: Vec<u64> = st
            .iter()
            .filter(|s| s.role == Role::Leader && s.term == max_term)
            .map(|s| s.id)
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    pub fn wait_leader(&mut self) -> u64 {
        self.run_until(2000, "a leader is elected", |c| c.leader().is_some());
        self.leader().unwrap()
    }

    pub fn propose(&mut self, id: u64, data: &[u8]) -> oneshot::Receiver<consensus::Result<Vec<u8>>> {
        let (tx, rx): (Responder, _) = oneshot::channel();
        self.peer_mut(id).propose(data.to_vec(), tx);
        rx
    }

    /// Proposes at the current leader and steps until the answer arrives.
    pub fn propose_and_wait(&mut self, data: &[u8]) -> consensus::Result<Vec<u8>> {
        let leader = self.wait_leader();
        let mut rx = self.propose(leader, data);
        self.wait_answer(&mut rx, "proposal answered")
    }

    pub fn wait_answer<T>(
        &mut self,
        rx: &mut oneshot::Receiver<consensus::Result<T>>,
        what: &str,
    ) -> consensus::Result<T> {
        for _ in 0..5000 {
            match rx.try_recv() {
                Ok(r) => return r,
                Err(oneshot::error::TryRecvError::Closed) => return Err(ConsensusError::Stopped),
                Err(oneshot::error::TryRecvError::Empty) => self.step(),
            }
        }
        panic!("{what}: no answer within 5000 steps");
    }

    pub fn change_membership(&mut self, changes: Vec<MemberChange>) -> consensus::Result<Vec<u8>> {
        let leader = self.wait_leader();
        let (tx, mut rx): (Responder, _) = oneshot::channel();
        self.peer_mut(leader).change_membership(changes, tx);
        self.wait_answer(&mut rx, "membership change answered")
    }

    /// A linearizable read at node `id`.
    pub fn read<R: Send + 'static>(
        &mut self,
        id: u64,
        f: impl FnOnce(&M) -> R + Send + 'static,
    ) -> consensus::Result<R> {
        let (tx, mut rx) = oneshot::channel();
        let cb: ReadCallback<M> = Box::new(move |sm: consensus::Result<&M>| {
            let _ = tx.send(sm.map(f));
        });
        self.peer_mut(id).read(cb);
        self.wait_answer(&mut rx, "read answered")
    }

    /// Steps until every running node applied the same index as the leader's commit, then
    /// asserts that their state digests are identical.
    pub fn assert_converged(&mut self) {
        self.run_until(5000, "all running nodes apply everything committed", |c| {
            let st = c.statuses();
            let max_commit = st.iter().map(|s| s.commit_index).max().unwrap_or(0);
            c.leader().is_some() && st.iter().all(|s| s.applied_index == max_commit)
        });
        let mut digests: Vec<(u64, Vec<u8>)> = self
            .up_ids()
            .into_iter()
            .map(|id| (id, self.peer(id).state_machine().digest_bytes()))
            .collect();
        let (first_id, first) = digests.remove(0);
        for (id, d) in digests {
            assert!(d == first, "node {id}'s state differs from node {first_id}'s");
        }
    }
}

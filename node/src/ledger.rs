//! The settlement machine under Raft, and the facade the services use.
//!
//! [`LedgerMachine`] adapts `settlement::machine::SettlementMachine` over the RocksDB state
//! store to `consensus::StateMachine`, records a bounded log of statement events for
//! watchers, and counts applies for the metrics. [`Ledger`] proposes commands (stamped with
//! this node's clock), forwards them to the leader when this node is a follower, retries
//! across leader changes (batches are idempotent on their key), and runs linearizable reads.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consensus::{ConsensusError, NodeHandle, RocksStateStore, StateMachine, StateMachineError};
use settlement::command::{Command, Envelope, Outcome};
use settlement::config::PeriodId;
use settlement::crypto::Ed25519Signer;
use settlement::machine::SettlementMachine;
use settlement::store::ReadStore;
use settlement::types::{Tadig, UtcTime};

use crate::client::NodeClients;
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::limits::{EVENTS_KEPT_MAX, PROPOSE_ATTEMPTS_MAX, PROPOSE_BACKOFF_MAX_MS};
use crate::metrics;

/// The settlement machine as consensus drives it.
pub type Settlement = SettlementMachine<RocksStateStore>;

/// Something watchers want to know happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerEvent {
    /// A period closed and this statement was emitted.
    StatementCreated {
        /// Period.
        period: PeriodId,
        /// Visited network.
        visited: Tadig,
        /// Home network.
        home: Tadig,
    },
    /// A party signed a statement.
    StatementSigned {
        /// Period.
        period: PeriodId,
        /// Visited network.
        visited: Tadig,
        /// Home network.
        home: Tadig,
        /// Who signed.
        signer: Tadig,
        /// Both parties have signed.
        is_final: bool,
    },
}

/// The settlement machine plus a bounded in-memory log of recent events.
pub struct LedgerMachine {
    machine: Settlement,
    /// Sequence number of `events[0]`.
    first_seq: u64,
    events: VecDeque<LedgerEvent>,
}

impl LedgerMachine {
    /// The settlement machine, for reads.
    pub fn settlement(&self) -> &Settlement {
        &self.machine
    }

    /// Events with sequence numbers `>= from`, and the next sequence number. When `from` is
    /// older than what is kept, the third value is true: the caller missed events and should
    /// re-read the state.
    pub fn events_from(&self, from: u64) -> (Vec<(u64, LedgerEvent)>, u64, bool) {
        let next = self.first_seq + self.events.len() as u64;
        let lagged = from < self.first_seq;
        let skip = from.saturating_sub(self.first_seq) as usize;
        let out = self
            .events
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, e)| (self.first_seq + i as u64, e.clone()))
            .collect();
        (out, next, lagged)
    }

    fn record(&mut self, o: &Outcome) {
        let mut push = |e: LedgerEvent| {
            if self.events.len() == EVENTS_KEPT_MAX {
                self.events.pop_front();
                self.first_seq += 1;
            }
            self.events.push_back(e);
        };
        match o {
            Outcome::PeriodClosed {
                period, statements, ..
            } => {
                for s in statements {
                    push(LedgerEvent::StatementCreated {
                        period: *period,
                        visited: s.visited,
                        home: s.home,
                    });
                }
            }
            Outcome::StatementSigned {
                period,
                visited,
                home,
                signer,
                is_final,
            } => push(LedgerEvent::StatementSigned {
                period: *period,
                visited: *visited,
                home: *home,
                signer: *signer,
                is_final: *is_final,
            }),
            _ => {}
        }
    }
}

impl StateMachine for LedgerMachine {
    fn open(store: RocksStateStore) -> Result<Self, StateMachineError> {
        Ok(LedgerMachine {
            machine: SettlementMachine::open(store)?,
            first_seq: 0,
            events: VecDeque::new(),
        })
    }

    fn apply(&mut self, index: u64, command: &[u8]) -> Result<Vec<u8>, StateMachineError> {
        let started = Instant::now();
        let outcome = self.machine.apply(index, command)?;
        metrics::record_apply(&outcome, started.elapsed());
        self.record(&outcome);
        Ok(outcome.encode())
    }

    fn skip(&mut self, index: u64) -> Result<(), StateMachineError> {
        Ok(self.machine.skip(index)?)
    }

    fn applied_index(&self) -> u64 {
        self.machine.applied_index()
    }

    fn apply_would_wait(&self) -> bool {
        self.machine.apply_would_wait()
    }

    fn stored_applied_index(store: &dyn ReadStore) -> Result<u64, StateMachineError> {
        Ok(settlement::machine::stored_meta(store)?.applied_index)
    }
}

/// This node's wall clock as ledger time (the proposer's timestamp of a command).
pub fn now() -> UtcTime {
    let s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UtcTime::from_unix_seconds(s as i64)
}

struct Inner {
    handle: NodeHandle<LedgerMachine>,
    config: NodeConfig,
    signer: Ed25519Signer,
    peers: NodeClients,
}

/// Proposes and reads on behalf of the services. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

/// A consensus error that a retry (on this node or at the leader) may resolve.
fn retryable(e: &ConsensusError) -> bool {
    e.is_retryable()
}

impl Ledger {
    /// A ledger over a running node.
    pub fn new(
        handle: NodeHandle<LedgerMachine>,
        config: NodeConfig,
        signer: Ed25519Signer,
        peers: NodeClients,
    ) -> Self {
        Ledger {
            inner: Arc::new(Inner {
                handle,
                config,
                signer,
                peers,
            }),
        }
    }

    /// This node's carrier.
    pub fn tadig(&self) -> Tadig {
        self.inner.config.tadig
    }

    /// This node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The carrier's signing key.
    pub fn signer(&self) -> &Ed25519Signer {
        &self.inner.signer
    }

    /// The consensus handle.
    pub fn handle(&self) -> &NodeHandle<LedgerMachine> {
        &self.inner.handle
    }

    /// Proposes `command` stamped with this node's clock; returns its outcome once applied.
    pub async fn propose(&self, command: Command) -> Result<Outcome, NodeError> {
        self.propose_envelope(Envelope::new(now(), command).encode())
            .await
    }

    /// Proposes encoded envelope bytes here, or at the leader when this node follows.
    /// Retries (bounded) while leadership moves; a batch is idempotent on its key, so a
    /// retry of a batch that did commit answers its original outcome.
    pub async fn propose_envelope(&self, bytes: Vec<u8>) -> Result<Outcome, NodeError> {
        let me = self.inner.handle.id();
        let mut backoff = 25u64;
        let mut last: Option<NodeError> = None;
        for _ in 0..PROPOSE_ATTEMPTS_MAX {
            let result: Result<(), NodeError> = match self.inner.handle.propose(bytes.clone()).await {
                Ok(resp) => return Outcome::decode(&resp).map_err(|e| NodeError::Input(e.to_string())),
                Err(ConsensusError::NotLeader {
                    leader_id: Some(leader),
                    ..
                }) if leader != me => match self.inner.peers.forward(leader, bytes.clone()).await {
                    Ok(resp) => return Outcome::decode(&resp).map_err(|e| NodeError::Input(e.to_string())),
                    Err(e) => Err(e),
                },
                Err(e) if retryable(&e) => Err(NodeError::Consensus(e)),
                Err(e) => return Err(NodeError::Consensus(e)),
            };
            last = result.err();
            tokio::time::sleep(Duration::from_millis(backoff)).await;
            backoff = (backoff * 2).min(PROPOSE_BACKOFF_MAX_MS);
        }
        let status = self.inner.handle.status();
        match status.leader_id.filter(|l| *l != me) {
            Some(leader_id) => Err(NodeError::NotLeader {
                leader_id,
                leader_address: self
                    .inner
                    .config
                    .peer(leader_id)
                    .map(|p| p.api_address.clone())
                    .unwrap_or_default(),
            }),
            None => Err(last.unwrap_or(NodeError::NotLeader {
                leader_id: 0,
                leader_address: String::new(),
            })),
        }
    }

    /// A linearizable read against the settlement machine (keep `f` short: applying waits
    /// for it). Retried (bounded) while leadership moves.
    pub async fn read<R, F>(&self, f: F) -> Result<R, NodeError>
    where
        R: Send + 'static,
        F: Fn(&LedgerMachine) -> R + Clone + Send + 'static,
    {
        let mut backoff = 25u64;
        let mut last = ConsensusError::Stopped;
        for _ in 0..PROPOSE_ATTEMPTS_MAX {
            match self.inner.handle.read(f.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) if retryable(&e) => last = e,
                Err(e) => return Err(NodeError::Consensus(e)),
            }
            tokio::time::sleep(Duration::from_millis(backoff)).await;
            backoff = (backoff * 2).min(PROPOSE_BACKOFF_MAX_MS);
        }
        Err(NodeError::Consensus(last))
    }

    /// Consensus status as of the driver's last loop.
    pub fn status(&self) -> consensus::Status {
        self.inner.handle.status()
    }
}

//! The crate's one error type. Client-facing variants say what the caller should do: go to
//! the leader, retry with the same idempotency key, or back off.

/// Errors of the consensus crate.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// This node is not the leader; the proposal was not appended anywhere. Send it to the
    /// leader (if known).
    #[error("not the leader (leader: {leader_id:?} at {leader_addr:?})")]
    NotLeader {
        /// The leader this node knows of.
        leader_id: Option<u64>,
        /// Its address, when known.
        leader_addr: Option<String>,
    },
    /// The proposal was appended, but this node lost leadership (or the term changed) before
    /// it was applied: the outcome is unknown. Retry with the same idempotency key; the state
    /// machine deduplicates.
    #[error(
        "leadership lost in term {term} before the proposal applied; retry (leader: {leader_id:?} at {leader_addr:?})"
    )]
    LeadershipLost {
        /// The term this node is in now.
        term: u64,
        /// The leader this node knows of.
        leader_id: Option<u64>,
        /// Its address, when known.
        leader_addr: Option<String>,
    },
    /// Raft dropped the proposal (a leadership transfer or a pending membership change);
    /// nothing was appended. Retry.
    #[error("proposal dropped by raft: {reason}")]
    ProposalDropped {
        /// Why.
        reason: &'static str,
    },
    /// A bounded queue is full. Back off and retry.
    #[error("{queue} is full ({limit} max)")]
    Busy {
        /// Which queue.
        queue: &'static str,
        /// Its bound.
        limit: usize,
    },
    /// A command exceeds [`crate::limits::ENTRY_BYTES_MAX`].
    #[error("command of {bytes} bytes exceeds the entry limit of {max} bytes")]
    EntryTooLarge {
        /// Size of the command.
        bytes: usize,
        /// The bound.
        max: usize,
    },
    /// The node stopped (shut down or failed); it answers no more requests.
    #[error("the node is stopped")]
    Stopped,
    /// A storage operation failed.
    #[error("storage failed in {op}: {reason}")]
    Storage {
        /// The operation.
        op: &'static str,
        /// What RocksDB (or the store) said.
        reason: String,
    },
    /// Stored bytes do not decode: corruption or a version mismatch.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// raft-rs returned an error.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// The state machine failed; the node must stop applying.
    #[error("state machine failed at index {index}: {reason}")]
    StateMachine {
        /// Log index being applied.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A snapshot could not be built, sent or installed.
    #[error("snapshot {index}/{term}: {reason}")]
    Snapshot {
        /// Snapshot index.
        index: u64,
        /// Snapshot term.
        term: u64,
        /// Why.
        reason: String,
    },
    /// A membership change was refused before it was proposed.
    #[error("membership change refused: {reason}")]
    Membership {
        /// Why.
        reason: String,
    },
    /// A transport failure.
    #[error("transport to peer {peer}: {reason}")]
    Transport {
        /// The peer's Raft id (0 when unknown).
        peer: u64,
        /// Why.
        reason: String,
    },
    /// TLS configuration or certificate problems.
    #[error("tls: {reason}")]
    Tls {
        /// Why.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {reason}")]
    Config {
        /// Why.
        reason: String,
    },
    /// A failpoint simulated a crash here (tests with the `failpoints` feature only).
    #[error("failpoint {point} crashed the node")]
    Injected {
        /// The failpoint's name.
        point: &'static str,
    },
}

impl ConsensusError {
    /// A storage error from RocksDB.
    pub(crate) fn storage(op: &'static str, e: impl std::fmt::Display) -> Self {
        ConsensusError::Storage {
            op,
            reason: e.to_string(),
        }
    }

    /// True when the caller may retry the same request (possibly at another node).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConsensusError::NotLeader { .. }
                | ConsensusError::LeadershipLost { .. }
                | ConsensusError::ProposalDropped { .. }
                | ConsensusError::Busy { .. }
        )
    }
}

/// Result alias.
pub type Result<T, E = ConsensusError> = std::result::Result<T, E>;

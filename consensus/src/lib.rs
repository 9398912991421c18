//! # consensus: the Raft-replicated, RocksDB-backed log
//!
//! Drives [raft-rs](https://github.com/tikv/raft-rs) (which does no I/O) for roamledger:
//! persistence, transport, snapshots and applying are here. Commands are opaque bytes; what
//! they mean is the [`StateMachine`]'s business (the node crate plugs in the settlement
//! machine).
//!
//! ## Layout
//! - [`peer`]: the driver — one `RawNode`, its ready loop ([`Peer::on_ready`], steps in the
//!   order raft-rs requires), proposals tracked to their outcome, read index, membership
//!   changes (ConfChangeV2, joint consensus), leadership transfer, log compaction.
//! - [`node`]: the threaded runtime and the async [`NodeHandle`] clients use.
//! - [`storage`]: RocksDB column families for the log, metadata and two state slots;
//!   [`LogStore`] with an in-memory and a RocksDB implementation and one conformance suite;
//!   [`RocksStateStore`], the settlement `Store` over the active state slot.
//! - [`raft_store`]: raft-rs's `Storage` trait over a [`LogStore`].
//! - [`snapshot`]: chunked snapshot streams (settlement's snapshot format) and staging.
//! - [`transport`]: the [`Transport`] trait, the gRPC/mTLS implementation, the simulated
//!   network with fault filters, and the transport conformance suite.
//! - [`machine`]: the [`StateMachine`] trait.
//! - [`limits`]: every bound; [`error`]: the one error type.
//!
//! ## Invariants
//! - Log entries and the hard state are fsynced before any message that depends on them is
//!   sent (ready-loop step 4 before step 5).
//! - A state change and its applied index are one atomic write (the state machine's batch);
//!   the driver never skips a command: a state machine error stops the node.
//! - State writes skip RocksDB's write-ahead log; the Raft log is their log. The log is
//!   compacted only up to the applied index the flushed state holds (read from the
//!   persisted tier; production flushes in the background and never waits for it), the
//!   state is flushed before a staged snapshot becomes active and at a graceful stop, so a
//!   restart can always replay from the state's applied index.
//! - A membership record is written before the state machine records the conf change's
//!   index, and carries that index, so a crash between the two never re-applies it.
//! - Snapshots are staged into the inactive state slot and installed by one synced batch
//!   that flips the active slot, replaces the log and writes the membership: a crash at any
//!   point leaves either the old node or the new one, never a mix.
//! - One command is one entry; group commit happens per `Ready` (one fsync for every
//!   proposal that arrived meanwhile).
//! - Deliberately absent: proposal forwarding (a follower answers `NotLeader` with the
//!   leader's address; the node crate forwards), and slog output (raft-rs's logger is a
//!   discard logger: raft-rs logs per message at debug level, and the driver reports every
//!   role, membership and snapshot event through `tracing` itself).
//!
//! ## Failpoints
//! With the `failpoints` feature: `consensus::before_log_persist`, `after_log_persist`,
//! `before_apply`, `after_apply`, `before_ack` (between apply and the client's answer),
//! `snapshot_stage_chunk`, `snapshot_before_install`, `snapshot_after_install`. Configured
//! to `return`, each makes [`Peer::on_ready`] (or [`Peer::receive`]) fail with
//! [`ConsensusError::Injected`] at that point, which tests treat as a crash.

pub mod error;
pub mod limits;
pub mod machine;
pub mod node;
pub mod peer;
pub mod raft_store;
pub mod snapshot;
pub mod storage;
pub mod transport;

pub use error::{ConsensusError, Result};
pub use machine::{StateMachine, StateMachineError};
pub use node::{Mailbox, Node, NodeConfig, NodeHandle};
pub use peer::{MemberChange, Peer, PeerConfig, ReadyTimings, Role, Status};
pub use storage::{LogStore, MemLogStore, Membership, RocksEngine, RocksLogStore, RocksStateStore};
pub use transport::{InboundSink, Transport, WireMessage};

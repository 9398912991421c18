//! Durable storage: the Raft log and its metadata ([`LogStore`]) and the state machine's
//! key-value state ([`RocksStateStore`]), all in one RocksDB instance ([`RocksEngine`]) so a
//! single atomic write batch can span them.
//!
//! Column families:
//! - `raft_log`: `index (u64 BE) -> eraftpb.Entry` (protobuf 2 bytes).
//! - `raft_meta`: hard state, membership (conf state, the index it was applied at, peer
//!   addresses), snapshot metadata (index and term the log was compacted to), and which state
//!   column family is active.
//! - `state_a`, `state_b`: the state machine's keys. One is active; the other receives an
//!   incoming snapshot, and one synced batch flips the active flag, rewrites the snapshot
//!   metadata and clears the log. That flip is what makes snapshot installation atomic: a
//!   crash before it leaves the old state and log, a crash after it the new state.
//!
//! Durability: log appends and hard state are written with `sync` (WAL fsync) before any
//! message that depends on them is sent. State writes are not synced: every column family
//! shares one write-ahead log, recovered as a prefix, so a later synced log write makes every
//! earlier state write durable too, and a state write lost to power failure is replayed from
//! the log (the applied index is in the same batch as the state it describes).

mod engine;
mod log;
pub(crate) mod membership;
mod rocks_log;
mod state;

pub use engine::{RocksEngine, StateSlot};
pub use log::{LogStore, MemLogStore, conformance};
pub use membership::{Membership, conf_members};
pub use rocks_log::RocksLogStore;
pub use state::{RocksStateStore, RocksStateView};

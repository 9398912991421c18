//! The state machine contract: what the driver needs from whatever it replicates. The
//! consensus crate sees commands as opaque bytes; the node crate implements this trait for
//! the settlement machine.

use settlement::store::ReadStore;

use crate::storage::RocksStateStore;

/// A state machine failure. The driver stops applying (it never skips a command): the node
/// must be restarted once the cause is fixed.
pub type StateMachineError = Box<dyn std::error::Error + Send + Sync>;

/// A deterministic state machine driven by the Raft log.
///
/// Contract:
/// - `apply` and `skip` are called with strictly increasing indexes, each exactly once
///   after `applied_index()`; the state change and the new applied index are written in one
///   atomic [`settlement::store::WriteBatch`] through the store given to `open`.
/// - After a snapshot install the driver drops the machine and calls `open` again over the
///   store that now holds the snapshot's state; `applied_index()` must then equal the
///   snapshot's index.
pub trait StateMachine: Send + Sized + 'static {
    /// Opens the machine over `store` (fresh, recovered after a crash, or just installed from
    /// a snapshot).
    fn open(store: RocksStateStore) -> Result<Self, StateMachineError>;

    /// Applies the command of log entry `index` and returns the response for the proposer.
    fn apply(&mut self, index: u64, command: &[u8]) -> Result<Vec<u8>, StateMachineError>;

    /// Records that entry `index` carries no command (empty entries, membership changes).
    fn skip(&mut self, index: u64) -> Result<(), StateMachineError>;

    /// The last index applied or skipped.
    fn applied_index(&self) -> u64;

    /// True when applying the next command could block on background work (for the
    /// settlement machine: a duplicate-index seal waiting for earlier ones). The driver then
    /// keeps the committed entries queued and goes on ticking, replicating and answering,
    /// and applies them once this turns false, or at once when the queue reaches its bound
    /// (`PeerConfig::unapplied_bytes_max`). Must not change what applying does. Default:
    /// false.
    fn apply_would_wait(&self) -> bool {
        false
    }

    /// The applied index as `store` holds it (0 for an empty store), read without opening
    /// a machine. The driver passes the durable part of the state
    /// ([`RocksStateStore::persisted`]): the log may be compacted up to that index.
    fn stored_applied_index(store: &dyn ReadStore) -> Result<u64, StateMachineError>;
}

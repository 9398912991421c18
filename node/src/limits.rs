//! Every bound the node enforces, in one place.

/// Statement events kept in memory for watchers (older ones are re-read from the state).
pub const EVENTS_KEPT_MAX: usize = 10_000;

/// Attempts to propose (or read) while leadership moves, before answering NOT_LEADER.
pub const PROPOSE_ATTEMPTS_MAX: usize = 12;

/// Longest wait between two attempts.
pub const PROPOSE_BACKOFF_MAX_MS: u64 = 1_000;

/// Largest gRPC message the API accepts or sends (file chunks, statements, proofs).
pub const GRPC_MESSAGE_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Largest file a node accepts in one upload (TAP files are streamed and decoded as they
/// arrive; this bounds the buffer of a single upload).
pub const UPLOAD_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;

/// Records per batch the node proposes when it splits a file (one Raft entry each).
pub const RECORDS_PER_PROPOSAL: usize = 1_000;

/// Batches of one upload proposed concurrently (pipelining through Raft).
pub const PROPOSALS_IN_FLIGHT_MAX: usize = 16;

/// Batches a `StreamBatches` client may have outstanding.
pub const STREAM_BATCHES_IN_FLIGHT_MAX: usize = 16;

/// Records in one streamed `RecordBatch`.
pub const STREAM_RECORDS_PER_BATCH_MAX: usize = settlement::limits::RECORDS_PER_BATCH_MAX;

/// Statement watchers per node.
pub const WATCHERS_MAX: usize = 256;

/// How often a watcher looks for new statement events.
pub const WATCH_POLL_MS: u64 = 200;

/// How often the node looks for statements it must co-sign.
pub const SIGN_POLL_MS: u64 = 300;

/// Connect timeout for node-to-node API calls (forwarding).
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;

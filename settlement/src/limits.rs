//! Every bound the settlement core enforces, in one place. A command that exceeds one is
//! rejected with a clear error before it costs memory or time.

/// Most records in one `SubmitBatch` (one Raft entry). TAP files larger than this are split
/// into several batches by the node.
pub const RECORDS_PER_BATCH_MAX: usize = 10_000;

/// Records per part when a TAP file is cut into several batches (draft §4.3): a file with
/// more acceptable records than this is cut into parts, part `k` holding its records
/// `k * 1000 .. (k + 1) * 1000` in file order.
pub const RECORDS_PER_FILE_PART: usize = 1_000;

/// Most bytes of a client batch id (the idempotency key of non-TAP input).
pub const CLIENT_BATCH_ID_BYTES_MAX: usize = 64;

/// Most bytes of a carrier's display name.
pub const CARRIER_NAME_BYTES_MAX: usize = 128;

/// Most bytes of a DER certificate.
pub const CERTIFICATE_BYTES_MAX: usize = 16 * 1024;

/// Most bytes of a signature (ECDSA P-256 DER is at most 72; Ed25519 is 64).
pub const SIGNATURE_BYTES_MAX: usize = 512;

/// Most consortium trust roots.
pub const ROOTS_MAX: usize = 8;

/// Most carriers registered at once.
pub const CARRIERS_MAX: usize = 1_024;

/// Most tariffs in an agreement (one per service).
pub const TARIFFS_PER_AGREEMENT_MAX: usize = 32;

/// Most records one dispute command may reject.
pub const DISPUTES_PER_COMMAND_MAX: usize = 10_000;

/// Most bytes of free text in a dispute or registration.
pub const FREE_TEXT_BYTES_MAX: usize = 256;

/// Most bytes of one encoded command (the Raft entry payload).
pub const COMMAND_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Leaves per stored chunk of a Merkle tree's leaf hashes (a power of two).
pub const MERKLE_CHUNK_LEAVES: u64 = 256;

/// Target bytes of one snapshot chunk.
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Most bytes of one stored key.
pub const KEY_BYTES_MAX: usize = 256;

/// Commands between two stored ledger-head checkpoints.
pub const HEAD_CHECKPOINT_COMMANDS: u64 = 1_024;

/// Shortest period length, in seconds, a consortium may configure.
pub const PERIOD_SECONDS_MIN: u64 = 1;

/// Duplicate-index entries the state machine keeps in memory before it hands them to the
/// store as one run: the recent part of the index, where every record's lookup starts and
/// every accepted record's entry lands. 7/8 of 2^20, the most a hash table of 2^20 slots
/// holds (an [`crate::store::IndexRun`]: 42 bytes an entry in its vector plus 9 bytes a slot
/// in its table, 48 MB). Runs being written and spent runs kept for reuse add up to two more
/// with the RocksDB store, which also keeps up to two sort buffers of 48 bytes an entry:
/// about 230 MB per node at most, held once reached.
pub const DEDUP_MEMORY_ENTRIES: usize = 917_504;

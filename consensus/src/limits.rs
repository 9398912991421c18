//! Every bound of the consensus crate, in one place. Nothing here is tuned by timing tests:
//! the numbers come from message-size arithmetic and from the benchmark.

/// Largest command (one Raft entry's data) a client may propose. A settlement batch of the
/// largest allowed size (settlement's `RECORDS_PER_BATCH_MAX` records of a few hundred bytes)
/// fits with room to spare; anything larger is refused before it reaches Raft.
pub const ENTRY_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Largest Raft message the driver asks raft-rs to build (`max_size_per_msg`): append
/// messages are cut at this size, so one gRPC frame stays well under [`GRPC_FRAME_BYTES_MAX`].
pub const RAFT_MESSAGE_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Append messages in flight to one follower (`max_inflight_msgs`).
pub const RAFT_INFLIGHT_MESSAGES_MAX: usize = 256;

/// Bytes of proposed but uncommitted entries the leader accepts (`max_uncommitted_size`);
/// beyond this raft-rs drops proposals and clients are told to retry.
pub const UNCOMMITTED_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Bytes of committed entries raft-rs hands out per ready (`max_committed_size_per_ready`).
/// They join the driver's apply queue, which [`APPLY_BYTES_PER_LOOP_MAX`] drains per loop;
/// this bounds what one ready reads from the log into memory (about 90 batches of 1,000
/// records).
pub const COMMITTED_BYTES_PER_READY_MAX: u64 = 8 * 1024 * 1024;

/// Bytes of committed commands a node keeps queued while its state machine says applying
/// would wait for background work (a duplicate-index seal behind earlier ones); past this it
/// applies and waits. Meanwhile the Raft thread goes on ticking, sending heartbeats, appending
/// and replying. 64 MiB is about 700 batches of 1,000 records, over 2 s of the cluster
/// bench's unpaced ingest, longer than the seal waits measured there (up to 1.9 s).
pub const UNAPPLIED_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Bytes of commands one ready applies while the queue of committed entries is within
/// [`UNAPPLIED_BYTES_MAX`]; the rest waits for the next loop, after ticks and messages. A
/// follower that fell behind then catches up in steps of about 45 batches of 1,000 records
/// (0.1-0.25 s of applying at the 2.5-5.6 ms per batch measured in the unpaced cluster
/// bench, about a heartbeat interval) instead of one loop: without it one such loop applied
/// 612 entries in 1.4 s.
pub const APPLY_BYTES_PER_LOOP_MAX: u64 = 4 * 1024 * 1024;

/// How soon (milliseconds) the driver looks again whether queued committed entries can be
/// applied, when no message or tick wakes it earlier.
pub const APPLY_RETRY_MS: u64 = 2;

/// Proposals waiting for their outcome on one node.
pub const PENDING_PROPOSALS_MAX: usize = 16 * 1024;

/// Bytes of proposals waiting for their outcome on one node.
pub const PENDING_PROPOSAL_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Read-index requests waiting on one node.
pub const PENDING_READS_MAX: usize = 16 * 1024;

/// Messages in a node's mailbox (client requests, inbound Raft traffic). A full mailbox
/// answers clients `Busy` and drops inbound Raft messages (Raft retransmits).
pub const MAILBOX_MESSAGES_MAX: usize = 64 * 1024;

/// Mailbox messages the driver handles before it runs the ready loop again, so a flood of
/// requests cannot starve ticks, persistence and replies.
pub const MAILBOX_DRAIN_PER_LOOP_MAX: usize = 4096;

/// Outbound messages queued per peer in a transport before new ones are dropped.
pub const PEER_QUEUE_MESSAGES_MAX: usize = 4096;

/// Largest gRPC frame a node sends or accepts.
pub const GRPC_FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Target size of one snapshot chunk on the wire.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

/// Snapshot chunks in flight (queued in the transport) per outgoing snapshot: the sender
/// waits for the queue to drain below this before it reads the next chunk.
pub const SNAPSHOT_CHUNKS_IN_FLIGHT_MAX: usize = 64;

/// How long a generated snapshot (and the RocksDB snapshot pinning its data) is kept for
/// peers that have not fetched it yet, in ticks of the driver.
pub const SNAPSHOT_SOURCE_IDLE_TICKS_MAX: u64 = 600;

/// Log entries kept behind the applied index after compaction, at most, so a briefly
/// lagging follower catches up from the log instead of by snapshot.
pub const LOG_RETAIN_ENTRIES: u64 = 1024;

/// Bytes of commands kept behind the applied index after compaction, at most (with
/// [`LOG_RETAIN_ENTRIES`]; a busy cluster's entries carry a few batches of 1,000 records,
/// about 90 KB each, so this is the limit that binds under load: some seconds of traffic).
pub const LOG_RETAIN_BYTES: u64 = 128 << 20;

/// Applied entries between two log compactions...
pub const LOG_COMPACT_INTERVAL_ENTRIES: u64 = 4096;

/// ...or applied command bytes, whichever comes first. The log's disk footprint stays
/// near [`LOG_RETAIN_BYTES`] plus this, beyond what the state's last flush still needs.
/// Small steps let the log's memtable ([`LOG_MEMTABLE_BYTES`]) drop most entries before it
/// is flushed: the range deletion of each step covers them, and a flush writes only what
/// is not covered.
pub const LOG_COMPACT_INTERVAL_BYTES: u64 = 16 << 20;

/// Size of the Raft log's memtable (RocksDB's `write_buffer_size` for the log's column
/// family). Larger than [`WAL_BYTES_MAX`], so that the WAL bound, not the memtable, decides
/// when the log is flushed, and larger than what the log keeps (the retained entries plus
/// one compaction step), so that by then most of the memtable's entries are compacted and
/// the flush drops them instead of writing them to a table file that a RocksDB compaction
/// reads and rewrites later. Memory: up to two such memtables per node (one being
/// flushed), allocated as entries arrive.
///
/// Measured (cluster bench, 5,000 batches paced at 100,000 records/s, 16 in flight, A B B A
/// twice) against a 64 MiB memtable and 64 MiB steps: each node wrote 111 MB of log table
/// files instead of 614 MB and ran no log compaction (157-343 MB written before); 15-115
/// batches took over 25 ms against 34-263, p99 15.9-44.2 ms against 21.0-82.6 ms (fewer in
/// each of the four pairs). Unpaced, 15,000 batches: 251.9k/235.9k records/s against
/// 254.2k/241.4k, within the noise between runs.
pub const LOG_MEMTABLE_BYTES: usize = 320 << 20;

/// Write-ahead log of the log's database kept live, at most (RocksDB's
/// `max_total_wal_size`): past it, the column families still holding the oldest WAL file
/// are flushed so the file can be recycled ([`WAL_FILES_RECYCLED`]) or deleted.
pub const WAL_BYTES_MAX: u64 = 256 << 20;

/// Write-ahead log files of the log's database kept for reuse (RocksDB's
/// `recycle_log_file_num`). Its WAL is switched when the log's memtable is flushed, which
/// the WAL bound decides, so one file at a time becomes obsolete; the second covers a
/// switch of another cause (a memtable of many small entries filling before the bound).
/// Disk: up to this many files of about [`WAL_BYTES_MAX`] each, beside the live WAL.
pub const WAL_FILES_RECYCLED: usize = 2;

/// Peer addresses (and membership changes) carried in one conf change context.
pub const PEERS_MAX: usize = 64;

/// Longest peer address accepted in a conf change context.
pub const PEER_ADDRESS_BYTES_MAX: usize = 256;

/// First reconnect delay of a gRPC peer stream, in milliseconds; doubled per failure.
pub const RECONNECT_BACKOFF_MIN_MS: u64 = 50;

/// Longest reconnect delay of a gRPC peer stream, in milliseconds.
pub const RECONNECT_BACKOFF_MAX_MS: u64 = 5_000;

/// Connect timeout of a gRPC peer stream, in milliseconds.
pub const CONNECT_TIMEOUT_MS: u64 = 3_000;

/// Bits a key of the in-memory filter in front of each duplicate-index column family
/// (2 bytes a key: 200 MB per 100 million indexed records per node; about 0.1% of misses
/// still reach RocksDB).
pub const INDEX_FILTER_BITS_PER_KEY: usize = 16;

/// Keys the duplicate-index filter is sized for at least (8 MB); it is sized for
/// [`INDEX_FILTER_GROWTH`] times the keys it holds when built, and rebuilt when it fills up.
pub const INDEX_FILTER_KEYS_MIN: usize = 4 << 20;

/// How many times the keys it holds a duplicate-index filter is sized for when it is
/// (re)built. Each rebuild scans the whole column family, so over a long run the scans read
/// `1 / (growth - 1)` keys per indexed record: a third at 4, one at 2. The price is memory:
/// between 2 and 8 bytes per indexed record (2 and 4 at a growth of 2), plus the full old
/// filter during a rebuild. Measured, cluster bench, 15,000 batches (15 million records per
/// node; 4 skips the rebuild at 8 million keys): filter builds 3.8% of the CPU against 9.0%.
pub const INDEX_FILTER_GROWTH: usize = 4;

/// Niceness of the threads that seal duplicate-index runs and build their filters (19, the
/// lowest priority). Their work is deferrable. On one machine the three nodes of a cluster
/// seal at nearly the same moment (they apply the same commands), each seal about half a
/// second of CPU, and at normal priority commits waited behind them. Measured, cluster bench
/// paced at 100,000 records/s, 2,000 batches: commit p99 62-226 ms (4 runs; 44-237 ms in 6
/// runs before [`SEAL_RUNS_QUEUED_MAX`] was 2) against 201-825 ms (9 runs) at normal
/// priority. The Raft thread waits for a seal only when
/// [`SEAL_RUNS_QUEUED_MAX`] runs are already in flight. RocksDB's flush and compaction pools
/// keep normal priority (starving them stalled writes and grew level 0).
pub const BACKGROUND_THREAD_NICE: i32 = 19;

/// Duplicate-index runs handed to sealing threads and not yet joined, per state slot; sealing
/// one more first waits for the oldest. Each is the machine's full in-memory run (about 48 MB
/// at settlement's default of 917,504 entries), searched in memory until it is joined. Two,
/// so a Raft thread does not wait for a seal that its low priority
/// ([`BACKGROUND_THREAD_NICE`]) left behind when the next run filled. Measured, saturated
/// cluster bench (5,000 batches, 32 in flight, three nodes on two cores): with one, Raft
/// threads waited up to 0.57 s and the runs committed 178.9k/167.4k records/s against
/// 182.8k/185.4k at normal priority; with two, 153.7k/170.0k against 143.0k/164.9k.
pub const SEAL_RUNS_QUEUED_MAX: usize = 2;

/// A wait for an earlier duplicate-index seal at least this long (milliseconds) is logged as
/// a warning: the Raft thread that applies stood still for it, with no ticks, heartbeats or
/// replies. The driver holds entries back instead while it can ([`UNAPPLIED_BYTES_MAX`]), so
/// this happens past that bound. Before it did, the unpaced cluster bench (15,000 batches,
/// 32 in flight, two cores) had waits of 387-1,826 ms, all three nodes sealing at once.
pub const SEAL_WAIT_WARN_MS: u64 = 100;

/// Bytes a duplicate-index run file grows by between two syncs while the sealing thread
/// writes it, so the disk gets it in pieces instead of one burst at the end.
pub const SEAL_SYNC_BYTES: u64 = 2 * 1024 * 1024;

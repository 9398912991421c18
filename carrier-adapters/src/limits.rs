//! Every bound the adapters enforce, in one place. Input that exceeds one is refused with an
//! error naming the byte offset (or line) before it costs memory or time.
//!
//! Invariant: no allocation is ever sized by a length field read from the input unless that
//! length is first checked against the bytes actually available *and* against one of these
//! limits.

/// Deepest nesting of BER constructed elements accepted. TAP 3.12's deepest path (a content
/// transaction's tax information) is 9 levels; the margin covers extensions.
pub const BER_DEPTH_MAX: usize = 32;

/// Largest single call event (one `CallEventDetail` element), in bytes. Real events are a few
/// hundred bytes; a 1 MiB event is certainly garbage and must not make us buffer more.
pub const CALL_EVENT_BYTES_MAX: usize = 1024 * 1024;

/// Largest header group (`BatchControlInfo`, `AccountingInfo`, `NetworkInfo`,
/// `MessageDescriptionInfo`, `AuditControlInfo`) or a whole `Notification`, in bytes.
pub const HEADER_GROUP_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Bytes read from a `std::io::Read` input at a time.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Most call events in one TAP file we will count (TD.57 puts no bound; this is u32 range so
/// record indexes fit `SourceRef::record_index`).
pub const CALL_EVENTS_PER_FILE_MAX: u64 = u32::MAX as u64;

/// Largest INTEGER content we decode, in bytes (fits an `i64`).
pub const INTEGER_BYTES_MAX: usize = 8;

/// Most diagnostics kept per file; past this a single "too many errors" diagnostic is added
/// and counting goes on, so a garbage file cannot exhaust memory with messages.
pub const DIAGNOSTICS_PER_FILE_MAX: usize = 10_000;

/// Call events of one file checked against each other for duplicates (each costs about
/// 150 bytes of memory). Past this the validator stops the in-file check, says so in a
/// warning, and leaves duplicates to settlement's own detection, so a huge file still needs
/// only bounded memory.
pub const DUPLICATE_CHECK_EVENTS_MAX: usize = 250_000;

/// Longest CSV line, in bytes.
pub const CSV_LINE_BYTES_MAX: usize = 64 * 1024;

/// Largest JSON input for the TMF635 reader, in bytes.
pub const JSON_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Largest whole RAP file accepted by the RAP decoder, in bytes (RAP files carry returns, not
/// traffic: they are small).
pub const RAP_FILE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Largest whole NRTRDE file accepted, in bytes (NRTRDE files cover minutes of traffic).
pub const NRTRDE_FILE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Most call events the traffic generator produces in one file.
pub const GENERATED_EVENTS_MAX: u32 = 50_000_000;

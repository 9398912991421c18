//! # carrier-adapters: roaming usage in and out of roamledger
//!
//! Pure parsers and encoders for the formats carriers exchange: GSMA TAP 3.12 (TD.57, reads
//! 3.11), RAP 1.05 (TD.32), NRTRDE 2.01 (TD.35), CSV and TM Forum TMF635 JSON usage, and
//! their file names. Bytes (or a [`std::io::Read`]) in; records plus diagnostics out.
//!
//! ## Non-goals
//! This crate opens no files and no sockets, reads no clock and no OS randomness. Callers
//! pass bytes or readers; the traffic generator takes its seed from the caller.
//!
//! ## Layout
//! - [`ber`]: a zero-copy BER tag-length-value reader and a definite-length writer. Chosen
//!   over a general ASN.1 library because TAP must stream call events from a reader with
//!   bounded memory, report absolute byte offsets, skip extension elements, and decode more
//!   than a million events per second on one core.
//! - [`tap`]: the TAP 3.12 model ([`tap::model`], transcribed from the ASN.1 module by the
//!   macros in `macros.rs`), the streaming decoder ([`tap::stream`]), TD.57 validation and
//!   audit totals ([`tap::validate`]), mapping to settlement records ([`tap::normalize`]),
//!   ingest entry points ([`tap::ingest`]) and a deterministic generator ([`tap::generate`]).
//! - [`rap`]: RAP return batches (built from settlement rejections) and acknowledgements.
//! - [`nrtrde`]: NRTRDE decoding into near-real-time records (not settlement input).
//! - [`csv`], [`tmf635`]: other usage inputs.
//! - [`filename`]: `CD`/`TD`, `RC`/`RT`, `NR` file names.
//! - [`cli`]: the command logic of `roamledger tap|rap|nrtrde ...`, independent of any
//!   argument parser, returning JSON and exit codes.
//! - [`diagnostic`]: TD.57-style findings (code, severity, record index, message).
//! - [`error`]: why input could not be read, always with a byte offset, line or JSON path.
//! - [`limits`]: every bound.
//!
//! ## Invariants
//! - **Bounded.** No allocation is sized by a length read from the input beyond the bytes
//!   actually present and a named limit in [`limits`]; nesting depth is bounded. Fuzz
//!   targets in `fuzz/` check that no input panics.
//! - **Located errors.** Every [`Error`] names a byte offset (binary formats), line and
//!   column (CSV) or record index and JSON path (JSON).
//! - **Money is integers.** TAP amounts stay minor units at `tapDecimalPlaces`; sums are
//!   `i128`; JSON and CSV amounts are parsed from their decimal text, never through floats.
//! - **Deterministic.** Same input, same output; maps that reach output are `BTreeMap`s.
//! - **decode(encode(x)) == x** for TAP and RAP values built from the model (property-tested).
//! - **Nothing valid is lost.** A call event that is valid TAP but cannot become a
//!   settlement record is reported (warning code 200), never silently dropped.

#[macro_use]
mod macros;
pub mod bcd;
pub mod ber;
pub mod cli;
pub mod csv;
pub mod diagnostic;
pub mod error;
pub mod filename;
pub mod limits;
pub mod nrtrde;
pub mod rap;
pub mod rap_return;
pub mod tap;
pub mod tmf635;

pub use error::Error;
pub use settlement::types::Scale;

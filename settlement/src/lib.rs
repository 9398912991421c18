//! # settlement: the roamledger settlement core
//!
//! A pure, deterministic state machine for inter-carrier roaming clearing. It owns the domain
//! (carriers, agreements, usage records, money), validates and deduplicates usage, re-rates
//! it against agreements, keeps running aggregates per (period, visited, home, service),
//! closes periods into clearing statements with Merkle roots and netting, and checks every
//! signature on the way.
//!
//! ## Invariants
//! - **Pure.** No I/O, no clock, no randomness, no async runtime. Time, log index and the
//!   proposer come in with each command. Two machines fed the same commands produce the same
//!   state bytes, outcomes, statements and ledger head.
//! - **Money is integers** with an explicit scale ([`types::Amount`]); rounding is half-even
//!   and explicit; overflow is an error.
//! - **Ordered output.** Maps that reach output or storage are `BTreeMap`s.
//! - **Bounded.** Every limit lives in [`limits`].
//!
//! ## Layout
//! - [`types`]: TADIG, IMSI/MSISDN, money, time, services, the normalized usage record.
//! - [`codec`]: the canonical binary encoding (records, keys, state).
//! - [`crypto`]: SHA-256, certificate parsing, signature verification, Ed25519 signing.
//! - [`error`]: rejection codes modelled on TD.57, and the failures that stop a node.
//! - [`limits`]: every bound in one place.

pub mod agreement;
pub mod batch;
pub mod canonical;
pub mod codec;
pub mod command;
pub mod config;
pub mod crypto;
pub mod error;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod machine;
pub mod merkle;
pub mod registry;
pub mod snapshot;
pub mod statement;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod types;

//! # node: the roamledger binary's library
//!
//! Wiring only: the settlement core, the carrier adapters and consensus are put together
//! here into a node carriers can run, and the `roamledger` command line around it.
//!
//! ## Layout
//! - [`config`]: the node's TOML configuration; [`certs`]: `certs init` (rcgen);
//!   [`genesis`]: the founding command.
//! - [`identity`]: who a client certificate names and what that role may do.
//! - [`ledger`]: the settlement machine under Raft ([`ledger::LedgerMachine`]) and the
//!   propose/read facade with leader forwarding ([`ledger::Ledger`]).
//! - [`server`]: the gRPC API (TLS 1.3, client certificates), health and reflection;
//!   [`client`]: outgoing mutual-TLS connections.
//! - [`run`]: starting and stopping a node and its background duties (founding,
//!   co-signing statements, gauges).
//! - [`metrics`]: Prometheus metrics over HTTP.
//! - [`cli`], [`commands`], [`submit`], [`audit`], [`rap`], [`demo`]: the command line.
//! - [`error`]: the node's errors and their one mapping to gRPC statuses.
//!
//! ## Invariants
//! - Domain rules live in `settlement`; this crate only decides who may ask for what, signs
//!   with the carrier's key, and moves bytes.
//! - A carrier submits only its own usage (visited network) through its own node; reads are
//!   limited to pairs the caller's carrier is party to.
//! - Every write goes through Raft; a follower forwards it to the leader rather than failing.

pub mod audit;
pub mod certs;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod demo;
pub mod error;
pub mod genesis;
pub mod identity;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod rap;
pub mod run;
pub mod server;
pub mod submit;

//! # proto: roamledger's gRPC interface
//!
//! The `.proto` files in `proto/proto/` and the tonic/prost code generated from them by
//! `build.rs` (which compiles every file in that folder with a vendored `protoc`). No logic
//! lives here: services are implemented by the crates that own the behaviour.
//!
//! ## Layout
//! - [`raft_transport`]: package `roamledger.raft.v1`, the node-to-node Raft transport
//!   (implemented by `consensus::transport::grpc`).
//! - [`api`]: package `roamledger.v1`, the client API of a node (ingest, statements,
//!   disputes, agreements, periods, cluster), implemented by the `node` crate.
//!
//! ## Invariants
//! - Raft messages cross the wire as opaque `bytes`: raft-rs encodes them with protobuf 2,
//!   and those types never meet the prost types generated here.
//! - Each package is one module here, named after the file; adding a `.proto` file means
//!   adding its module below.

/// Package `roamledger.raft.v1`: the streaming Raft message service between nodes.
#[allow(missing_docs, clippy::all)]
pub mod raft_transport {
    tonic::include_proto!("roamledger.raft.v1");
}

/// Package `roamledger.v1`: the client API every node serves.
#[allow(missing_docs, clippy::all)]
pub mod api {
    tonic::include_proto!("roamledger.v1");

    /// The encoded file descriptor set, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("roamledger_descriptor");
}

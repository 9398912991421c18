//! The node's error type, and the one function that turns errors into gRPC statuses with
//! stable codes (`ROAMLEDGER:<NAME>` for node errors, `SETTLEMENT:<ErrorCode>` for domain
//! rejections), carried in `Status.details` as a `roamledger.v1.ErrorDetail`.

use std::path::{Path, PathBuf};

use prost::Message;
use settlement::error::Rejection;
use thiserror::Error;

/// Why the node (or a command of the CLI) failed.
#[derive(Debug, Error)]
pub enum NodeError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error("configuration {path}: {reason}")]
    Config {
        /// The file (or `environment`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Certificates or keys could not be made or read.
    #[error("certificates: {reason}")]
    Certificates {
        /// What went wrong.
        reason: String,
    },
    /// The consensus layer failed.
    #[error(transparent)]
    Consensus(#[from] consensus::ConsensusError),
    /// The settlement machine failed (storage or corruption).
    #[error(transparent)]
    Apply(#[from] settlement::error::ApplyError),
    /// A command was rejected by the settlement machine.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// The input could not be decoded.
    #[error("{0}")]
    Input(String),
    /// The caller may not do this.
    #[error("permission denied: {0}")]
    Forbidden(String),
    /// The caller could not be identified.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Nothing with that name.
    #[error("not found: {0}")]
    NotFound(String),
    /// This node is not the leader and could not forward.
    #[error("not the leader; leader is node {leader_id} at {leader_address}")]
    NotLeader {
        /// The leader's id, 0 when unknown.
        leader_id: u64,
        /// Its client API address, empty when unknown.
        leader_address: String,
    },
    /// A remote call failed.
    #[error("{0}")]
    Remote(#[from] tonic::Status),
    /// A TLS or transport problem.
    #[error("transport: {0}")]
    Transport(String),
}

impl NodeError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        NodeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The stable code of an error.
pub fn error_code(e: &NodeError) -> (String, u32) {
    match e {
        NodeError::Rejected(r) => (format!("SETTLEMENT:{}", r.code.name()), u32::from(r.code.wire())),
        NodeError::Io { .. } => ("ROAMLEDGER:IO".into(), 0),
        NodeError::Config { .. } => ("ROAMLEDGER:CONFIG".into(), 0),
        NodeError::Certificates { .. } => ("ROAMLEDGER:CERTIFICATES".into(), 0),
        NodeError::Consensus(_) => ("ROAMLEDGER:CONSENSUS".into(), 0),
        NodeError::Apply(_) => ("ROAMLEDGER:STATE".into(), 0),
        NodeError::Input(_) => ("ROAMLEDGER:BAD_INPUT".into(), 0),
        NodeError::Forbidden(_) => ("ROAMLEDGER:FORBIDDEN".into(), 0),
        NodeError::Unauthenticated(_) => ("ROAMLEDGER:UNAUTHENTICATED".into(), 0),
        NodeError::NotFound(_) => ("ROAMLEDGER:NOT_FOUND".into(), 0),
        NodeError::NotLeader { .. } => ("ROAMLEDGER:NOT_LEADER".into(), 0),
        NodeError::Remote(_) => ("ROAMLEDGER:REMOTE".into(), 0),
        NodeError::Transport(_) => ("ROAMLEDGER:TRANSPORT".into(), 0),
    }
}

/// The one mapping from node errors to gRPC statuses.
pub fn to_status(e: NodeError) -> tonic::Status {
    if let NodeError::Remote(s) = e {
        return s;
    }
    let (code, wire) = error_code(&e);
    let grpc = match &e {
        NodeError::Rejected(_) => tonic::Code::FailedPrecondition,
        NodeError::Input(_) => tonic::Code::InvalidArgument,
        NodeError::Forbidden(_) => tonic::Code::PermissionDenied,
        NodeError::Unauthenticated(_) => tonic::Code::Unauthenticated,
        NodeError::NotFound(_) => tonic::Code::NotFound,
        NodeError::NotLeader { .. } => tonic::Code::Unavailable,
        NodeError::Consensus(consensus::ConsensusError::NotLeader { .. }) => tonic::Code::Unavailable,
        _ => tonic::Code::Internal,
    };
    let (leader_id, leader_address) = match &e {
        NodeError::NotLeader {
            leader_id,
            leader_address,
        } => (*leader_id, leader_address.clone()),
        _ => (0, String::new()),
    };
    let detail = proto::api::ErrorDetail {
        code: code.clone(),
        wire,
        message: e.to_string(),
        leader_id,
        leader_address,
    };
    tonic::Status::with_details(grpc, format!("{code}: {e}"), detail.encode_to_vec().into())
}

/// The `ErrorDetail` of a status, if it carries one.
pub fn detail_of(status: &tonic::Status) -> Option<proto::api::ErrorDetail> {
    proto::api::ErrorDetail::decode(status.details()).ok()
}

//! Moving Raft traffic between nodes.
//!
//! A [`Transport`] sends [`WireMessage`]s to peers by Raft id without blocking (every queue is
//! bounded: a full queue refuses the message, and Raft retransmits) and hands what it
//! receives to an [`InboundSink`]. Implementations:
//! - [`grpc::GrpcTransport`]: tonic streams over mutual TLS 1.3 between processes.
//! - [`sim::SimTransport`]: an in-process network with fault filters for deterministic tests.
//!
//! [`conformance`] is the suite both pass.

pub mod conformance;
pub mod grpc;
pub mod sim;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;

use protobuf::Message as _;
use raft::prelude::{Message, MessageType};

use crate::error::{ConsensusError, Result};

/// One chunk of a snapshot stream.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotChunk {
    /// Sender's Raft id.
    pub from: u64,
    /// Receiver's Raft id.
    pub to: u64,
    /// Snapshot index.
    pub index: u64,
    /// Snapshot term.
    pub term: u64,
    /// Position in the stream, from 0.
    pub seq: u64,
    /// Settlement snapshot chunk bytes.
    pub data: Vec<u8>,
    /// On the last chunk: the `MsgSnapshot` to step once the stream validated.
    pub final_message: Option<Box<Message>>,
}

/// What travels between nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum WireMessage {
    /// A Raft message (never `MsgSnapshot`: snapshots travel as chunks).
    Raft(Box<Message>),
    /// A snapshot chunk.
    Snapshot(SnapshotChunk),
}

impl WireMessage {
    /// The sender's Raft id.
    pub fn from(&self) -> u64 {
        match self {
            WireMessage::Raft(m) => m.from,
            WireMessage::Snapshot(c) => c.from,
        }
    }

    /// The receiver's Raft id.
    pub fn to(&self) -> u64 {
        match self {
            WireMessage::Raft(m) => m.to,
            WireMessage::Snapshot(c) => c.to,
        }
    }

    /// Approximate bytes on the wire.
    pub fn size_bytes(&self) -> usize {
        match self {
            WireMessage::Raft(m) => m.compute_size() as usize,
            WireMessage::Snapshot(c) => {
                c.data.len() + c.final_message.as_ref().map_or(0, |m| m.compute_size() as usize) + 48
            }
        }
    }
}

/// Encodes a Raft message with raft-rs's protobuf 2 codec.
pub fn encode_raft(m: &Message) -> Vec<u8> {
    m.write_to_bytes().expect("encoding a raft Message cannot fail")
}

/// Decodes a Raft message; refuses snapshot messages outside a snapshot stream.
pub fn decode_raft(bytes: &[u8], in_snapshot_stream: bool) -> Result<Message> {
    let m = Message::parse_from_bytes(bytes).map_err(|e| ConsensusError::Corrupt {
        what: "raft message",
        reason: e.to_string(),
    })?;
    if (m.get_msg_type() == MessageType::MsgSnapshot) != in_snapshot_stream {
        return Err(ConsensusError::Corrupt {
            what: "raft message",
            reason: format!("{:?} in the wrong place", m.get_msg_type()),
        });
    }
    Ok(m)
}

/// Where a transport delivers what it receives. Returns `false` when the receiver's mailbox
/// is full (the message is dropped; Raft retransmits).
pub type InboundSink = Arc<dyn Fn(WireMessage) -> bool + Send + Sync>;

/// A peer's link state as the transport sees it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PeerLink {
    /// Address in use.
    pub address: String,
    /// True while the link is up: the peer answered this connection's greeting and the
    /// stream has not failed since.
    pub reachable: bool,
    /// Why the link last went down (connect, handshake, greeting or stream), if it did.
    pub last_error: Option<String>,
    /// Messages queued for the peer.
    pub queued: usize,
    /// Messages dropped because the queue was full or the link down.
    pub dropped: u64,
}

/// Sends messages to peers by Raft id.
pub trait Transport: Send + Sync + 'static {
    /// Queues `msg` for `msg.to()` without blocking. Errors: `Busy` when the peer's queue
    /// is full, `Transport` when the peer is unknown.
    fn send(&self, msg: WireMessage) -> Result<()>;

    /// Adds or updates a peer's address.
    fn set_peer(&self, id: u64, address: &str);

    /// Forgets a peer (its queue is dropped).
    fn remove_peer(&self, id: u64);

    /// Peers whose messages could not be delivered since the last call (reported to Raft
    /// with `report_unreachable`).
    fn take_unreachable(&self) -> Vec<u64>;

    /// Link state of every known peer.
    fn links(&self) -> BTreeMap<u64, PeerLink>;
}

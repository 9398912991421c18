//! The membership record: Raft's conf state, the log index it took effect at, and the
//! address of every member. It is stored with the conf state so a node restarts knowing whom
//! to talk to, and it travels inside snapshots.

use std::collections::BTreeMap;

use protobuf::Message as _;
use raft::prelude::ConfState;

use crate::error::{ConsensusError, Result};
use crate::limits::{PEER_ADDRESS_BYTES_MAX, PEERS_MAX};

/// Conf state, the index of the entry that produced it, and peer addresses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Membership {
    /// Raft's configuration.
    pub conf_state: ConfState,
    /// Log index of the conf change (or snapshot) that produced `conf_state`; 0 at bootstrap.
    pub index: u64,
    /// Transport address of each known node id.
    pub peers: BTreeMap<u64, String>,
}

fn corrupt(reason: impl Into<String>) -> ConsensusError {
    ConsensusError::Corrupt {
        what: "membership record",
        reason: reason.into(),
    }
}

/// Encodes a peer address map: `count (u32) || { id (u64) || len (u32) || utf8 }*`.
pub(crate) fn encode_peers(peers: &BTreeMap<u64, String>, out: &mut Vec<u8>) {
    out.extend_from_slice(&(peers.len() as u32).to_be_bytes());
    for (id, addr) in peers {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&(addr.len() as u32).to_be_bytes());
        out.extend_from_slice(addr.as_bytes());
    }
}

/// A byte cursor for the small fixed formats of this crate.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Cursor { bytes, what }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(ConsensusError::Corrupt {
                what: self.what,
                reason: format!("truncated: wanted {n} bytes, {} left", self.bytes.len()),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes(b.try_into().expect("4 bytes")))
    }

    pub(crate) fn finish(self) -> Result<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(ConsensusError::Corrupt {
                what: self.what,
                reason: format!("{} trailing bytes", self.bytes.len()),
            })
        }
    }
}

pub(crate) fn decode_peers(c: &mut Cursor<'_>) -> Result<BTreeMap<u64, String>> {
    let n = c.u32()? as usize;
    if n > PEERS_MAX {
        return Err(corrupt(format!("{n} peers exceed the limit of {PEERS_MAX}")));
    }
    let mut peers = BTreeMap::new();
    for _ in 0..n {
        let id = c.u64()?;
        let len = c.u32()? as usize;
        if len > PEER_ADDRESS_BYTES_MAX {
            return Err(corrupt(format!("peer address of {len} bytes")));
        }
        let addr = std::str::from_utf8(c.take(len)?).map_err(|e| corrupt(e.to_string()))?;
        peers.insert(id, addr.to_owned());
    }
    Ok(peers)
}

/// Every id in a configuration: voters (incoming and outgoing during a joint change) and
/// learners (current and next), sorted, without repeats.
pub fn conf_members(cs: &ConfState) -> Vec<u64> {
    let mut ids: Vec<u64> = cs
        .get_voters()
        .iter()
        .chain(cs.get_voters_outgoing())
        .chain(cs.get_learners())
        .chain(cs.get_learners_next())
        .copied()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl Membership {
    /// The ids of voters (incoming and outgoing in a joint configuration) and learners.
    pub fn members(&self) -> Vec<u64> {
        conf_members(&self.conf_state)
    }

    /// `index (u64) || conf state length (u32) || conf state (protobuf) || peers`.
    pub fn encode(&self) -> Vec<u8> {
        let cs = self
            .conf_state
            .write_to_bytes()
            .expect("encoding a ConfState cannot fail");
        let mut out = Vec::with_capacity(16 + cs.len() + self.peers.len() * 32);
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&(cs.len() as u32).to_be_bytes());
        out.extend_from_slice(&cs);
        encode_peers(&self.peers, &mut out);
        out
    }

    /// Inverse of [`Membership::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Membership> {
        let mut c = Cursor::new(bytes, "membership record");
        let index = c.u64()?;
        let len = c.u32()? as usize;
        let mut conf_state = ConfState::default();
        conf_state
            .merge_from_bytes(c.take(len)?)
            .map_err(|e| corrupt(e.to_string()))?;
        let peers = decode_peers(&mut c)?;
        c.finish()?;
        Ok(Membership {
            conf_state,
            index,
            peers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_truncation() {
        let mut m = Membership {
            index: 42,
            ..Membership::default()
        };
        m.conf_state.set_voters(vec![1, 2, 3]);
        m.conf_state.set_learners(vec![4]);
        m.peers.insert(1, "127.0.0.1:1".into());
        m.peers.insert(4, "127.0.0.1:4".into());
        let bytes = m.encode();
        assert_eq!(Membership::decode(&bytes).unwrap(), m);
        assert_eq!(m.members(), vec![1, 2, 3, 4]);
        for cut in 0..bytes.len() {
            assert!(Membership::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}

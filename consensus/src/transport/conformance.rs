//! The transport conformance suite: every [`Transport`] implementation passes it.
//!
//! A [`Harness`] provides two or more connected nodes; the suite sends through one and
//! checks what the other's sink received, with bounded waits that fail with a message.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft::prelude::{Message, MessageType};

use crate::transport::{InboundSink, SnapshotChunk, Transport, WireMessage};

/// Collects what a node receives.
#[derive(Clone, Default)]
pub struct Collector(Arc<Mutex<Vec<WireMessage>>>);

impl Collector {
    /// A sink writing into this collector.
    pub fn sink(&self) -> InboundSink {
        let inner = self.0.clone();
        Arc::new(move |m| {
            inner.lock().expect("collector lock").push(m);
            true
        })
    }

    /// Takes everything received so far.
    pub fn take(&self) -> Vec<WireMessage> {
        std::mem::take(&mut *self.0.lock().expect("collector lock"))
    }
}

/// A set of nodes 1 and 2 connected by the transport under test.
pub trait Harness {
    /// Node `id`'s transport (ids 1 and 2), already knowing each other's addresses.
    fn transport(&self, id: u64) -> Arc<dyn Transport>;
    /// What node `id` received.
    fn collector(&self, id: u64) -> &Collector;
    /// Lets the network make progress (the simulated one delivers; real ones just wait).
    fn pump(&self);
}

fn heartbeat(from: u64, to: u64, commit: u64) -> WireMessage {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.from = from;
    m.to = to;
    m.commit = commit;
    m.term = 1;
    WireMessage::Raft(Box::new(m))
}

/// Pumps until `n` received messages satisfy `keep`; returns those.
fn wait_for(
    h: &impl Harness,
    id: u64,
    n: usize,
    what: &str,
    keep: impl Fn(&WireMessage) -> bool,
) -> Vec<WireMessage> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.len() < n {
        h.pump();
        got.extend(h.collector(id).take().into_iter().filter(|m| keep(m)));
        assert!(
            Instant::now() < deadline,
            "{what}: node {id} received {} of {n} messages within 20 s",
            got.len()
        );
        if got.len() < n {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    got
}

/// Runs every check.
pub fn run(h: &impl Harness) {
    delivers_in_order(h);
    both_directions(h);
    large_snapshot_chunk_round_trips(h);
    unknown_peer_is_refused(h);
}

fn delivers_in_order(h: &impl Harness) {
    let t = h.transport(1);
    // Retry while the link comes up: the first sends may be refused or lost.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = t.send(heartbeat(1, 2, 0));
        h.pump();
        std::thread::sleep(Duration::from_millis(20));
        if !h.collector(2).take().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "link 1->2 never came up");
    }
    for i in 1..=100 {
        t.send(heartbeat(1, 2, i))
            .expect("queue has room for 100 messages");
    }
    let got = wait_for(
        h,
        2,
        100,
        "in-order delivery",
        |m| matches!(m, WireMessage::Raft(r) if r.commit > 0),
    );
    let commits: Vec<u64> = got
        .iter()
        .filter_map(|m| match m {
            WireMessage::Raft(r) if r.commit > 0 => Some(r.commit),
            _ => None,
        })
        .collect();
    assert_eq!(
        commits,
        (1..=100).collect::<Vec<_>>(),
        "one link delivers in send order"
    );
    assert!(t.links().contains_key(&2), "links() lists the peer");
}

fn both_directions(h: &impl Harness) {
    let t = h.transport(2);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = t.send(heartbeat(2, 1, 7));
        h.pump();
        std::thread::sleep(Duration::from_millis(20));
        let got = h.collector(1).take();
        if let Some(WireMessage::Raft(m)) = got.first() {
            assert_eq!((m.from, m.to, m.commit), (2, 1, 7), "message intact");
            break;
        }
        assert!(Instant::now() < deadline, "link 2->1 never came up");
    }
}

fn large_snapshot_chunk_round_trips(h: &impl Harness) {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgSnapshot);
    m.from = 1;
    m.to = 2;
    m.mut_snapshot().mut_metadata().index = 99;
    m.mut_snapshot().mut_metadata().term = 3;
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let chunk = WireMessage::Snapshot(SnapshotChunk {
        from: 1,
        to: 2,
        index: 99,
        term: 3,
        seq: 5,
        data,
        final_message: Some(Box::new(m)),
    });
    h.transport(1).send(chunk.clone()).expect("queued");
    let got = wait_for(h, 2, 1, "snapshot chunk", |m| {
        matches!(m, WireMessage::Snapshot(_))
    });
    assert_eq!(
        got[0], chunk,
        "a 3 MiB chunk with its final message arrives intact"
    );
}

fn unknown_peer_is_refused(h: &impl Harness) {
    let t = h.transport(1);
    let r = t.send(heartbeat(1, 77, 1));
    // The simulated network accepts and drops (like a lost packet) and reports the peer
    // unreachable; a real transport refuses outright. Either way nothing arrives.
    if r.is_ok() {
        h.pump();
        assert!(
            t.take_unreachable().contains(&77),
            "an unknown peer is reported unreachable"
        );
    }
    h.pump();
    assert!(
        h.collector(2).take().iter().all(|m| m.to() != 77),
        "a message for an unknown peer reached another node"
    );
}

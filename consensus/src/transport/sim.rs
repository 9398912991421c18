//! An in-process network for deterministic tests, in the style of raft-rs's and TiKV's
//! simulated transports: messages sit in the network until the test calls
//! [`SimNetwork::deliver_due`], and filters drop, partition, delay, duplicate and reorder
//! them. All randomness comes from one seeded generator, and delivery order is a pure
//! function of the seed and the calls made, so a seed reproduces a run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::error::{ConsensusError, Result};
use crate::limits::PEER_QUEUE_MESSAGES_MAX;
use crate::transport::{InboundSink, PeerLink, Transport, WireMessage};

/// SplitMix64: a tiny, well-mixed, seedable generator (no dependency, stable forever).
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.below(1000) < u64::from(per_mille)
    }
}

/// Fault filters applied to every message at send time.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Probability (per mille) of dropping a message.
    pub drop_per_mille: u32,
    /// Probability (per mille) of delivering a message twice.
    pub duplicate_per_mille: u32,
    /// Fixed delay added to every message, in virtual milliseconds.
    pub delay_ms: u64,
    /// Extra random delay in `[0, jitter_ms]`; messages on one link may then overtake each
    /// other (reordering). Without jitter a link is FIFO.
    pub jitter_ms: u64,
    /// Directed links `(from, to)` that drop everything (partitions, isolation).
    pub blocked: BTreeSet<(u64, u64)>,
}

struct InFlight {
    at_ms: u64,
    seq: u64,
    msg: WireMessage,
}

struct Inner {
    rng: SimRng,
    now_ms: u64,
    seq: u64,
    filters: Filters,
    sinks: BTreeMap<u64, InboundSink>,
    in_flight: Vec<InFlight>,
    /// Last delivery time per link, to keep links FIFO when there is no jitter.
    link_tail: BTreeMap<(u64, u64), u64>,
    unreachable: BTreeMap<u64, BTreeSet<u64>>,
    dropped: BTreeMap<(u64, u64), u64>,
    delivered: u64,
}

/// The simulated network shared by every [`SimTransport`] of a test.
#[derive(Clone)]
pub struct SimNetwork {
    inner: Arc<Mutex<Inner>>,
}

impl SimNetwork {
    /// A network whose randomness comes from `seed`.
    pub fn new(seed: u64) -> Self {
        SimNetwork {
            inner: Arc::new(Mutex::new(Inner {
                rng: SimRng::new(seed),
                now_ms: 0,
                seq: 0,
                filters: Filters::default(),
                sinks: BTreeMap::new(),
                in_flight: Vec::new(),
                link_tail: BTreeMap::new(),
                unreachable: BTreeMap::new(),
                dropped: BTreeMap::new(),
                delivered: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("sim network lock")
    }

    /// Attaches node `id`: what is sent to it goes to `sink`. Returns its transport.
    pub fn join(&self, id: u64, sink: InboundSink) -> SimTransport {
        self.lock().sinks.insert(id, sink);
        SimTransport {
            id,
            net: self.clone(),
        }
    }

    /// Detaches node `id` (a crashed node): messages to it are dropped until it joins again.
    pub fn leave(&self, id: u64) {
        let mut g = self.lock();
        g.sinks.remove(&id);
        g.in_flight.retain(|f| f.msg.to() != id);
    }

    /// Replaces the filters.
    pub fn set_filters(&self, filters: Filters) {
        self.lock().filters = filters;
    }

    /// The current filters.
    pub fn filters(&self) -> Filters {
        self.lock().filters.clone()
    }

    /// Cuts every link between different groups (both directions); links inside a group
    /// and to nodes in no group are untouched.
    pub fn partition(&self, groups: &[&[u64]]) {
        let mut g = self.lock();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i != j {
                    for &x in a.iter() {
                        for &y in b.iter() {
                            g.filters.blocked.insert((x, y));
                        }
                    }
                }
            }
        }
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&self, id: u64) {
        let mut g = self.lock();
        let ids: Vec<u64> = g.sinks.keys().copied().collect();
        for other in ids {
            if other != id {
                g.filters.blocked.insert((id, other));
                g.filters.blocked.insert((other, id));
            }
        }
    }

    /// Removes every partition (other filters stay).
    pub fn heal(&self) {
        self.lock().filters.blocked.clear();
    }

    /// Virtual time, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.lock().now_ms
    }

    /// Advances virtual time.
    pub fn advance(&self, ms: u64) {
        self.lock().now_ms += ms;
    }

    /// A random number from the network's generator (tests draw their fault schedule from
    /// the same seed).
    pub fn random(&self) -> u64 {
        self.lock().rng.next_u64()
    }

    /// Messages sent but not delivered yet.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }

    /// Messages delivered so far.
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// Delivers every message due at the current virtual time, in (due time, send order).
    /// Returns how many were delivered.
    pub fn deliver_due(&self) -> usize {
        let mut g = self.lock();
        let now = g.now_ms;
        let mut due: Vec<InFlight> = Vec::new();
        let mut keep = Vec::with_capacity(g.in_flight.len());
        for f in std::mem::take(&mut g.in_flight) {
            if f.at_ms <= now {
                due.push(f);
            } else {
                keep.push(f);
            }
        }
        g.in_flight = keep;
        due.sort_by_key(|f| (f.at_ms, f.seq));
        let mut n = 0;
        for f in due {
            let to = f.msg.to();
            if let Some(sink) = g.sinks.get(&to).cloned()
                && sink(f.msg)
            {
                n += 1;
            }
        }
        g.delivered += n as u64;
        n
    }

    fn send(&self, from: u64, msg: WireMessage) -> Result<()> {
        let to = msg.to();
        let mut g = self.lock();
        if !g.sinks.contains_key(&to) {
            g.unreachable.entry(from).or_default().insert(to);
            *g.dropped.entry((from, to)).or_default() += 1;
            return Ok(());
        }
        let queued = g
            .in_flight
            .iter()
            .filter(|f| f.msg.to() == to && f.msg.from() == from)
            .count();
        if queued >= PEER_QUEUE_MESSAGES_MAX {
            return Err(ConsensusError::Busy {
                queue: "simulated peer queue",
                limit: PEER_QUEUE_MESSAGES_MAX,
            });
        }
        let f = g.filters.clone();
        if f.blocked.contains(&(from, to)) {
            g.unreachable.entry(from).or_default().insert(to);
            *g.dropped.entry((from, to)).or_default() += 1;
            return Ok(());
        }
        if g.rng.chance(f.drop_per_mille) {
            *g.dropped.entry((from, to)).or_default() += 1;
            return Ok(());
        }
        let copies = if g.rng.chance(f.duplicate_per_mille) { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = if f.jitter_ms > 0 {
                g.rng.below(f.jitter_ms + 1)
            } else {
                0
            };
            let mut at = g.now_ms + f.delay_ms + jitter;
            if f.jitter_ms == 0 {
                let tail = g.link_tail.get(&(from, to)).copied().unwrap_or(0);
                at = at.max(tail);
                g.link_tail.insert((from, to), at);
            }
            g.seq += 1;
            let seq = g.seq;
            g.in_flight.push(InFlight {
                at_ms: at,
                seq,
                msg: msg.clone(),
            });
        }
        Ok(())
    }
}

/// One node's handle on a [`SimNetwork`].
#[derive(Clone)]
pub struct SimTransport {
    id: u64,
    net: SimNetwork,
}

impl Transport for SimTransport {
    fn send(&self, msg: WireMessage) -> Result<()> {
        self.net.send(self.id, msg)
    }

    fn set_peer(&self, _id: u64, _address: &str) {
        // Simulated nodes are addressed by id alone.
    }

    fn remove_peer(&self, _id: u64) {}

    fn take_unreachable(&self) -> Vec<u64> {
        let mut g = self.net.lock();
        g.unreachable
            .remove(&self.id)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default()
    }

    fn links(&self) -> BTreeMap<u64, PeerLink> {
        let g = self.net.lock();
        g.sinks
            .keys()
            .filter(|&&p| p != self.id)
            .map(|&p| {
                let link = PeerLink {
                    address: format!("sim:{p}"),
                    reachable: !g.filters.blocked.contains(&(self.id, p)),
                    queued: g
                        .in_flight
                        .iter()
                        .filter(|f| f.msg.to() == p && f.msg.from() == self.id)
                        .count(),
                    dropped: g.dropped.get(&(self.id, p)).copied().unwrap_or(0),
                    last_error: g
                        .filters
                        .blocked
                        .contains(&(self.id, p))
                        .then(|| "blocked by a simulated partition".to_owned()),
                };
                (p, link)
            })
            .collect()
    }
}

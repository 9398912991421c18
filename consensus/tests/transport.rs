//! The transport conformance suite against the simulated network and against gRPC over
//! mutual TLS on loopback (OS-chosen ports), plus the TLS authorization checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use consensus::Transport;
use consensus::transport::WireMessage;
use consensus::transport::conformance::{self, Collector, Harness};
use consensus::transport::grpc::{GrpcConfig, GrpcTransport};
use consensus::transport::sim::SimNetwork;
use consensus::transport::tls::{PeerIdentity, TlsConfig};
use raft::prelude::{Message, MessageType};
use settlement::crypto::Role;
use settlement::testkit::TestPki;

struct SimHarness {
    net: SimNetwork,
    transports: BTreeMap<u64, Arc<dyn Transport>>,
    collectors: BTreeMap<u64, Collector>,
}

impl Harness for SimHarness {
    fn transport(&self, id: u64) -> Arc<dyn Transport> {
        self.transports[&id].clone()
    }
    fn collector(&self, id: u64) -> &Collector {
        &self.collectors[&id]
    }
    fn pump(&self) {
        self.net.advance(10);
        self.net.deliver_due();
    }
}

#[test]
fn sim_transport_passes_the_conformance_suite() {
    let net = SimNetwork::new(42);
    let mut h = SimHarness {
        net: net.clone(),
        transports: BTreeMap::new(),
        collectors: BTreeMap::new(),
    };
    for id in [1, 2] {
        let c = Collector::default();
        let t = net.join(id, c.sink());
        h.transports.insert(id, Arc::new(t));
        h.collectors.insert(id, c);
    }
    conformance::run(&h);
}

/// Node TLS material from the test PKI: `members` maps TADIG to Raft id.
fn tls_for(pki: &TestPki, tadig: &str, members: &BTreeMap<String, u64>) -> TlsConfig {
    let id = pki.issue(tadig, Role::Node, (2020, 2039));
    let members = members.clone();
    TlsConfig {
        roots: vec![pki.root_der.clone()],
        cert_chain: vec![id.cert_der],
        key_pkcs8: id.key_pkcs8,
        authorize: Arc::new(move |p: &PeerIdentity| -> Result<u64, String> {
            let t = p.node_tadig().ok_or("no node identity in the certificate")?;
            members
                .get(t.as_str())
                .copied()
                .ok_or_else(|| format!("{} is not a registered member node", t.as_str()))
        }),
    }
}

struct GrpcHarness {
    _rt: tokio::runtime::Runtime,
    transports: BTreeMap<u64, Arc<dyn Transport>>,
    collectors: BTreeMap<u64, Collector>,
}

impl Harness for GrpcHarness {
    fn transport(&self, id: u64) -> Arc<dyn Transport> {
        self.transports[&id].clone()
    }
    fn collector(&self, id: u64) -> &Collector {
        &self.collectors[&id]
    }
    fn pump(&self) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn members() -> BTreeMap<String, u64> {
    [("KORKT".to_string(), 1), ("JPNDO".to_string(), 2)]
        .into_iter()
        .collect()
}

fn start_pair(
    pki: &TestPki,
    rt: &tokio::runtime::Runtime,
    tadigs: [&str; 2],
) -> (BTreeMap<u64, Arc<dyn Transport>>, BTreeMap<u64, Collector>) {
    let mut transports: BTreeMap<u64, Arc<dyn Transport>> = BTreeMap::new();
    let mut collectors = BTreeMap::new();
    let mut addrs = BTreeMap::new();
    for (i, tadig) in tadigs.iter().enumerate() {
        let id = i as u64 + 1;
        let c = Collector::default();
        let cfg = GrpcConfig {
            id,
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: tls_for(pki, tadig, &members()),
        };
        let t = rt.block_on(GrpcTransport::start(cfg, c.sink())).unwrap();
        addrs.insert(id, t.local_addr().to_string());
        transports.insert(id, Arc::new(t) as Arc<dyn Transport>);
        collectors.insert(id, c);
    }
    for (&id, t) in &transports {
        for (&p, a) in &addrs {
            if p != id {
                t.set_peer(p, a);
            }
        }
    }
    (transports, collectors)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn grpc_transport_over_mutual_tls_passes_the_conformance_suite() {
    let rt = runtime();
    let pki = TestPki::new("transport-test-root");
    let (transports, collectors) = start_pair(&pki, &rt, ["KORKT", "JPNDO"]);
    let h = GrpcHarness {
        _rt: rt,
        transports,
        collectors,
    };
    conformance::run(&h);
    assert!(h.transport(1).links()[&2].reachable, "the link reports itself up");
}

fn heartbeat(from: u64, to: u64) -> WireMessage {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.from = from;
    m.to = to;
    WireMessage::Raft(Box::new(m))
}

/// Sends for two seconds and returns what arrived.
fn try_deliver(t: &Arc<dyn Transport>, c: &Collector, from: u64, to: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut n = 0;
    while Instant::now() < deadline {
        let _ = t.send(heartbeat(from, to));
        std::thread::sleep(Duration::from_millis(50));
        n += c.take().len();
    }
    n
}

#[test]
fn grpc_refuses_unregistered_nodes_and_foreign_roots() {
    let rt = runtime();
    let pki = TestPki::new("transport-test-root");
    // CHNCM holds a valid node certificate but is not a registered member.
    let (transports, collectors) = start_pair(&pki, &rt, ["KORKT", "CHNCM"]);
    assert_eq!(
        try_deliver(&transports[&2], &collectors[&1], 2, 1),
        0,
        "unregistered node's traffic refused"
    );
    // Deterministic: a link is up only once the peer answered the greeting, which a peer
    // that refused the certificate never does.
    let link = &transports[&2].links()[&1];
    assert!(
        !link.reachable,
        "a refused node's link never reports itself up: {link:?}"
    );
    assert!(
        link.last_error
            .as_deref()
            .is_some_and(|e| e.contains("127.0.0.1")),
        "the link says why it is down and where: {link:?}"
    );
    // A certificate from another root is refused during the handshake.
    let other = TestPki::new("foreign-root");
    let mut t: BTreeMap<u64, Arc<dyn Transport>> = BTreeMap::new();
    let c1 = Collector::default();
    let good = rt
        .block_on(GrpcTransport::start(
            GrpcConfig {
                id: 1,
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: tls_for(&pki, "KORKT", &members()),
            },
            c1.sink(),
        ))
        .unwrap();
    let good_addr = good.local_addr().to_string();
    t.insert(1, Arc::new(good));
    let mut foreign_tls = tls_for(&other, "JPNDO", &members());
    foreign_tls.roots = vec![pki.root_der.clone(), other.root_der.clone()];
    let foreign = rt
        .block_on(GrpcTransport::start(
            GrpcConfig {
                id: 2,
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: foreign_tls,
            },
            Collector::default().sink(),
        ))
        .unwrap();
    foreign.set_peer(1, &good_addr);
    let foreign: Arc<dyn Transport> = Arc::new(foreign);
    assert_eq!(
        try_deliver(&foreign, &c1, 2, 1),
        0,
        "a certificate from a foreign root is refused"
    );
    let link = &foreign.links()[&1];
    assert!(!link.reachable && link.last_error.is_some(), "{link:?}");
    drop(t);
    drop(rt);
}

#[test]
fn a_frame_claiming_another_sender_is_refused() {
    let rt = runtime();
    let pki = TestPki::new("transport-test-root");
    let (transports, collectors) = start_pair(&pki, &rt, ["KORKT", "JPNDO"]);
    // Node 2 (JPNDO) claims to be node 1 in its frames: the server drops the stream.
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.from = 1;
    m.to = 1;
    let forged = WireMessage::Raft(Box::new(m));
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut got = 0;
    while Instant::now() < deadline {
        // Sent through node 2's link to node 1 (the queue is keyed by `to`).
        let _ = transports[&2].send(forged.clone());
        std::thread::sleep(Duration::from_millis(50));
        got += collectors[&1].take().len();
    }
    assert_eq!(
        got, 0,
        "frames whose sender differs from the certificate's node are refused"
    );
}

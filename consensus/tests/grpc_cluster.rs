//! Three nodes on the threaded runtime, talking gRPC over mutual TLS on loopback with
//! OS-chosen ports and RocksDB in temp dirs: election, replication, linearizable reads,
//! leadership transfer, and a follower restart. Waits are bounded and say what they waited
//! for.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::KvMachine;
use consensus::transport::grpc::{GrpcConfig, GrpcTransport};
use consensus::transport::tls::{PeerIdentity, TlsConfig};
use consensus::{Mailbox, Membership, Node, NodeConfig, NodeHandle, RocksEngine, Role};
use settlement::crypto::Role as CertRole;
use settlement::testkit::TestPki;

const TADIGS: [&str; 3] = ["KORKT", "JPNDO", "CHNCM"];

fn tls(pki: &TestPki, tadig: &str) -> TlsConfig {
    let id = pki.issue(tadig, CertRole::Node, (2020, 2039));
    let members: BTreeMap<String, u64> = TADIGS
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i as u64 + 1))
        .collect();
    TlsConfig {
        roots: vec![pki.root_der.clone()],
        cert_chain: vec![id.cert_der],
        key_pkcs8: id.key_pkcs8,
        authorize: Arc::new(move |p: &PeerIdentity| -> Result<u64, String> {
            let t = p.node_tadig().ok_or("no node identity")?;
            members
                .get(t.as_str())
                .copied()
                .ok_or_else(|| "not a member".to_string())
        }),
    }
}

struct Cluster {
    rt: tokio::runtime::Runtime,
    pki: TestPki,
    dirs: Vec<tempfile::TempDir>,
    membership: Membership,
    nodes: BTreeMap<u64, (Node<KvMachine>, Arc<GrpcTransport>)>,
}

impl Cluster {
    fn start() -> Cluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let pki = TestPki::new("grpc-cluster-root");
        let mut c = Cluster {
            rt,
            pki,
            dirs: (0..3).map(|_| tempfile::tempdir().unwrap()).collect(),
            membership: Membership::default(),
            nodes: BTreeMap::new(),
        };
        // Bind every transport first: the bootstrap membership needs the chosen ports.
        let mut pending = Vec::new();
        for id in 1..=3u64 {
            let (mailbox, transport) = c.transport(id, "127.0.0.1:0");
            c.membership.peers.insert(id, transport.local_addr().to_string());
            pending.push((id, mailbox, transport));
        }
        c.membership.conf_state.set_voters(vec![1, 2, 3]);
        for (id, mailbox, transport) in pending {
            c.open(id, mailbox, transport);
        }
        c
    }

    fn transport(&self, id: u64, listen: &str) -> (Mailbox<KvMachine>, Arc<GrpcTransport>) {
        let mailbox = Mailbox::new();
        let cfg = GrpcConfig {
            id,
            listen: listen.parse().unwrap(),
            tls: tls(&self.pki, TADIGS[id as usize - 1]),
        };
        // A restarted node rebinds its old port; the old listener closes asynchronously, so
        // retry briefly.
        let mut tries = 0;
        let t = loop {
            match self
                .rt
                .block_on(GrpcTransport::start(cfg.clone(), mailbox.inbound_sink()))
            {
                Ok(t) => break t,
                Err(e) if tries < 50 => {
                    tries += 1;
                    eprintln!("bind {listen}: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("bind {listen}: {e}"),
            }
        };
        (mailbox, Arc::new(t))
    }

    fn open(&mut self, id: u64, mailbox: Mailbox<KvMachine>, transport: Arc<GrpcTransport>) {
        let mut cfg = NodeConfig::new(id);
        cfg.tick_interval = Duration::from_millis(20);
        // Compact early and cut snapshots small, so a restarted node catches up by a
        // multi-chunk snapshot streamed from the background sender over gRPC.
        cfg.peer.log_retain_entries = 2;
        cfg.peer.log_compact_interval_entries = 5;
        cfg.peer.snapshot_chunk_bytes = 4096;
        let engine = RocksEngine::open(self.dirs[id as usize - 1].path(), true).unwrap();
        let node = Node::start(
            cfg,
            engine,
            transport.clone(),
            mailbox,
            Some(self.membership.clone()),
        )
        .unwrap();
        self.nodes.insert(id, (node, transport));
    }

    fn handle(&self, id: u64) -> NodeHandle<KvMachine> {
        self.nodes[&id].0.handle()
    }

    fn wait(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "{what}: not within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn leader(&self) -> u64 {
        let mut found = 0;
        let mut debug_at = Instant::now() + Duration::from_secs(10);
        self.wait("one leader known to every running node", || {
            let st: Vec<_> = self.nodes.values().map(|(n, _)| n.handle().status()).collect();
            let leaders: Vec<u64> = st
                .iter()
                .filter(|s| s.role == Role::Leader)
                .map(|s| s.id)
                .collect();
            if Instant::now() > debug_at {
                eprintln!("statuses: {st:#?}");
                debug_at = Instant::now() + Duration::from_secs(10);
            }
            if leaders.len() == 1 && st.iter().all(|s| s.leader_id == Some(leaders[0])) {
                found = leaders[0];
                true
            } else {
                false
            }
        });
        found
    }

    fn propose(&self, cmd: &str) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let leader = self.leader();
            match self
                .rt
                .block_on(self.handle(leader).propose(cmd.as_bytes().to_vec()))
            {
                Ok(r) => return r,
                Err(e) if e.is_retryable() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("proposal {cmd} failed: {e}"),
            }
        }
    }

    fn digests_equal(&self) {
        let commit = self.handle(self.leader()).status().commit_index;
        self.wait("every node applies the leader's commit", || {
            self.nodes
                .values()
                .all(|(n, _)| n.handle().status().applied_index >= commit)
        });
        let digests: Vec<Vec<(Vec<u8>, Vec<u8>)>> = self
            .nodes
            .keys()
            .map(|&id| {
                self.rt
                    .block_on(self.handle(id).read(|m: &KvMachine| m.digest()))
                    .unwrap()
            })
            .collect();
        assert!(digests.windows(2).all(|w| w[0] == w[1]), "nodes' states differ");
    }
}

#[test]
fn three_nodes_over_grpc_and_mutual_tls() {
    let mut c = Cluster::start();
    let leader = c.leader();
    for i in 0..20 {
        let r = c.propose(&format!("r{i}:k{i}=v{i}"));
        assert!(r.starts_with(b"ok@"), "{}", String::from_utf8_lossy(&r));
    }
    // A linearizable read on a follower sees the last write.
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let v =
        c.rt.block_on(c.handle(follower).read(|m: &KvMachine| m.value("k19")))
            .unwrap();
    assert_eq!(v.as_deref(), Some("v19"));
    // Followers refuse proposals and name the leader's address.
    match c.rt.block_on(c.handle(follower).propose(b"x:k=v".to_vec())) {
        Err(consensus::ConsensusError::NotLeader {
            leader_id,
            leader_addr,
        }) => {
            assert_eq!(leader_id, Some(leader));
            assert_eq!(
                leader_addr.as_deref(),
                c.membership.peers.get(&leader).map(String::as_str)
            );
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }
    // Transfer leadership.
    c.rt.block_on(c.handle(leader).transfer_leader(follower)).unwrap();
    c.wait("leadership moves", || {
        c.handle(follower).status().role == Role::Leader
    });
    c.propose("after-transfer:k=t");
    // Restart a follower on the same port and directory; it catches up.
    let victim = (1..=3).find(|&i| i != follower).unwrap();
    let (node, transport) = c.nodes.remove(&victim).unwrap();
    let addr = transport.local_addr().to_string();
    let victim_handle = node.handle();
    assert!(node.stop().is_none(), "clean stop");
    // Its last log index, not its applied index: it may hold entries it persisted but had not
    // applied yet, and a compaction that leaves the leader's log starting at one of those
    // still leaves it a log to follow.
    let victim_last = victim_handle.status().last_index;
    drop(victim_handle); // it holds the transport, whose listener must let go of the port
    drop(transport);
    for i in 0..10 {
        c.propose(&format!("while-down{i}:k{i}={}", "d".repeat(1000)));
    }
    // Each node compacts once its state is flushed (in the background), a tick or more
    // after the entries apply; the stopped node can catch up only by snapshot after that.
    // Both running nodes, not only the leader: whichever leads when the node returns must
    // have compacted, or a leadership change in between would let the other send entries
    // from an uncompacted log. (This assertion failed once in CI, cause not found; the
    // message below says more next time.)
    c.wait(
        "both running nodes compact their logs past the stopped node",
        || {
            c.nodes
                .values()
                .all(|(n, _)| n.handle().status().first_index > victim_last + 1)
        },
    );
    let (mailbox, transport) = c.transport(victim, &addr);
    c.open(victim, mailbox, transport);
    c.digests_equal();
    let st = c.handle(victim).status();
    assert!(
        st.snapshots_installed >= 1,
        "the restarted node caught up by snapshot (its last index before the stop: \
         {victim_last}; now: {st:?}; the others' id, role and first index: {:?})",
        c.nodes
            .iter()
            .filter(|(id, _)| **id != victim)
            .map(|(id, (n, _))| {
                let s = n.handle().status();
                (*id, s.role, s.first_index)
            })
            .collect::<Vec<_>>()
    );
    let links = c.handle(follower).links();
    c.wait("links report peers reachable", || {
        c.handle(follower).links().values().all(|l| l.reachable)
    });
    assert_eq!(links.len(), 2);
}

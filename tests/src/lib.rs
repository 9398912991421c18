//! # roamledger-tests: across crates
//!
//! Multi-node integration tests (`tests/` folder of this crate) and the harness they share:
//! [`TestCluster`] starts a consortium of real nodes in one process — RocksDB in a temporary
//! directory, gRPC over loopback with mutual TLS, certificates made by `certs init` — on
//! ports the OS chose (listeners are bound first and handed to the nodes, so no port is
//! ever guessed).
//!
//! Waits are bounded ([`wait_for`]) and fail with a message that says what did not happen.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proto::api as pb;
use proto::api::periods_client::PeriodsClient;
use proto::api::statements_client::StatementsClient;
use roamledger_node::cli::Conn;
use roamledger_node::config::{NodeConfig, PeerConfig, RaftSettings, SigningFiles, TlsFiles};
use roamledger_node::run::{Listeners, RunningNode};
use settlement::crypto::Role;
use settlement::types::{Tadig, UtcTime};
use thiserror::Error;

/// Why the harness could not do what a test asked.
#[derive(Debug, Error)]
pub enum HarnessError {
    /// A node-level failure.
    #[error(transparent)]
    Node(#[from] roamledger_node::error::NodeError),
    /// A bounded wait ran out.
    #[error("timed out after {seconds} s waiting for {what}{}", last.as_deref().map(|l| format!(" (last: {l})")).unwrap_or_default())]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
        /// The last error seen.
        last: Option<String>,
    },
    /// An I/O failure.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Polls `f` every 100 ms until it yields `Some`, for at most `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let started = Instant::now();
    let mut last = None;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
        if started.elapsed() > timeout {
            return Err(HarnessError::Timeout {
                what: what.to_string(),
                seconds: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A consortium of real nodes in this process.
pub struct TestCluster {
    /// Holds every file; removed on drop.
    pub dir: tempfile::TempDir,
    /// The certificates directory.
    pub certs: PathBuf,
    /// Each node's configuration, in node-id order.
    pub configs: Vec<NodeConfig>,
    /// The running nodes (`None` while stopped).
    pub nodes: Vec<Option<RunningNode>>,
}

impl TestCluster {
    /// Certificates, a genesis with `period_seconds` periods (monthly when `None`), and one
    /// running node per carrier.
    pub async fn start(carriers: &[&str], period_seconds: Option<u64>) -> Result<TestCluster, HarnessError> {
        let dir = tempfile::tempdir()?;
        let certs = dir.path().join("certs");
        let tadigs: Vec<Tadig> = carriers.iter().map(|t| t.parse().expect("valid TADIG")).collect();
        roamledger_node::certs::init(&certs, "test", &tadigs, &[], 30)?;
        let genesis = dir.path().join("genesis.bin");
        std::fs::write(
            &genesis,
            roamledger_node::genesis::genesis_envelope(&certs, &tadigs, period_seconds)?,
        )?;
        // Bind every listener first: the OS picks the ports, nothing is guessed.
        let mut listeners = Vec::new();
        for _ in &tadigs {
            listeners.push(Listeners {
                raft: tokio::net::TcpListener::bind("127.0.0.1:0").await?,
                api: tokio::net::TcpListener::bind("127.0.0.1:0").await?,
            });
        }
        let peers: Vec<PeerConfig> = tadigs
            .iter()
            .zip(&listeners)
            .enumerate()
            .map(|(i, (t, l))| PeerConfig {
                node_id: i as u64 + 1,
                tadig: *t,
                raft_address: l.raft.local_addr().expect("bound").to_string(),
                api_address: l.api.local_addr().expect("bound").to_string(),
            })
            .collect();
        let configs: Vec<NodeConfig> = peers
            .iter()
            .map(|p| config_for(dir.path(), &certs, &genesis, p, &peers))
            .collect();
        let mut nodes = Vec::new();
        for (cfg, l) in configs.iter().zip(listeners) {
            nodes.push(Some(
                roamledger_node::run::start_with(cfg.clone(), Some(l)).await?,
            ));
        }
        let cluster = TestCluster {
            dir,
            certs,
            configs,
            nodes,
        };
        cluster.wait_founded().await?;
        Ok(cluster)
    }

    /// A connection to node `i` as its carrier's `role`.
    pub fn conn(&self, i: usize, role: Role) -> Conn {
        Conn {
            node: self.configs[i]
                .peer(self.configs[i].node_id)
                .expect("self is a peer")
                .api_address
                .clone(),
            certs: Some(self.certs.clone()),
            identity: Some(format!("{}:{}", self.configs[i].tadig, role.name())),
            ca: None,
            cert: None,
            key: None,
        }
    }

    /// A connection to node `i` presenting `tadig`'s `role` certificate.
    pub fn conn_as(&self, i: usize, tadig: &str, role: Role) -> Conn {
        Conn {
            identity: Some(format!("{tadig}:{}", role.name())),
            ..self.conn(i, role)
        }
    }

    /// The running node `i`.
    pub fn node(&self, i: usize) -> &RunningNode {
        self.nodes[i].as_ref().expect("node is running")
    }

    /// Waits until every running node has applied the genesis.
    pub async fn wait_founded(&self) -> Result<(), HarnessError> {
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(n) = n else { continue };
            let ledger = n.ledger.clone();
            wait_for(
                &format!("node {i} to apply the genesis"),
                Duration::from_secs(60),
                || {
                    let ledger = ledger.clone();
                    async move {
                        match ledger.read(|m| m.settlement().genesis().is_some()).await {
                            Ok(true) => Ok(Some(())),
                            Ok(false) => Ok(None),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                },
            )
            .await?;
        }
        Ok(())
    }

    /// A carrier joining the running consortium: issues its certificates under the
    /// consortium's root, starts its node in join mode (not a member until the leader adds
    /// it) as node `n + 1`, and returns the node's index and the carrier's signed
    /// registration (JSON) for `Cluster.AddNode`.
    pub async fn start_joining(&mut self, tadig: &str) -> Result<(usize, Vec<u8>), HarnessError> {
        let t: Tadig = tadig.parse().expect("valid TADIG");
        for role in [
            Role::Node,
            Role::Signer,
            Role::Submitter,
            Role::Reader,
            Role::Admin,
        ] {
            roamledger_node::certs::issue(&self.certs, t, role, &[], 30)?;
        }
        let node_id = self.configs.len() as u64 + 1;
        let registration =
            serde_json::to_vec(&roamledger_node::genesis::registration(&self.certs, t, node_id)?)
                .map_err(std::io::Error::other)?;
        let listeners = Listeners {
            raft: tokio::net::TcpListener::bind("127.0.0.1:0").await?,
            api: tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        };
        let me = PeerConfig {
            node_id,
            tadig: t,
            raft_address: listeners.raft.local_addr()?.to_string(),
            api_address: listeners.api.local_addr()?.to_string(),
        };
        let mut peers = self.configs[0].peers.clone();
        peers.push(me.clone());
        let mut cfg = config_for(self.dir.path(), &self.certs, Path::new(""), &me, &peers);
        cfg.genesis = None;
        cfg.join = true;
        let node = roamledger_node::run::start_with(cfg.clone(), Some(listeners)).await?;
        self.configs.push(cfg);
        self.nodes.push(Some(node));
        Ok((self.nodes.len() - 1, registration))
    }

    /// The nodes as the demo's helpers address them.
    pub fn demo_nodes(&self) -> Vec<roamledger_node::demo::DemoNode> {
        self.configs
            .iter()
            .map(|cfg| roamledger_node::demo::DemoNode {
                tadig: cfg.tadig,
                api: cfg.peer(cfg.node_id).expect("self is a peer").api_address.clone(),
            })
            .collect()
    }

    /// Closes every open period once it has ended (as node 0's admin) and waits until every
    /// statement is signed by both parties; returns them.
    pub async fn close_and_cosign(&self) -> Result<Vec<pb::Statement>, HarnessError> {
        let admin = self.conn(0, Role::Admin);
        let periods = PeriodsClient::new(admin.channel().await?)
            .status(pb::PeriodStatusRequest {})
            .await
            .map_err(roamledger_node::error::NodeError::from)?
            .into_inner()
            .periods;
        for p in periods.iter().filter(|p| p.status == "open") {
            let end: UtcTime = p
                .end
                .parse()
                .map_err(|e| HarnessError::Io(std::io::Error::other(format!("{e}"))))?;
            let wait = end.unix_seconds() - roamledger_node::ledger::now().unix_seconds();
            if wait > 0 {
                tokio::time::sleep(Duration::from_secs(wait as u64 + 1)).await;
            }
            PeriodsClient::new(admin.channel().await?)
                .close_period(pb::ClosePeriodRequest {
                    period_start: p.start.clone(),
                })
                .await
                .map_err(roamledger_node::error::NodeError::from)?;
        }
        let readers: Vec<Conn> = (0..self.nodes.len())
            .map(|i| self.conn(i, Role::Reader))
            .collect();
        wait_for(
            "every statement signed by both parties",
            Duration::from_secs(60),
            || {
                let readers = readers.clone();
                async move {
                    let mut all: Vec<pb::Statement> = Vec::new();
                    for r in &readers {
                        let ch = r.channel().await.map_err(|e| e.to_string())?;
                        let list = StatementsClient::new(ch)
                            .list_statements(pb::ListStatementsRequest::default())
                            .await
                            .map_err(|e| e.to_string())?
                            .into_inner()
                            .statements;
                        for s in list {
                            if !all.iter().any(|x| x.hash == s.hash) {
                                all.push(s);
                            }
                        }
                    }
                    Ok((!all.is_empty() && all.iter().all(|s| s.r#final)).then_some(all))
                }
            },
        )
        .await
    }

    /// Stops node `i` gracefully.
    pub async fn stop(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.stop().await;
        }
    }

    /// Restarts node `i` on its configured addresses.
    pub async fn restart(&mut self, i: usize) -> Result<(), HarnessError> {
        let n = roamledger_node::run::start(self.configs[i].clone()).await?;
        self.nodes[i] = Some(n);
        Ok(())
    }

    /// Waits until every running node has applied at least `index`.
    pub async fn wait_applied(&self, index: u64) -> Result<(), HarnessError> {
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(n) = n else { continue };
            let ledger = n.ledger.clone();
            wait_for(
                &format!("node {i} to apply index {index}"),
                Duration::from_secs(60),
                || {
                    let ledger = ledger.clone();
                    async move {
                        let applied = ledger
                            .read(|m| m.settlement().applied_index())
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok((applied >= index).then_some(()))
                    }
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Every running node's (applied index, state digest), once they all applied the same
    /// index.
    pub async fn digests(&self) -> Result<Vec<(u64, settlement::crypto::Hash)>, HarnessError> {
        let mut target = 0;
        for n in self.nodes.iter().flatten() {
            target = target.max(n.ledger.status().commit_index);
        }
        self.wait_applied(target).await?;
        let mut out = Vec::new();
        for n in self.nodes.iter().flatten() {
            let d = n
                .ledger
                .read(|m| {
                    let s = m.settlement();
                    (s.applied_index(), s.state_digest())
                })
                .await?;
            out.push((d.0, d.1.map_err(roamledger_node::error::NodeError::from)?));
        }
        Ok(out)
    }
}

fn config_for(dir: &Path, certs: &Path, genesis: &Path, me: &PeerConfig, peers: &[PeerConfig]) -> NodeConfig {
    let (cert, key) = roamledger_node::certs::cert_paths(certs, me.tadig, Role::Node);
    let (scert, skey) = roamledger_node::certs::cert_paths(certs, me.tadig, Role::Signer);
    NodeConfig {
        tadig: me.tadig,
        node_id: me.node_id,
        data_dir: dir.join("nodes").join(me.tadig.as_str()),
        api_listen: me.api_address.clone(),
        raft_listen: me.raft_address.clone(),
        // Port 0: the OS picks one; `RunningNode::metrics_addr` says which.
        metrics_listen: "127.0.0.1:0".into(),
        genesis: Some(genesis.to_path_buf()),
        join: false,
        tls: TlsFiles {
            ca: roamledger_node::certs::root_path(certs),
            cert,
            key,
        },
        signing: SigningFiles {
            cert: scert,
            key: skey,
        },
        raft: RaftSettings {
            tick_ms: 50,
            election_ticks: 10,
            heartbeat_ticks: 2,
            sync: true,
            ..RaftSettings::default()
        },
        peers: peers.to_vec(),
    }
}

/// Tries to stream Raft messages to `raft_address` as a node of `tadig` (a carrier that is not
/// a member), with a node certificate issued by the consortium's own root. True when the node
/// refused: the handshake may complete (the certificate is genuine), but the stream must not.
pub async fn raft_stream_refused(certs: &Path, tadig: &str, raft_address: &str) -> bool {
    use std::sync::Arc;

    use consensus::transport::tls::TlsConfig;
    use hyper_util::rt::TokioIo;
    use proto::raft_transport::raft_transport_client::RaftTransportClient;

    let tadig: Tadig = tadig.parse().expect("valid TADIG");
    let (cert, key) =
        roamledger_node::certs::issue(certs, tadig, Role::Node, &[], 30).expect("issue a node certificate");
    let tls = TlsConfig {
        roots: vec![
            roamledger_node::certs::read_cert_der(&roamledger_node::certs::root_path(certs)).expect("root"),
        ],
        cert_chain: vec![cert],
        key_pkcs8: key,
        // We only want to reach node 1, whoever it is.
        authorize: Arc::new(|_| Ok(1)),
    };
    let connector = tokio_rustls::TlsConnector::from(tls.client_config(1).expect("client config"));
    let addr = raft_address.to_string();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{raft_address}"))
        .expect("valid URI")
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            let addr = addr.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(&addr).await?;
                let name = rustls::pki_types::ServerName::try_from("roamledger-node").expect("valid name");
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await;
    let Ok(channel) = channel else {
        return true;
    };
    let frame = proto::raft_transport::RaftFrame {
        from: 9,
        to: 1,
        body: None,
    };
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        RaftTransportClient::new(channel).stream(tokio_stream::iter(vec![frame])),
    )
    .await;
    !matches!(r, Ok(Ok(_)))
}

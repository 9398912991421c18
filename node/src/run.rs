//! Starting and stopping a node: storage, Raft transport, consensus, the API server, the
//! metrics endpoint, and the background duties (founding the consortium from a genesis file,
//! co-signing statements, keeping gauges and the Raft member list current).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use consensus::transport::Transport;
use consensus::transport::grpc::{GrpcConfig, GrpcTransport};
use consensus::transport::tls::{Authorizer, PeerIdentity, TlsConfig};
use consensus::{Mailbox, MemberChange, Membership, Node, NodeConfig as ConsensusConfig, RocksEngine};
use settlement::command::{Command, Outcome};
use settlement::config::PeriodId;
use settlement::crypto::{Ed25519Signer, Role, parse_certificate};
use settlement::error::ErrorCode;
use settlement::machine::PeriodStatus;
use settlement::types::Tadig;

use crate::certs::{read_cert_der, read_key_der};
use crate::client::NodeClients;
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::ledger::{Ledger, LedgerMachine};
use crate::limits::SIGN_POLL_MS;
use crate::metrics;
use crate::server::{Api, ApiServer};

/// A running node.
pub struct RunningNode {
    /// Client API address.
    pub api_addr: SocketAddr,
    /// Raft transport address.
    pub raft_addr: SocketAddr,
    /// Metrics address, when enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// The ledger facade.
    pub ledger: Ledger,
    node: Option<Node<LedgerMachine>>,
    api: Option<ApiServer>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _transport: Arc<GrpcTransport>,
}

fn parse_addr(what: &str, s: &str) -> Result<SocketAddr, NodeError> {
    s.parse().map_err(|e| NodeError::Config {
        path: what.into(),
        reason: format!("{s:?}: {e}"),
    })
}

/// Which node ids each carrier's node certificate may speak for: the consortium registry once
/// founded, the configuration before.
type MemberMap = Arc<RwLock<BTreeMap<Tadig, u64>>>;

/// Sockets bound before the node starts (tests bind `127.0.0.1:0` and hand them over, so the
/// OS chooses every port and none is guessed).
pub struct Listeners {
    /// For the Raft transport.
    pub raft: tokio::net::TcpListener,
    /// For the client API.
    pub api: tokio::net::TcpListener,
}

/// Starts a node from its configuration, binding its configured addresses. Must run inside a
/// tokio runtime.
pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
    start_with(config, None).await
}

/// Starts a node on pre-bound listeners (or its configured addresses when `None`).
pub async fn start_with(config: NodeConfig, listeners: Option<Listeners>) -> Result<RunningNode, NodeError> {
    let (raft_listener, api_listener) = match listeners {
        Some(l) => (l.raft, l.api),
        None => {
            let bind = |what: &'static str, a: String| async move {
                let addr = parse_addr(what, &a)?;
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| NodeError::Transport(format!("cannot listen on {addr} ({what}): {e}")))
            };
            (
                bind("raft_listen", config.raft_listen.clone()).await?,
                bind("api_listen", config.api_listen.clone()).await?,
            )
        }
    };
    let root_der = read_cert_der(&config.tls.ca)?;
    let node_cert = read_cert_der(&config.tls.cert)?;
    let node_key = read_key_der(&config.tls.key)?;
    let signing_cert = read_cert_der(&config.signing.cert)?;
    let signer = Ed25519Signer::from_pkcs8(&read_key_der(&config.signing.key)?).map_err(|e| {
        NodeError::Certificates {
            reason: format!("{}: {e}", config.signing.key.display()),
        }
    })?;
    let info = parse_certificate(&signing_cert).map_err(|e| NodeError::Certificates {
        reason: format!("{}: {e}", config.signing.cert.display()),
    })?;
    info.check_identity(config.tadig, Role::Signer)
        .map_err(|e| NodeError::Certificates {
            reason: format!("{}: {e}", config.signing.cert.display()),
        })?;
    if info.public_key != signer.public_key() {
        return Err(NodeError::Certificates {
            reason: format!(
                "{} does not hold the key of {}",
                config.signing.key.display(),
                config.signing.cert.display()
            ),
        });
    }

    std::fs::create_dir_all(&config.data_dir).map_err(|e| NodeError::io(&config.data_dir, e))?;
    let engine = RocksEngine::open(config.data_dir.join("rocksdb"), config.raft.sync)?;

    // Raft transport: mutual TLS; a peer's node certificate must map to the node id it
    // speaks for.
    let members: MemberMap = Arc::new(RwLock::new(
        config.peers.iter().map(|p| (p.tadig, p.node_id)).collect(),
    ));
    let authorize: Authorizer = {
        let members = members.clone();
        Arc::new(move |peer: &PeerIdentity| {
            let tadig = peer
                .node_tadig()
                .ok_or_else(|| "certificate has no node identity".to_string())?;
            members
                .read()
                .expect("members lock")
                .get(&tadig)
                .copied()
                .ok_or_else(|| format!("{tadig} is not a member node of this consortium"))
        })
    };
    let mailbox: Mailbox<LedgerMachine> = Mailbox::new();
    let transport = Arc::new(
        GrpcTransport::start_on(
            raft_listener,
            GrpcConfig {
                id: config.node_id,
                listen: parse_addr("raft_listen", &config.raft_listen)?,
                tls: TlsConfig {
                    roots: vec![root_der.clone()],
                    cert_chain: vec![node_cert.clone()],
                    key_pkcs8: node_key.clone(),
                    authorize,
                },
            },
            mailbox.inbound_sink(),
        )
        .await?,
    );
    let raft_addr = transport.local_addr();
    let mut bootstrap = Membership::default();
    let mut voters: Vec<u64> = config.peers.iter().map(|p| p.node_id).collect();
    voters.sort_unstable();
    bootstrap.conf_state.set_voters(voters);
    bootstrap.peers = config
        .peers
        .iter()
        .map(|p| (p.node_id, p.raft_address.clone()))
        .collect();
    let peer = config.peer_config();
    let node = Node::start(
        ConsensusConfig {
            peer,
            tick_interval: Duration::from_millis(config.raft.tick_ms),
        },
        engine,
        transport.clone(),
        mailbox,
        // A joining node takes its membership from the leader (snapshot and log).
        (!config.join).then_some(bootstrap),
    )?;
    if config.join {
        // Until the leader's snapshot brings the membership, a joining node knows the other
        // members' addresses only from its configuration; it needs them to answer.
        for p in config.peers.iter().filter(|p| p.node_id != config.node_id) {
            transport.set_peer(p.node_id, &p.raft_address);
        }
    }
    let ledger = Ledger::new(node.handle(), config.clone(), signer, NodeClients::new(&config)?);
    let api = ApiServer::start(
        Api::new(ledger.clone(), vec![root_der]),
        api_listener,
        &node_cert,
        &node_key,
    )
    .await?;
    let api_addr = api.local_addr;
    let mut tasks = Vec::new();
    let metrics_addr = if config.metrics_listen.is_empty() {
        None
    } else {
        let (addr, task) = metrics::serve(parse_addr("metrics_listen", &config.metrics_listen)?)
            .await
            .map_err(|e| NodeError::Transport(format!("metrics listener {}: {e}", config.metrics_listen)))?;
        tasks.push(task);
        Some(addr)
    };
    if let Some(path) = &config.genesis {
        let bytes = std::fs::read(path).map_err(|e| NodeError::io(path, e))?;
        tasks.push(tokio::spawn(found_consortium(ledger.clone(), bytes)));
    }
    tasks.push(tokio::spawn(co_sign(ledger.clone())));
    tasks.push(tokio::spawn(watch_status(ledger.clone(), members)));
    tracing::info!(
        tadig = %config.tadig,
        node = config.node_id,
        %api_addr,
        %raft_addr,
        "node started"
    );
    Ok(RunningNode {
        api_addr,
        raft_addr,
        metrics_addr,
        ledger,
        node: Some(node),
        api: Some(api),
        tasks,
        _transport: transport,
    })
}

impl RunningNode {
    /// Graceful stop: stop accepting calls and let in-flight ones finish (their proposals
    /// complete), then stop the background duties and the Raft driver (which syncs).
    pub async fn stop(mut self) {
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(node) = self.node.take() {
            let stopped = tokio::task::spawn_blocking(move || node.stop()).await;
            if let Ok(Some(e)) = stopped {
                tracing::error!(error = %e, "node had stopped with an error");
            }
        }
    }
}

/// Proposes the genesis command until the consortium is founded. The lowest node id of the
/// configuration proposes at once; the others wait 5 s per rank first, so the log normally
/// carries one genesis, and a founding still happens when the first node is down (a second
/// genesis is refused harmlessly).
async fn found_consortium(ledger: Ledger, envelope: Vec<u8>) {
    let mut ids: Vec<u64> = ledger.config().peers.iter().map(|p| p.node_id).collect();
    ids.sort_unstable();
    let rank = ids.iter().position(|i| *i == ledger.handle().id()).unwrap_or(0) as u64;
    tokio::time::sleep(Duration::from_secs(5 * rank)).await;
    loop {
        match ledger.read(|m| m.settlement().genesis().is_some()).await {
            Ok(true) => return,
            Ok(false) => match ledger.propose_envelope(envelope.clone()).await {
                Ok(Outcome::GenesisApplied { consortium }) => {
                    tracing::info!(%consortium, "consortium founded");
                    return;
                }
                Ok(Outcome::Rejected(r)) if r.code == ErrorCode::GenesisState => return,
                Ok(o) => {
                    tracing::error!(outcome = ?o, "genesis was not applied");
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "genesis not proposed yet"),
            },
            Err(e) => tracing::debug!(error = %e, "waiting for a leader to found the consortium"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Statements of closed periods that `me` is party to and has not signed yet.
fn unsigned(m: &LedgerMachine, me: Tadig) -> Vec<(PeriodId, Tadig, Tadig, Vec<u8>)> {
    let s = m.settlement();
    let mut out = Vec::new();
    for p in s.periods().values().filter(|p| p.status == PeriodStatus::Closed) {
        for e in s.statements(p.id).unwrap_or_default() {
            let st = e.statement();
            if (st.visited == me || st.home == me) && !e.signatures.contains_key(&me) {
                out.push((p.id, st.visited, st.home, e.bytes));
            }
        }
    }
    out
}

/// Signs, as this carrier, every statement it is party to once its period closed. The
/// statement was produced by this node's own replica of the ledger, byte-identical on every
/// node; its totals are checked once more before signing.
async fn co_sign(ledger: Ledger) {
    let me = ledger.tadig();
    loop {
        tokio::time::sleep(Duration::from_millis(SIGN_POLL_MS)).await;
        let Ok(todo) = ledger.read(move |m| unsigned(m, me)).await else {
            continue;
        };
        for (period, visited, home, bytes) in todo {
            let statement = match settlement::statement::ClearingStatement::from_canonical_bytes(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(%period, %visited, %home, error = %e, "stored statement does not parse; not signing");
                    continue;
                }
            };
            if let Err(e) = statement.check_consistency() {
                tracing::error!(%period, %visited, %home, error = %e, "statement inconsistent; not signing");
                continue;
            }
            let signature = ledger
                .signer()
                .sign(settlement::crypto::Domain::Statement, &bytes);
            let cmd = Command::SignStatement(settlement::command::SignStatement {
                period,
                visited,
                home,
                signer: me,
                signature,
            });
            match ledger.propose(cmd).await {
                Ok(Outcome::StatementSigned { is_final, .. }) => {
                    tracing::info!(%period, %visited, %home, is_final, "statement signed");
                }
                Ok(Outcome::Rejected(r)) if r.code == ErrorCode::StatementAlreadySigned => {}
                Ok(o) => tracing::warn!(%period, %visited, %home, outcome = ?o, "signature not applied"),
                Err(e) => tracing::debug!(%period, %visited, %home, error = %e, "signature not proposed yet"),
            }
        }
    }
}

/// Keeps the Raft gauges current and the member map in line with the registry.
async fn watch_status(ledger: Ledger, members: MemberMap) {
    loop {
        let status = ledger.status();
        let links: Vec<(u64, bool)> = ledger
            .handle()
            .links()
            .into_iter()
            .map(|(id, l)| (id, l.reachable))
            .collect();
        metrics::record_status(&status, &links);
        if let Ok(registry) = ledger
            .read(|m| {
                let s = m.settlement();
                let founded = s.genesis().is_some();
                let members: BTreeMap<Tadig, u64> = s
                    .carriers()
                    .values()
                    .filter(|c| c.is_active())
                    .map(|c| (c.registration.tadig, c.registration.node_id))
                    .collect();
                let (mut pending, mut finals) = (0i64, 0i64);
                for p in s.periods().keys() {
                    for e in s.statements(*p).unwrap_or_default() {
                        if e.is_final() {
                            finals += 1;
                        } else {
                            pending += 1;
                        }
                    }
                }
                (founded, members, pending, finals)
            })
            .await
        {
            let (founded, registered, pending, finals) = registry;
            metrics::METRICS
                .statements
                .with_label_values(&["pending"])
                .set(pending);
            metrics::METRICS
                .statements
                .with_label_values(&["final"])
                .set(finals);
            if founded {
                *members.write().expect("members lock") = registered;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Adds node `id` as a learner, waits until it has caught up with the commit index, then
/// promotes it to voter.
pub async fn add_node(ledger: &Ledger, id: u64, raft_address: String) -> Result<(), NodeError> {
    ledger
        .handle()
        .change_membership(vec![MemberChange::AddLearner {
            id,
            address: raft_address.clone(),
        }])
        .await?;
    for _ in 0..600 {
        let s = ledger.status();
        let caught_up = s
            .progress
            .get(&id)
            .is_some_and(|p| p.matched + 1 >= s.commit_index);
        if caught_up {
            ledger
                .handle()
                .change_membership(vec![MemberChange::AddVoter {
                    id,
                    address: raft_address,
                }])
                .await?;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(NodeError::Transport(format!(
        "node {id} joined as a learner but did not catch up within 60 s; it stays a learner"
    )))
}

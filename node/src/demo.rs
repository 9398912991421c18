//! `roamledger demo`: a local three-carrier consortium, end to end.
//!
//! Starts KORKT, JPNDO and CHNCM nodes on loopback with freshly generated certificates,
//! registers agreements between every pair through the API, generates TAP3 traffic for every
//! ordered pair, submits it through each visited carrier's own node, closes the period(s),
//! waits for both parties' signatures, prints the statements and the netting, verifies
//! everything offline, and says where the files are.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use carrier_adapters::tap::generate::{GeneratorConfig, generate_bytes};
use clap::Args;
use proto::api as pb;
use proto::api::agreements_client::AgreementsClient;
use proto::api::periods_client::PeriodsClient;
use proto::api::statements_client::StatementsClient;
use settlement::agreement::{Agreement, Tariff, Tolerance};
use settlement::types::{Amount, Currency, Scale, ServiceKind, Tadig, UtcTime};

use crate::cli::{Conn, out, table};
use crate::config::{NodeConfig, PeerConfig, RaftSettings, SigningFiles, TlsFiles};
use crate::error::NodeError;
use crate::ledger::now;
use crate::limits::GRPC_MESSAGE_BYTES_MAX;
use crate::run::Listeners;

/// The demo's carriers.
pub const CARRIERS: [&str; 3] = ["KORKT", "JPNDO", "CHNCM"];

/// Marker file that lets the demo replace its own data directory and nothing else.
const MARKER: &str = ".roamledger-demo";

/// `roamledger demo` options.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Where certificates, node data, TAP files and statements go (replaced if it holds an
    /// earlier demo).
    #[arg(long, default_value = "demo-data")]
    pub data_dir: PathBuf,
    /// Call events generated in total, spread over the six ordered pairs.
    #[arg(long, default_value_t = 300_000)]
    pub events: u32,
    /// Call events per TAP file.
    #[arg(long, default_value_t = 10_000)]
    pub events_per_file: u32,
    /// Clearing period length in seconds (short, so the demo can close one).
    #[arg(long, default_value_t = 30)]
    pub period_seconds: u64,
    /// Stop the nodes when done instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

fn tadig(s: &str) -> Tadig {
    s.parse().expect("demo TADIG codes are valid")
}

/// Replaces `dir` if it is an earlier demo's; refuses anything else.
fn fresh_dir(dir: &Path) -> Result<(), NodeError> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(NodeError::Input(format!(
                "{} exists and is not a demo directory; choose another --data-dir",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir).map_err(|e| NodeError::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, e))?;
    std::fs::write(
        dir.join(MARKER),
        b"roamledger demo data; `roamledger demo` replaces this directory\n",
    )
    .map_err(|e| NodeError::io(dir, e))
}

/// The demo's agreement `home` <- `visited`: the tariffs the traffic generator prices with,
/// so re-rating agrees with the declared charges; the tolerance absorbs CAMEL invocation
/// fees, which TAP adds on top of the call charge.
pub fn demo_agreement(home: Tadig, visited: Tadig, at: UtcTime) -> Agreement {
    let s3 = Scale::new(3).expect("valid");
    let price = |p: &str| Amount::parse_at(p, s3).expect("valid price");
    let per_minute = |service, p: &str| Tariff {
        service,
        price: price(p),
        unit_size: 60,
        minimum_units: 60,
        increment_units: 60,
    };
    let per_event = |service, p: &str| Tariff {
        service,
        price: price(p),
        unit_size: 1,
        minimum_units: 1,
        increment_units: 1,
    };
    Agreement {
        home,
        visited,
        valid_from: UtcTime::from_unix_seconds(at.unix_seconds() - 90 * 86_400),
        valid_until: UtcTime::from_unix_seconds(at.unix_seconds() + 365 * 86_400),
        currency: Currency::SDR,
        tariffs: vec![
            per_minute(ServiceKind::VoiceOriginated, "0.150"),
            per_minute(ServiceKind::VoiceTerminated, "0.060"),
            per_event(ServiceKind::SmsOriginated, "0.120"),
            per_event(ServiceKind::SmsTerminated, "0"),
            Tariff {
                service: ServiceKind::Data,
                price: price("0.010"),
                unit_size: 100_000,
                minimum_units: 100_000,
                increment_units: 100_000,
            },
            per_minute(ServiceKind::MobileSession, "0.100"),
            per_event(ServiceKind::SupplementaryService, "0.050"),
        ],
        tolerance: Tolerance {
            absolute: price("0.025"),
            relative_bps: 100,
        },
    }
}

/// A node as the demo (and tests) address it.
#[derive(Clone, Debug)]
pub struct DemoNode {
    /// Its carrier.
    pub tadig: Tadig,
    /// Its client API address.
    pub api: String,
}

/// A connection to `node` as its carrier's `role`, with certificates from `certs`.
pub fn conn(certs: &Path, node: &DemoNode, role: &str) -> Conn {
    Conn {
        node: node.api.clone(),
        certs: Some(certs.to_path_buf()),
        identity: Some(format!("{}:{role}", node.tadig)),
        ca: None,
        cert: None,
        key: None,
    }
}

/// Writes the node configurations for the bound listeners; returns them.
fn node_configs(
    dir: &Path,
    certs: &Path,
    genesis: &Path,
    listeners: &[Listeners],
) -> Result<Vec<NodeConfig>, NodeError> {
    let addr = |l: &tokio::net::TcpListener| {
        l.local_addr()
            .map(|a| a.to_string())
            .map_err(|e| NodeError::Transport(e.to_string()))
    };
    let mut peers = Vec::new();
    for (i, (t, l)) in CARRIERS.iter().zip(listeners).enumerate() {
        peers.push(PeerConfig {
            node_id: i as u64 + 1,
            tadig: tadig(t),
            raft_address: addr(&l.raft)?,
            api_address: addr(&l.api)?,
        });
    }
    let mut out_cfgs = Vec::new();
    std::fs::create_dir_all(dir.join("nodes")).map_err(|e| NodeError::io(dir, e))?;
    for p in &peers {
        let (cert, key) = crate::certs::cert_paths(certs, p.tadig, settlement::crypto::Role::Node);
        let (scert, skey) = crate::certs::cert_paths(certs, p.tadig, settlement::crypto::Role::Signer);
        let cfg = NodeConfig {
            tadig: p.tadig,
            node_id: p.node_id,
            data_dir: dir.join("nodes").join(p.tadig.as_str()),
            api_listen: p.api_address.clone(),
            raft_listen: p.raft_address.clone(),
            metrics_listen: "127.0.0.1:0".into(),
            genesis: Some(genesis.to_path_buf()),
            join: false,
            tls: TlsFiles {
                ca: crate::certs::root_path(certs),
                cert,
                key,
            },
            signing: SigningFiles {
                cert: scert,
                key: skey,
            },
            raft: RaftSettings::default(),
            peers: peers.clone(),
        };
        let path = dir.join("nodes").join(format!("{}.toml", p.tadig));
        let text = toml::to_string_pretty(&cfg).map_err(|e| NodeError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|e| NodeError::io(&path, e))?;
        out_cfgs.push(NodeConfig::load(&path)?);
    }
    Ok(out_cfgs)
}

/// Retries `f` until it succeeds or `timeout` passes.
async fn until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T, NodeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, NodeError>>,
{
    let started = Instant::now();
    let mut last = String::new();
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e.to_string(),
        }
        if started.elapsed() > timeout {
            return Err(NodeError::Transport(format!(
                "{what}: not done after {} s{}",
                timeout.as_secs(),
                if last.is_empty() {
                    String::new()
                } else {
                    format!(" (last error: {last})")
                }
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Puts [`demo_agreement`]s in force between every ordered pair through the API: the visited
/// network's admin proposes on its node, the home network's admin accepts on its own.
pub async fn register_agreements(certs: &Path, nodes: &[DemoNode], at: UtcTime) -> Result<(), NodeError> {
    for v in nodes {
        for h in nodes {
            if v.tadig == h.tadig {
                continue;
            }
            let a = demo_agreement(h.tadig, v.tadig, at);
            let json = serde_json::to_vec(&a).expect("agreements serialize");
            let id = AgreementsClient::new(conn(certs, v, "admin").channel().await?)
                .propose_agreement(pb::ProposeAgreementRequest { agreement_json: json })
                .await?
                .into_inner()
                .id;
            AgreementsClient::new(conn(certs, h, "admin").channel().await?)
                .accept_agreement(pb::AgreementRef { id })
                .await?;
        }
    }
    Ok(())
}

/// Runs the demo; returns the exit code.
pub async fn run(args: DemoArgs) -> Result<i32, NodeError> {
    let started = Instant::now();
    let dir = args.data_dir.clone();
    fresh_dir(&dir)?;
    let dir = dir.canonicalize().map_err(|e| NodeError::io(&dir, e))?;
    let certs = dir.join("certs");
    let carriers: Vec<Tadig> = CARRIERS.iter().map(|t| tadig(t)).collect();
    crate::certs::init(&certs, "roamledger demo", &carriers, &[], 30)?;
    let genesis = dir.join("genesis.bin");
    std::fs::write(
        &genesis,
        crate::genesis::genesis_envelope(&certs, &carriers, Some(args.period_seconds))?,
    )
    .map_err(|e| NodeError::io(&genesis, e))?;
    // Listeners first: the OS picks every port.
    let mut listeners = Vec::new();
    for _ in CARRIERS {
        let bind = || async {
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| NodeError::Transport(format!("cannot listen on loopback: {e}")))
        };
        listeners.push(Listeners {
            raft: bind().await?,
            api: bind().await?,
        });
    }
    let configs = node_configs(&dir, &certs, &genesis, &listeners)?;
    out(&format!(
        "starting {} nodes under {}",
        configs.len(),
        dir.display()
    ));
    let mut running = Vec::new();
    for (cfg, l) in configs.clone().into_iter().zip(listeners) {
        running.push(crate::run::start_with(cfg, Some(l)).await?);
    }
    let nodes: Vec<DemoNode> = configs
        .iter()
        .zip(&running)
        .map(|(c, r)| DemoNode {
            tadig: c.tadig,
            api: r.api_addr.to_string(),
        })
        .collect();

    // The consortium is founded once a leader applied the genesis.
    until("founding the consortium", Duration::from_secs(30), || async {
        let ok = running[0]
            .ledger
            .read(|m| m.settlement().genesis().is_some())
            .await?;
        Ok(ok.then_some(()))
    })
    .await?;

    register_agreements(&certs, &nodes, now()).await?;
    out("agreements in force between every pair");

    // Traffic: TAP files per ordered pair, events starting ten days ago.
    let tap_dir = dir.join("tap");
    let pairs: Vec<(usize, usize)> = (0..nodes.len())
        .flat_map(|v| (0..nodes.len()).filter(move |h| *h != v).map(move |h| (v, h)))
        .collect();
    let per_pair = (args.events / pairs.len() as u32).max(1);
    let per_file = args.events_per_file.clamp(1, per_pair);
    let start_day = UtcTime::from_unix_seconds(now().unix_seconds() - 10 * 86_400).to_civil();
    let mut files: Vec<Vec<PathBuf>> = vec![Vec::new(); nodes.len()];
    let mut seed = 1u64;
    for &(v, h) in &pairs {
        let mut left = per_pair;
        let mut fsn = 1u32;
        while left > 0 {
            let n = left.min(per_file);
            let mut cfg = GeneratorConfig::new(nodes[v].tadig, nodes[h].tadig, n, seed);
            cfg.file_sequence_number = fsn;
            cfg.start = start_day;
            let bytes = generate_bytes(&cfg).map_err(|e| NodeError::Input(e.to_string()))?;
            let name = carrier_adapters::filename::FileName::tap(nodes[v].tadig, nodes[h].tadig, fsn, false)
                .map_err(|e| NodeError::Input(e.to_string()))?
                .to_string();
            let path = tap_dir.join(nodes[v].tadig.as_str()).join(name);
            std::fs::create_dir_all(path.parent().expect("has a parent"))
                .map_err(|e| NodeError::io(&path, e))?;
            std::fs::write(&path, bytes).map_err(|e| NodeError::io(&path, e))?;
            files[v].push(path);
            left -= n;
            fsn += 1;
            seed += 1;
        }
    }
    out(&format!(
        "generated {} TAP files ({} call events) under {}",
        files.iter().map(Vec::len).sum::<usize>(),
        per_pair as usize * pairs.len(),
        tap_dir.display()
    ));

    // Each visited carrier submits through its own node, all three at once.
    let ingest_started = Instant::now();
    let mut tasks = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let c = conn(&certs, n, "submitter");
        let list = files[i].clone();
        let rap_dir = dir.join("rap").join(n.tadig.as_str());
        let quiet = args.quiet;
        tasks.push(tokio::spawn(async move {
            crate::submit::submit(&c, &list, None, Some(&rap_dir), quiet).await
        }));
    }
    for t in tasks {
        let code = t.await.map_err(|e| NodeError::Transport(e.to_string()))??;
        if code != 0 {
            return Err(NodeError::Input("a submission failed (see above)".into()));
        }
    }
    let ingest = ingest_started.elapsed();
    out(&format!(
        "ingested {} events in {:.1?} through the visited carriers' nodes",
        per_pair as usize * pairs.len(),
        ingest
    ));

    // Close every period with traffic once it has ended.
    let admin = conn(&certs, &nodes[0], "admin");
    let periods = PeriodsClient::new(admin.channel().await?)
        .status(pb::PeriodStatusRequest {})
        .await?
        .into_inner()
        .periods;
    for p in periods.iter().filter(|p| p.status == "open") {
        let end: UtcTime = p
            .end
            .parse()
            .map_err(|e| NodeError::Input(format!("period end: {e}")))?;
        let wait = end.unix_seconds() - now().unix_seconds();
        if wait > 0 {
            out(&format!("waiting {wait} s for the period {} to end", p.start));
            tokio::time::sleep(Duration::from_secs(wait as u64 + 1)).await;
        }
        PeriodsClient::new(admin.channel().await?)
            .close_period(pb::ClosePeriodRequest {
                period_start: p.start.clone(),
            })
            .await?;
    }

    // Both parties' nodes sign each statement.
    let readers: Vec<Conn> = nodes.iter().map(|n| conn(&certs, n, "reader")).collect();
    let statements = until("co-signing every statement", Duration::from_secs(60), || {
        let readers = readers.clone();
        async move {
            let mut all = Vec::new();
            for r in &readers {
                let list = StatementsClient::new(r.channel().await?)
                    .list_statements(pb::ListStatementsRequest::default())
                    .await?
                    .into_inner()
                    .statements;
                for s in list {
                    if !all.iter().any(|x: &pb::Statement| x.hash == s.hash) {
                        all.push(s);
                    }
                }
            }
            Ok((!all.is_empty() && all.iter().all(|s| s.r#final)).then_some(all))
        }
    })
    .await?;

    // Export, print and verify offline.
    let st_dir = dir.join("statements");
    std::fs::create_dir_all(&st_dir).map_err(|e| NodeError::io(&st_dir, e))?;
    let mut exported = Vec::new();
    let mut rows = Vec::new();
    let mut period_starts: Vec<String> = Vec::new();
    for s in &statements {
        let visited_node = nodes
            .iter()
            .position(|n| n.tadig.as_str() == s.visited)
            .expect("a demo carrier");
        let r = StatementsClient::new(readers[visited_node].channel().await?)
            .max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX)
            .export_statement(pb::ExportStatementRequest {
                period_start: s.period_start.clone(),
                visited: s.visited.clone(),
                home: s.home.clone(),
                format: pb::export_statement_request::Format::Json as i32,
            })
            .await?
            .into_inner();
        let path = st_dir.join(format!(
            "{}-{}-{}.json",
            s.period_start.replace(':', ""),
            s.visited,
            s.home
        ));
        std::fs::write(&path, &r.content).map_err(|e| NodeError::io(&path, e))?;
        let (bytes, _) = crate::cli::read_statement_export(&path)?;
        let st = settlement::statement::ClearingStatement::from_canonical_bytes(&bytes)
            .map_err(|e| NodeError::Input(e.to_string()))?;
        rows.push(vec![
            s.period_start.clone(),
            format!("{}->{}", st.visited, st.home),
            st.accepted.count.to_string(),
            st.accepted.charge.to_string(),
            st.accepted.tax.to_string(),
            format!(
                "{} ({})",
                st.rejected.count,
                st.services.iter().map(|l| l.flagged_count).sum::<u64>()
            ),
            st.amount_due.to_string(),
            if s.r#final {
                "both".into()
            } else {
                "partial".into()
            },
        ]);
        if !period_starts.contains(&s.period_start) {
            period_starts.push(s.period_start.clone());
        }
        exported.push(path);
    }
    out("");
    out(&table(
        &[
            "period",
            "visited->home",
            "records",
            "charge SDR",
            "tax SDR",
            "rejected (flagged)",
            "amount due",
            "signed",
        ],
        &rows,
    ));
    let mut netting_files = Vec::new();
    for p in &period_starts {
        let n = StatementsClient::new(readers[0].channel().await?)
            .get_netting(pb::GetNettingRequest {
                period_start: p.clone(),
            })
            .await?
            .into_inner();
        let path = st_dir.join(format!("{}-netting.json", p.replace(':', "")));
        std::fs::write(&path, &n.canonical_json).map_err(|e| NodeError::io(&path, e))?;
        let report = settlement::statement::NettingReport::from_canonical_bytes(&n.canonical_json)
            .map_err(|e| NodeError::Input(e.to_string()))?;
        out("");
        out(&format!("netting for the period starting {p}"));
        let rows: Vec<Vec<String>> = report
            .multilateral
            .iter()
            .map(|m| {
                vec![
                    m.carrier.to_string(),
                    m.receivable.to_string(),
                    m.payable.to_string(),
                    m.net.to_string(),
                ]
            })
            .collect();
        out(&table(
            &["carrier", "receivable", "payable", "net position"],
            &rows,
        ));
        let rows: Vec<Vec<String>> = report
            .bilateral
            .iter()
            .map(|b| {
                let (payer, payee, amount) = if b.net_to_a.minor() >= 0 {
                    (b.b, b.a, b.net_to_a)
                } else {
                    (b.a, b.b, b.net_to_a.checked_neg().unwrap_or(b.net_to_a))
                };
                vec![
                    format!("{}/{}", b.a, b.b),
                    format!("{payer} pays {payee}"),
                    amount.to_string(),
                ]
            })
            .collect();
        out(&table(&["pair", "bilateral settlement", "SDR"], &rows));
        netting_files.push(path);
    }
    out("");
    let mut verified = 0;
    for p in &period_starts {
        let files: Vec<PathBuf> = exported
            .iter()
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&p.replace(':', "")))
            })
            .cloned()
            .collect();
        let netting = netting_files.iter().find(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&p.replace(':', "")))
        });
        if crate::commands::verify(&files, &certs, netting.map(PathBuf::as_path), true)? != 0 {
            return Err(NodeError::Input("offline verification failed (see above)".into()));
        }
        verified += files.len();
    }
    out(&format!(
        "\nverified {verified} statements offline (canonical bytes, totals, both signatures, netting sums to zero) in {:.0?} total",
        started.elapsed()
    ));
    out(&format!(
        "\nfiles: certificates {}, node configs {}, TAP {}, RAP {}, statements {}",
        certs.display(),
        dir.join("nodes").display(),
        tap_dir.display(),
        dir.join("rap").display(),
        st_dir.display()
    ));
    if args.exit {
        for r in running {
            r.stop().await;
        }
        out("stopped the nodes (--exit); the files stay until the next demo replaces them");
        return Ok(0);
    }
    let example = &nodes[0];
    out(&format!(
        "query the cluster, e.g.:\n  roamledger statements list --node {} --certs {} --as {}:reader\n  roamledger cluster status --node {} --certs {} --as {}:admin\n  metrics: http://{}/metrics",
        example.api,
        certs.display(),
        example.tadig,
        example.api,
        certs.display(),
        example.tadig,
        running[0].metrics_addr.map(|a| a.to_string()).unwrap_or_default()
    ));
    out("\nthe consortium keeps running; press Ctrl-C to stop it");
    crate::commands::shutdown_signal().await;
    for r in running {
        r.stop().await;
    }
    out("stopped");
    Ok(0)
}

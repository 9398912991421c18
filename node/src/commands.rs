//! What each subcommand does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proto::api as pb;
use proto::api::agreements_client::AgreementsClient;
use proto::api::cluster_client::ClusterClient;
use proto::api::disputes_client::DisputesClient;
use proto::api::periods_client::PeriodsClient;
use proto::api::statements_client::StatementsClient;
use settlement::crypto::Hash;
use settlement::statement::{ClearingStatement, NettingReport, verify_chain, verify_statement};

use crate::cli::*;
use crate::error::NodeError;
use crate::limits::GRPC_MESSAGE_BYTES_MAX;

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32, NodeError> {
    match cli.command {
        Cmd::Node { config } => run_node(&config).await,
        Cmd::Certs(CertsCmd::Init {
            out: dir,
            carriers,
            consortium,
            hosts,
            days,
        }) => {
            let r = crate::certs::init(&dir, &consortium, &carriers, &hosts, days)?;
            out(&format!(
                "wrote {} files; consortium root {}",
                r.files.len(),
                r.root.display()
            ));
            Ok(0)
        }
        Cmd::Certs(CertsCmd::Registration {
            certs,
            carrier,
            node_id,
            out: path,
        }) => {
            let r = crate::genesis::registration(&certs, carrier, node_id)?;
            let json = serde_json::to_vec_pretty(&r).map_err(|e| NodeError::Input(e.to_string()))?;
            std::fs::write(&path, json).map_err(|e| NodeError::io(&path, e))?;
            out(&format!(
                "wrote {carrier}'s registration as node {node_id} to {}",
                path.display()
            ));
            Ok(0)
        }
        Cmd::Certs(CertsCmd::Issue {
            certs,
            carrier,
            role,
            hosts,
            days,
        }) => {
            let role = settlement::crypto::Role::from_name(&role).ok_or_else(|| {
                NodeError::Input(format!(
                    "--role {role:?}: node, signer, submitter, reader or admin"
                ))
            })?;
            crate::certs::issue(&certs, carrier, role, &hosts, days)?;
            let (c, _) = crate::certs::cert_paths(&certs, carrier, role);
            out(&format!("issued {}", c.display()));
            Ok(0)
        }
        Cmd::Genesis {
            certs,
            carriers,
            period_seconds,
            out: path,
        } => {
            let bytes = crate::genesis::genesis_envelope(&certs, &carriers, period_seconds)?;
            std::fs::write(&path, bytes).map_err(|e| NodeError::io(&path, e))?;
            out(&format!(
                "wrote the genesis of {} carriers to {}",
                carriers.len(),
                path.display()
            ));
            Ok(0)
        }
        Cmd::Submit {
            conn,
            paths,
            format,
            rap_dir,
            quiet,
        } => crate::submit::submit(&conn, &paths, format, rap_dir.as_deref(), quiet).await,
        Cmd::ClosePeriod { conn, period } => {
            let mut c = PeriodsClient::new(conn.channel().await?);
            let r = c
                .close_period(pb::ClosePeriodRequest { period_start: period })
                .await?
                .into_inner();
            out(&table(
                &["period", "visited", "home", "amount due", "status", "hash"],
                &statement_rows(&r.statements),
            ));
            out(&format!("netting report {}", r.netting_hash));
            Ok(0)
        }
        Cmd::Periods { conn } => {
            let mut c = PeriodsClient::new(conn.channel().await?);
            let r = c.status(pb::PeriodStatusRequest {}).await?.into_inner();
            let rows: Vec<Vec<String>> = r
                .periods
                .iter()
                .map(|p| {
                    vec![
                        p.start.clone(),
                        p.end.clone(),
                        p.status.clone(),
                        format!("{}/{}", p.final_statements, p.statements),
                    ]
                })
                .collect();
            out(&table(&["start", "end", "status", "final statements"], &rows));
            out(&format!("ledger time {}", r.ledger_time));
            Ok(0)
        }
        Cmd::Statements(s) => statements(s).await,
        Cmd::Verify {
            files,
            certs,
            netting,
            require_final,
        } => verify(&files, &certs, netting.as_deref(), require_final),
        Cmd::Proof {
            conn,
            record,
            out: path,
        } => {
            let mut c = StatementsClient::new(conn.channel().await?)
                .max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX);
            let p = c
                .get_record_proof(pb::GetRecordProofRequest { record_id: record })
                .await?
                .into_inner();
            let doc = serde_json::json!({
                "record_id": p.record_id,
                "period_start": p.period_start,
                "leaf_data": hex::encode(&p.leaf_data),
                "leaf_index": p.leaf_index,
                "tree_size": p.tree_size,
                "path": p.path.iter().map(hex::encode).collect::<Vec<_>>(),
                "root": hex::encode(&p.root),
                "statement_hash": p.statement_hash,
            });
            let bytes = serde_json::to_vec_pretty(&doc).expect("JSON values serialize");
            std::fs::write(&path, bytes).map_err(|e| NodeError::io(&path, e))?;
            out(&format!(
                "wrote the proof of {} to {}",
                p.record_id,
                path.display()
            ));
            Ok(0)
        }
        Cmd::VerifyProof { file, statement } => verify_proof(&file, statement.as_deref()),
        Cmd::Disputes(d) => disputes(d).await,
        Cmd::Agreements(a) => agreements(a).await,
        Cmd::Cluster(c) => cluster(c).await,
        Cmd::Audit { data_dir } => crate::audit::audit(&data_dir),
        Cmd::Tap(TapCmd::Decode { file }) => {
            let bytes = std::fs::read(&file).map_err(|e| NodeError::io(&file, e))?;
            Ok(emit(carrier_adapters::cli::tap_decode(&bytes)))
        }
        Cmd::Tap(TapCmd::Generate {
            from,
            to,
            events,
            seed,
            sequence,
            start,
            out,
        }) => {
            let start = start.unwrap_or_else(|| {
                settlement::types::UtcTime::from_unix_seconds(
                    crate::ledger::now().unix_seconds() - 10 * 86_400,
                )
            });
            // A TAP-style output name supplies the sequence number and must agree with the rest.
            let named = match out.is_dir() {
                true => None,
                false => out
                    .file_name()
                    .and_then(|n| carrier_adapters::filename::FileName::parse(&n.to_string_lossy()).ok()),
            };
            let sequence = sequence.or(named.as_ref().map(|n| n.sequence));
            match carrier_adapters::cli::tap_generate(&from, &to, events, seed, sequence, Some(start)) {
                Ok(g) => {
                    if let Some(n) = &named
                        && (n.sender.as_str() != from || n.recipient.as_str() != to)
                    {
                        return Err(NodeError::Input(format!(
                            "--out {}: the name says {}->{}, the file would be {from}->{to}",
                            out.display(),
                            n.sender,
                            n.recipient
                        )));
                    }
                    let path = if out.is_dir() { out.join(&g.file_name) } else { out };
                    std::fs::write(&path, &g.bytes).map_err(|e| NodeError::io(&path, e))?;
                    Ok(emit(g.output))
                }
                Err(o) => Ok(emit(o)),
            }
        }
        Cmd::Rap(DecodeCmd::Decode { file }) => {
            let bytes = std::fs::read(&file).map_err(|e| NodeError::io(&file, e))?;
            Ok(emit(carrier_adapters::cli::rap_decode(&bytes)))
        }
        Cmd::Nrtrde(DecodeCmd::Decode { file }) => {
            let bytes = std::fs::read(&file).map_err(|e| NodeError::io(&file, e))?;
            Ok(emit(carrier_adapters::cli::nrtrde_decode(&bytes)))
        }
        Cmd::Demo(args) => crate::demo::run(args).await,
    }
}

/// Prints an adapter command's output; returns its exit code.
#[allow(clippy::print_stdout)]
fn emit(o: carrier_adapters::cli::CommandOutput) -> i32 {
    print!("{}", o.stdout);
    eprint!("{}", o.stderr);
    o.exit_code
}

async fn run_node(config: &Path) -> Result<i32, NodeError> {
    let cfg = crate::config::NodeConfig::load(config)?;
    let node = crate::run::start(cfg).await?;
    out(&format!(
        "node {} listening: API {} (mutual TLS), Raft {}{}",
        node.ledger.tadig(),
        node.api_addr,
        node.raft_addr,
        node.metrics_addr
            .map(|a| format!(", metrics http://{a}/metrics"))
            .unwrap_or_default()
    ));
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight calls");
    node.stop().await;
    Ok(0)
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn statements(cmd: StatementsCmd) -> Result<i32, NodeError> {
    let client = |ch| StatementsClient::new(ch).max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX);
    match cmd {
        StatementsCmd::List { conn, period } => {
            let r = client(conn.channel().await?)
                .list_statements(pb::ListStatementsRequest {
                    period_start: period.unwrap_or_default(),
                })
                .await?
                .into_inner();
            out(&table(
                &["period", "visited", "home", "amount due", "status", "hash"],
                &statement_rows(&r.statements),
            ));
        }
        StatementsCmd::Get { conn, which } => {
            let s = client(conn.channel().await?)
                .get_statement(pb::GetStatementRequest {
                    period_start: which.period,
                    visited: which.visited,
                    home: which.home,
                })
                .await?
                .into_inner();
            out(&String::from_utf8_lossy(&s.canonical_json));
        }
        StatementsCmd::Watch { conn, existing } => {
            let mut stream = client(conn.channel().await?)
                .watch_statements(pb::WatchStatementsRequest {
                    include_existing: existing,
                })
                .await?
                .into_inner();
            while let Some(ev) = stream.message().await? {
                let kind = pb::statement_event::Kind::try_from(ev.kind)
                    .map(|k| k.as_str_name().to_lowercase())
                    .unwrap_or_default();
                if let Some(s) = ev.statement {
                    out(&format!(
                        "{kind:8} {} {}->{} due {} ({}/2 signed) {}",
                        s.period_start,
                        s.visited,
                        s.home,
                        s.amount_due,
                        s.signatures.len(),
                        s.hash
                    ));
                }
            }
        }
        StatementsCmd::Export {
            conn,
            which,
            format,
            out: path,
        } => {
            let r = client(conn.channel().await?)
                .export_statement(pb::ExportStatementRequest {
                    period_start: which.period,
                    visited: which.visited,
                    home: which.home,
                    format: match format {
                        ExportFormat::Json => pb::export_statement_request::Format::Json,
                        ExportFormat::Csv => pb::export_statement_request::Format::Csv,
                    } as i32,
                })
                .await?
                .into_inner();
            write_out(path.as_deref(), &r.content)?;
        }
        StatementsCmd::Netting {
            conn,
            period,
            out: path,
        } => {
            let r = client(conn.channel().await?)
                .get_netting(pb::GetNettingRequest { period_start: period })
                .await?
                .into_inner();
            write_out(path.as_deref(), &r.canonical_json)?;
        }
    }
    Ok(0)
}

/// `verify`: every statement file, the chain, and the netting.
pub fn verify(
    files: &[PathBuf],
    certs: &Path,
    netting: Option<&Path>,
    require_final: bool,
) -> Result<i32, NodeError> {
    let root = crate::certs::read_cert_der(&crate::certs::root_path(certs))?;
    let signers = signer_certificates(certs)?;
    let mut statements: Vec<ClearingStatement> = Vec::new();
    let mut failures = 0;
    for f in files {
        let (bytes, sigs) = read_statement_export(f)?;
        match verify_statement(&bytes, &sigs, &signers, std::slice::from_ref(&root)) {
            Ok(v) => {
                let s = v.statement();
                let fin = v.is_final();
                out(&format!(
                    "ok    {} {} {}->{} due {} {} (signed by {})",
                    f.display(),
                    s.period_start,
                    s.visited,
                    s.home,
                    s.amount_due,
                    if fin { "final" } else { "NOT FINAL" },
                    v.signed_by()
                        .iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if require_final && !fin {
                    failures += 1;
                }
                statements.push(s.clone());
            }
            Err(e) => {
                out(&format!("FAIL  {}: {e}", f.display()));
                failures += 1;
            }
        }
    }
    // Chains: statements of the same pair, in period order.
    let mut by_pair: BTreeMap<(String, String), Vec<ClearingStatement>> = BTreeMap::new();
    for s in &statements {
        by_pair
            .entry((s.visited.to_string(), s.home.to_string()))
            .or_default()
            .push(s.clone());
    }
    for ((v, h), mut list) in by_pair {
        list.sort_by_key(|s| s.period_start);
        if list.len() > 1 {
            match verify_chain(&list) {
                Ok(()) => out(&format!("ok    chain {v}->{h} over {} periods", list.len())),
                Err(e) => {
                    out(&format!("FAIL  chain {v}->{h}: {e}"));
                    failures += 1;
                }
            }
        }
    }
    if let Some(n) = netting {
        let bytes = std::fs::read(n).map_err(|e| NodeError::io(n, e))?;
        let report = NettingReport::from_canonical_bytes(&bytes)
            .map_err(|e| NodeError::Input(format!("{}: {e}", n.display())))?;
        let mut of_period: Vec<ClearingStatement> = statements
            .iter()
            .filter(|s| s.period_start == report.period_start)
            .cloned()
            .collect();
        of_period.sort_by_key(|s| (s.visited, s.home));
        match report.verify(&of_period) {
            Ok(()) => out(&format!(
                "ok    netting {} over {} statements; positions sum to zero",
                report.period_start,
                of_period.len()
            )),
            Err(e) => {
                out(&format!("FAIL  netting {}: {e}", n.display()));
                failures += 1;
            }
        }
    }
    Ok(if failures == 0 { 0 } else { 1 })
}

fn verify_proof(file: &Path, statement: Option<&Path>) -> Result<i32, NodeError> {
    let text = std::fs::read(file).map_err(|e| NodeError::io(file, e))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| NodeError::Input(format!("{}: {e}", file.display())))?;
    let hex_field = |k: &str| -> Result<Vec<u8>, NodeError> {
        hex::decode(v.get(k).and_then(|x| x.as_str()).unwrap_or(""))
            .map_err(|e| NodeError::Input(format!("{}: {k}: {e}", file.display())))
    };
    let hash_of = |b: Vec<u8>, k: &str| -> Result<Hash, NodeError> {
        Ok(Hash(b.try_into().map_err(|_| {
            NodeError::Input(format!("{}: {k} is not 32 bytes", file.display()))
        })?))
    };
    let leaf = hex_field("leaf_data")?;
    let root = hash_of(hex_field("root")?, "root")?;
    let path = v
        .get("path")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| {
            let b =
                hex::decode(h.as_str().unwrap_or("")).map_err(|e| NodeError::Input(format!("path: {e}")))?;
            hash_of(b, "path element")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let proof = settlement::merkle::InclusionProof {
        leaf_index: v.get("leaf_index").and_then(|x| x.as_u64()).unwrap_or(u64::MAX),
        tree_size: v.get("tree_size").and_then(|x| x.as_u64()).unwrap_or(0),
        path,
    };
    let record = settlement::codec::Decode::from_bytes(&leaf, "record")
        .map(|r: settlement::types::UsageRecord| {
            format!("{} {}->{} {} {}", r.start, r.visited, r.home, r.service, r.charge)
        })
        .map_err(|e| NodeError::Input(format!("{}: leaf_data is not a record: {e}", file.display())))?;
    if let Err(e) = settlement::merkle::verify_inclusion(&settlement::merkle::leaf_hash(&leaf), &proof, &root)
    {
        out(&format!("FAIL  {}: {e}", file.display()));
        return Ok(1);
    }
    out(&format!(
        "ok    record {record} is leaf {} of {} under root {root}",
        proof.leaf_index, proof.tree_size
    ));
    if let Some(st) = statement {
        let (bytes, _) = read_statement_export(st)?;
        let s =
            ClearingStatement::from_canonical_bytes(&bytes).map_err(|e| NodeError::Input(e.to_string()))?;
        if s.records_root != root || s.tree_size != proof.tree_size {
            out(&format!(
                "FAIL  the statement's root {} over {} records is not the proof's",
                s.records_root, s.tree_size
            ));
            return Ok(1);
        }
        out(&format!(
            "ok    the root is the records_root of statement {}",
            s.hash()
        ));
    }
    Ok(0)
}

async fn disputes(cmd: DisputesCmd) -> Result<i32, NodeError> {
    match cmd {
        DisputesCmd::Reject {
            conn,
            records,
            reason,
            text,
        } => {
            let r = DisputesClient::new(conn.channel().await?)
                .reject_records(pb::RejectRecordsRequest {
                    items: records
                        .into_iter()
                        .map(|record_id| pb::DisputeItem {
                            record_id,
                            reason: reason.clone(),
                            text: text.clone(),
                        })
                        .collect(),
                })
                .await?
                .into_inner();
            out(&format!(
                "{} disputed in their period, {} as adjustments in the current period",
                r.in_period, r.adjustments
            ));
        }
        DisputesCmd::List { conn, which } => {
            let r = DisputesClient::new(conn.channel().await?)
                .list_disputes(pb::ListDisputesRequest {
                    period_start: which.period,
                    visited: which.visited,
                    home: which.home,
                })
                .await?
                .into_inner();
            let rows: Vec<Vec<String>> = r
                .disputes
                .iter()
                .map(|d| {
                    vec![
                        d.record_id.clone(),
                        d.reason.clone(),
                        d.raised_at.clone(),
                        if d.adjustment {
                            "adjustment".into()
                        } else {
                            "in period".into()
                        },
                        d.text.clone(),
                    ]
                })
                .collect();
            out(&table(&["record", "reason", "raised", "counted", "text"], &rows));
        }
    }
    Ok(0)
}

async fn agreements(cmd: AgreementsCmd) -> Result<i32, NodeError> {
    let show = |a: &pb::Agreement| {
        format!(
            "{} proposed by {} {}\n{}",
            a.id,
            a.proposer,
            if a.accepted {
                "IN FORCE"
            } else {
                "awaiting acceptance"
            },
            String::from_utf8_lossy(&a.agreement_json)
        )
    };
    match cmd {
        AgreementsCmd::Propose { conn, file } => {
            let json = std::fs::read(&file).map_err(|e| NodeError::io(&file, e))?;
            let r = AgreementsClient::new(conn.channel().await?)
                .propose_agreement(pb::ProposeAgreementRequest { agreement_json: json })
                .await?
                .into_inner();
            out(&format!("proposed agreement {}", r.id));
        }
        AgreementsCmd::Accept { conn, id } => {
            let a = AgreementsClient::new(conn.channel().await?)
                .accept_agreement(pb::AgreementRef { id })
                .await?
                .into_inner();
            out(&show(&a));
        }
        AgreementsCmd::Get { conn, id } => {
            let a = AgreementsClient::new(conn.channel().await?)
                .get_agreement(pb::GetAgreementRequest { id })
                .await?
                .into_inner();
            out(&show(&a));
        }
        AgreementsCmd::List { conn } => {
            let r = AgreementsClient::new(conn.channel().await?)
                .list_agreements(pb::ListAgreementsRequest {})
                .await?
                .into_inner();
            for a in &r.agreements {
                out(&show(a));
            }
        }
    }
    Ok(0)
}

fn cluster_table(s: &pb::ClusterStatus) -> String {
    let rows: Vec<Vec<String>> = s
        .members
        .iter()
        .map(|m| {
            vec![
                m.node_id.to_string(),
                m.tadig.clone(),
                m.role.clone(),
                if m.node_id == s.leader_id {
                    "leader".into()
                } else {
                    String::new()
                },
                if m.reachable { "up".into() } else { "DOWN".into() },
                m.raft_address.clone(),
                m.api_address.clone(),
            ]
        })
        .collect();
    format!(
        "node {} ({}) term {} leader {} commit {} applied {}\nledger head {}\n{}",
        s.node_id,
        s.tadig,
        s.term,
        s.leader_id,
        s.commit_index,
        s.applied_index,
        s.ledger_head,
        table(&["id", "carrier", "role", "", "link", "raft", "api"], &rows)
    )
}

async fn cluster(cmd: ClusterCmd) -> Result<i32, NodeError> {
    let status = match cmd {
        ClusterCmd::Status { conn } => ClusterClient::new(conn.channel().await?)
            .status(pb::ClusterStatusRequest {})
            .await?
            .into_inner(),
        ClusterCmd::Add {
            conn,
            id,
            raft_address,
            api_address,
            registration,
        } => ClusterClient::new(conn.channel().await?)
            .add_node(pb::AddNodeRequest {
                node_id: id,
                raft_address,
                api_address,
                registration: match registration {
                    Some(p) => std::fs::read(&p).map_err(|e| NodeError::io(&p, e))?,
                    None => Vec::new(),
                },
            })
            .await?
            .into_inner()
            .status
            .unwrap_or_default(),
        ClusterCmd::Remove { conn, id } => ClusterClient::new(conn.channel().await?)
            .remove_node(pb::RemoveNodeRequest { node_id: id })
            .await?
            .into_inner()
            .status
            .unwrap_or_default(),
        ClusterCmd::TransferLeader { conn, to } => ClusterClient::new(conn.channel().await?)
            .transfer_leadership(pb::TransferLeadershipRequest { node_id: to })
            .await?
            .into_inner()
            .status
            .unwrap_or_default(),
    };
    out(&cluster_table(&status));
    Ok(0)
}

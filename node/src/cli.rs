//! The `roamledger` command line: run a node, make certificates, talk to a node, verify
//! statements and proofs offline, decode carrier files, run the demo.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use proto::api as pb;
use settlement::crypto::Role;
use settlement::types::{Tadig, UtcTime};

use crate::client::{ClientIdentity, connect};
use crate::error::{NodeError, detail_of};

/// roamledger: real-time roaming settlement between carriers.
#[derive(Parser, Debug)]
#[command(name = "roamledger", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `roamledger_node=debug`.
    #[arg(long, global = true, env = "ROAMLEDGER_LOG", default_value = "warn")]
    pub log: String,
    /// Subcommand.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Where and as whom to connect.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// The node's client API address.
    #[arg(long, env = "ROAMLEDGER_NODE", default_value = "127.0.0.1:7401")]
    pub node: String,
    /// A certificates directory made by `certs init` (with `--as`).
    #[arg(long, env = "ROAMLEDGER_CERTS")]
    pub certs: Option<PathBuf>,
    /// Identity within `--certs`: `TADIG:ROLE`, e.g. `KORKT:submitter`.
    #[arg(long = "as", env = "ROAMLEDGER_AS")]
    pub identity: Option<String>,
    /// Consortium root certificate (PEM), instead of `--certs`.
    #[arg(long, env = "ROAMLEDGER_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), instead of `--certs`/`--as`.
    #[arg(long, env = "ROAMLEDGER_CERT")]
    pub cert: Option<PathBuf>,
    /// Client key (PEM), instead of `--certs`/`--as`.
    #[arg(long, env = "ROAMLEDGER_KEY")]
    pub key: Option<PathBuf>,
}

impl Conn {
    /// The client identity these options name.
    pub fn identity(&self) -> Result<ClientIdentity, NodeError> {
        let (ca, cert, key) = match (&self.certs, &self.identity) {
            (Some(dir), Some(who)) => {
                let (t, r) = who.split_once(':').ok_or_else(|| {
                    NodeError::Input(format!(
                        "--as {who:?}: expected TADIG:ROLE such as KORKT:submitter"
                    ))
                })?;
                let tadig: Tadig = t.parse().map_err(|e| NodeError::Input(format!("--as: {e}")))?;
                let role = Role::from_name(r).ok_or_else(|| {
                    NodeError::Input(format!(
                        "--as: unknown role {r:?} (node, submitter, reader, admin)"
                    ))
                })?;
                let (c, k) = crate::certs::cert_paths(dir, tadig, role);
                (crate::certs::root_path(dir), c, k)
            }
            _ => match (&self.ca, &self.cert, &self.key) {
                (Some(a), Some(c), Some(k)) => (a.clone(), c.clone(), k.clone()),
                _ => {
                    return Err(NodeError::Input(
                        "name a client identity: --certs DIR --as TADIG:ROLE, or --ca, --cert and --key"
                            .into(),
                    ));
                }
            },
        };
        ClientIdentity::from_files(&ca, &cert, &key)
    }

    /// A channel to the node.
    pub async fn channel(&self) -> Result<tonic::transport::Channel, NodeError> {
        connect(&self.node, &self.identity()?).await
    }
}

/// Input file formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// GSMA TAP 3.11/3.12 BER.
    Tap,
    /// CSV with the documented columns.
    Csv,
    /// TMF635 Usage JSON.
    Json,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Runs a node from its configuration file.
    Node {
        /// The node's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Certificates.
    #[command(subcommand)]
    Certs(CertsCmd),
    /// Writes a genesis file founding a consortium of the carriers in a certificates
    /// directory (each registration signed with that carrier's signing key).
    Genesis {
        /// Certificates directory from `certs init`.
        #[arg(long)]
        certs: PathBuf,
        /// Founding carriers in node-id order (node ids 1, 2, ...).
        #[arg(long, value_delimiter = ',', required = true)]
        carriers: Vec<Tadig>,
        /// Clearing period length in seconds; monthly periods when absent.
        #[arg(long)]
        period_seconds: Option<u64>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Submits usage files (TAP3, CSV, TMF635 JSON) or directories of them.
    Submit {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Format, when the file name does not tell.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write RAP files returned for TAP input into this directory.
        #[arg(long)]
        rap_dir: Option<PathBuf>,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Closes a clearing period (admin).
    ClosePeriod {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// The period's start (RFC 3339), as `statements list` or `periods` show it.
        #[arg(long)]
        period: String,
    },
    /// Periods and how far their statements are signed.
    Periods {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
    },
    /// Statements.
    #[command(subcommand)]
    Statements(StatementsCmd),
    /// Verifies statement files (from `statements export --format json`) offline: canonical
    /// form, totals, both signatures, the chain between periods, and a netting report.
    Verify {
        /// Statement export files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Certificates directory with the consortium root and each party's signer.pem.
        #[arg(long)]
        certs: PathBuf,
        /// A netting report (from `statements netting`) to check against the statements.
        #[arg(long)]
        netting: Option<PathBuf>,
        /// Fail unless every statement is final (signed by both parties).
        #[arg(long)]
        require_final: bool,
    },
    /// Fetches the inclusion proof of a record into a file.
    Proof {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Record id `BATCH:INDEX`.
        #[arg(long)]
        record: String,
        /// Output file (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Verifies a proof file offline, optionally against a statement export.
    VerifyProof {
        /// The proof file from `proof`.
        file: PathBuf,
        /// A statement export whose records_root the proof must reach.
        #[arg(long)]
        statement: Option<PathBuf>,
    },
    /// Disputes (the home network rejects records).
    #[command(subcommand)]
    Disputes(DisputesCmd),
    /// Agreements.
    #[command(subcommand)]
    Agreements(AgreementsCmd),
    /// The Raft group.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Recomputes the ledger's Merkle roots, leaf hashes, statement chain and netting from a
    /// stopped node's storage and reports any mismatch.
    Audit {
        /// The node's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// TAP3 files.
    #[command(subcommand)]
    Tap(TapCmd),
    /// RAP files.
    #[command(subcommand)]
    Rap(DecodeCmd),
    /// NRTRDE files.
    #[command(subcommand)]
    Nrtrde(DecodeCmd),
    /// Runs a local three-carrier consortium end to end and prints verified statements.
    Demo(crate::demo::DemoArgs),
}

/// `certs` subcommands.
#[derive(Subcommand, Debug)]
pub enum CertsCmd {
    /// Makes a consortium root and every carrier's node, signer, submitter, reader and admin
    /// certificates.
    Init {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Carriers.
        #[arg(long, value_delimiter = ',', required = true)]
        carriers: Vec<Tadig>,
        /// Consortium name.
        #[arg(long, default_value = "roamledger")]
        consortium: String,
        /// Extra host names or addresses for node certificates.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// Validity of carrier certificates, in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// Writes a joining carrier's registration (TADIG, Raft node id, signing certificate),
    /// signed with its signing key, for `cluster add --registration`.
    Registration {
        /// Certificates directory holding the carrier's signer certificate and key.
        #[arg(long)]
        certs: PathBuf,
        /// The carrier.
        #[arg(long)]
        carrier: Tadig,
        /// The Raft node id its node will have.
        #[arg(long)]
        node_id: u64,
        /// Output file (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Issues one more certificate under an existing root (a carrier joining, a key rotation).
    Issue {
        /// Certificates directory holding ca.pem and ca.key.pem.
        #[arg(long)]
        certs: PathBuf,
        /// The carrier.
        #[arg(long)]
        carrier: Tadig,
        /// The role: node, signer, submitter, reader or admin.
        #[arg(long)]
        role: String,
        /// Extra host names or addresses (node certificates).
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
}

/// `statements` subcommands.
#[derive(Subcommand, Debug)]
pub enum StatementsCmd {
    /// Lists statements.
    List {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Only this period.
        #[arg(long)]
        period: Option<String>,
    },
    /// Prints one statement's canonical JSON.
    Get {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Which statement.
        #[command(flatten)]
        which: Which,
    },
    /// Prints statements as they are created, signed and become final.
    Watch {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Also print the statements that already exist.
        #[arg(long)]
        existing: bool,
    },
    /// Exports a statement as JSON (with signatures, for `verify`) or CSV.
    Export {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Which statement.
        #[command(flatten)]
        which: Which,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Output file (stdout when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Writes a closed period's netting report (canonical JSON).
    Netting {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// The period's start.
        #[arg(long)]
        period: String,
        /// Output file (stdout when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Which statement.
#[derive(Args, Debug, Clone)]
pub struct Which {
    /// Period start (RFC 3339).
    #[arg(long)]
    pub period: String,
    /// Visited network.
    #[arg(long)]
    pub visited: String,
    /// Home network.
    #[arg(long)]
    pub home: String,
}

/// Export formats.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ExportFormat {
    /// Canonical statement with signatures.
    Json,
    /// One line per service.
    Csv,
}

/// `disputes` subcommands.
#[derive(Subcommand, Debug)]
pub enum DisputesCmd {
    /// Disputes records billed to your carrier (admin).
    Reject {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Record ids `BATCH:INDEX`.
        #[arg(long, value_delimiter = ',', required = true)]
        records: Vec<String>,
        /// Reason code.
        #[arg(long, default_value = "other")]
        reason: String,
        /// Free text.
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Lists the disputes counted in a statement.
    List {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Which statement.
        #[command(flatten)]
        which: Which,
    },
}

/// `agreements` subcommands.
#[derive(Subcommand, Debug)]
pub enum AgreementsCmd {
    /// Proposes an agreement from a JSON file (admin of a party).
    Propose {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// The agreement JSON.
        file: PathBuf,
    },
    /// Accepts an agreement the other party proposed (admin).
    Accept {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Agreement id (hex).
        id: String,
    },
    /// Prints one agreement.
    Get {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Agreement id (hex).
        id: String,
    },
    /// Lists your carrier's agreements.
    List {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
    },
}

/// `cluster` subcommands.
#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Term, leader, indexes, members and their reachability.
    Status {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
    },
    /// Adds a node (learner first, promoted once caught up).
    Add {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Its Raft id.
        #[arg(long)]
        id: u64,
        /// Its Raft address.
        #[arg(long)]
        raft_address: String,
        /// Its client API address.
        #[arg(long, default_value = "")]
        api_address: String,
        /// A joining carrier's signed registration (from `certs registration`).
        #[arg(long)]
        registration: Option<PathBuf>,
    },
    /// Removes a node.
    Remove {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// Its Raft id.
        #[arg(long)]
        id: u64,
    },
    /// Transfers leadership.
    TransferLeader {
        /// How to reach the node.
        #[command(flatten)]
        conn: Conn,
        /// The new leader's Raft id.
        #[arg(long)]
        to: u64,
    },
}

/// `tap` subcommands.
#[derive(Subcommand, Debug)]
pub enum TapCmd {
    /// Decodes and validates a TAP file; prints JSON.
    Decode {
        /// The file.
        file: PathBuf,
    },
    /// Generates a valid TAP file.
    Generate {
        /// Sender (visited network).
        #[arg(long)]
        from: String,
        /// Recipient (home network).
        #[arg(long)]
        to: String,
        /// Call events.
        #[arg(long, default_value_t = 100)]
        events: u32,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// File sequence number (1..=99999); default: the one in `--out`'s name when it is a
        /// TAP file name, else 1.
        #[arg(long)]
        sequence: Option<u32>,
        /// The first event's time, UTC (`2026-11-20` or `2026-11-20T08:00:00Z`); the events
        /// follow within about a day. Default: ten days ago, well inside the ledger's
        /// 30-day event age limit.
        #[arg(long, value_parser = parse_start)]
        start: Option<UtcTime>,
        /// Output file, or a directory to write the conventionally named file into.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `rap`/`nrtrde` subcommands.
#[derive(Subcommand, Debug)]
pub enum DecodeCmd {
    /// Decodes a file; prints JSON.
    Decode {
        /// The file.
        file: PathBuf,
    },
}

/// Prints a line to stdout (the command line's output).
#[allow(clippy::print_stdout)]
pub fn out(s: &str) {
    println!("{s}");
}

/// Writes `bytes` to `path`, or stdout.
pub fn write_out(path: Option<&Path>, bytes: &[u8]) -> Result<(), NodeError> {
    match path {
        Some(p) => std::fs::write(p, bytes).map_err(|e| NodeError::io(p, e)),
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(bytes)
                .map_err(|e| NodeError::io(Path::new("<stdout>"), e))
        }
    }
}

/// Turns a status into an error message with its stable code and any leader hint.
pub fn explain(status: &tonic::Status) -> String {
    match detail_of(status) {
        Some(d) if !d.code.is_empty() => {
            let mut s = format!("{}: {}", d.code, d.message);
            if !d.leader_address.is_empty() {
                s.push_str(&format!(
                    " (leader: node {} at {})",
                    d.leader_id, d.leader_address
                ));
            }
            s
        }
        _ => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// A table with aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == cells.len() {
                    c.to_string()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Reads a statement export file: (canonical bytes, signatures).
pub fn read_statement_export(
    path: &Path,
) -> Result<(Vec<u8>, Vec<settlement::statement::PartySignature>), NodeError> {
    let text = std::fs::read(path).map_err(|e| NodeError::io(path, e))?;
    let v: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| NodeError::Input(format!("{}: not JSON: {e}", path.display())))?;
    let statement = v
        .get("statement")
        .ok_or_else(|| NodeError::Input(format!("{}: no \"statement\" member", path.display())))?;
    let bytes = settlement::canonical::to_canonical(statement);
    let mut sigs = Vec::new();
    for s in v
        .get("signatures")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default()
    {
        let party: Tadig = s
            .get("party")
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .parse()
            .map_err(|e| NodeError::Input(format!("{}: signature party: {e}", path.display())))?;
        let signature = hex::decode(s.get("signature").and_then(|p| p.as_str()).unwrap_or(""))
            .map_err(|e| NodeError::Input(format!("{}: signature of {party}: {e}", path.display())))?;
        sigs.push(settlement::statement::PartySignature { party, signature });
    }
    Ok((bytes, sigs))
}

/// The signing certificates of a certificates directory, by carrier.
pub fn signer_certificates(certs: &Path) -> Result<BTreeMap<Tadig, Vec<u8>>, NodeError> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(certs).map_err(|e| NodeError::io(certs, e))? {
        let entry = entry.map_err(|e| NodeError::io(certs, e))?;
        let Ok(tadig) = entry.file_name().to_string_lossy().parse::<Tadig>() else {
            continue;
        };
        let (cert, _) = crate::certs::cert_paths(certs, tadig, Role::Signer);
        if cert.exists() {
            out.insert(tadig, crate::certs::read_cert_der(&cert)?);
        }
    }
    Ok(out)
}

/// Statement rows for a table.
pub fn statement_rows(list: &[pb::Statement]) -> Vec<Vec<String>> {
    list.iter()
        .map(|s| {
            vec![
                s.period_start.clone(),
                s.visited.clone(),
                s.home.clone(),
                s.amount_due.clone(),
                if s.r#final {
                    "final".into()
                } else {
                    format!("{}/2 signed", s.signatures.len())
                },
                s.hash[..16.min(s.hash.len())].to_string(),
            ]
        })
        .collect()
}

/// `--start`: an RFC 3339 UTC time, or a date meaning its midnight UTC.
fn parse_start(s: &str) -> Result<UtcTime, String> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    full.parse().map_err(|e| {
        format!("{s:?} is neither a date (2026-11-20) nor a UTC time (2026-11-20T08:00:00Z): {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_takes_a_date_or_a_utc_time_and_names_what_it_refuses() {
        let t = |s: &str| parse_start(s).map(|t| t.to_string());
        assert_eq!(t("2026-11-20").unwrap(), "2026-11-20T00:00:00Z");
        assert_eq!(t("2026-11-20T08:30:00Z").unwrap(), "2026-11-20T08:30:00Z");
        let e = t("2026-13-20").unwrap_err();
        assert!(e.contains("\"2026-13-20\"") && e.contains("month"), "{e}");
    }
}

//! Prometheus metrics, served over plain HTTP at `/metrics`.
//!
//! Metrics live in the process's default registry: one node per process in production.
//! (Tests that run several nodes in one process see their sum.)

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, TextEncoder,
    register_histogram, register_histogram_vec, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec,
};
use settlement::command::Outcome;

/// Every metric of the node.
pub struct Metrics {
    /// Records ingested (accepted) and rejected, by code.
    pub records: IntCounterVec,
    /// Batches applied, by result.
    pub batches: IntCounterVec,
    /// Records per batch.
    pub batch_records: Histogram,
    /// Time to apply one command, by command.
    pub apply_seconds: HistogramVec,
    /// Time from proposal to outcome, by command.
    pub commit_seconds: HistogramVec,
    /// Raft term.
    pub term: IntGauge,
    /// Leader id as this node sees it (0 when unknown).
    pub leader: IntGauge,
    /// Commit index.
    pub commit_index: IntGauge,
    /// Applied index.
    pub applied_index: IntGauge,
    /// Committed entries queued for applying while a duplicate-index seal catches up.
    pub unapplied_entries: IntGauge,
    /// Peer reachability (1 reachable, 0 not), by peer id.
    pub peer_reachable: IntGaugeVec,
    /// Statements by status (pending, final).
    pub statements: IntGaugeVec,
}

fn buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.000_05, 2.0, 20).expect("valid buckets")
}

/// The node's metrics (registered on first use).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    records: register_int_counter_vec!(
        Opts::new(
            "roamledger_records_total",
            "Records applied, by result (accepted or the rejection code)"
        ),
        &["result"]
    )
    .expect("register"),
    batches: register_int_counter_vec!(
        Opts::new("roamledger_batches_total", "Batches applied, by result"),
        &["result"]
    )
    .expect("register"),
    batch_records: register_histogram!(
        HistogramOpts::new("roamledger_batch_records", "Records per applied batch")
            .buckets(prometheus::exponential_buckets(1.0, 2.0, 15).expect("valid buckets"))
    )
    .expect("register"),
    apply_seconds: register_histogram_vec!(
        HistogramOpts::new("roamledger_apply_seconds", "Time to apply one command").buckets(buckets()),
        &["command"]
    )
    .expect("register"),
    commit_seconds: register_histogram_vec!(
        HistogramOpts::new(
            "roamledger_commit_seconds",
            "Time from proposal to applied outcome"
        )
        .buckets(buckets()),
        &["command"]
    )
    .expect("register"),
    term: register_int_gauge!("roamledger_raft_term", "Raft term").expect("register"),
    leader: register_int_gauge!("roamledger_raft_leader", "Leader id (0 unknown)").expect("register"),
    commit_index: register_int_gauge!("roamledger_raft_commit_index", "Raft commit index").expect("register"),
    applied_index: register_int_gauge!("roamledger_raft_applied_index", "Raft applied index")
        .expect("register"),
    unapplied_entries: register_int_gauge!(
        "roamledger_raft_unapplied_entries",
        "Committed entries queued for applying (applying waits for duplicate-index seals)"
    )
    .expect("register"),
    peer_reachable: register_int_gauge_vec!(
        Opts::new(
            "roamledger_peer_reachable",
            "1 when the Raft link to the peer is up"
        ),
        &["peer"]
    )
    .expect("register"),
    statements: register_int_gauge_vec!(
        Opts::new("roamledger_statements", "Statements by status"),
        &["status"]
    )
    .expect("register"),
});

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::GenesisApplied { .. } => "genesis",
        Outcome::CarrierRegistered { .. }
        | Outcome::CarrierUpdated { .. }
        | Outcome::CarrierRetired { .. } => "registry",
        Outcome::ConfigSet { .. } => "config",
        Outcome::AgreementProposed { .. } | Outcome::AgreementAccepted { .. } => "agreement",
        Outcome::BatchApplied(_) => "submit_batch",
        Outcome::RecordsDisputed { .. } => "dispute",
        Outcome::PeriodClosed { .. } => "close_period",
        Outcome::StatementSigned { .. } => "sign_statement",
        Outcome::Rejected(_) => "rejected",
    }
}

/// Counts one applied command.
#[allow(clippy::float_arithmetic)]
pub fn record_apply(o: &Outcome, took: Duration) {
    let m = &*METRICS;
    m.apply_seconds
        .with_label_values(&[outcome_name(o)])
        .observe(took.as_secs_f64());
    match o {
        Outcome::BatchApplied(b) if !b.replayed => {
            m.batches.with_label_values(&["accepted"]).inc();
            m.records
                .with_label_values(&["accepted"])
                .inc_by(u64::from(b.accepted));
            for r in &b.rejected {
                m.records.with_label_values(&[r.code.name()]).inc();
            }
            m.batch_records
                .observe(f64::from(b.accepted) + b.rejected.len() as f64);
        }
        Outcome::BatchApplied(_) => m.batches.with_label_values(&["replayed"]).inc(),
        Outcome::Rejected(r) if r.code.severity() == settlement::error::Severity::Fatal => {
            m.batches.with_label_values(&[r.code.name()]).inc();
        }
        _ => {}
    }
}

/// Records how long a proposal took to come back applied.
#[allow(clippy::float_arithmetic)]
pub fn record_commit(command: &'static str, took: Duration) {
    METRICS
        .commit_seconds
        .with_label_values(&[command])
        .observe(took.as_secs_f64());
}

/// Updates the Raft gauges from a status snapshot.
pub fn record_status(s: &consensus::Status, reachable: &[(u64, bool)]) {
    let m = &*METRICS;
    m.term.set(s.term as i64);
    m.leader.set(s.leader_id.unwrap_or(0) as i64);
    m.commit_index.set(s.commit_index as i64);
    m.applied_index.set(s.applied_index as i64);
    m.unapplied_entries.set(s.unapplied_entries as i64);
    for (peer, up) in reachable {
        m.peer_reachable
            .with_label_values(&[&peer.to_string()])
            .set(i64::from(*up));
    }
}

/// The text exposition of every registered metric.
pub fn render() -> Vec<u8> {
    LazyLock::force(&METRICS);
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&prometheus::gather(), &mut out)
        .expect("text encoding to a Vec cannot fail");
    out
}

/// Serves `GET /metrics` on `addr` until the task is dropped. Returns the bound address.
pub async fn serve(addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let (status, body, ctype) = if req.uri().path() == "/metrics" {
                        (200, render(), "text/plain; version=0.0.4")
                    } else {
                        (404, b"try /metrics\n".to_vec(), "text/plain")
                    };
                    hyper::Response::builder()
                        .status(status)
                        .header("content-type", ctype)
                        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok((local, task))
}

//! Cluster benchmark: 3 nodes on the threaded runtime, gRPC over mutual TLS 1.3 on
//! loopback, RocksDB with fsync on, the real settlement machine applying signed
//! `SubmitBatch` commands of 1,000 records.
//!
//! `cargo bench -p consensus --bench cluster` (env: `BENCH_BATCHES`, default 60;
//! `BENCH_IN_FLIGHT`, default 8; `BENCH_RATE`, records/s, default 0 = as fast as the
//! in-flight bound allows; `BENCH_COMPACT_EVERY`, applied entries between log compactions,
//! default the node's: 4,096 entries or 16 MiB of commands, whichever comes first, so about
//! 180 batches; `BENCH_INDEX_ENTRIES`, duplicate-index entries each machine keeps in
//! memory before sealing a run, default the settlement limit; `BENCH_TIMELINE`, a directory:
//! write the latency per 250 ms window and each node's RocksDB LOGs (state and log
//! databases) there; `BENCH_ROCKS_STATS` set: print each
//! node's RocksDB flush and compaction statistics at the end; the nodes' warnings and errors
//! go to stderr, `RUST_LOG` widens them). Prints committed batches/s,
//! records/s, p50/p99 propose-to-applied latency at the leader, the batches over 25 ms,
//! the slowest batch and when
//! it was proposed, the process's CPU time per record (all three nodes and the client, from
//! `/proc/self/stat`) and how it splits over thread groups (Raft ready loops, RocksDB
//! flushes and compactions, duplicate-index sealing and filter builds, tokio; from
//! `/proc/self/task`), and the fsync latency of the disk under the temp dir next to it.
//! The split moves far less between runs than records/s does, so it shows which part a
//! change made cheaper.
//! With a rate, batch `i` is due at `i * 1000 / rate` seconds after the start and its latency
//! counts from then (open loop: time spent waiting for an in-flight slot is included).
#![allow(clippy::float_arithmetic, clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use consensus::transport::grpc::{GrpcConfig, GrpcTransport};
use consensus::transport::tls::{PeerIdentity, TlsConfig};
use consensus::{
    Mailbox, Membership, Node, NodeConfig, RocksEngine, RocksStateStore, Role, StateMachine,
    StateMachineError,
};
use settlement::command::{Command, Outcome};
use settlement::crypto::Role as CertRole;
use settlement::store::ReadStore;
use settlement::testkit::{Fixture, envelope};
use settlement::types::UtcTime;

const TADIGS: [&str; 3] = ["KORKT", "JPNDO", "CHNCM"];
const RECORDS_PER_BATCH: u32 = 1_000;

struct Sm(settlement::machine::SettlementMachine<RocksStateStore>);

impl StateMachine for Sm {
    fn open(store: RocksStateStore) -> Result<Self, StateMachineError> {
        let mut m = settlement::machine::SettlementMachine::open(store)?;
        if let Ok(n) = std::env::var("BENCH_INDEX_ENTRIES") {
            m.set_index_memory_entries(n.parse().expect("BENCH_INDEX_ENTRIES is a number of entries"));
        }
        Ok(Sm(m))
    }
    fn apply(&mut self, index: u64, command: &[u8]) -> Result<Vec<u8>, StateMachineError> {
        Ok(self.0.apply(index, command)?.encode())
    }
    fn skip(&mut self, index: u64) -> Result<(), StateMachineError> {
        Ok(self.0.skip(index)?)
    }
    fn applied_index(&self) -> u64 {
        self.0.applied_index()
    }
    fn apply_would_wait(&self) -> bool {
        self.0.apply_would_wait()
    }

    fn stored_applied_index(store: &dyn ReadStore) -> Result<u64, StateMachineError> {
        Ok(settlement::machine::stored_meta(store)?.applied_index)
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU time (user + system) the whole process has used so far, from `/proc/self/stat`
/// (utime and stime, fields 14 and 15, in USER_HZ ticks of 10 ms); `None` where that file
/// does not exist.
fn process_cpu() -> Option<Duration> {
    stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User plus system CPU time from a `/proc/.../stat` line (10 ms ticks).
fn stat_cpu(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of each live thread of this process by thread id, with its name (Linux
/// `/proc/self/task`; empty elsewhere).
fn thread_cpu() -> BTreeMap<u64, (String, Duration)> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u64>().ok()) else {
            continue;
        };
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("stat")),
        ) else {
            continue;
        };
        if let Some(cpu) = stat_cpu(&stat) {
            out.insert(tid, (comm.trim().to_owned(), cpu));
        }
    }
    out
}

/// The part of the process's work a thread does, from its name.
fn thread_group(name: &str) -> &'static str {
    if name.starts_with("raft-") {
        "Raft ready loops (append, apply)"
    } else if name == "rocksdb:high" {
        "RocksDB flushes"
    } else if name == "rocksdb:low" {
        "RocksDB compactions"
    } else if name.ends_with("-seal") {
        "duplicate-index sealing"
    } else if name.ends_with("-filter") {
        "duplicate-index filter builds"
    } else if name.starts_with("tokio") {
        "gRPC, TLS and client (tokio)"
    } else {
        "other"
    }
}

/// Reads [`thread_cpu`] every 100 ms on its own thread until stopped, keeping each thread's
/// last reading: the sealing and filter-build threads end after each run or build, and
/// would be missed by readings at the start and the end only.
struct ThreadCpuSampler {
    seen: Arc<std::sync::Mutex<BTreeMap<u64, (String, Duration)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl ThreadCpuSampler {
    fn start() -> ThreadCpuSampler {
        let seen = Arc::new(std::sync::Mutex::new(thread_cpu()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = thread_cpu();
                s.lock().unwrap().extend(now);
            }
        });
        ThreadCpuSampler { seen, stop, thread }
    }

    /// Stops sampling and returns the last reading of every thread seen.
    fn finish(self) -> BTreeMap<u64, (String, Duration)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap();
        let mut seen = std::mem::take(&mut *self.seen.lock().unwrap());
        seen.extend(thread_cpu());
        seen
    }
}

/// Prints where the CPU went between two readings, by [`thread_group`]; what the sampler
/// missed (threads' last 100 ms before they ended) is the rest of `total`.
fn print_thread_cpu(
    before: &BTreeMap<u64, (String, Duration)>,
    after: &BTreeMap<u64, (String, Duration)>,
    total: Duration,
) {
    if after.is_empty() {
        return;
    }
    let mut groups: BTreeMap<&str, Duration> = BTreeMap::new();
    for (tid, (name, cpu)) in after {
        let earlier = before.get(tid).map_or(Duration::ZERO, |b| b.1);
        *groups.entry(thread_group(name)).or_default() += cpu.saturating_sub(earlier);
    }
    let seen: Duration = groups.values().sum();
    groups.insert(
        "not sampled (ended threads' last 100 ms)",
        total.saturating_sub(seen),
    );
    println!("  CPU by thread group:");
    for (group, cpu) in groups {
        println!(
            "    {:<46} {:>7.1} s {:>5.1}%",
            group,
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / total.as_secs_f64().max(1e-9)
        );
    }
}

fn fsync_latencies(dir: &std::path::Path, n: usize) -> Vec<Duration> {
    let mut f = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let block = vec![7u8; 4096];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        f.write_all(&block).unwrap();
        let t = Instant::now();
        f.sync_data().unwrap();
        out.push(t.elapsed());
    }
    out.sort();
    out
}

fn main() {
    // The nodes report a fatal error (the one that stops a node, after which its proposals
    // answer `Stopped`) and their warnings through `tracing`; `RUST_LOG` widens the filter.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let batches = env_or("BENCH_BATCHES", 60);
    let in_flight = env_or("BENCH_IN_FLIGHT", 8);
    let rate = env_or("BENCH_RATE", 0);
    let compact_every = env_or("BENCH_COMPACT_EVERY", 0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pki = settlement::testkit::TestPki::new("bench-root");
    let members: BTreeMap<String, u64> = TADIGS
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i as u64 + 1))
        .collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();

    let mut membership = Membership::default();
    membership.conf_state.set_voters(vec![1, 2, 3]);
    let mut pending = Vec::new();
    for id in 1..=3u64 {
        let ident = pki.issue(TADIGS[id as usize - 1], CertRole::Node, (2020, 2039));
        let m = members.clone();
        let tls = TlsConfig {
            roots: vec![pki.root_der.clone()],
            cert_chain: vec![ident.cert_der],
            key_pkcs8: ident.key_pkcs8,
            authorize: Arc::new(move |p: &PeerIdentity| -> Result<u64, String> {
                let t = p.node_tadig().ok_or("no node identity")?;
                m.get(t.as_str())
                    .copied()
                    .ok_or_else(|| "not a member".to_string())
            }),
        };
        let mailbox: Mailbox<Sm> = Mailbox::new();
        let cfg = GrpcConfig {
            id,
            listen: "127.0.0.1:0".parse().unwrap(),
            tls,
        };
        let t = Arc::new(
            rt.block_on(GrpcTransport::start(cfg, mailbox.inbound_sink()))
                .unwrap(),
        );
        membership.peers.insert(id, t.local_addr().to_string());
        pending.push((id, mailbox, t));
    }
    let mut nodes = Vec::new();
    let mut engines = Vec::new();
    for (id, mailbox, t) in pending {
        // The node's defaults (100 ms ticks, elections after 1-2 s), as `roamledger node`
        // runs them.
        let mut cfg = NodeConfig::new(id);
        if compact_every > 0 {
            cfg.peer.log_compact_interval_entries = compact_every as u64;
        }
        let engine = RocksEngine::open(dirs[id as usize - 1].path(), true).unwrap();
        engines.push(engine.clone());
        nodes.push((
            Node::start(cfg, engine, t.clone(), mailbox, Some(membership.clone())).unwrap(),
            t,
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        if let Some((n, _)) = nodes
            .iter()
            .find(|(n, _)| n.handle().status().role == Role::Leader)
        {
            break n.handle();
        }
        assert!(Instant::now() < deadline, "no leader within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    };

    // Consortium setup, then the signed batches (built before timing starts).
    let fx = Fixture::new(&TADIGS);
    let at: UtcTime = "2026-11-05T00:00:00Z".parse().unwrap();
    for cmd in fx.setup() {
        let out = rt.block_on(leader.propose(envelope(at, cmd))).unwrap();
        let out = Outcome::decode(&out).unwrap();
        assert!(!matches!(out, Outcome::Rejected(_)), "setup rejected: {out:?}");
    }
    let start = UtcTime::from_unix_seconds(at.unix_seconds() - 86_400);
    eprintln!("building {batches} signed batches of {RECORDS_PER_BATCH} records...");
    let commands: Vec<Vec<u8>> = (0..batches)
        .map(|i| {
            let (v, h) = (TADIGS[i % 3], TADIGS[(i + 1) % 3]);
            let records = fx.records(v, h, RECORDS_PER_BATCH, start, i as u64);
            envelope(
                at,
                Command::SubmitBatch(fx.batch(v, h, &format!("bench-{i}"), &records)),
            )
        })
        .collect();
    let bytes: usize = commands.iter().map(Vec::len).sum();

    let cpu_before = process_cpu();
    let threads_before = thread_cpu();
    let sampler = ThreadCpuSampler::start();
    let began = Instant::now();
    let began_wall = std::time::SystemTime::now();
    let timeline: Vec<(Duration, Duration)> = rt.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let mut tasks = Vec::new();
        for (i, cmd) in commands.into_iter().enumerate() {
            let due = (rate > 0).then(|| {
                began + Duration::from_secs_f64(i as f64 * f64::from(RECORDS_PER_BATCH) / rate as f64)
            });
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            let permit = sem.clone().acquire_owned().await.unwrap();
            let h = leader.clone();
            tasks.push(tokio::spawn(async move {
                let t = due.unwrap_or_else(Instant::now);
                let out = h.propose(cmd).await.expect("batch committed");
                let lat = t.elapsed();
                let off = t.duration_since(began);
                drop(permit);
                match Outcome::decode(&out).unwrap() {
                    Outcome::BatchApplied(b) => assert_eq!(b.accepted, RECORDS_PER_BATCH),
                    o => panic!("batch not applied: {o:?}"),
                }
                (off, lat)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let elapsed = began.elapsed();
    let cpu = process_cpu().zip(cpu_before).map(|(a, b)| a.saturating_sub(b));
    let threads_after = sampler.finish();
    let latencies: Vec<Duration> = timeline.iter().map(|t| t.1).collect();
    let mut sorted = latencies;
    sorted.sort();
    let fsync = fsync_latencies(dirs[0].path(), 200);
    let secs = elapsed.as_secs_f64();
    println!(
        "cluster bench: 3 nodes, gRPC + mutual TLS 1.3 on loopback, RocksDB fsync on, settlement SubmitBatch"
    );
    println!(
        "  batches: {batches} x {RECORDS_PER_BATCH} records ({:.1} MiB of commands), {in_flight} in flight, {}",
        bytes as f64 / 1048576.0,
        if rate > 0 {
            format!("offered {rate} records/s")
        } else {
            "unpaced".to_owned()
        }
    );
    println!("  elapsed: {secs:.2} s");
    println!("  committed batches/s: {:.1}", batches as f64 / secs);
    println!(
        "  records/s: {:.0}",
        batches as f64 * f64::from(RECORDS_PER_BATCH) / secs
    );
    if let Some(cpu) = cpu {
        let records = batches as f64 * f64::from(RECORDS_PER_BATCH);
        println!(
            "  process CPU (3 nodes and the client): {:.1} s, {:.2} us per record, {:.2} of {} cores",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / records,
            cpu.as_secs_f64() / secs,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        print_thread_cpu(&threads_before, &threads_after, cpu);
    }
    println!(
        "  commit latency (propose -> applied at leader): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&sorted, 0.50).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3
    );
    // DESIGN.md's latency target is p99 <= 25 ms at 100,000 records/s: this count tells how
    // far a run is from it (the target holds while it stays under 1% of the batches), which
    // p99 alone hides when a few stalls decide it.
    let over = sorted.iter().filter(|l| **l > Duration::from_millis(25)).count();
    println!(
        "  batches over 25 ms: {over} of {} ({:.2}%)",
        sorted.len(),
        over as f64 * 100.0 / sorted.len().max(1) as f64
    );
    let (worst_at, worst) = timeline
        .iter()
        .max_by_key(|(_, lat)| *lat)
        .copied()
        .unwrap_or_default();
    println!(
        "  slowest batch: {:.1} ms, proposed {:.2} s into the run",
        worst.as_secs_f64() * 1e3,
        worst_at.as_secs_f64()
    );
    println!(
        "  fsync latency (4 KiB write + fdatasync, same disk): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&fsync, 0.50).as_secs_f64() * 1e3,
        percentile(&fsync, 0.99).as_secs_f64() * 1e3
    );
    if let Some(out) = std::env::var_os("BENCH_TIMELINE") {
        // Latency against time (250 ms windows by when a batch was due or proposed), with the
        // run's start in wall-clock time, and each node's RocksDB LOG copied beside it, so
        // slow windows can be matched with flushes, compactions and ingestions.
        let start_unix = began_wall.duration_since(std::time::UNIX_EPOCH).unwrap();
        let mut windows: BTreeMap<u64, (usize, Duration)> = BTreeMap::new();
        for (off, lat) in &timeline {
            let w = windows.entry(off.as_millis() as u64 / 250).or_default();
            w.0 += 1;
            w.1 = w.1.max(*lat);
        }
        let mut text = format!(
            "start_unix_ms {}\nwindow_s batches max_ms\n",
            start_unix.as_millis()
        );
        for (w, (n, max)) in windows {
            text.push_str(&format!(
                "{:.2} {n} {:.1}\n",
                w as f64 / 4.0,
                max.as_secs_f64() * 1e3
            ));
        }
        let out = std::path::PathBuf::from(out);
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("timeline.txt"), text).unwrap();
        for (i, e) in engines.iter().enumerate() {
            let [log_db, state_db] = e.info_logs();
            let _ = std::fs::copy(log_db, out.join(format!("node{}.log-db.LOG", i + 1)));
            let _ = std::fs::copy(state_db, out.join(format!("node{}.LOG", i + 1)));
        }
        println!("  timeline and RocksDB logs in {}", out.display());
    }
    if std::env::var_os("BENCH_ROCKS_STATS").is_some() {
        for (i, e) in engines.iter().enumerate() {
            println!("--- node {} RocksDB statistics\n{}", i + 1, e.stats().unwrap());
        }
    }
    drop(engines);
    for (n, _) in nodes.drain(..) {
        if let Some(e) = n.stop() {
            panic!("node stopped with {e}");
        }
    }
}

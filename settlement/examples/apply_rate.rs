//! Applies batches of 1,000 records to a growing in-memory ledger and prints the rate in
//! wall-clock and in CPU time of this process (from `/proc/self/stat`), so the number means
//! something even on a machine busy with other work. The criterion benchmark
//! (`cargo bench -p settlement --features testkit`) is the reference measurement; this is for
//! profiling (`perf record`) and for busy machines.
//!
//! `cargo run --release -p settlement --features testkit --example apply_rate -- [BATCHES] [FRESH_EVERY]`
//!
//! With `FRESH_EVERY` (for example 100), the ledger starts afresh every that many batches, as
//! the criterion benchmark's `ledger_under_100k` case does.

#![allow(missing_docs, clippy::print_stdout, clippy::float_arithmetic)]

use std::time::Instant;

use settlement::command::{Command, Outcome};
use settlement::machine::SettlementMachine;
use settlement::store::MemStore;
use settlement::testkit::{Fixture, envelope};
use settlement::types::UtcTime;

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let batches: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let fresh_every: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(u64::MAX);
    let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
    let at: UtcTime = "2026-11-20T00:00:00Z".parse().expect("valid");
    let fresh = || {
        let mut m = SettlementMachine::open(MemStore::new()).expect("opens");
        let mut index = 0;
        for c in fx.setup() {
            index += 1;
            m.apply(index, &envelope(at, c)).expect("applies");
        }
        (m, index)
    };
    let (mut m, mut index) = fresh();
    let mut total_wall = 0.0;
    let mut total_cpu = 0.0;
    let mut done = 0u64;
    while done < batches {
        if done > 0 && done.is_multiple_of(fresh_every) {
            (m, index) = fresh();
        }
        let n = 100.min(batches - done).min(fresh_every);
        let cmds: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let k = done + i;
                let start = UtcTime::from_unix_seconds(at.unix_seconds() - 20 * 86_400 + (k as i64) * 60);
                let recs = fx.records("KORKT", "JPNDO", 1_000, start, k);
                envelope(
                    at,
                    Command::SubmitBatch(fx.batch("KORKT", "JPNDO", &format!("r{k}"), &recs)),
                )
            })
            .collect();
        let (w0, c0) = (Instant::now(), cpu_seconds());
        for c in &cmds {
            index += 1;
            let o = m.apply(index, c).expect("applies");
            assert!(
                matches!(o, Outcome::BatchApplied(ref b) if b.accepted == 1_000),
                "{o:?}"
            );
        }
        total_wall += w0.elapsed().as_secs_f64();
        total_cpu += cpu_seconds() - c0;
        done += n;
    }
    let records = (done * 1_000) as f64;
    println!(
        "applied {done} batches ({} records): {:.0} records/s wall, {:.0} records/s CPU ({:.2} s wall, {:.2} s CPU)",
        records as u64,
        records / total_wall,
        records / total_cpu.max(0.01),
        total_wall,
        total_cpu
    );
}

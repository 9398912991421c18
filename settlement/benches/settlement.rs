//! Settlement core benchmarks (issue 2 targets):
//! - apply throughput for batches of 1,000 records on the in-memory store
//!   (target >= 1,000,000 records/s on one core);
//! - closing a period with 10 million records applied (target <= 100 ms).
//!
//! Run with `cargo bench -p settlement`. The close benchmark builds its 10 M-record ledger
//! once (this takes a while) and then measures only the close.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use settlement::command::{ClosePeriod, Command, Outcome};
use settlement::machine::SettlementMachine;
use settlement::store::MemStore;
use settlement::testkit::{Fixture, envelope};
use settlement::types::UtcTime;

const RECORDS_PER_BATCH: u32 = 1_000;

fn t(s: &str) -> UtcTime {
    s.parse().expect("valid time")
}

/// A machine with the consortium set up, and the next log index.
fn machine(fx: &Fixture) -> (SettlementMachine<MemStore>, u64) {
    let mut m = SettlementMachine::open(MemStore::new()).expect("empty store opens");
    let mut index = 0;
    for c in fx.setup() {
        index += 1;
        let o = m
            .apply(index, &envelope(t("2026-11-05T00:00:00Z"), c))
            .expect("applies");
        assert!(!matches!(o, Outcome::Rejected(_)), "{o:?}");
    }
    (m, index)
}

/// `n` encoded batches of 1,000 distinct records KORKT -> JPNDO.
fn batches(fx: &Fixture, n: u64, salt: u64) -> Vec<Vec<u8>> {
    let at = t("2026-11-20T00:00:00Z");
    (0..n)
        .map(|i| {
            let start = UtcTime::from_unix_seconds(at.unix_seconds() - 20 * 86_400 + (i as i64) * 60);
            let recs = fx.records("KORKT", "JPNDO", RECORDS_PER_BATCH, start, salt * 1_000_000 + i);
            let b = fx.batch("KORKT", "JPNDO", &format!("bench-{salt}-{i}"), &recs);
            envelope(at, Command::SubmitBatch(b))
        })
        .collect()
}

fn apply_throughput(c: &mut Criterion) {
    let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
    let mut g = c.benchmark_group("apply");
    g.throughput(Throughput::Elements(u64::from(RECORDS_PER_BATCH)));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(20));
    // A ledger that keeps growing, as in production: the duplicate-detection index and the
    // trees hold every record applied so far (millions by the end of the run). Only `apply`
    // is timed; building and signing the batches is not.
    let (mut m, mut index) = machine(&fx);
    let mut salt = 0u64;
    let mut pool: Vec<Vec<u8>> = Vec::new();
    g.bench_function("batch_of_1000_records_growing_ledger", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                if pool.is_empty() {
                    salt += 1;
                    pool = batches(&fx, 50, salt);
                }
                let cmd = pool.pop().expect("refilled");
                index += 1;
                let t = Instant::now();
                let o = m.apply(index, &cmd).expect("applies");
                timed += t.elapsed();
                assert!(matches!(o, Outcome::BatchApplied(ref b) if b.accepted == RECORDS_PER_BATCH));
            }
            timed
        })
    });
    // A ledger of at most 100,000 records: a fresh machine every 100 batches, so the index
    // stays small and the measure is the per-record work itself.
    let pool100 = batches(&fx, 100, 1_000_000);
    let (mut fresh, mut fresh_index) = machine(&fx);
    let mut next = 0usize;
    g.bench_function("batch_of_1000_records_ledger_under_100k", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                if next == pool100.len() {
                    (fresh, fresh_index) = machine(&fx);
                    next = 0;
                }
                let cmd = &pool100[next];
                next += 1;
                fresh_index += 1;
                let t = Instant::now();
                let o = fresh.apply(fresh_index, cmd).expect("applies");
                timed += t.elapsed();
                assert!(matches!(o, Outcome::BatchApplied(ref b) if b.accepted == RECORDS_PER_BATCH));
            }
            timed
        })
    });
    g.finish();
}

fn close_period(c: &mut Criterion) {
    let records: u64 = std::env::var("ROAMLEDGER_BENCH_CLOSE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
    let (mut m, mut index) = machine(&fx);
    let n_batches = records / u64::from(RECORDS_PER_BATCH);
    let started = Instant::now();
    for chunk in 0..n_batches.div_ceil(100) {
        for cmd in batches(&fx, 100.min(n_batches - chunk * 100), 10_000 + chunk) {
            index += 1;
            let o = m.apply(index, &cmd).expect("applies");
            assert!(
                matches!(o, Outcome::BatchApplied(ref b) if b.accepted == RECORDS_PER_BATCH),
                "{o:?}"
            );
        }
    }
    eprintln!(
        "close_period: loaded {} records in {} batches in {:.1?}",
        n_batches * u64::from(RECORDS_PER_BATCH),
        n_batches,
        started.elapsed()
    );
    let period = *m.periods().keys().next_back().expect("a period");
    let close = envelope(
        t("2026-12-01T00:00:00Z"),
        Command::ClosePeriod(ClosePeriod { period }),
    );
    let mut g = c.benchmark_group("close");
    g.sample_size(10);
    // Closing is a state change: each iteration closes a clone of the loaded machine.
    let store = m.into_store();
    g.bench_function(format!("close_period_{records}_records"), |b| {
        b.iter_batched(
            || SettlementMachine::open(store.clone()).expect("reopens"),
            |mut m| {
                let o = m.apply(index + 1, &close).expect("applies");
                assert!(matches!(o, Outcome::PeriodClosed { .. }), "{o:?}");
                m
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, apply_throughput, close_period);
criterion_main!(benches);

//! TAP decoding throughput on generated files of 100,000 call events (one core).
//!
//! `decode`: stream-decode every call event into the model (what the target, at
//! least 1,000,000 events/s, is about). `ingest`: decode plus TD.57 validation plus mapping
//! to settlement records.

use std::hint::black_box;

use carrier_adapters::tap::generate::{GeneratorConfig, generate_bytes};
use carrier_adapters::tap::ingest::ingest;
use carrier_adapters::tap::validate::ValidationContext;
use carrier_adapters::tap::{Opened, open};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: u32 = 100_000;

fn file() -> Vec<u8> {
    let cfg = GeneratorConfig::new("KORKT".parse().unwrap(), "JPNDO".parse().unwrap(), EVENTS, 2026);
    generate_bytes(&cfg).expect("generator config is valid")
}

fn decode_all(bytes: &[u8]) -> u32 {
    let Ok(Opened::TransferBatch(mut s)) = open(bytes) else {
        panic!("generated file is a transfer batch");
    };
    let mut n = 0;
    for e in s.by_ref() {
        black_box(e.expect("generated events decode"));
        n += 1;
    }
    s.finish().expect("generated file ends cleanly");
    n
}

/// CPU time this thread has run, in nanoseconds (Linux `schedstat`): unlike wall time it
/// does not grow while other processes hold the core, so the figure means "on one core" even
/// on a shared build machine. `None` where the file does not exist.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn bench(c: &mut Criterion) {
    let bytes = file();
    assert_eq!(decode_all(&bytes), EVENTS);
    let mut g = c.benchmark_group("tap");
    g.sample_size(20);
    g.throughput(Throughput::Elements(u64::from(EVENTS)));
    g.bench_function("decode_100k_events", |b| b.iter(|| decode_all(black_box(&bytes))));
    if thread_cpu_ns().is_some() {
        g.bench_function("decode_100k_events_cpu_time", |b| {
            b.iter_custom(|iters| {
                let t0 = thread_cpu_ns().unwrap_or(0);
                for _ in 0..iters {
                    black_box(decode_all(black_box(&bytes)));
                }
                std::time::Duration::from_nanos(thread_cpu_ns().unwrap_or(0).saturating_sub(t0))
            })
        });
    }
    g.bench_function("ingest_100k_events", |b| {
        b.iter(|| ingest(black_box(&bytes), &ValidationContext::default()).expect("decodes"))
    });
    g.finish();
    let mut g = c.benchmark_group("tap_bytes");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decode_100k_events", |b| b.iter(|| decode_all(black_box(&bytes))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The duplicate index with the real settlement machine on RocksDB: record-level duplicates
//! are found alike on every node while nodes crash (losing unflushed state writes while the
//! index's sealed runs survive) and a lagging node installs a snapshot (its index cleared and
//! rebuilt from the stored batches).

mod common;

use common::{SettlementSm, SimCluster, test_config};
use settlement::command::{Command, Outcome};
use settlement::machine::SettlementMachine;
use settlement::store::{MemStore, Store};
use settlement::testkit::{Fixture, envelope};
use settlement::types::UtcTime;

fn at() -> UtcTime {
    "2026-11-05T00:00:00Z".parse().unwrap()
}

/// Batch `i`: 120 records with salt `i % 3`, so it repeats every record of batch `i - 3`, and
/// one record twice.
fn batch(fx: &Fixture, i: u32) -> Vec<u8> {
    let start = UtcTime::from_unix_seconds(at().unix_seconds() - 86_400);
    let mut records = fx.records("KORKT", "JPNDO", 100 + 5 * i, start, u64::from(i % 3));
    records[5] = records[4].clone();
    envelope(
        at(),
        Command::SubmitBatch(fx.batch("KORKT", "JPNDO", &format!("dup-{i}"), &records)),
    )
}

#[test]
fn duplicates_are_found_alike_across_crashes_and_a_snapshot_install() {
    let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
    let mut c: SimCluster<SettlementSm> = SimCluster::with_config(
        3,
        34,
        Box::new(|id| {
            let mut cfg = test_config(id);
            cfg.log_retain_entries = 2;
            cfg.log_compact_interval_entries = 5;
            cfg
        }),
    );
    let mut reference = SettlementMachine::open(MemStore::new()).unwrap();
    let mut reference_index = 0;
    let mut submit = |c: &mut SimCluster<SettlementSm>, cmd: Vec<u8>| {
        let out = Outcome::decode(&c.propose_and_wait(&cmd).unwrap()).unwrap();
        reference_index += 1;
        let expected = reference.apply(reference_index, &cmd).unwrap();
        assert_eq!(out, expected, "the cluster decides as a single machine does");
        out
    };
    for cmd in fx.setup() {
        let out = submit(&mut c, envelope(at(), cmd));
        assert!(!matches!(out, Outcome::Rejected(_)), "setup: {out:?}");
    }
    let leader = c.wait_leader();
    let lagging = c.ids().into_iter().find(|&i| i != leader).unwrap();
    let crashing = c
        .ids()
        .into_iter()
        .find(|&i| i != leader && i != lagging)
        .unwrap();
    c.crash(lagging);
    let mut duplicates = 0;
    for i in 0..12 {
        if i == 6 {
            // A follower crashes with state writes not flushed and runs already sealed.
            let sealed = c
                .peer(crashing)
                .state_machine()
                .0
                .store()
                .index_through()
                .unwrap();
            assert!(sealed > 0, "runs were sealed before the crash");
            c.crash(crashing);
            c.restart(crashing);
        }
        let Outcome::BatchApplied(o) = submit(&mut c, batch(&fx, i)) else {
            panic!("batch {i} must apply")
        };
        duplicates += o.rejected.len();
    }
    // Batch 0 has one in-batch duplicate, each later batch repeats the records of the batch
    // three before it plus its own doubled record.
    assert!(duplicates >= 1 + 2 + 9 * 100, "duplicates found: {duplicates}");
    c.restart(lagging);
    c.assert_converged();
    assert!(
        c.peer(lagging).status().snapshots_installed >= 1,
        "the lagging node caught up by snapshot"
    );
    // Every node answers the next batches alike, the snapshot-installed one included.
    c.crash(leader);
    for i in 12..15 {
        submit(&mut c, batch(&fx, i));
    }
    c.restart(leader);
    c.assert_converged();
}

//! Crashes injected at every failpoint of the driver, followed by a restart: the node
//! resumes from what it persisted and the cluster converges to identical state.
//! Run with `cargo nextest run -p consensus --features failpoints --test failpoints`;
//! `CONSENSUS_SEED=<n>` runs every scenario with seed n instead of its own.
#![cfg(feature = "failpoints")]

mod common;

use common::{KvMachine, SimCluster, test_config};

fn kv(id: &str, k: &str, v: &str) -> Vec<u8> {
    format!("{id}:{k}={v}").into_bytes()
}

/// The scenario's seed: its own, or `CONSENSUS_SEED` when set (to sweep many schedules).
fn seed_or(own: u64) -> u64 {
    std::env::var("CONSENSUS_SEED").map_or(own, |s| s.parse().expect("CONSENSUS_SEED is a number"))
}

fn crash_and_recover(point: &'static str, on_leader: bool, seed: u64) {
    let seed = seed_or(seed);
    eprintln!("{point}: seed {seed} (rerun with CONSENSUS_SEED={seed})");
    let _scenario = fail::FailScenario::setup();
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, seed);
    for i in 0..5 {
        c.propose_and_wait(&kv(&format!("pre{i}"), "k", &i.to_string()))
            .unwrap();
    }
    let leader = c.wait_leader();
    let target = if on_leader {
        leader
    } else {
        c.ids().into_iter().find(|&i| i != leader).unwrap()
    };
    c.fail_target = Some((target, point));
    // Keep proposing (retrying on errors) until the target crashed at the point.
    let mut n = 0;
    while !c.crashes.iter().any(|(id, p)| *id == target && p == point) {
        n += 1;
        assert!(n < 50, "{point}: node {target} never reached the failpoint");
        let l = c.wait_leader();
        let mut rx = c.propose(l, &kv(&format!("during{n}"), "k", "x"));
        let _ = c.wait_answer(&mut rx, "proposal during the failpoint");
    }
    c.fail_target = None;
    c.restart(target);
    for i in 0..5 {
        let r = c.propose_and_wait(&kv(&format!("post{i}"), "k", &format!("post{i}")));
        // A proposal can meet a leader change caused by the crash; retry once.
        if r.is_err() {
            c.propose_and_wait(&kv(&format!("post{i}"), "k", &format!("post{i}")))
                .unwrap();
        }
    }
    c.assert_converged();
    assert_eq!(
        c.peer(target).state_machine().value("k").as_deref(),
        Some("post4"),
        "{point}"
    );
}

#[test]
fn crash_before_log_persist_on_the_leader() {
    crash_and_recover("consensus::before_log_persist", true, 31);
}

#[test]
fn crash_after_log_persist_on_a_follower() {
    crash_and_recover("consensus::after_log_persist", false, 32);
}

#[test]
fn crash_before_apply() {
    crash_and_recover("consensus::before_apply", false, 33);
}

#[test]
fn crash_after_apply() {
    crash_and_recover("consensus::after_apply", true, 34);
}

#[test]
fn crash_between_apply_and_the_client_answer() {
    crash_and_recover("consensus::before_ack", true, 35);
}

fn snapshot_crash(point: &'static str, seed: u64) {
    let seed = seed_or(seed);
    eprintln!("{point}: seed {seed} (rerun with CONSENSUS_SEED={seed})");
    let _scenario = fail::FailScenario::setup();
    let mut c: SimCluster<KvMachine> = SimCluster::with_config(
        3,
        seed,
        Box::new(|id| {
            let mut cfg = test_config(id);
            cfg.log_retain_entries = 2;
            cfg.log_compact_interval_entries = 5;
            cfg
        }),
    );
    let leader = c.wait_leader();
    let f = c.ids().into_iter().find(|&i| i != leader).unwrap();
    c.crash(f);
    for i in 0..40 {
        c.propose_and_wait(&kv(&format!("r{i}"), &format!("k{i}"), &"v".repeat(300)))
            .unwrap();
    }
    c.fail_target = Some((f, point));
    c.restart(f);
    c.run_until(3000, "the follower crashes while taking the snapshot", |c| {
        c.crashes.iter().any(|(id, p)| *id == f && p == point)
    });
    c.fail_target = None;
    c.restart(f);
    c.assert_converged();
    assert!(c.peer(f).status().applied_index >= 40);
}

#[test]
fn crash_while_staging_a_snapshot() {
    snapshot_crash("consensus::snapshot_stage_chunk", 41);
}

#[test]
fn crash_before_the_snapshot_install_commits() {
    snapshot_crash("consensus::snapshot_before_install", 42);
}

#[test]
fn crash_after_the_snapshot_install_commits() {
    snapshot_crash("consensus::snapshot_after_install", 43);
}

//! Multi-node scenarios over the simulated network with real RocksDB in temp dirs. Each
//! run is deterministic for its seed; randomized schedules print the seed, and
//! `CONSENSUS_SEED=<n>` reproduces one.

mod common;

use common::{Digest, KvMachine, SimCluster, test_config};
use consensus::{ConsensusError, MemberChange, Role, StateMachine};

fn kv(id: &str, k: &str, v: &str) -> Vec<u8> {
    format!("{id}:{k}={v}").into_bytes()
}

#[test]
fn three_and_five_nodes_elect_one_leader() {
    for n in [3, 5] {
        let mut c: SimCluster<KvMachine> = SimCluster::new(n, 1);
        let leader = c.wait_leader();
        c.run_until(200, "followers learn the leader", |c| {
            c.statuses().iter().all(|s| s.leader_id == Some(leader))
        });
        let followers = c.statuses().iter().filter(|s| s.role == Role::Follower).count();
        assert_eq!(followers as u64, n - 1);
    }
}

#[test]
fn replication_applies_everywhere_and_answers_the_proposer() {
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, 2);
    for i in 0..30 {
        let out = c
            .propose_and_wait(&kv(&format!("r{i}"), &format!("k{i}"), "v"))
            .unwrap();
        assert!(out.starts_with(b"ok@"), "answer is the state machine's response");
    }
    c.assert_converged();
    for id in c.ids() {
        assert_eq!(c.peer(id).state_machine().value("k29").as_deref(), Some("v"));
    }
}

#[test]
fn followers_refuse_proposals_naming_the_leader() {
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, 3);
    let leader = c.wait_leader();
    c.run_until(200, "followers learn the leader", |c| {
        c.statuses().iter().all(|s| s.leader_id == Some(leader))
    });
    let follower = c.ids().into_iter().find(|&i| i != leader).unwrap();
    let mut rx = c.propose(follower, &kv("x", "k", "v"));
    match rx.try_recv().unwrap() {
        Err(ConsensusError::NotLeader {
            leader_id,
            leader_addr,
        }) => {
            assert_eq!(leader_id, Some(leader));
            assert_eq!(leader_addr, Some(format!("sim:{leader}")));
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }
    let too_big = vec![b'x'; consensus::limits::ENTRY_BYTES_MAX + 1];
    let mut rx = c.propose(leader, &too_big);
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(ConsensusError::EntryTooLarge { .. })
    ));
}

#[test]
fn read_index_sees_the_latest_commit_on_every_node() {
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, 4);
    c.propose_and_wait(&kv("a", "color", "red")).unwrap();
    for id in c.ids() {
        let v = c.read(id, |m: &KvMachine| m.value("color")).unwrap();
        assert_eq!(v.as_deref(), Some("red"), "node {id} reads the committed value");
    }
}

#[test]
fn leader_crash_elects_a_new_leader_and_the_old_one_catches_up() {
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, 5);
    c.propose_and_wait(&kv("a", "k", "1")).unwrap();
    let old = c.wait_leader();
    c.crash(old);
    let new = c.wait_leader();
    assert_ne!(new, old);
    c.propose_and_wait(&kv("b", "k", "2")).unwrap();
    c.restart(old);
    c.assert_converged();
    assert_eq!(c.peer(old).state_machine().value("k").as_deref(), Some("2"));
}

#[test]
fn follower_restart_catches_up_from_the_log() {
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, 6);
    let leader = c.wait_leader();
    let f = c.ids().into_iter().find(|&i| i != leader).unwrap();
    c.crash(f);
    for i in 0..20 {
        c.propose_and_wait(&kv(&format!("r{i}"), &format!("k{i}"), "v"))
            .unwrap();
    }
    c.restart(f);
    c.assert_converged();
    assert_eq!(c.peer(f).status().snapshots_installed, 0, "the log sufficed");
}

#[test]
fn partition_minority_cannot_commit_majority_continues_then_all_converge() {
    let mut c: SimCluster<KvMachine> = SimCluster::new(5, 7);
    c.propose_and_wait(&kv("a", "k", "before")).unwrap();
    let old = c.wait_leader();
    let others: Vec<u64> = c.ids().into_iter().filter(|&i| i != old).collect();
    let minority = [old, others[0]];
    let majority = [others[1], others[2], others[3]];
    c.net.partition(&[&minority, &majority]);
    let mut stuck = c.propose(old, &kv("m", "k", "minority"));
    c.run_until(3000, "the majority elects its own leader", |c| {
        majority
            .iter()
            .any(|&id| c.peer(id).status().role == Role::Leader)
    });
    let new = majority
        .iter()
        .copied()
        .find(|&id| c.peer(id).status().role == Role::Leader)
        .unwrap();
    let mut rx = c.propose(new, &kv("n", "k", "majority"));
    let r = c.wait_answer(&mut rx, "majority commit");
    assert!(r.unwrap().starts_with(b"ok@"));
    // The old leader steps down (check quorum); its proposal never committed.
    let stuck_answer = c.wait_answer(&mut stuck, "minority proposal answered");
    assert!(
        matches!(stuck_answer, Err(ConsensusError::LeadershipLost { .. })),
        "minority proposal must not succeed: {stuck_answer:?}"
    );
    for id in minority {
        assert_eq!(c.peer(id).state_machine().value("k").as_deref(), Some("before"));
    }
    c.net.heal();
    c.assert_converged();
    for id in c.ids() {
        assert_eq!(c.peer(id).state_machine().value("k").as_deref(), Some("majority"));
    }
}

/// A leader can learn of a newer term from a message between two turns of its ready loop.
/// A proposal made before the next turn must be refused as not-leader and never applied:
/// raft-rs, already a follower that knows the new leader, forwards it without appending an
/// entry, and the driver's proposal tracking panicked on that ("a proposal appends exactly
/// one entry", seen in the cluster bench when a stalled leader was replaced).
#[test]
fn a_proposal_between_losing_leadership_and_the_next_ready_is_refused() {
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, 8);
    let old = c.wait_leader();
    let others: Vec<u64> = c.ids().into_iter().filter(|&i| i != old).collect();
    // The old leader is frozen while the others elect a new one in a higher term.
    c.run_only_until(&others, 2000, "the others elect a new leader", |c| {
        others.iter().any(|&i| c.peer(i).status().role == Role::Leader)
    });
    let new = others
        .iter()
        .copied()
        .find(|&i| c.peer(i).status().role == Role::Leader)
        .unwrap();
    // A few more turns: the new leader's appends and heartbeats (its term) reach the old
    // leader's inbox; before them it held only votes it would ignore while its lease lasts.
    for _ in 0..5 {
        c.step_only(&others);
    }
    assert!(c.inbox_len(old) > 0, "setup: messages wait for the old leader");
    // It reads them (the new term, the new leader) but its ready loop has not run yet.
    c.receive_only(old);
    let st = c.peer(old).status();
    assert_eq!(
        (st.role, st.leader_id),
        (Role::Follower, Some(new)),
        "setup: inside raft the old leader follows the new one"
    );
    let mut rx = c.propose(old, &kv("stale", "k", "never"));
    let answer = rx.try_recv().expect("answered at once, not tracked as an entry");
    assert!(
        matches!(answer, Err(ConsensusError::NotLeader { leader_id, .. }) if leader_id == Some(new)),
        "{answer:?}"
    );
    c.propose_and_wait(&kv("after", "other", "v")).unwrap();
    c.assert_converged();
    for id in c.ids() {
        assert_eq!(c.peer(id).state_machine().value("k"), None, "node {id}");
    }
}

fn compacting(id: u64) -> consensus::PeerConfig {
    let mut cfg = test_config(id);
    cfg.log_retain_entries = 2;
    cfg.log_compact_interval_entries = 5;
    cfg
}

#[test]
fn a_lagging_follower_catches_up_by_snapshot() {
    let mut c: SimCluster<KvMachine> = SimCluster::with_config(3, 8, Box::new(compacting));
    let leader = c.wait_leader();
    let f = c.ids().into_iter().find(|&i| i != leader).unwrap();
    c.crash(f);
    // Enough values that the snapshot spans many 4 KiB chunks.
    for i in 0..60 {
        let v = "x".repeat(500);
        c.propose_and_wait(&kv(&format!("r{i}"), &format!("k{i}"), &v))
            .unwrap();
    }
    assert!(
        c.peer(leader).status().first_index > 10,
        "the leader compacted its log"
    );
    c.restart(f);
    c.assert_converged();
    assert!(
        c.peer(f).status().snapshots_installed >= 1,
        "caught up by snapshot"
    );
    // And it keeps working after the install.
    c.propose_and_wait(&kv("after", "k", "v")).unwrap();
    c.assert_converged();
}

/// Retention by bytes: with entry limits a short run never reaches, commands of about 1 KiB
/// still get the log compacted every 8 KiB, and what stays behind the applied index holds at
/// most 4 KiB of commands.
#[test]
fn the_log_is_compacted_by_bytes_when_its_entries_are_large() {
    let mut c: SimCluster<KvMachine> = SimCluster::with_config(
        3,
        8,
        Box::new(|id| {
            let mut cfg = test_config(id);
            cfg.log_retain_entries = 1_000;
            cfg.log_compact_interval_entries = 1_000;
            cfg.log_retain_bytes = 4 << 10;
            cfg.log_compact_interval_bytes = 8 << 10;
            cfg
        }),
    );
    c.wait_leader();
    let value = "x".repeat(1_000);
    for i in 0..40 {
        c.propose_and_wait(&kv(&format!("r{i}"), &format!("k{i}"), &value))
            .unwrap();
    }
    c.assert_converged();
    let command = kv("r10", "k10", &value).len() as u64;
    for s in c.statuses() {
        assert!(
            s.first_index > 20,
            "node {} did not compact by bytes: its log starts at {} (applied {})",
            s.id,
            s.first_index,
            s.applied_index
        );
        // Kept after the last compaction: at most 4 KiB of commands (3 of them here); added
        // since: less than the 8 KiB interval (8 commands); a few empty entries of leader
        // changes besides.
        let held = s.applied_index + 1 - s.first_index;
        let most = (4u64 << 10) / command + (8u64 << 10).div_ceil(command) + 2;
        assert!(
            held <= most,
            "node {} holds {held} applied entries of about {command} bytes; at most {most} expected",
            s.id
        );
    }
}

/// Production's compaction: the state is flushed by RocksDB's background threads and the
/// log is compacted only as far as the flushed (durable) applied index; the ready loop never
/// waits for a flush. Compaction still happens, never past the durable state, and a node
/// that crashes right after it restarts from its flushed state and remaining log.
#[test]
fn background_flushes_compact_the_log_only_as_far_as_the_state_is_durable() {
    let mut c: SimCluster<KvMachine> = SimCluster::with_config(
        3,
        8,
        Box::new(|id| {
            let mut cfg = compacting(id);
            cfg.state_flush_in_background = true;
            cfg
        }),
    );
    let leader = c.wait_leader();
    let f = c.ids().into_iter().find(|&i| i != leader).unwrap();
    c.crash(f);
    for i in 0..60 {
        c.propose_and_wait(&kv(&format!("r{i}"), &format!("k{i}"), "v"))
            .unwrap();
    }
    // The flush runs on RocksDB's threads: a bound in real time, not in steps.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.peer(leader).status().first_index <= 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader did not compact its log within 30 s: {:#?}",
            c.statuses()
        );
        c.step();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for id in c.up_ids() {
        let p = c.peer(id);
        let store = p.engine().state_store().unwrap();
        let durable = KvMachine::stored_applied_index(&store.persisted()).unwrap();
        let compacted_to = p.status().first_index - 1;
        assert!(
            compacted_to <= durable,
            "node {id} compacted its log to {compacted_to}, past its durable state at {durable}"
        );
    }
    // A crash now loses the unflushed state; the log still holds what replays it.
    c.crash(leader);
    c.restart(leader);
    c.restart(f);
    c.assert_converged();
    assert!(
        c.peer(f).status().snapshots_installed >= 1,
        "the follower caught up by snapshot"
    );
    c.propose_and_wait(&kv("after", "k", "v")).unwrap();
    c.assert_converged();
}

#[test]
fn a_newcomer_joins_a_young_cluster_whose_log_starts_at_the_bootstrap() {
    // No compaction configured: the log still holds index 1, and the founding configuration
    // is not in it. The newcomer must still get a configuration (by snapshot) and catch up.
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, 21);
    c.propose_and_wait(&kv("a", "k", "v")).unwrap();
    c.add_node(4, false);
    c.change_membership(vec![MemberChange::AddLearner {
        id: 4,
        address: "sim:4".into(),
    }])
    .unwrap();
    c.run_until(3000, "the newcomer catches up", |c| {
        let leader = c.peer(c.leader().unwrap()).status();
        c.peer(4).status().applied_index >= leader.commit_index
    });
    c.change_membership(vec![MemberChange::AddVoter {
        id: 4,
        address: "sim:4".into(),
    }])
    .unwrap();
    c.propose_and_wait(&kv("b", "k2", "v")).unwrap();
    c.assert_converged();
}

#[test]
fn add_a_learner_promote_it_and_replace_a_voter_with_joint_consensus() {
    let mut c: SimCluster<KvMachine> = SimCluster::with_config(3, 9, Box::new(compacting));
    for i in 0..20 {
        c.propose_and_wait(&kv(&format!("r{i}"), &format!("k{i}"), "v"))
            .unwrap();
    }
    c.add_node(4, false);
    c.change_membership(vec![MemberChange::AddLearner {
        id: 4,
        address: "sim:4".into(),
    }])
    .unwrap();
    c.run_until(3000, "the learner catches up", |c| {
        let leader = c.peer(c.leader().unwrap()).status();
        c.peer(4).status().applied_index >= leader.commit_index
    });
    assert!(
        c.peer(4).status().snapshots_installed >= 1,
        "the new node caught up by snapshot"
    );
    c.change_membership(vec![MemberChange::AddVoter {
        id: 4,
        address: "sim:4".into(),
    }])
    .unwrap();
    // Replace voter 1 by voter 5 in one joint change.
    let leader = c.wait_leader();
    let victim = c.ids().into_iter().find(|&i| i != leader && i != 4).unwrap();
    c.add_node(5, false);
    c.change_membership(vec![
        MemberChange::AddVoter {
            id: 5,
            address: "sim:5".into(),
        },
        MemberChange::Remove { id: victim },
    ])
    .unwrap();
    c.run_until(3000, "the joint configuration is left", |c| {
        let l = c.leader();
        l.is_some_and(|l| {
            let s = c.peer(l).status();
            s.voters_outgoing.is_empty() && s.voters.contains(&5) && !s.voters.contains(&victim)
        })
    });
    c.propose_and_wait(&kv("z", "k", "after-change")).unwrap();
    assert!(c.peer(victim).status().removed, "the removed node knows it");
    c.crash(victim);
    c.assert_converged();
    let st = c.peer(c.leader().unwrap()).status();
    assert_eq!(st.voters.len(), 4);
    assert_eq!(st.peers.get(&5).map(String::as_str), Some("sim:5"));
}

#[test]
fn leadership_transfer_moves_the_leader() {
    let mut c: SimCluster<KvMachine> = SimCluster::new(3, 10);
    c.propose_and_wait(&kv("a", "k", "v")).unwrap();
    let leader = c.wait_leader();
    let target = c.ids().into_iter().find(|&i| i != leader).unwrap();
    c.peer_mut(leader).transfer_leader(target).unwrap();
    c.run_until(1000, "leadership moves to the target", |c| {
        c.leader() == Some(target)
    });
    c.propose_and_wait(&kv("b", "k", "w")).unwrap();
    c.assert_converged();
}

fn seeds() -> Vec<u64> {
    match std::env::var("CONSENSUS_SEED") {
        Ok(s) => vec![s.parse().expect("CONSENSUS_SEED is a number")],
        // 102 (and, before the harness gave nodes distinct election offsets, 108 and 125)
        // failed when a second snapshot stream's first chunk cleared a staged snapshot that
        // raft was about to install.
        Err(_) => vec![11, 12, 13, 102, 108, 125],
    }
}

/// Random drops, duplicates, reordering, partitions, crashes and restarts while clients
/// propose and retry with their request ids. Afterwards every node has the same state and
/// no request applied twice.
#[test]
fn randomized_fault_schedules_converge_without_double_applies() {
    for seed in seeds() {
        eprintln!("randomized fault schedule: seed {seed} (rerun with CONSENSUS_SEED={seed})");
        let summary = run_schedule(seed);
        eprintln!("seed {seed}: {summary:?}");
    }
}

/// A seed reproduces its run: the same steps, messages, commit index and final state.
#[test]
fn a_seed_reproduces_its_run() {
    let seed = seeds()[0];
    assert_eq!(
        run_schedule(seed),
        run_schedule(seed),
        "seed {seed} ran differently twice"
    );
}

/// What a run did, for comparing two runs of one seed.
#[derive(Debug, PartialEq, Eq)]
struct RunSummary {
    steps: u64,
    delivered: u64,
    commit_index: u64,
    state: Vec<u8>,
}

fn run_schedule(seed: u64) -> RunSummary {
    let mut c: SimCluster<KvMachine> = SimCluster::with_config(5, seed, Box::new(compacting));
    c.net.set_filters(consensus::transport::sim::Filters {
        drop_per_mille: 50,
        duplicate_per_mille: 30,
        jitter_ms: 30,
        ..Default::default()
    });
    let mut acked = 0;
    // At most two nodes down, or one isolated with all up: a quorum of 3 always exists.
    let mut isolated = false;
    for round in 0..40u64 {
        let r = c.net.random() % 10;
        let up = c.up_ids();
        match r {
            0 if up.len() > 3 && !isolated => {
                let victim = up[(c.net.random() % up.len() as u64) as usize];
                c.crash(victim);
            }
            1 => {
                let down: Vec<u64> = c.ids().into_iter().filter(|&i| !c.is_up(i)).collect();
                if let Some(&id) = down.first() {
                    c.restart(id);
                }
            }
            2 if up.len() == 5 && !isolated => {
                let a = 1 + c.net.random() % 5;
                c.net.isolate(a);
                isolated = true;
            }
            3 => {
                c.net.heal();
                isolated = false;
            }
            _ => {}
        }
        // A client submits request `round` until it gets an answer from some leader.
        let cmd = kv(
            &format!("req{round}"),
            &format!("k{}", round % 7),
            &format!("v{round}"),
        );
        for _attempt in 0..30 {
            c.run_until(3000, "some leader", |c| c.leader().is_some());
            let leader = c.leader().unwrap();
            let mut rx = c.propose(leader, &cmd);
            match c.wait_answer(&mut rx, "proposal answered") {
                Ok(_) => {
                    acked += 1;
                    break;
                }
                Err(e) => {
                    assert!(
                        e.is_retryable() || matches!(e, ConsensusError::Stopped),
                        "seed {seed}: {e}"
                    );
                    c.net.heal();
                    isolated = false;
                }
            }
        }
    }
    c.net.heal();
    c.net.set_filters(Default::default());
    for id in c.ids() {
        if !c.is_up(id) {
            c.restart(id);
        }
    }
    c.assert_converged();
    assert_eq!(
        acked, 40,
        "seed {seed}: every request was eventually acknowledged"
    );
    for id in c.ids() {
        let mut reqs = c.peer(id).state_machine().requests();
        reqs.sort_by_key(|r| r[3..].parse::<u64>().unwrap());
        let expected: Vec<String> = (0..40).map(|i| format!("req{i}")).collect();
        assert_eq!(
            reqs, expected,
            "seed {seed}: node {id} lost an acknowledged request"
        );
    }
    let leader = c.leader().expect("converged cluster has a leader");
    RunSummary {
        steps: c.steps,
        delivered: c.net.delivered(),
        commit_index: c.peer(leader).status().commit_index,
        state: c.peer(leader).state_machine().digest_bytes(),
    }
}

thread_local! {
    /// While set, [`HeldKv`] says applying would wait (what the settlement machine says when
    /// a duplicate-index seal is behind). Per thread: each test drives its cluster from one.
    static APPLY_WOULD_WAIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The key-value machine, with applying held back while [`APPLY_WOULD_WAIT`] is set.
struct HeldKv(KvMachine);

impl StateMachine for HeldKv {
    fn open(store: consensus::RocksStateStore) -> Result<Self, consensus::StateMachineError> {
        KvMachine::open(store).map(HeldKv)
    }
    fn apply(&mut self, index: u64, command: &[u8]) -> Result<Vec<u8>, consensus::StateMachineError> {
        self.0.apply(index, command)
    }
    fn skip(&mut self, index: u64) -> Result<(), consensus::StateMachineError> {
        self.0.skip(index)
    }
    fn applied_index(&self) -> u64 {
        self.0.applied_index()
    }
    fn apply_would_wait(&self) -> bool {
        APPLY_WOULD_WAIT.get()
    }
    fn stored_applied_index(
        store: &dyn settlement::store::ReadStore,
    ) -> Result<u64, consensus::StateMachineError> {
        KvMachine::stored_applied_index(store)
    }
}

impl Digest for HeldKv {
    fn digest_bytes(&self) -> Vec<u8> {
        self.0.digest_bytes()
    }
}

/// While every node's state machine says applying would wait, the cluster goes on for ten
/// election timeouts: the leader keeps its term and followers, entries commit, nothing is
/// applied and no client is answered. Then everything applies, in order, and the clients
/// get their answers.
#[test]
fn while_applying_would_wait_the_cluster_keeps_its_leader_and_commits() {
    let mut c: SimCluster<HeldKv> = SimCluster::new(3, 21);
    c.propose_and_wait(&kv("a", "k", "0")).unwrap();
    c.assert_converged();
    let leader = c.wait_leader();
    let before = c.peer(leader).status();
    APPLY_WOULD_WAIT.set(true);
    let mut waiting: Vec<_> = (1..=5)
        .map(|i| c.propose(leader, &kv(&format!("h{i}"), "k", &i.to_string())))
        .collect();
    let election_tick = test_config(1).election_tick as u64;
    for _ in 0..10 * 2 * election_tick {
        c.step();
    }
    for s in c.statuses() {
        assert_eq!(
            (s.term, s.leader_id),
            (before.term, Some(leader)),
            "node {} kept the term and the leader",
            s.id
        );
        assert_eq!(
            s.applied_index, before.applied_index,
            "node {} applied nothing",
            s.id
        );
        assert_eq!(
            s.commit_index,
            before.commit_index + 5,
            "node {} committed the five",
            s.id
        );
        assert_eq!(s.unapplied_entries, 5, "node {} queued them", s.id);
    }
    for rx in &mut waiting {
        assert!(
            matches!(
                rx.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
            ),
            "no answer before the entry is applied"
        );
    }
    APPLY_WOULD_WAIT.set(false);
    for (i, rx) in waiting.iter_mut().enumerate() {
        let out = c.wait_answer(rx, "held proposal answered").unwrap();
        let index = before.commit_index + 1 + i as u64;
        assert_eq!(out, format!("ok@{index}").into_bytes(), "applied in log order");
    }
    c.assert_converged();
    assert_eq!(c.peer(leader).state_machine().0.value("k").as_deref(), Some("5"));
    assert!(c.statuses().iter().all(|s| s.unapplied_entries == 0));
}

/// The queue of committed entries is bounded: past `unapplied_bytes_max` a node applies
/// even though its state machine says applying would wait.
#[test]
fn past_its_bound_the_queue_of_committed_entries_is_applied_anyway() {
    let command_bytes = kv("h00", "k", "00").len() as u64;
    let mut c: SimCluster<HeldKv> = SimCluster::with_config(
        3,
        22,
        Box::new(move |id| {
            let mut cfg = test_config(id);
            cfg.unapplied_bytes_max = 3 * command_bytes;
            cfg
        }),
    );
    c.propose_and_wait(&kv("a", "k", "0")).unwrap();
    c.assert_converged();
    let leader = c.wait_leader();
    let before = c.peer(leader).status();
    APPLY_WOULD_WAIT.set(true);
    let mut waiting: Vec<_> = (10..20)
        .map(|i| c.propose(leader, &kv(&format!("h{i}"), "k", &i.to_string())))
        .collect();
    c.run_until(500, "the ten commands committed everywhere", |c| {
        c.statuses()
            .iter()
            .all(|s| s.commit_index == before.commit_index + 10)
    });
    for s in c.statuses() {
        assert_eq!(
            s.unapplied_entries, 3,
            "node {} keeps only what the bound allows",
            s.id
        );
        assert_eq!(
            s.applied_index,
            before.applied_index + 7,
            "node {} applied the rest",
            s.id
        );
    }
    for rx in &mut waiting[..7] {
        assert!(rx.try_recv().unwrap().is_ok(), "applied entries are answered");
    }
    APPLY_WOULD_WAIT.set(false);
    for rx in &mut waiting[7..] {
        c.wait_answer(rx, "held proposal answered").unwrap();
    }
    c.assert_converged();
}

//! A client retry across a leader change is applied exactly once, end to end with the real
//! settlement machine: the batch's idempotency key makes the retry a replay.

mod common;

use common::{SettlementSm, SimCluster};
use settlement::command::{Command, Outcome};
use settlement::testkit::{Fixture, envelope};
use settlement::types::UtcTime;

fn at() -> UtcTime {
    "2026-11-05T00:00:00Z".parse().unwrap()
}

#[test]
fn a_batch_retried_after_the_leader_crashed_applies_once() {
    let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
    let mut c: SimCluster<SettlementSm> = SimCluster::new(3, 21);
    for cmd in fx.setup() {
        let out = Outcome::decode(&c.propose_and_wait(&envelope(at(), cmd)).unwrap()).unwrap();
        assert!(!matches!(out, Outcome::Rejected(_)), "setup: {out:?}");
    }
    let start = UtcTime::from_unix_seconds(at().unix_seconds() - 86_400);
    let records = fx.records("KORKT", "JPNDO", 200, start, 1);
    let batch = envelope(
        at(),
        Command::SubmitBatch(fx.batch("KORKT", "JPNDO", "retry-1", &records)),
    );

    // The leader appends and replicates the batch, then crashes before it can answer.
    let old = c.wait_leader();
    let mut first = c.propose(old, &batch);
    c.run_until(200, "the batch reaches a follower's log", |c| {
        let last = c.peer(old).status().last_index;
        c.ids()
            .into_iter()
            .filter(|&i| i != old)
            .any(|i| c.peer(i).status().last_index >= last)
    });
    c.crash(old);
    let answer = c.wait_answer(&mut first, "the crashed leader's client");
    assert!(
        answer.is_err(),
        "the client never learned the outcome: {answer:?}"
    );

    // The client retries at the new leader with the same batch (same idempotency key).
    let retry = Outcome::decode(&c.propose_and_wait(&batch).unwrap()).unwrap();
    let Outcome::BatchApplied(o) = retry else {
        panic!("retry: {retry:?}")
    };
    assert_eq!(o.accepted, 200);
    c.restart(old);
    c.assert_converged();
    // Exactly once: one stored batch, whichever attempt applied it.
    for id in c.ids() {
        let m = &c.peer(id).state_machine().0;
        assert!(m.stored_batch(o.batch).unwrap().is_some());
        assert!(
            m.stored_batch(o.batch + 1).unwrap().is_none(),
            "node {id} stored the batch twice"
        );
        assert_eq!(m.batch_outcome(&o.key).unwrap().map(|b| b.batch), Some(o.batch));
    }
    // And a further retry is answered as a replay.
    let again = Outcome::decode(&c.propose_and_wait(&batch).unwrap()).unwrap();
    let Outcome::BatchApplied(a) = again else {
        panic!("{again:?}")
    };
    assert!(a.replayed, "a repeated batch is a replay");
    assert_eq!(a.batch, o.batch);
}

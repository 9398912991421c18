//! Tests of the state machine: the ledger's behaviour end to end on the in-memory store.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::crypto::Role;
use crate::merkle::verify_inclusion;
use crate::snapshot::{SnapshotInstaller, SnapshotReader};
use crate::statement::{PartySignature, verify_chain, verify_statement};
use crate::store::MemStore;
use crate::testkit::{Fixture, envelope, scale3};
use crate::types::Currency;

const T0: &str = "2026-11-05T00:00:00Z";

struct Harness {
    fx: Fixture,
    m: SettlementMachine<MemStore>,
    index: u64,
    time: UtcTime,
    /// Every rejection code seen, for the coverage test.
    codes: BTreeSet<ErrorCode>,
}

impl Harness {
    fn new() -> Self {
        Self::with(Fixture::new(&["KORKT", "JPNDO", "CHNCM"]))
    }

    fn with(fx: Fixture) -> Self {
        let mut h = Harness {
            fx,
            m: SettlementMachine::open(MemStore::new()).unwrap(),
            index: 0,
            time: T0.parse().unwrap(),
            codes: BTreeSet::new(),
        };
        for c in h.fx.setup() {
            let o = h.apply(c);
            assert!(!matches!(o, Outcome::Rejected(_)), "setup rejected: {o:?}");
        }
        h
    }

    fn apply(&mut self, c: Command) -> Outcome {
        self.index += 1;
        let o = self.m.apply(self.index, &envelope(self.time, c)).unwrap();
        match &o {
            Outcome::Rejected(r) => {
                self.codes.insert(r.code);
            }
            Outcome::BatchApplied(b) => self.codes.extend(b.rejected.iter().map(|r| r.code)),
            _ => {}
        }
        o
    }

    fn reject(&mut self, c: Command) -> Rejection {
        match self.apply(c) {
            Outcome::Rejected(r) => r,
            o => panic!("expected a rejection, got {o:?}"),
        }
    }

    fn batch(&mut self, b: SubmitBatch) -> BatchOutcome {
        match self.apply(Command::SubmitBatch(b)) {
            Outcome::BatchApplied(o) => o,
            o => panic!("expected the batch to apply, got {o:?}"),
        }
    }

    fn records(&self, v: &str, h: &str, n: u32, salt: u64) -> Vec<UsageRecord> {
        let start = UtcTime::from_unix_seconds(self.time.unix_seconds() - 86_400);
        self.fx.records(v, h, n, start, salt)
    }

    fn advance_to(&mut self, t: &str) {
        self.time = t.parse().unwrap();
    }

    fn period(&self) -> PeriodId {
        *self.m.periods().keys().next_back().expect("a period exists")
    }

    fn close(&mut self, p: PeriodId) -> Vec<StatementRef> {
        match self.apply(Command::ClosePeriod(ClosePeriod { period: p })) {
            Outcome::PeriodClosed { statements, .. } => statements,
            o => panic!("close failed: {o:?}"),
        }
    }

    fn sign_all(&mut self, p: PeriodId) {
        for e in self.m.statements(p).unwrap() {
            let s = e.statement();
            for party in [s.visited, s.home] {
                let c = self
                    .fx
                    .sign_statement(p, s.visited, s.home, party.as_str(), &e.bytes);
                let o = self.apply(c);
                assert!(matches!(o, Outcome::StatementSigned { .. }), "{o:?}");
            }
        }
    }

    fn certificates(&self) -> BTreeMap<Tadig, Vec<u8>> {
        self.fx
            .carriers
            .iter()
            .map(|c| (c.tadig, c.id.cert_der.clone()))
            .collect()
    }

    /// Every key/value except the metadata (applied index, head, ledger time).
    fn state_without_meta(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.m
            .store()
            .iter()
            .filter(|(k, _)| *k != keys::META)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }
}

fn t(s: &str) -> Tadig {
    s.parse().unwrap()
}

#[test]
fn commands_before_genesis_are_rejected_and_genesis_happens_once() {
    let fx = Fixture::new(&["KORKT", "JPNDO"]);
    let mut m = SettlementMachine::open(MemStore::new()).unwrap();
    let at: UtcTime = T0.parse().unwrap();
    let a = fx.agreement("JPNDO", "KORKT");
    let o = m.apply(1, &envelope(at, fx.propose(&a, "KORKT"))).unwrap();
    assert!(
        matches!(
            o,
            Outcome::Rejected(Rejection {
                code: ErrorCode::GenesisState,
                ..
            })
        ),
        "{o:?}"
    );
    let o = m.apply(2, &envelope(at, fx.genesis())).unwrap();
    let Outcome::GenesisApplied { consortium } = o else {
        panic!("{o:?}")
    };
    assert_eq!(m.genesis().unwrap().consortium, consortium);
    let o = m.apply(3, &envelope(at, fx.genesis())).unwrap();
    assert!(matches!(
        o,
        Outcome::Rejected(Rejection {
            code: ErrorCode::GenesisState,
            ..
        })
    ));
    assert_eq!(m.carriers().len(), 2);
    // Out-of-order indexes are a driver bug, reported as an apply error.
    assert!(matches!(
        m.apply(3, &envelope(at, fx.genesis())),
        Err(ApplyError::OutOfOrder { .. })
    ));
}

#[test]
fn a_period_from_batches_to_final_verified_statements() {
    let mut h = Harness::new();
    let recs = h.records("KORKT", "JPNDO", 500, 1);
    let b1 = h.fx.batch("KORKT", "JPNDO", "k-j-1", &recs);
    let o = h.batch(b1);
    assert_eq!((o.accepted, o.rejected.len(), o.flagged.len()), (500, 0, 0));
    let recs = h.records("JPNDO", "KORKT", 300, 2);
    let o = h.batch(h.fx.batch("JPNDO", "KORKT", "j-k-1", &recs));
    assert_eq!(o.accepted, 300);
    let recs = h.records("CHNCM", "KORKT", 10, 3);
    h.batch(h.fx.batch("CHNCM", "KORKT", "c-k-1", &recs));
    let p = h.period();
    assert_eq!(p.0.to_string(), "2026-11-01T00:00:00Z");
    // Not before the period ended.
    let r = h.reject(Command::ClosePeriod(ClosePeriod { period: p }));
    assert_eq!(r.code, ErrorCode::PeriodNotEnded);
    h.advance_to("2026-12-01T00:00:05Z");
    let refs = h.close(p);
    assert_eq!(refs.len(), 3);
    // Statements: consistent, chained from zero, totals as applied.
    let entries = h.m.statements(p).unwrap();
    let kj = entries
        .iter()
        .map(StatementEntry::statement)
        .find(|s| s.visited == t("KORKT") && s.home == t("JPNDO"))
        .unwrap();
    assert_eq!(kj.accepted.count, 500);
    assert_eq!(kj.tree_size, 500);
    assert_eq!(kj.previous_statement, Hash::ZERO);
    assert_eq!(kj.batches.len(), 1);
    let expected_due: i64 = h
        .records("KORKT", "JPNDO", 500, 1)
        .iter()
        .map(|r| (r.charge.minor() + r.tax.minor()) * 1000)
        .sum();
    assert_eq!(
        kj.amount_due.minor(),
        expected_due,
        "amounts rescaled 3 -> 6 places"
    );
    // Netting sums to zero and verifies against the statements.
    let netting = NettingReport::from_canonical_bytes(&h.m.netting(p).unwrap().unwrap()).unwrap();
    let statements: Vec<ClearingStatement> = entries.iter().map(StatementEntry::statement).collect();
    netting.verify(&statements).unwrap();
    // The direct canonical writer gives the bytes of the serde_json::Value reference form.
    for s in &statements {
        assert_eq!(s.canonical_bytes(), crate::canonical::value_to_canonical(s));
    }
    assert_eq!(
        netting.canonical_bytes(),
        crate::canonical::value_to_canonical(&netting)
    );
    // Both parties sign: final, and verifiable offline with certificates only.
    h.sign_all(p);
    for e in h.m.statements(p).unwrap() {
        assert!(e.is_final());
        let sigs: Vec<PartySignature> = e
            .signatures
            .iter()
            .map(|(party, signature)| PartySignature {
                party: *party,
                signature: signature.clone(),
            })
            .collect();
        let v = verify_statement(&e.bytes, &sigs, &h.certificates(), &[h.fx.pki.root_der.clone()]).unwrap();
        assert!(v.is_final());
        assert_eq!(v.hash(), e.hash);
    }
    // A second period chains to the first.
    let recs = h.records("KORKT", "JPNDO", 5, 4);
    h.batch(h.fx.batch("KORKT", "JPNDO", "k-j-2", &recs));
    let p2 = h.period();
    assert_ne!(p2, p);
    h.advance_to("2027-01-01T00:00:00Z");
    h.close(p2);
    let second =
        h.m.statement(p2, t("KORKT"), t("JPNDO"))
            .unwrap()
            .unwrap()
            .statement();
    verify_chain(&[kj.clone(), second.clone()]).unwrap();
    let mut broken = second;
    broken.previous_statement = Hash::ZERO;
    assert!(verify_chain(&[kj, broken]).is_err());
}

#[test]
fn a_retried_batch_answers_the_original_outcome_and_changes_nothing() {
    let mut h = Harness::new();
    let recs = h.records("KORKT", "JPNDO", 50, 1);
    let b = h.fx.batch("KORKT", "JPNDO", "retry-1", &recs);
    let first = h.batch(b.clone());
    let before = h.state_without_meta();
    let head = h.m.head();
    h.time = UtcTime::from_unix_seconds(h.time.unix_seconds() + 3600);
    let again = h.batch(b);
    assert!(again.replayed);
    assert_eq!(
        BatchOutcome {
            replayed: false,
            ..again
        },
        first
    );
    assert_eq!(
        h.state_without_meta(),
        before,
        "a retry must not change the state"
    );
    assert_ne!(h.m.head(), head, "the retry is still a command of the log");
    // Same key, different content: a conflicting duplicate, rejected whole.
    let other = h.fx.batch("KORKT", "JPNDO", "retry-1", &recs[..49]);
    let r = h.reject(Command::SubmitBatch(other));
    assert_eq!(r.code, ErrorCode::ConflictingDuplicateBatch);
    assert!(r.message.contains("already accepted as batch"), "{r}");
    assert_eq!(h.state_without_meta(), before);
}

#[test]
fn forged_and_altered_batches_are_rejected() {
    let mut h = Harness::new();
    let recs = h.records("KORKT", "JPNDO", 20, 1);
    // Signed with another carrier's key.
    let mut forged = h.fx.batch("KORKT", "JPNDO", "forged-1", &recs);
    forged.signature =
        h.fx.carrier("JPNDO")
            .id
            .signer
            .sign(Domain::Batch, &forged.digest.0);
    assert_eq!(
        h.reject(Command::SubmitBatch(forged)).code,
        ErrorCode::BatchSignatureInvalid
    );
    // Signed with a key the registry does not know for KORKT.
    let rogue = h.fx.pki.issue_named("KORKT", Role::Signer, (2025, 2035), "rogue");
    let mut forged = h.fx.batch("KORKT", "JPNDO", "forged-2", &recs);
    forged.signature = rogue.signer.sign(Domain::Batch, &forged.digest.0);
    assert_eq!(
        h.reject(Command::SubmitBatch(forged)).code,
        ErrorCode::BatchSignatureInvalid
    );
    // One record changed after signing: the digest no longer matches.
    let mut altered = h.fx.batch("KORKT", "JPNDO", "altered-1", &recs);
    let mut changed = recs.clone();
    changed[7].charge = Amount::new(changed[7].charge.minor() + 1, scale3());
    let mut e = Encoder::new();
    for r in &changed {
        e.put(r);
    }
    altered.records = e.into_bytes();
    let r = h.reject(Command::SubmitBatch(altered));
    assert_eq!(r.code, ErrorCode::BatchDigestMismatch);
    // Digest re-computed by the forger but signature still the old one.
    let mut resealed = h.fx.batch("KORKT", "JPNDO", "altered-2", &changed);
    resealed.signature = h.fx.batch("KORKT", "JPNDO", "altered-2", &recs).signature;
    assert_eq!(
        h.reject(Command::SubmitBatch(resealed)).code,
        ErrorCode::BatchSignatureInvalid
    );
    // Usage claimed for another visited network.
    let theirs = h.records("JPNDO", "KORKT", 3, 9);
    let mut mixed = recs[..2].to_vec();
    mixed.extend(theirs);
    let b = SubmitBatch::build(
        BatchKey {
            sender: t("KORKT"),
            recipient: t("JPNDO"),
            id: crate::batch::BatchId::client("mixed").unwrap(),
        },
        Currency::SDR,
        scale3(),
        &mixed,
        &h.fx.carrier("KORKT").id.signer,
    )
    .unwrap();
    assert_eq!(
        h.reject(Command::SubmitBatch(b)).code,
        ErrorCode::RecordNotForBatchPair
    );
    assert!(h.m.periods().is_empty(), "nothing was applied");
}

#[test]
fn record_level_validation_and_duplicates() {
    let mut h = Harness::new();
    let recs = h.records("KORKT", "JPNDO", 10, 1);
    let o = h.batch(h.fx.batch("KORKT", "JPNDO", "first", &recs));
    assert_eq!(o.accepted, 10);
    // The same events in another batch, plus an in-batch duplicate and bad records.
    let mut again = recs[..3].to_vec();
    let mut fresh = h.records("KORKT", "JPNDO", 6, 2);
    fresh[1] = fresh[0].clone(); // duplicate within the batch
    fresh[2].charge = Amount::new(-5, scale3()); // a credit's tax cannot be positive
    fresh[2].tax = Amount::new(1, scale3());
    fresh[3].start = UtcTime::from_unix_seconds(h.time.unix_seconds() + 3600);
    fresh[4].start = UtcTime::from_unix_seconds(h.time.unix_seconds() - 40 * 86_400);
    fresh[5].start = "2025-12-31T23:00:00Z".parse().unwrap(); // before the agreement
    again.extend(fresh);
    let o = h.batch(h.fx.batch("KORKT", "JPNDO", "second", &again));
    let codes: Vec<(u32, ErrorCode)> = o.rejected.iter().map(|r| (r.index, r.code)).collect();
    assert_eq!(
        codes,
        vec![
            (0, ErrorCode::DuplicateRecord),
            (1, ErrorCode::DuplicateRecord),
            (2, ErrorCode::DuplicateRecord),
            (4, ErrorCode::DuplicateRecord),
            (5, ErrorCode::NegativeAmount),
            (6, ErrorCode::EventInFuture),
            (7, ErrorCode::EventTooOld),
            (8, ErrorCode::EventTooOld),
        ]
    );
    assert_eq!(o.accepted, 1);
    assert!(
        o.rejected[0].message.contains("duplicate of record 0:0"),
        "{}",
        o.rejected[0].message
    );
    // Rejected records are counted in the ledger's rejected totals.
    let l =
        h.m.pair_ledger(o.period, t("KORKT"), t("JPNDO"))
            .unwrap()
            .unwrap();
    assert_eq!(l.rejected.count, 8);
    assert_eq!(l.tree.size(), 11);
}

#[test]
fn rating_discrepancies_are_flagged_not_rejected() {
    let mut h = Harness::new();
    let mut recs = h.records("KORKT", "JPNDO", 4, 1);
    let base = recs[0].charge.minor();
    recs[0].charge = Amount::new(base + 3, scale3()); // within 0.005
    recs[1].charge = Amount::new(recs[1].charge.minor() + 500, scale3()); // 0.5 over
    let o = h.batch(h.fx.batch("KORKT", "JPNDO", "rated", &recs));
    assert_eq!(o.accepted, 4);
    assert_eq!(o.flagged.len(), 1);
    assert_eq!(o.flagged[0].index, 1);
    assert_eq!(
        o.flagged[0].declared.minor() - o.flagged[0].expected.minor(),
        500_000
    );
}

#[test]
fn credits_refund_accepted_usage_and_reduce_the_statement() {
    let mut h = Harness::new();
    let recs = h.records("KORKT", "JPNDO", 4, 1);
    h.batch(h.fx.batch("KORKT", "JPNDO", "usage", &recs));
    let neg = |a: Amount| Amount::new(-a.minor(), a.scale());
    // Refunds of the first three events: in full, in part, and more than the tariff allows.
    let mut credits = recs[..3].to_vec();
    for c in &mut credits {
        c.charge = neg(c.charge);
        c.tax = neg(c.tax);
    }
    credits[1].charge = Amount::new(credits[1].charge.minor() / 2, scale3());
    credits[2].charge = Amount::new(credits[2].charge.minor() - 500, scale3());
    let o = h.batch(h.fx.batch("KORKT", "JPNDO", "refunds", &credits));
    assert_eq!(
        o.accepted, 3,
        "a refund is not a duplicate of its event: {:?}",
        o.rejected
    );
    let flagged: Vec<u32> = o.flagged.iter().map(|f| f.index).collect();
    assert_eq!(flagged, vec![2], "only the refund beyond the tariff is flagged");
    // The same refund again is a duplicate.
    let o = h.batch(h.fx.batch("KORKT", "JPNDO", "refunds-again", &credits[..1]));
    assert_eq!(o.rejected[0].code, ErrorCode::DuplicateRecord);

    let p = h.period();
    h.advance_to("2026-12-01T00:00:05Z");
    h.close(p);
    let s =
        h.m.statement(p, t("KORKT"), t("JPNDO"))
            .unwrap()
            .unwrap()
            .statement();
    let sum = |rs: &[UsageRecord], f: fn(&UsageRecord) -> i64| rs.iter().map(f).sum::<i64>() * 1000;
    let all: Vec<UsageRecord> = recs.iter().chain(credits.iter()).cloned().collect();
    assert_eq!(s.accepted.count, 7, "credits are records of the statement");
    assert_eq!(s.accepted.charge.minor(), sum(&all, |r| r.charge.minor()));
    assert_eq!(s.accepted.tax.minor(), sum(&all, |r| r.tax.minor()));
    let units: u64 = s.services.iter().map(|l| l.charged_units).sum();
    assert_eq!(
        units,
        recs.iter().map(|r| r.charged_units).sum::<u64>(),
        "credits add no units"
    );
}

#[test]
fn disputes_leave_the_statement_or_become_adjustments() {
    let mut h = Harness::new();
    let recs = h.records("KORKT", "JPNDO", 10, 1);
    let o = h.batch(h.fx.batch("KORKT", "JPNDO", "d1", &recs));
    let id = |i| RecordId {
        batch: o.batch,
        index: i,
    };
    let item = |i, reason| DisputeItem {
        record: id(i),
        reason,
        text: "customer was not roaming".into(),
    };
    // Only the home network may dispute, with its own signature.
    let r = h.reject(h.fx.dispute("KORKT", vec![item(0, DisputeReason::SubscriberUnknown)]));
    assert_eq!(r.code, ErrorCode::NotAuthorized);
    let mut forged =
        h.fx.dispute("JPNDO", vec![item(0, DisputeReason::SubscriberUnknown)]);
    if let Command::DisputeRecords(d) = &mut forged {
        d.signature =
            h.fx.carrier("CHNCM")
                .id
                .signer
                .sign(Domain::Dispute, &d.payload.canonical_bytes());
    }
    assert_eq!(h.reject(forged).code, ErrorCode::CommandSignatureInvalid);
    let o2 = h.apply(h.fx.dispute(
        "JPNDO",
        vec![
            item(0, DisputeReason::SubscriberUnknown),
            item(1, DisputeReason::RatingDiscrepancy),
        ],
    ));
    assert_eq!(
        o2,
        Outcome::RecordsDisputed {
            in_period: 2,
            adjustments: 0
        }
    );
    assert_eq!(
        h.reject(h.fx.dispute("JPNDO", vec![item(0, DisputeReason::Other)]))
            .code,
        ErrorCode::RecordAlreadyDisputed
    );
    let p = h.period();
    h.advance_to("2026-12-01T00:00:00Z");
    h.close(p);
    let s =
        h.m.statement(p, t("KORKT"), t("JPNDO"))
            .unwrap()
            .unwrap()
            .statement();
    assert_eq!(s.accepted.count, 8);
    assert_eq!(s.disputed.count, 2);
    assert_eq!(s.tree_size, 10, "disputed records stay in the tree");
    let disputed: i64 = recs[..2].iter().map(|r| r.charge.minor() * 1000).sum();
    assert_eq!(s.disputed.charge.minor(), disputed);
    assert_eq!(h.m.disputes(p, t("KORKT"), t("JPNDO")).unwrap().len(), 2);
    // After close: an adjustment in the next period's statement for the pair.
    let o3 = h.apply(h.fx.dispute("JPNDO", vec![item(5, DisputeReason::DuplicateEvent)]));
    assert_eq!(
        o3,
        Outcome::RecordsDisputed {
            in_period: 0,
            adjustments: 1
        }
    );
    let p2 = h.period();
    assert_ne!(p2, p);
    h.advance_to("2027-01-01T00:00:00Z");
    h.close(p2);
    let s2 =
        h.m.statement(p2, t("KORKT"), t("JPNDO"))
            .unwrap()
            .unwrap()
            .statement();
    assert_eq!(s2.accepted.count, 0);
    assert_eq!(s2.adjustments.count, 1);
    let credit = -(recs[5].charge.minor() + recs[5].tax.minor()) * 1000;
    assert_eq!(s2.amount_due.minor(), credit);
    assert_eq!(s2.previous_statement, s.hash());
    let netting = NettingReport::from_canonical_bytes(&h.m.netting(p2).unwrap().unwrap()).unwrap();
    assert!(netting.multilateral.iter().any(|p| p.net.minor() == credit));
}

#[test]
fn inclusion_proofs_verify_and_tampering_fails() {
    let mut h = Harness::new();
    // 700 records over three batches: proofs cross stored chunks and the tail.
    let mut ids = Vec::new();
    for (n, salt) in [(300u32, 1u64), (250, 2), (150, 3)] {
        let recs = h.records("KORKT", "JPNDO", n, salt);
        let o = h.batch(h.fx.batch("KORKT", "JPNDO", &format!("p{salt}"), &recs));
        ids.extend((0..n).map(|i| RecordId {
            batch: o.batch,
            index: i,
        }));
    }
    // Proof against the open period's current tree.
    let open = h.m.record_proof(ids[10]).unwrap();
    assert!(open.statement.is_none());
    verify_inclusion(&leaf_hash(&open.leaf_data), &open.proof, &open.root).unwrap();
    let p = h.period();
    h.advance_to("2026-12-01T00:00:00Z");
    h.close(p);
    let s = h.m.statement(p, t("KORKT"), t("JPNDO")).unwrap().unwrap();
    for &id in ids
        .iter()
        .step_by(37)
        .chain([ids[0], ids[255], ids[256], ids[699]].iter())
    {
        let rp = h.m.record_proof(id).unwrap();
        assert_eq!(rp.statement, Some(s.hash));
        assert_eq!(rp.root, s.statement().records_root);
        let leaf = leaf_hash(&rp.leaf_data);
        verify_inclusion(&leaf, &rp.proof, &rp.root).unwrap();
        // A tampered record fails.
        let mut r = rp.record.clone();
        r.duration_s += 1;
        assert!(verify_inclusion(&leaf_hash(&r.to_bytes()), &rp.proof, &rp.root).is_err());
        // A tampered proof fails.
        let mut bad = rp.proof.clone();
        bad.path[0] = Hash([7; 32]);
        assert!(verify_inclusion(&leaf, &bad, &rp.root).is_err());
        // A tampered root fails.
        assert!(verify_inclusion(&leaf, &rp.proof, &Hash([1; 32])).is_err());
    }
    assert!(matches!(
        h.m.record_proof(RecordId { batch: 99, index: 0 }),
        Err(QueryError::NotFound(_))
    ));
}

#[test]
fn agreements_need_both_parties_signatures() {
    let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
    let mut h = Harness {
        m: SettlementMachine::open(MemStore::new()).unwrap(),
        index: 0,
        time: T0.parse().unwrap(),
        codes: BTreeSet::new(),
        fx,
    };
    let g = h.fx.genesis();
    h.apply(g);
    let a = h.fx.agreement("JPNDO", "KORKT");
    // A batch before any agreement is refused whole.
    let recs = h.records("KORKT", "JPNDO", 2, 1);
    let b = h.fx.batch("KORKT", "JPNDO", "early", &recs);
    assert_eq!(
        h.reject(Command::SubmitBatch(b.clone())).code,
        ErrorCode::NoAgreement
    );
    // A third party cannot propose; a forged proposal fails.
    assert_eq!(h.reject(h.fx.propose(&a, "CHNCM")).code, ErrorCode::NotAuthorized);
    let mut forged = h.fx.propose(&a, "KORKT");
    if let Command::ProposeAgreement(p) = &mut forged {
        p.signature =
            h.fx.carrier("JPNDO")
                .id
                .signer
                .sign(Domain::Agreement, &a.canonical_bytes());
    }
    assert_eq!(h.reject(forged).code, ErrorCode::CommandSignatureInvalid);
    assert!(matches!(
        h.apply(h.fx.propose(&a, "KORKT")),
        Outcome::AgreementProposed { .. }
    ));
    assert_eq!(
        h.reject(h.fx.propose(&a, "KORKT")).code,
        ErrorCode::AgreementAlreadyProposed
    );
    // Proposed but not accepted: still no agreement in force.
    assert_eq!(
        h.reject(Command::SubmitBatch(b.clone())).code,
        ErrorCode::NoAgreement
    );
    // The proposer cannot accept its own proposal; a forged acceptance fails.
    assert_eq!(h.reject(h.fx.accept(&a, "KORKT")).code, ErrorCode::NotAuthorized);
    let mut forged = h.fx.accept(&a, "JPNDO");
    if let Command::AcceptAgreement(x) = &mut forged {
        x.signature =
            h.fx.carrier("KORKT")
                .id
                .signer
                .sign(Domain::Agreement, &a.canonical_bytes());
    }
    assert_eq!(h.reject(forged).code, ErrorCode::CommandSignatureInvalid);
    let mut unknown = h.fx.accept(&a, "JPNDO");
    if let Command::AcceptAgreement(x) = &mut unknown {
        x.id = Hash([9; 32]);
    }
    assert_eq!(h.reject(unknown).code, ErrorCode::AgreementUnknown);
    assert!(matches!(
        h.apply(h.fx.accept(&a, "JPNDO")),
        Outcome::AgreementAccepted { .. }
    ));
    assert_eq!(
        h.reject(h.fx.accept(&a, "JPNDO")).code,
        ErrorCode::AgreementAlreadyAccepted
    );
    // An overlapping agreement cannot take effect.
    let mut b2 = a.clone();
    b2.tolerance.relative_bps = 50;
    h.apply(h.fx.propose(&b2, "JPNDO"));
    assert_eq!(
        h.reject(h.fx.accept(&b2, "KORKT")).code,
        ErrorCode::AgreementOverlap
    );
    // Now the batch applies.
    assert_eq!(h.batch(b).accepted, 2);
}

#[test]
fn statement_signatures_are_checked() {
    let mut h = Harness::new();
    let recs = h.records("KORKT", "JPNDO", 3, 1);
    h.batch(h.fx.batch("KORKT", "JPNDO", "s1", &recs));
    let p = h.period();
    h.advance_to("2026-12-01T00:00:00Z");
    h.close(p);
    let e = h.m.statement(p, t("KORKT"), t("JPNDO")).unwrap().unwrap();
    // A third party cannot sign.
    let c = h.fx.sign_statement(p, t("KORKT"), t("JPNDO"), "CHNCM", &e.bytes);
    assert_eq!(h.reject(c).code, ErrorCode::NotAuthorized);
    // Signing other bytes, or with another carrier's key, fails.
    let mut other_bytes = e.bytes.clone();
    other_bytes.push(b' ');
    let c =
        h.fx.sign_statement(p, t("KORKT"), t("JPNDO"), "KORKT", &other_bytes);
    assert_eq!(h.reject(c).code, ErrorCode::CommandSignatureInvalid);
    let mut c = h.fx.sign_statement(p, t("KORKT"), t("JPNDO"), "KORKT", &e.bytes);
    if let Command::SignStatement(s) = &mut c {
        s.signature = h.fx.carrier("JPNDO").id.signer.sign(Domain::Statement, &e.bytes);
    }
    assert_eq!(h.reject(c).code, ErrorCode::CommandSignatureInvalid);
    let c = h.fx.sign_statement(p, t("KORKT"), t("JPNDO"), "KORKT", &e.bytes);
    assert!(matches!(
        h.apply(c.clone()),
        Outcome::StatementSigned { is_final: false, .. }
    ));
    assert_eq!(h.reject(c).code, ErrorCode::StatementAlreadySigned);
    let c = h.fx.sign_statement(p, t("KORKT"), t("JPNDO"), "JPNDO", &e.bytes);
    assert!(matches!(
        h.apply(c),
        Outcome::StatementSigned { is_final: true, .. }
    ));
    let c = h.fx.sign_statement(p, t("JPNDO"), t("KORKT"), "JPNDO", &e.bytes);
    assert_eq!(h.reject(c).code, ErrorCode::StatementUnknown);

    // Offline verification refuses wrong signatures, foreign roots and altered bytes.
    let e = h.m.statement(p, t("KORKT"), t("JPNDO")).unwrap().unwrap();
    let sigs: Vec<PartySignature> = e
        .signatures
        .iter()
        .map(|(party, s)| PartySignature {
            party: *party,
            signature: s.clone(),
        })
        .collect();
    let roots = [h.fx.pki.root_der.clone()];
    verify_statement(&e.bytes, &sigs, &h.certificates(), &roots).unwrap();
    let mut swapped = sigs.clone();
    swapped[0].signature = sigs[1].signature.clone();
    assert!(verify_statement(&e.bytes, &swapped, &h.certificates(), &roots).is_err());
    let foreign = crate::testkit::TestPki::new("foreign root");
    assert!(verify_statement(&e.bytes, &sigs, &h.certificates(), &[foreign.root_der]).is_err());
    let text = String::from_utf8(e.bytes.clone()).unwrap();
    let altered = text.replacen("\"tree_size\":3", "\"tree_size\":4", 1);
    assert_ne!(altered, text);
    assert!(verify_statement(altered.as_bytes(), &sigs, &h.certificates(), &roots).is_err());
    let inconsistent = text.replacen("\"count\":3", "\"count\":2", 1);
    assert!(matches!(
        verify_statement(inconsistent.as_bytes(), &[], &h.certificates(), &roots),
        Err(crate::statement::VerifyError::Inconsistent(_))
    ));
}

#[test]
fn registry_changes_need_the_right_keys() {
    let mut h = Harness::new();
    let new = crate::testkit::TestCarrier {
        tadig: t("USATT"),
        node_id: 4,
        id: h.fx.pki.issue("USATT", Role::Signer, (2025, 2035)),
    };
    // Proof of possession: a registration signed by another key is refused.
    let mut reg = Fixture::registration(&new, 0);
    reg.signature =
        h.fx.carrier("KORKT")
            .id
            .signer
            .sign(Domain::Registry, &reg.registration.canonical_bytes());
    assert_eq!(
        h.reject(Command::RegisterCarrier(reg)).code,
        ErrorCode::CommandSignatureInvalid
    );
    // A certificate from another root is refused.
    let foreign = crate::testkit::TestPki::new("foreign");
    let outsider = crate::testkit::TestCarrier {
        tadig: t("USATT"),
        node_id: 4,
        id: foreign.issue("USATT", Role::Signer, (2025, 2035)),
    };
    let r = h.reject(Command::RegisterCarrier(Fixture::registration(&outsider, 0)));
    assert_eq!(r.code, ErrorCode::CertificateInvalid);
    // An expired certificate is refused at ledger time.
    let expired = crate::testkit::TestCarrier {
        tadig: t("USATT"),
        node_id: 4,
        id: h
            .fx
            .pki
            .issue_named("USATT", Role::Signer, (2020, 2024), "usatt-old"),
    };
    assert_eq!(
        h.reject(Command::RegisterCarrier(Fixture::registration(&expired, 0)))
            .code,
        ErrorCode::CertificateInvalid
    );
    assert!(matches!(
        h.apply(Command::RegisterCarrier(Fixture::registration(&new, 0))),
        Outcome::CarrierRegistered { .. }
    ));
    assert_eq!(
        h.reject(Command::RegisterCarrier(Fixture::registration(&new, 0)))
            .code,
        ErrorCode::CarrierExists
    );
    // Key rotation: signed with the current key, names the current version.
    let rotated =
        h.fx.pki
            .issue_named("USATT", Role::Signer, (2025, 2035), "usatt-2");
    let reg = CarrierRegistration {
        tadig: t("USATT"),
        name: "USATT Mobile".into(),
        node_id: 4,
        certificate: rotated.cert_der.clone(),
        version: 1,
    };
    let by_new_key = SignedRegistration::sign(reg.clone(), &rotated.signer);
    assert_eq!(
        h.reject(Command::UpdateCarrier(by_new_key)).code,
        ErrorCode::CommandSignatureInvalid
    );
    let update = SignedRegistration::sign(reg.clone(), &new.id.signer);
    assert!(matches!(
        h.apply(Command::UpdateCarrier(update.clone())),
        Outcome::CarrierUpdated { version: 2, .. }
    ));
    // Replaying the same signed update is refused (version moved on).
    assert_eq!(
        h.reject(Command::UpdateCarrier(update)).code,
        ErrorCode::NotAuthorized
    );
    // Retirement by the consortium root.
    let payload = RetirePayload {
        tadig: t("USATT"),
        version: 2,
        reason: "left the consortium".into(),
    };
    let bytes = crate::canonical::to_canonical(&payload);
    let wrong = RetireCarrier {
        payload: payload.clone(),
        authority: RetireAuthority::Root(0),
        signature: h.fx.carrier("KORKT").id.signer.sign(Domain::Consortium, &bytes),
    };
    assert_eq!(
        h.reject(Command::RetireCarrier(wrong)).code,
        ErrorCode::CommandSignatureInvalid
    );
    let retire = RetireCarrier {
        payload,
        authority: RetireAuthority::Root(0),
        signature: h.fx.pki.root_signer().sign(Domain::Consortium, &bytes),
    };
    assert!(matches!(
        h.apply(Command::RetireCarrier(retire)),
        Outcome::CarrierRetired { .. }
    ));
    assert!(!h.m.carriers()[&t("USATT")].is_active());
    // Retired carriers can no longer submit.
    let recs = h.records("KORKT", "JPNDO", 1, 1);
    let mut b = h.fx.batch("KORKT", "JPNDO", "x", &recs);
    b.key.recipient = t("USATT");
    assert_eq!(
        h.reject(Command::SubmitBatch(b)).code,
        ErrorCode::RecipientUnknown
    );
}

#[test]
fn configuration_changes_need_the_root_key() {
    let mut h = Harness::new();
    let mut config = h.m.config().clone();
    config.period = crate::config::PeriodScheme::Fixed { seconds: 86_400 };
    let payload = ConfigPayload { config, version: 1 };
    let bytes = crate::canonical::to_canonical(&payload);
    let forged = SetConfig {
        payload: payload.clone(),
        root: 0,
        signature: h.fx.carrier("KORKT").id.signer.sign(Domain::Consortium, &bytes),
    };
    assert_eq!(
        h.reject(Command::SetConfig(forged)).code,
        ErrorCode::CommandSignatureInvalid
    );
    let ok = SetConfig {
        payload: payload.clone(),
        root: 0,
        signature: h.fx.pki.root_signer().sign(Domain::Consortium, &bytes),
    };
    assert_eq!(
        h.apply(Command::SetConfig(ok.clone())),
        Outcome::ConfigSet { version: 2 }
    );
    assert_eq!(h.reject(Command::SetConfig(ok)).code, ErrorCode::NotAuthorized);
    // The settlement scale is fixed at genesis.
    let mut c = h.m.config().clone();
    c.settlement_scale = Scale::new(2).unwrap();
    let payload = ConfigPayload {
        config: c,
        version: 2,
    };
    let bytes = crate::canonical::to_canonical(&payload);
    let s = SetConfig {
        payload,
        root: 0,
        signature: h.fx.pki.root_signer().sign(Domain::Consortium, &bytes),
    };
    assert_eq!(h.reject(Command::SetConfig(s)).code, ErrorCode::ConfigInvalid);
    // Daily periods now.
    let recs = h.records("KORKT", "JPNDO", 1, 1);
    h.batch(h.fx.batch("KORKT", "JPNDO", "daily", &recs));
    let p = h.m.periods().values().next_back().copied().unwrap();
    assert_eq!(p.end.unix_seconds() - p.id.0.unix_seconds(), 86_400);
}

#[test]
fn restart_and_snapshot_restore_resume_identically() {
    let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
    let mut cmds: Vec<Vec<u8>> = Vec::new();
    let mut time: UtcTime = T0.parse().unwrap();
    for c in fx.setup() {
        cmds.push(envelope(time, c));
    }
    let day = |time: UtcTime| UtcTime::from_unix_seconds(time.unix_seconds() - 86_400);
    for i in 0..6u64 {
        let (v, h) = [("KORKT", "JPNDO"), ("JPNDO", "CHNCM"), ("CHNCM", "KORKT")][(i % 3) as usize];
        let recs = fx.records(v, h, 40, day(time), i);
        cmds.push(envelope(
            time,
            Command::SubmitBatch(fx.batch(v, h, &format!("b{i}"), &recs)),
        ));
    }
    time = "2026-12-01T00:00:00Z".parse().unwrap();
    cmds.push(envelope(
        time,
        Command::ClosePeriod(ClosePeriod {
            period: PeriodId("2026-11-01T00:00:00Z".parse().unwrap()),
        }),
    ));
    let recs = fx.records("KORKT", "JPNDO", 10, day(time), 77);
    cmds.push(envelope(
        time,
        Command::SubmitBatch(fx.batch("KORKT", "JPNDO", "after", &recs)),
    ));

    // Reference: one machine, straight through.
    let mut reference = SettlementMachine::open(MemStore::new()).unwrap();
    let outcomes: Vec<Outcome> = cmds
        .iter()
        .enumerate()
        .map(|(i, c)| reference.apply(i as u64 + 1, c).unwrap())
        .collect();
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Rejected(_))),
        "the workload must apply: {outcomes:?}"
    );

    for cut in [1, cmds.len() / 2, cmds.len() - 2] {
        // Restart: reopen from the store at `cut`.
        let mut m = SettlementMachine::open(MemStore::new()).unwrap();
        for (i, c) in cmds[..cut].iter().enumerate() {
            m.apply(i as u64 + 1, c).unwrap();
        }
        let mut m = SettlementMachine::open(m.into_store()).unwrap();
        assert_eq!(m.applied_index(), cut as u64);
        // Snapshot/restore into a fresh store at the same point.
        let chunks: Vec<Vec<u8>> = SnapshotReader::with_chunk_bytes(m.store(), 4096)
            .collect::<Result<_, _>>()
            .unwrap();
        let mut target = MemStore::new();
        target.write(SnapshotInstaller::clear_all()).unwrap();
        let mut inst = SnapshotInstaller::new();
        for c in &chunks {
            target.write(inst.chunk(c).unwrap()).unwrap();
        }
        inst.finish().unwrap();
        let mut restored = SettlementMachine::open(target).unwrap();
        for (i, c) in cmds.iter().enumerate().skip(cut) {
            let a = m.apply(i as u64 + 1, c).unwrap();
            let b = restored.apply(i as u64 + 1, c).unwrap();
            assert_eq!(a, outcomes[i]);
            assert_eq!(b, outcomes[i]);
        }
        for x in [&m, &restored] {
            assert_eq!(x.head(), reference.head());
            assert_eq!(x.state_digest().unwrap(), reference.state_digest().unwrap());
        }
    }
}

#[test]
fn every_error_code_is_reachable() {
    let mut h = Harness::new();
    let recs = h.records("KORKT", "JPNDO", 4, 1);
    let base = h.fx.batch("KORKT", "JPNDO", "cov", &recs);
    let resign = |h: &Harness, mut b: SubmitBatch| {
        let signer = &h.fx.carrier(b.key.sender.as_str()).id.signer;
        b.signature = signer.sign(Domain::Batch, &b.digest.0);
        b
    };
    // ---- Fatal: the whole batch.
    let mut b = base.clone();
    b.key.sender = t("USATT");
    h.reject(Command::SubmitBatch(b));
    let mut b = base.clone();
    b.key.recipient = t("USATT");
    h.reject(Command::SubmitBatch(b));
    let mut b = base.clone();
    b.key.recipient = t("KORKT");
    h.reject(Command::SubmitBatch(b));
    let mut b = base.clone();
    b.record_count = 0;
    h.reject(Command::SubmitBatch(b));
    let mut b = base.clone();
    b.record_count = (RECORDS_PER_BATCH_MAX + 1) as u32;
    h.reject(Command::SubmitBatch(b));
    let mut b = base.clone();
    b.signature = h.fx.carrier("JPNDO").id.signer.sign(Domain::Batch, &b.digest.0);
    h.reject(Command::SubmitBatch(b));
    let mut b = base.clone();
    b.currency = "EUR".parse().unwrap();
    h.reject(Command::SubmitBatch(resign(&h, b)));
    let mut b = base.clone();
    b.scale = Scale::new(7).unwrap();
    h.reject(Command::SubmitBatch(resign(&h, b)));
    let mut b = base.clone();
    b.records.truncate(b.records.len() - 3);
    h.reject(Command::SubmitBatch(b));
    let mut b = base.clone();
    let last = b.records.len() - 1;
    b.records[last] ^= 1; // the last record's index: still decodes, digest differs
    h.reject(Command::SubmitBatch(b));
    let theirs = h.records("JPNDO", "KORKT", 2, 5);
    let key = base.key.clone();
    let b = SubmitBatch::build(
        key,
        Currency::SDR,
        scale3(),
        &theirs,
        &h.fx.carrier("KORKT").id.signer,
    )
    .unwrap();
    h.reject(Command::SubmitBatch(b));
    let other_scale: Vec<UsageRecord> = recs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.charge = r.charge.rescale_exact(Scale::new(4).unwrap()).unwrap();
            r
        })
        .collect();
    h.reject(Command::SubmitBatch(h.fx.batch(
        "KORKT",
        "JPNDO",
        "scales",
        &other_scale,
    )));
    let mut huge = recs.clone();
    huge[0].charge = Amount::new(i64::MAX / 1000, scale3());
    huge[1].charge = Amount::new(i64::MAX / 1000, scale3());
    h.reject(Command::SubmitBatch(h.fx.batch("KORKT", "JPNDO", "huge", &huge)));
    h.batch(base.clone());
    h.reject(Command::SubmitBatch(h.fx.batch(
        "KORKT",
        "JPNDO",
        "cov",
        &recs[..1],
    )));

    // ---- Registry: a new member, twice; a foreign certificate; a forged proof of possession.
    let usatt = crate::testkit::TestCarrier {
        tadig: t("USATT"),
        node_id: 4,
        id: h.fx.pki.issue("USATT", Role::Signer, (2025, 2035)),
    };
    let mut forged = Fixture::registration(&usatt, 0);
    forged.signature =
        h.fx.carrier("KORKT")
            .id
            .signer
            .sign(Domain::Registry, &forged.registration.canonical_bytes());
    h.reject(Command::RegisterCarrier(forged));
    let foreign = crate::testkit::TestPki::new("foreign");
    let outsider = crate::testkit::TestCarrier {
        tadig: t("USATT"),
        node_id: 4,
        id: foreign.issue("USATT", Role::Signer, (2025, 2035)),
    };
    h.reject(Command::RegisterCarrier(Fixture::registration(&outsider, 0)));
    h.apply(Command::RegisterCarrier(Fixture::registration(&usatt, 0)));
    h.reject(Command::RegisterCarrier(Fixture::registration(&usatt, 0)));
    // A pair without agreement.
    let k_u = h.records("KORKT", "USATT", 1, 6);
    let b = SubmitBatch::build(
        BatchKey {
            sender: t("KORKT"),
            recipient: t("USATT"),
            id: crate::batch::BatchId::client("k-u").unwrap(),
        },
        Currency::SDR,
        scale3(),
        &k_u,
        &h.fx.carrier("KORKT").id.signer,
    )
    .unwrap();
    h.reject(Command::SubmitBatch(b.clone()));
    // An agreement that starts after the event: the record has no tariff at its time.
    let mut late = h.fx.agreement("USATT", "KORKT");
    late.valid_from = "2026-11-10T00:00:00Z".parse().unwrap();
    h.apply(h.fx.propose(&late, "KORKT"));
    let accept = Command::AcceptAgreement(AcceptAgreement {
        id: late.id(),
        acceptor: t("USATT"),
        signature: usatt.id.signer.sign(Domain::Agreement, &late.canonical_bytes()),
    });
    assert!(matches!(h.apply(accept), Outcome::AgreementAccepted { .. }));
    let o = h.batch(b);
    assert_eq!(o.rejected[0].code, ErrorCode::NoAgreementAtEventTime);

    // ---- Severe: single records.
    let mut odd = h.records("KORKT", "JPNDO", 7, 50);
    odd[0].service = ServiceKind::Location;
    odd[0].charged_units = 1;
    odd[1] = recs[0].clone();
    odd[2].charge = Amount::new(-1, scale3());
    odd[3].start = UtcTime::from_unix_seconds(h.time.unix_seconds() + 3600);
    odd[4].start = UtcTime::from_unix_seconds(h.time.unix_seconds() - 40 * 86_400);
    odd[5].start = "2025-12-31T23:00:00Z".parse().unwrap();
    let o = h.batch(h.fx.batch("KORKT", "JPNDO", "severe", &odd));
    assert_eq!(o.rejected.len(), 6, "{:?}", o.rejected);

    // ---- Agreements.
    let a = h.fx.agreement("JPNDO", "KORKT");
    h.reject(h.fx.propose(&a, "KORKT")); // already in force
    h.reject(h.fx.propose(&a, "CHNCM")); // not a party
    let mut bad = a.clone();
    bad.valid_until = bad.valid_from;
    h.reject(h.fx.propose(&bad, "KORKT"));
    let mut forged = h.fx.propose(&a, "KORKT");
    if let Command::ProposeAgreement(p) = &mut forged {
        p.signature =
            h.fx.carrier("JPNDO")
                .id
                .signer
                .sign(Domain::Agreement, b"other bytes");
    }
    h.reject(forged);
    let mut unknown = h.fx.accept(&a, "JPNDO");
    if let Command::AcceptAgreement(x) = &mut unknown {
        x.id = Hash([9; 32]);
    }
    h.reject(unknown);
    let mut overlapping = a.clone();
    overlapping.tolerance.relative_bps = 50;
    h.apply(h.fx.propose(&overlapping, "KORKT"));
    h.reject(h.fx.propose(&overlapping, "JPNDO"));
    h.reject(h.fx.accept(&overlapping, "JPNDO"));

    // ---- Disputes.
    let item = |batch, index| DisputeItem {
        record: RecordId { batch, index },
        reason: DisputeReason::Other,
        text: String::new(),
    };
    h.reject(h.fx.dispute("JPNDO", vec![]));
    h.reject(h.fx.dispute("JPNDO", vec![item(1234, 0)]));
    let payload = DisputePayload {
        home: t("GBRVF"),
        items: vec![item(0, 0)],
    };
    let signature =
        h.fx.carrier("KORKT")
            .id
            .signer
            .sign(Domain::Dispute, &payload.canonical_bytes());
    h.reject(Command::DisputeRecords(DisputeRecords { payload, signature }));
    h.apply(h.fx.dispute("JPNDO", vec![item(0, 1)]));
    h.reject(h.fx.dispute("JPNDO", vec![item(0, 1)]));

    // ---- Configuration.
    let mut c = h.m.config().clone();
    c.settlement_scale = Scale::new(2).unwrap();
    let payload = ConfigPayload {
        config: c,
        version: 1,
    };
    let bytes = crate::canonical::to_canonical(&payload);
    let s = SetConfig {
        payload,
        root: 0,
        signature: h.fx.pki.root_signer().sign(Domain::Consortium, &bytes),
    };
    h.reject(Command::SetConfig(s));

    // ---- Periods and statements.
    h.reject(h.fx.genesis());
    h.index += 1;
    let o = h.m.apply(h.index, &[1, 0xff, 0xff]).unwrap();
    let Outcome::Rejected(r) = o else { panic!("{o:?}") };
    assert!(r.message.contains("log index"), "{r}");
    h.codes.insert(r.code);
    let p = h.period();
    h.reject(Command::ClosePeriod(ClosePeriod {
        period: PeriodId(UtcTime::EPOCH),
    }));
    h.reject(Command::ClosePeriod(ClosePeriod { period: p }));
    h.advance_to("2026-12-01T00:00:00Z");
    h.close(p);
    h.reject(Command::ClosePeriod(ClosePeriod { period: p }));
    h.reject(h.fx.sign_statement(p, t("JPNDO"), t("CHNCM"), "JPNDO", b"{}"));
    let e = h.m.statement(p, t("KORKT"), t("JPNDO")).unwrap().unwrap();
    let sign = h.fx.sign_statement(p, t("KORKT"), t("JPNDO"), "KORKT", &e.bytes);
    h.apply(sign.clone());
    h.reject(sign);
    // Ledger time never goes back, and a period is closed only once its end has passed, so a
    // batch cannot land in a closed period through commands; `period_for` guards it anyway.
    let r = h.m.period_for(p.0).unwrap_err();
    h.codes.insert(r.code);
    // An expired sender certificate at ledger time (a proposer clock in 2036). Last, because
    // ledger time never goes back.
    h.advance_to("2036-01-01T00:00:00Z");
    let recs = h.records("KORKT", "JPNDO", 1, 99);
    h.reject(Command::SubmitBatch(h.fx.batch("KORKT", "JPNDO", "late", &recs)));

    let missing: Vec<ErrorCode> = ErrorCode::ALL
        .iter()
        .copied()
        .filter(|c| !h.codes.contains(c))
        .collect();
    assert!(missing.is_empty(), "codes never produced: {missing:?}");
}

/// A random workload step for the determinism property.
#[derive(Clone, Debug)]
enum Step {
    Batch { pair: usize, n: u32, salt: u64 },
    Replay { which: usize },
    Dispute { which: usize, index: u32 },
    Advance { hours: u16 },
    Close,
    SignAll,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0usize..6, 1u32..40, 0u64..5).prop_map(|(pair, n, salt)| Step::Batch { pair, n, salt }),
        1 => (0usize..8).prop_map(|which| Step::Replay { which }),
        2 => (0usize..8, 0u32..40).prop_map(|(which, index)| Step::Dispute { which, index }),
        2 => (1u16..400).prop_map(|hours| Step::Advance { hours }),
        1 => Just(Step::Close),
        1 => Just(Step::SignAll),
    ]
}

/// Turns steps into command bytes, consulting a live machine for ids and statements.
fn run(fx: &Fixture, steps: &[Step], snapshot_at: Option<usize>) -> (Hash, Hash, Vec<Vec<u8>>, Vec<Outcome>) {
    const PAIRS: [(&str, &str); 6] = [
        ("KORKT", "JPNDO"),
        ("JPNDO", "KORKT"),
        ("KORKT", "CHNCM"),
        ("CHNCM", "KORKT"),
        ("JPNDO", "CHNCM"),
        ("CHNCM", "JPNDO"),
    ];
    let mut m = SettlementMachine::open(MemStore::new()).unwrap();
    let mut time: UtcTime = T0.parse().unwrap();
    let mut index = 0u64;
    let mut outcomes = Vec::new();
    let mut batches: Vec<(SubmitBatch, Option<u64>)> = Vec::new();
    let mut apply =
        |m: &mut SettlementMachine<MemStore>, time: UtcTime, c: Command, outcomes: &mut Vec<Outcome>| {
            index += 1;
            let o = m.apply(index, &envelope(time, c)).unwrap();
            outcomes.push(o.clone());
            o
        };
    for c in fx.setup() {
        let o = apply(&mut m, time, c, &mut outcomes);
        assert!(!matches!(o, Outcome::Rejected(_)), "setup rejected: {o:?}");
    }
    for (i, s) in steps.iter().enumerate() {
        if snapshot_at == Some(i) {
            let chunks: Vec<Vec<u8>> = SnapshotReader::with_chunk_bytes(m.store(), 1024)
                .collect::<Result<_, _>>()
                .unwrap();
            let mut target = MemStore::new();
            let mut inst = SnapshotInstaller::new();
            for c in &chunks {
                target.write(inst.chunk(c).unwrap()).unwrap();
            }
            inst.finish().unwrap();
            m = SettlementMachine::open(target).unwrap();
        }
        match s {
            Step::Batch { pair, n, salt } => {
                let (v, h) = PAIRS[*pair];
                let start = UtcTime::from_unix_seconds(time.unix_seconds() - 3 * 86_400);
                let recs = fx.records(v, h, *n, start, *salt);
                let b = fx.batch(v, h, &format!("b{i}"), &recs);
                let o = apply(&mut m, time, Command::SubmitBatch(b.clone()), &mut outcomes);
                let seq = match o {
                    Outcome::BatchApplied(o) => Some(o.batch),
                    _ => None,
                };
                batches.push((b, seq));
            }
            Step::Replay { which } => {
                if let Some((b, _)) = batches.get(*which).cloned() {
                    apply(&mut m, time, Command::SubmitBatch(b), &mut outcomes);
                }
            }
            Step::Dispute { which, index: ri } => {
                if let Some((b, Some(seq))) = batches.get(*which).cloned() {
                    let home = b.key.recipient.to_string();
                    let item = DisputeItem {
                        record: RecordId {
                            batch: seq,
                            index: *ri,
                        },
                        reason: DisputeReason::RatingDiscrepancy,
                        text: "check".into(),
                    };
                    apply(&mut m, time, fx.dispute(&home, vec![item]), &mut outcomes);
                }
            }
            Step::Advance { hours } => {
                time = UtcTime::from_unix_seconds(time.unix_seconds() + i64::from(*hours) * 3600);
            }
            Step::Close => {
                if let Some(p) = m
                    .periods()
                    .values()
                    .find(|p| p.status == PeriodStatus::Open)
                    .map(|p| p.id)
                {
                    apply(
                        &mut m,
                        time,
                        Command::ClosePeriod(ClosePeriod { period: p }),
                        &mut outcomes,
                    );
                }
            }
            Step::SignAll => {
                let closed: Vec<PeriodId> = m
                    .periods()
                    .values()
                    .filter(|p| p.status == PeriodStatus::Closed)
                    .map(|p| p.id)
                    .collect();
                for p in closed {
                    for e in m.statements(p).unwrap() {
                        let s = e.statement();
                        for party in [s.visited, s.home] {
                            if !e.signatures.contains_key(&party) {
                                let c = fx.sign_statement(p, s.visited, s.home, party.as_str(), &e.bytes);
                                apply(&mut m, time, c, &mut outcomes);
                            }
                        }
                    }
                }
            }
        }
    }
    let statements: Vec<Vec<u8>> = m
        .periods()
        .keys()
        .flat_map(|p| m.statements(*p).unwrap())
        .map(|e| e.bytes)
        .collect();
    (m.head(), m.state_digest().unwrap(), statements, outcomes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Two machines fed the same commands produce identical state bytes, statements, ledger
    /// heads and outcomes, also when one of them is rebuilt from a snapshot mid-way.
    #[test]
    fn apply_is_deterministic(steps in proptest::collection::vec(step(), 1..30), cut in 0usize..30) {
        let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
        let a = run(&fx, &steps, None);
        let b = run(&fx, &steps, Some(cut % steps.len()));
        prop_assert_eq!(a.0, b.0, "ledger heads differ");
        prop_assert_eq!(a.1, b.1, "state digests differ");
        prop_assert_eq!(a.2, b.2, "statement bytes differ");
        prop_assert_eq!(a.3, b.3, "outcomes differ");
    }
}

#[test]
fn the_head_chain_recomputes_from_checkpoints() {
    let mut h = Harness::new();
    let start_index = h.index;
    let start_head = h.m.head();
    let mut cmds = Vec::new();
    for i in 0..5u64 {
        let recs = h.records("KORKT", "JPNDO", 3, 100 + i);
        let c = Command::SubmitBatch(h.fx.batch("KORKT", "JPNDO", &format!("chain{i}"), &recs));
        let bytes = envelope(h.time, c.clone());
        h.apply(c);
        cmds.push((h.index, bytes));
    }
    assert_eq!(chain_head(start_head, cmds.clone()), h.m.head());
    let mut tampered = cmds;
    tampered[2].1.push(0);
    assert_ne!(chain_head(start_head, tampered), h.m.head());
    assert!(start_index > 0);
}

#[test]
fn stored_meta_reads_the_progress_without_opening_the_machine() {
    assert_eq!(stored_meta(&MemStore::new()).unwrap(), Meta::default());
    let mut h = Harness::new();
    h.index += 1;
    h.m.skip(h.index).unwrap();
    let stored = stored_meta(h.m.store()).unwrap();
    assert_eq!(stored, h.m.meta());
    assert_eq!(stored.applied_index, h.index);
    // Through a trait object too, as a driver holding any store reads it.
    let dyn_store: &dyn ReadStore = h.m.store();
    assert_eq!(stored_meta(dyn_store).unwrap().applied_index, h.index);
}

/// Commands whose batches repeat records of earlier batches (across batches and within one)
/// and add new ones, for the duplicate-index tests. Returns the commands and how many of
/// them set the consortium up.
fn repeating_batches(fx: &Fixture) -> (Vec<Vec<u8>>, usize) {
    let time: UtcTime = T0.parse().unwrap();
    let mut cmds: Vec<Vec<u8>> = fx.setup().into_iter().map(|c| envelope(time, c)).collect();
    let setup = cmds.len();
    let start = UtcTime::from_unix_seconds(time.unix_seconds() - 86_400);
    for i in 0..14u32 {
        // Salt `i % 4`: batch i repeats the records of batch i - 4 and adds two.
        let mut recs = fx.records("KORKT", "JPNDO", 6 + 2 * i / 4, start, u64::from(i % 4));
        recs[2] = recs[1].clone();
        cmds.push(envelope(
            time,
            Command::SubmitBatch(fx.batch("KORKT", "JPNDO", &format!("rep{i}"), &recs)),
        ));
    }
    (cmds, setup)
}

fn apply_all(m: &mut SettlementMachine<MemStore>, cmds: &[Vec<u8>], from: usize) -> Vec<Outcome> {
    cmds.iter()
        .enumerate()
        .skip(from)
        .map(|(i, c)| m.apply(i as u64 + 1, c).unwrap())
        .collect()
}

/// Duplicate answers do not depend on where the index entries are: all in memory, sealed
/// into the store's runs after every few entries, reloaded from the stored batches after a
/// reopen or a cleared index, or in runs sealed ahead of a state that a crash set back.
#[test]
fn duplicate_answers_do_not_depend_on_where_the_index_is() {
    let fx = Fixture::new(&["KORKT", "JPNDO", "CHNCM"]);
    let (cmds, setup) = repeating_batches(&fx);
    let mut reference = SettlementMachine::open(MemStore::new()).unwrap();
    let outcomes = apply_all(&mut reference, &cmds, 0);
    let dups = |o: &Outcome| match o {
        Outcome::BatchApplied(b) => b
            .rejected
            .iter()
            .filter(|r| r.code == ErrorCode::DuplicateRecord)
            .count(),
        other => panic!("a batch must apply: {other:?}"),
    };
    let found: Vec<usize> = outcomes[setup..].iter().map(dups).collect();
    assert_eq!(found[0], 1, "the in-batch duplicate of the first batch");
    assert!(
        found[4..].iter().all(|&n| n >= 6),
        "batches repeating earlier ones: {found:?}"
    );
    assert_eq!(
        reference.store().index_through().unwrap(),
        0,
        "the reference keeps every entry in memory"
    );

    // Sealed every 5 entries: the store's runs answer most lookups.
    let mut small = SettlementMachine::open(MemStore::new()).unwrap();
    small.set_index_memory_entries(5);
    assert_eq!(
        apply_all(&mut small, &cmds, 0),
        outcomes,
        "sealed every 5 entries"
    );
    assert!(small.store().index_through().unwrap() > 1, "runs were sealed");
    assert_eq!(small.state_digest().unwrap(), reference.state_digest().unwrap());

    for cut in [setup + 2, setup + 6, setup + 11] {
        let mut at_cut = SettlementMachine::open(MemStore::new()).unwrap();
        at_cut.set_index_memory_entries(5);
        apply_all(&mut at_cut, &cmds[..cut], 0);
        let at_cut = at_cut.into_store();

        // A reopen loads the entries that were only in memory from the stored batches.
        let mut reopened = SettlementMachine::open(at_cut.clone()).unwrap();
        assert_eq!(
            apply_all(&mut reopened, &cmds, cut),
            outcomes[cut..],
            "reopened at {cut}"
        );

        // An index cleared (a snapshot install) is rebuilt whole, in runs.
        let mut cleared = at_cut.clone();
        cleared.index_clear().unwrap();
        let mut rebuilt = SettlementMachine::open(cleared).unwrap();
        assert_eq!(
            apply_all(&mut rebuilt, &cmds, cut),
            outcomes[cut..],
            "rebuilt at {cut}"
        );

        // A crash that kept the index's runs up to the end but set the state back to `cut`:
        // the replay of the later batches finds their own records' entries and must still
        // decide as the first apply did.
        let mut ahead = at_cut.clone();
        let mut full = SettlementMachine::open(MemStore::new()).unwrap();
        full.set_index_memory_entries(1);
        apply_all(&mut full, &cmds, 0);
        ahead.set_index_from(full.store());
        assert!(ahead.index_through().unwrap() > at_cut.index_through().unwrap());
        let mut replayed = SettlementMachine::open(ahead).unwrap();
        assert_eq!(
            apply_all(&mut replayed, &cmds, cut),
            outcomes[cut..],
            "index ahead at {cut}"
        );
        assert_eq!(
            replayed.state_digest().unwrap(),
            reference.state_digest().unwrap()
        );
    }
}

/// A [`MemStore`] whose seals would wait while `busy` is set.
struct BusyStore {
    inner: MemStore,
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ReadStore for BusyStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.scan(start, end, visit)
    }
}

impl Store for BusyStore {
    fn write(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        self.inner.write(batch)
    }

    fn index_get_many(&self, keys: &[&IndexKey]) -> Result<Vec<Option<IndexValue>>, StoreError> {
        self.inner.index_get_many(keys)
    }

    fn index_seal(&mut self, run: IndexRun, through: u64) -> Result<Option<IndexRun>, StoreError> {
        self.inner.index_seal(run, through)
    }

    fn index_seal_would_wait(&self) -> bool {
        self.busy.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn index_through(&self) -> Result<u64, StoreError> {
        self.inner.index_through()
    }

    fn index_clear(&mut self) -> Result<(), StoreError> {
        self.inner.index_clear()
    }
}

/// Applying would wait only when both hold: the in-memory index is within one batch of its
/// seal, and the store says a seal now would wait.
#[test]
fn applying_would_wait_only_near_a_seal_the_store_is_behind_on() {
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let store = BusyStore {
        inner: MemStore::new(),
        busy: busy.clone(),
    };
    let mut m = SettlementMachine::open(store).unwrap();
    m.set_index_memory_entries(3 * RECORDS_PER_BATCH_MAX);
    assert!(
        !m.apply_would_wait(),
        "far from a seal: no wait, busy store or not"
    );
    m.set_index_memory_entries(RECORDS_PER_BATCH_MAX);
    assert!(
        m.apply_would_wait(),
        "the next batch may seal, and the store is behind"
    );
    busy.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(!m.apply_would_wait(), "the store has caught up");
    let mut mem = SettlementMachine::open(MemStore::new()).unwrap();
    mem.set_index_memory_entries(RECORDS_PER_BATCH_MAX);
    assert!(!mem.apply_would_wait(), "the in-memory store never waits");
}

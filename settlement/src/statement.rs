//! Clearing statements, netting, and their offline verification.
//!
//! A statement covers one ordered pair (visited, home) in one period. Its canonical JSON
//! (draft §5, format `roamledger-statement/1`) is what both parties sign; a statement with
//! both signatures is final. Verification needs only the statement bytes, the signatures and
//! the parties' certificates (plus the consortium root, to check who issued them).
//!
//! Amounts are decimal strings at the settlement scale. `amount_due` is what the home network
//! owes the visited network for the period:
//! `accepted.charge + accepted.tax + adjustments.charge + adjustments.tax`, where the accepted
//! totals exclude disputed records and adjustments are credits (negative) for records of
//! closed periods disputed during this one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::batch::BatchKey;
use crate::canonical::{from_canonical, to_canonical};
use crate::crypto::{Domain, Hash, Role, parse_certificate, sha256, verify_issued_by};
use crate::error::MoneyError;
use crate::types::{Amount, Currency, Scale, ServiceKind, Tadig, UtcTime};

/// The statement format identifier.
pub const STATEMENT_FORMAT: &str = "roamledger-statement/1";
/// The netting report format identifier.
pub const NETTING_FORMAT: &str = "roamledger-netting/1";

/// Serde helper: a [`Hash`] as 64 hex digits.
pub mod hash_hex {
    use super::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as hex.
    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&h.to_hex())
    }

    /// Deserializes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// Count and amounts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AmountTotals {
    /// Records.
    pub count: u64,
    /// Charge.
    pub charge: Amount,
    /// Tax.
    pub tax: Amount,
}

impl AmountTotals {
    /// Zero at `scale`.
    pub fn zero(scale: Scale) -> Self {
        AmountTotals {
            count: 0,
            charge: Amount::zero(scale),
            tax: Amount::zero(scale),
        }
    }

    fn checked_add(&self, o: &AmountTotals) -> Result<AmountTotals, MoneyError> {
        Ok(AmountTotals {
            count: self
                .count
                .checked_add(o.count)
                .ok_or(MoneyError::Overflow { op: "count" })?,
            charge: self.charge.checked_add(o.charge)?,
            tax: self.tax.checked_add(o.tax)?,
        })
    }

    /// `charge + tax`.
    pub fn gross(&self) -> Result<Amount, MoneyError> {
        self.charge.checked_add(self.tax)
    }
}

/// One service's line on a statement.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ServiceLine {
    /// The service.
    pub service: ServiceKind,
    /// Accepted, undisputed records.
    pub totals: AmountTotals,
    /// Charged base units.
    pub charged_units: u64,
    /// What the agreement gives for these records.
    pub expected_charge: Amount,
    /// Records beyond the rating tolerance.
    pub flagged_count: u64,
    /// Declared charge of those records.
    pub flagged_charge: Amount,
}

/// The clearing statement of one ordered pair for one period.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ClearingStatement {
    /// Always [`STATEMENT_FORMAT`].
    pub format: String,
    /// The consortium (hash of its genesis command).
    #[serde(with = "hash_hex")]
    pub consortium: Hash,
    /// Period start (inclusive).
    pub period_start: UtcTime,
    /// Period end (exclusive).
    pub period_end: UtcTime,
    /// The visited network, which is owed.
    pub visited: Tadig,
    /// The home network, which owes.
    pub home: Tadig,
    /// Settlement currency.
    pub currency: Currency,
    /// Decimal places of every amount.
    pub scale: Scale,
    /// One line per service with accepted records, by service code.
    pub services: Vec<ServiceLine>,
    /// Sum of the service lines.
    pub accepted: AmountTotals,
    /// Records rejected at ingest (severe errors), for information.
    pub rejected: AmountTotals,
    /// Records disputed by the home network before close: not in `accepted`.
    pub disputed: AmountTotals,
    /// Merkle root over the disputes counted in this statement.
    #[serde(with = "hash_hex")]
    pub disputes_root: Hash,
    /// Corrections for records of earlier periods disputed during this one: the negated
    /// amounts of those records (negative, unless a disputed record was itself a credit).
    pub adjustments: AmountTotals,
    /// What the home network owes the visited network.
    pub amount_due: Amount,
    /// Records in the Merkle tree (every record accepted at ingest).
    pub tree_size: u64,
    /// RFC 9162 Merkle root over the accepted records' leaf hashes.
    #[serde(with = "hash_hex")]
    pub records_root: Hash,
    /// The batches included, in apply order.
    pub batches: Vec<BatchKey>,
    /// Hash of this pair's previous statement (all zeros for the first).
    #[serde(with = "hash_hex")]
    pub previous_statement: Hash,
    /// Ledger time of the close.
    pub closed_at: UtcTime,
    /// Log index of the close command.
    pub closed_at_index: u64,
}

/// Why a statement or netting report does not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The bytes are not a canonical statement.
    #[error("not a canonical {what}: {reason}")]
    Format {
        /// Statement or netting.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Totals do not add up.
    #[error("statement totals are inconsistent: {0}")]
    Inconsistent(String),
    /// A signature is missing or wrong.
    #[error("signature of {party} does not verify: {reason}")]
    Signature {
        /// The party.
        party: Tadig,
        /// Why.
        reason: String,
    },
    /// Netting does not balance or does not match the statements.
    #[error("netting is wrong: {0}")]
    Netting(String),
    /// Statements do not chain.
    #[error("statement chain is broken at {index}: {reason}")]
    Chain {
        /// Position in the sequence.
        index: usize,
        /// Why.
        reason: String,
    },
}

impl ClearingStatement {
    /// The canonical bytes both parties sign.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        to_canonical(self)
    }

    /// SHA-256 of the canonical bytes: the statement's id and the next statement's
    /// `previous_statement`.
    pub fn hash(&self) -> Hash {
        sha256(&[&self.canonical_bytes()])
    }

    /// Parses canonical bytes.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, VerifyError> {
        let s: ClearingStatement = from_canonical(bytes, "statement").map_err(|e| VerifyError::Format {
            what: "statement",
            reason: e.to_string(),
        })?;
        if s.format != STATEMENT_FORMAT {
            return Err(VerifyError::Format {
                what: "statement",
                reason: format!("format {:?}, expected {STATEMENT_FORMAT:?}", s.format),
            });
        }
        Ok(s)
    }

    /// Checks that the totals are internally consistent (draft §5.2).
    pub fn check_consistency(&self) -> Result<(), VerifyError> {
        let inc = |m: String| Err(VerifyError::Inconsistent(m));
        let scale = self.scale;
        let amounts = self
            .services
            .iter()
            .flat_map(|l| [l.totals.charge, l.totals.tax, l.expected_charge, l.flagged_charge])
            .chain([
                self.accepted.charge,
                self.accepted.tax,
                self.rejected.charge,
                self.rejected.tax,
                self.disputed.charge,
                self.disputed.tax,
                self.adjustments.charge,
                self.adjustments.tax,
                self.amount_due,
            ]);
        for a in amounts {
            if a.scale() != scale {
                return inc(format!(
                    "amount {a} is not at the statement scale {}",
                    scale.places()
                ));
            }
        }
        let mut sum = AmountTotals::zero(scale);
        for (i, l) in self.services.iter().enumerate() {
            if i > 0 && self.services[i - 1].service >= l.service {
                return inc("service lines must be ordered by service, without repeats".into());
            }
            sum = sum
                .checked_add(&l.totals)
                .map_err(|e| VerifyError::Inconsistent(e.to_string()))?;
        }
        if sum != self.accepted {
            return inc(format!(
                "service lines add up to {} records / {} / {}, accepted says {} / {} / {}",
                sum.count, sum.charge, sum.tax, self.accepted.count, self.accepted.charge, self.accepted.tax
            ));
        }
        let due = self
            .accepted
            .gross()
            .and_then(|a| a.checked_add(self.adjustments.gross()?))
            .map_err(|e| VerifyError::Inconsistent(e.to_string()))?;
        if due != self.amount_due {
            return inc(format!(
                "amount_due is {}, the totals give {due}",
                self.amount_due
            ));
        }
        if self.accepted.count + self.disputed.count > self.tree_size {
            return inc("more accepted and disputed records than leaves in the tree".into());
        }
        Ok(())
    }
}

/// A statement whose signatures and totals were checked. Only [`verify_statement`] makes one.
#[derive(Clone, Debug)]
pub struct VerifiedStatement {
    statement: ClearingStatement,
    hash: Hash,
    signed_by: Vec<Tadig>,
}

impl VerifiedStatement {
    /// The statement.
    pub fn statement(&self) -> &ClearingStatement {
        &self.statement
    }

    /// Its hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Parties whose signatures verified.
    pub fn signed_by(&self) -> &[Tadig] {
        &self.signed_by
    }

    /// True when both parties signed.
    pub fn is_final(&self) -> bool {
        self.signed_by.contains(&self.statement.visited) && self.signed_by.contains(&self.statement.home)
    }
}

/// A party's signature on a statement.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PartySignature {
    /// The signing party.
    pub party: Tadig,
    /// Signature over `roamledger/v1/statement\0 || canonical bytes`.
    #[serde(with = "crate::registry::hex_bytes")]
    pub signature: Vec<u8>,
}

/// Verifies a statement offline: canonical form, internal consistency, and each signature
/// against the party's signing certificate (which must be issued by one of `roots`, name the
/// party with the signer role, and be valid when the statement was closed).
///
/// `certificates` maps a party to its signing certificate (DER). Parties without a signature
/// are simply not in `signed_by`; a wrong signature is an error.
pub fn verify_statement(
    bytes: &[u8],
    signatures: &[PartySignature],
    certificates: &BTreeMap<Tadig, Vec<u8>>,
    roots: &[Vec<u8>],
) -> Result<VerifiedStatement, VerifyError> {
    let statement = ClearingStatement::from_canonical_bytes(bytes)?;
    statement.check_consistency()?;
    let mut signed_by = Vec::new();
    for sig in signatures {
        let party = sig.party;
        let fail = |reason: String| VerifyError::Signature { party, reason };
        if party != statement.visited && party != statement.home {
            return Err(fail("not a party to this statement".into()));
        }
        if signed_by.contains(&party) {
            return Err(fail("signed twice".into()));
        }
        let der = certificates
            .get(&party)
            .ok_or_else(|| fail("no certificate given for this party".into()))?;
        if !roots.iter().any(|r| verify_issued_by(der, r).is_ok()) {
            return Err(fail("certificate is not issued by a consortium root".into()));
        }
        let info = parse_certificate(der).map_err(|e| fail(e.to_string()))?;
        info.check_identity(party, Role::Signer)
            .map_err(|e| fail(e.to_string()))?;
        info.check_valid_at(statement.closed_at)
            .map_err(|e| fail(e.to_string()))?;
        info.public_key
            .verify(Domain::Statement, bytes, &sig.signature)
            .map_err(|e| fail(e.to_string()))?;
        signed_by.push(party);
    }
    let hash = sha256(&[bytes]);
    Ok(VerifiedStatement {
        statement,
        hash,
        signed_by,
    })
}

/// Checks that statements of one pair, in order, each name the previous one's hash.
pub fn verify_chain(statements: &[ClearingStatement]) -> Result<(), VerifyError> {
    for (i, w) in statements.windows(2).enumerate() {
        if (w[1].visited, w[1].home) != (w[0].visited, w[0].home) {
            return Err(VerifyError::Chain {
                index: i + 1,
                reason: "statements of different pairs".into(),
            });
        }
        if w[1].previous_statement != w[0].hash() {
            return Err(VerifyError::Chain {
                index: i + 1,
                reason: format!(
                    "previous_statement {} is not the hash {} of the statement before",
                    w[1].previous_statement,
                    w[0].hash()
                ),
            });
        }
    }
    Ok(())
}

/// A statement as the netting report refers to it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StatementRef {
    /// Visited network.
    pub visited: Tadig,
    /// Home network.
    pub home: Tadig,
    /// The statement's hash.
    #[serde(with = "hash_hex")]
    pub hash: Hash,
    /// Its amount due.
    pub amount_due: Amount,
}

/// Bilateral netting of one unordered pair `a < b`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BilateralNet {
    /// The carrier that sorts first.
    pub a: Tadig,
    /// The other carrier.
    pub b: Tadig,
    /// What `b` owes `a` (the statement visited=a, home=b).
    pub a_receivable: Amount,
    /// What `a` owes `b`.
    pub b_receivable: Amount,
    /// `a_receivable - b_receivable`: positive means `b` pays `a`, negative `a` pays `b`.
    pub net_to_a: Amount,
}

/// A carrier's multilateral position.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NetPosition {
    /// The carrier.
    pub carrier: Tadig,
    /// Sum due to it as visited network.
    pub receivable: Amount,
    /// Sum it owes as home network.
    pub payable: Amount,
    /// `receivable - payable`.
    pub net: Amount,
}

/// The netting of a closed period.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NettingReport {
    /// Always [`NETTING_FORMAT`].
    pub format: String,
    /// The consortium.
    #[serde(with = "hash_hex")]
    pub consortium: Hash,
    /// Period start.
    pub period_start: UtcTime,
    /// Period end.
    pub period_end: UtcTime,
    /// Currency.
    pub currency: Currency,
    /// Scale.
    pub scale: Scale,
    /// The statements netted, ordered by (visited, home).
    pub statements: Vec<StatementRef>,
    /// Bilateral nets by (a, b).
    pub bilateral: Vec<BilateralNet>,
    /// Multilateral positions by carrier; they sum to zero.
    pub multilateral: Vec<NetPosition>,
}

/// Computes bilateral and multilateral netting from statement references.
///
/// Asserts (release builds too) that the positions sum to zero: money is conserved by
/// construction, so a failure here is a bug that must stop the node, not a rejection.
pub fn compute_netting(
    refs: &[StatementRef],
    scale: Scale,
) -> Result<(Vec<BilateralNet>, Vec<NetPosition>), MoneyError> {
    let zero = Amount::zero(scale);
    let mut pairs: BTreeMap<(Tadig, Tadig), (Amount, Amount)> = BTreeMap::new();
    let mut positions: BTreeMap<Tadig, (Amount, Amount)> = BTreeMap::new();
    for r in refs {
        let (a, b) = if r.visited < r.home {
            (r.visited, r.home)
        } else {
            (r.home, r.visited)
        };
        let e = pairs.entry((a, b)).or_insert((zero, zero));
        if r.visited == a {
            e.0 = e.0.checked_add(r.amount_due)?;
        } else {
            e.1 = e.1.checked_add(r.amount_due)?;
        }
        let v = positions.entry(r.visited).or_insert((zero, zero));
        v.0 = v.0.checked_add(r.amount_due)?;
        let h = positions.entry(r.home).or_insert((zero, zero));
        h.1 = h.1.checked_add(r.amount_due)?;
    }
    let bilateral = pairs
        .into_iter()
        .map(|((a, b), (ar, br))| {
            Ok(BilateralNet {
                a,
                b,
                a_receivable: ar,
                b_receivable: br,
                net_to_a: ar.checked_sub(br)?,
            })
        })
        .collect::<Result<Vec<_>, MoneyError>>()?;
    let multilateral = positions
        .into_iter()
        .map(|(carrier, (rec, pay))| {
            Ok(NetPosition {
                carrier,
                receivable: rec,
                payable: pay,
                net: rec.checked_sub(pay)?,
            })
        })
        .collect::<Result<Vec<_>, MoneyError>>()?;
    let sum = multilateral
        .iter()
        .try_fold(zero, |acc, p| acc.checked_add(p.net))?;
    assert!(sum.is_zero(), "multilateral net positions sum to {sum}, not zero");
    Ok((bilateral, multilateral))
}

impl NettingReport {
    /// Canonical bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        to_canonical(self)
    }

    /// Parses canonical bytes.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, VerifyError> {
        let n: NettingReport = from_canonical(bytes, "netting report").map_err(|e| VerifyError::Format {
            what: "netting report",
            reason: e.to_string(),
        })?;
        if n.format != NETTING_FORMAT {
            return Err(VerifyError::Format {
                what: "netting report",
                reason: format!("format {:?}", n.format),
            });
        }
        Ok(n)
    }

    /// Verifies the report against the statements it nets: each reference matches a
    /// statement, the netting recomputes, and the multilateral positions sum to zero.
    pub fn verify(&self, statements: &[ClearingStatement]) -> Result<(), VerifyError> {
        let bad = |m: String| Err(VerifyError::Netting(m));
        if statements.len() != self.statements.len() {
            return bad(format!(
                "{} statements given, the report nets {}",
                statements.len(),
                self.statements.len()
            ));
        }
        for (s, r) in statements.iter().zip(&self.statements) {
            if (s.visited, s.home, s.hash(), s.amount_due) != (r.visited, r.home, r.hash, r.amount_due) {
                return bad(format!(
                    "statement {}->{} does not match the report",
                    s.visited, s.home
                ));
            }
            if (s.period_start, s.period_end) != (self.period_start, self.period_end) {
                return bad(format!(
                    "statement {}->{} is for another period",
                    s.visited, s.home
                ));
            }
        }
        let sum = self
            .multilateral
            .iter()
            .try_fold(Amount::zero(self.scale), |acc, p| acc.checked_add(p.net))
            .map_err(|e| VerifyError::Netting(e.to_string()))?;
        if !sum.is_zero() {
            return bad(format!("multilateral positions sum to {sum}, not zero"));
        }
        let (bilateral, multilateral) =
            compute_netting(&self.statements, self.scale).map_err(|e| VerifyError::Netting(e.to_string()))?;
        if bilateral != self.bilateral || multilateral != self.multilateral {
            return bad("bilateral or multilateral figures do not recompute from the statements".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s6() -> Scale {
        Scale::new(6).unwrap()
    }

    fn r(v: &str, h: &str, due: i64) -> StatementRef {
        StatementRef {
            visited: v.parse().unwrap(),
            home: h.parse().unwrap(),
            hash: Hash::ZERO,
            amount_due: Amount::new(due, s6()),
        }
    }

    #[test]
    fn three_carrier_netting() {
        let refs = vec![
            r("CHNCM", "JPNDO", 50),
            r("JPNDO", "KORKT", 70),
            r("KORKT", "JPNDO", 100),
            r("KORKT", "CHNCM", 30),
        ];
        let (bi, multi) = compute_netting(&refs, s6()).unwrap();
        let jk = bi
            .iter()
            .find(|b| b.a.as_str() == "JPNDO" && b.b.as_str() == "KORKT")
            .unwrap();
        assert_eq!(jk.net_to_a.minor(), 70 - 100);
        let pos: BTreeMap<String, i64> = multi
            .iter()
            .map(|p| (p.carrier.to_string(), p.net.minor()))
            .collect();
        assert_eq!(pos["KORKT"], 100 + 30 - 70);
        assert_eq!(pos["JPNDO"], 70 - 100 - 50);
        assert_eq!(pos["CHNCM"], 50 - 30);
    }

    proptest! {
        #[test]
        fn netting_conserves_money(dues in proptest::collection::vec((0usize..5, 0usize..5, -1_000_000i64..1_000_000_000), 0..40)) {
            let names = ["AAAAA", "BBBBB", "CCCCC", "DDDDD", "EEEEE"];
            let refs: Vec<StatementRef> = dues
                .iter()
                .filter(|(v, h, _)| v != h)
                .map(|(v, h, d)| r(names[*v], names[*h], *d))
                .collect();
            let (bi, multi) = compute_netting(&refs, s6()).unwrap();
            let total: i64 = multi.iter().map(|p| p.net.minor()).sum();
            prop_assert_eq!(total, 0);
            // Bilateral nets are the multilateral ones seen pairwise.
            let mut from_bi: BTreeMap<Tadig, i64> = BTreeMap::new();
            for b in &bi {
                *from_bi.entry(b.a).or_default() += b.net_to_a.minor();
                *from_bi.entry(b.b).or_default() -= b.net_to_a.minor();
            }
            for p in &multi {
                prop_assert_eq!(from_bi[&p.carrier], p.net.minor());
            }
        }
    }
}

//! Running aggregates of one (period, visited, home) pair: what the statement will say,
//! kept up to date batch by batch so that closing a period reads O(pairs), not O(records).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agreement::Rating;
use crate::crypto::Hash;
use crate::error::MoneyError;
use crate::merkle::Frontier;
use crate::types::{Amount, ServiceKind, UsageRecord};

fn add_i64(a: &mut i64, b: i64) -> Result<(), MoneyError> {
    *a = a.checked_add(b).ok_or(MoneyError::Overflow { op: "aggregate" })?;
    Ok(())
}

fn add_u64(a: &mut u64, b: u64) -> Result<(), MoneyError> {
    *a = a.checked_add(b).ok_or(MoneyError::Overflow { op: "aggregate" })?;
    Ok(())
}

fn sub_u64(a: &mut u64, b: u64) {
    *a = a
        .checked_sub(b)
        .expect("aggregate count below zero: a record was removed twice");
}

/// Count, charge and tax (amounts in settlement minor units).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Records.
    pub count: u64,
    /// Charge, minor units at the settlement scale.
    pub charge: i64,
    /// Tax, minor units at the settlement scale.
    pub tax: i64,
}

impl Totals {
    /// Adds one record's amounts.
    pub fn add(&mut self, charge: i64, tax: i64) -> Result<(), MoneyError> {
        add_u64(&mut self.count, 1)?;
        add_i64(&mut self.charge, charge)?;
        add_i64(&mut self.tax, tax)
    }

    /// Adds another total.
    pub fn add_totals(&mut self, o: &Totals) -> Result<(), MoneyError> {
        add_u64(&mut self.count, o.count)?;
        add_i64(&mut self.charge, o.charge)?;
        add_i64(&mut self.tax, o.tax)
    }
}

/// Per-service aggregates of accepted, undisputed records.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ServiceTotals {
    /// Records, charge and tax.
    pub totals: Totals,
    /// Charged base units (seconds, bytes, events).
    pub units: u64,
    /// Sum of the charges the agreement gives for these records.
    pub expected_charge: i64,
    /// Records whose declared charge is beyond the tolerance.
    pub flagged_count: u64,
    /// Declared charge of the flagged records.
    pub flagged_charge: i64,
}

/// The contribution of one record to [`ServiceTotals`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecordAmounts {
    /// Service.
    pub service: ServiceKind,
    /// Charged units.
    pub units: u64,
    /// Declared charge.
    pub charge: i64,
    /// Tax.
    pub tax: i64,
    /// The agreement's charge.
    pub expected: i64,
    /// Outside tolerance.
    pub flagged: bool,
}

impl RecordAmounts {
    /// What an accepted record adds, its charge and tax at the settlement scale. A credit adds
    /// its (negative) amounts and no units: the usage was counted with the original event.
    pub fn of(r: &UsageRecord, charge: Amount, tax: Amount, rating: &Rating) -> Self {
        RecordAmounts {
            service: r.service,
            units: if r.is_credit() { 0 } else { r.charged_units },
            charge: charge.minor(),
            tax: tax.minor(),
            expected: rating.expected.minor(),
            flagged: rating.flagged,
        }
    }
}

/// Everything a statement needs of one pair in one period.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct PairLedger {
    /// Accepted, undisputed records by service code.
    pub services: BTreeMap<u8, ServiceTotals>,
    /// Records rejected at ingest with severe errors.
    pub rejected: Totals,
    /// Records disputed by the home network before this period closed.
    pub disputed: Totals,
    /// Disputes raised in this period against records of closed periods (credits).
    pub adjustments: Totals,
    /// Merkle tree over every record accepted at ingest (disputed ones stay in it).
    pub tree: Frontier,
    /// Leaf hashes of the tree's incomplete last chunk.
    pub tail: Vec<Hash>,
    /// Merkle tree over the disputes counted here (disputes and adjustments, in order).
    pub disputes_tree: Frontier,
    /// Batches with records in this pair and period.
    pub batch_count: u64,
}

impl PairLedger {
    /// Adds an accepted record.
    pub fn accept(&mut self, r: &RecordAmounts) -> Result<(), MoneyError> {
        let s = self.services.entry(r.service.code()).or_default();
        s.totals.add(r.charge, r.tax)?;
        add_u64(&mut s.units, r.units)?;
        add_i64(&mut s.expected_charge, r.expected)?;
        if r.flagged {
            add_u64(&mut s.flagged_count, 1)?;
            add_i64(&mut s.flagged_charge, r.charge)?;
        }
        Ok(())
    }

    /// Moves an accepted record of this period to the disputed totals.
    pub fn dispute(&mut self, r: &RecordAmounts) -> Result<(), MoneyError> {
        let s = self
            .services
            .get_mut(&r.service.code())
            .expect("a disputed record was counted in its service");
        sub_u64(&mut s.totals.count, 1);
        add_i64(&mut s.totals.charge, -r.charge)?;
        add_i64(&mut s.totals.tax, -r.tax)?;
        s.units = s.units.checked_sub(r.units).expect("units below zero");
        add_i64(&mut s.expected_charge, -r.expected)?;
        if r.flagged {
            sub_u64(&mut s.flagged_count, 1);
            add_i64(&mut s.flagged_charge, -r.charge)?;
        }
        self.disputed.add(r.charge, r.tax)
    }

    /// Credits a record of a closed period in this period's adjustments.
    pub fn adjust(&mut self, r: &RecordAmounts) -> Result<(), MoneyError> {
        add_u64(&mut self.adjustments.count, 1)?;
        add_i64(&mut self.adjustments.charge, -r.charge)?;
        add_i64(&mut self.adjustments.tax, -r.tax)
    }

    /// Totals of accepted, undisputed records over all services.
    pub fn accepted(&self) -> Result<Totals, MoneyError> {
        let mut t = Totals::default();
        for s in self.services.values() {
            t.add_totals(&s.totals)?;
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(flagged: bool) -> RecordAmounts {
        RecordAmounts {
            service: ServiceKind::Data,
            units: 2048,
            charge: 1_000,
            tax: 100,
            expected: 900,
            flagged,
        }
    }

    #[test]
    fn accept_then_dispute_moves_the_record() {
        let mut l = PairLedger::default();
        l.accept(&amounts(true)).unwrap();
        l.accept(&amounts(false)).unwrap();
        l.dispute(&amounts(true)).unwrap();
        let s = l.services[&ServiceKind::Data.code()];
        assert_eq!(
            s.totals,
            Totals {
                count: 1,
                charge: 1_000,
                tax: 100
            }
        );
        assert_eq!(
            (s.flagged_count, s.flagged_charge, s.units, s.expected_charge),
            (0, 0, 2048, 900)
        );
        assert_eq!(
            l.disputed,
            Totals {
                count: 1,
                charge: 1_000,
                tax: 100
            }
        );
        l.adjust(&amounts(false)).unwrap();
        assert_eq!(
            l.adjustments,
            Totals {
                count: 1,
                charge: -1_000,
                tax: -100
            }
        );
    }

    #[test]
    fn overflow_is_reported() {
        let mut l = PairLedger::default();
        let mut big = amounts(false);
        big.charge = i64::MAX;
        l.accept(&big).unwrap();
        assert!(l.accept(&big).is_err());
    }
}

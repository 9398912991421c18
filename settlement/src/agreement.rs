//! Inter-operator tariff agreements and re-rating.
//!
//! An agreement is for an ordered pair: the tariffs the *visited* network charges the *home*
//! network for its roamers, valid over `[valid_from, valid_until)`. It takes effect only when
//! one party proposed it and the other accepted it, each signing its canonical bytes.
//!
//! Re-rating: each accepted record's charge is recomputed from its raw usage with the tariff
//! of its service, and compared with the declared charge. A difference beyond the tolerance
//! **flags** the record: it is accepted at its declared charge (TAP practice: the visited
//! network's rating stands until disputed), counted in the statement's flagged totals with
//! the expected charge next to the declared one, and listed for the home network, which may
//! dispute it before the period closes.

use serde::{Deserialize, Serialize};

use crate::canonical::to_canonical;
use crate::crypto::{Hash, sha256};
use crate::error::{ErrorCode, MoneyError, Rejection};
use crate::limits::TARIFFS_PER_AGREEMENT_MAX;
use crate::types::{Amount, BaseUnit, Currency, Rounding, Scale, ServiceKind, Tadig, UsageRecord, UtcTime};

/// The price of one service.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Tariff {
    /// The service priced.
    pub service: ServiceKind,
    /// Price of one priced unit, in the agreement currency (any scale up to 9).
    pub price: Amount,
    /// Base units (seconds, bytes, events) per priced unit: 60 for a per-minute price,
    /// 1024 for per-KB, 1 for per-event.
    pub unit_size: u64,
    /// Minimum charged base units of a non-zero event (30 for "30 s minimum").
    pub minimum_units: u64,
    /// Charging increment in base units after the minimum (1 for per-second billing).
    pub increment_units: u64,
}

impl Tariff {
    /// Base units billed for `used` base units: zero stays zero; otherwise at least the
    /// minimum, and rounded up to the increment.
    pub fn billable_units(&self, used: u64) -> u64 {
        if used == 0 {
            return 0;
        }
        let inc = self.increment_units.max(1);
        let rounded = used.div_ceil(inc).saturating_mul(inc);
        rounded.max(self.minimum_units)
    }

    /// The charge for `used` base units at `scale`, rounded half-even.
    pub fn charge(&self, used: u64, scale: Scale) -> Result<Amount, MoneyError> {
        let billable = self.billable_units(used);
        let billable = i64::try_from(billable).map_err(|_| MoneyError::Overflow { op: "rate" })?;
        let unit = i64::try_from(self.unit_size).map_err(|_| MoneyError::Overflow { op: "rate" })?;
        self.price.mul_div(billable, unit, scale, Rounding::HalfEven)
    }
}

/// How far a declared charge may differ from the re-rated one before the record is flagged.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Tolerance {
    /// Absolute allowance, in the agreement currency.
    pub absolute: Amount,
    /// Relative allowance in basis points of the expected charge (100 = 1%).
    pub relative_bps: u32,
}

/// A tariff agreement for one ordered pair.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Agreement {
    /// The home network, which pays.
    pub home: Tadig,
    /// The visited network, which charges.
    pub visited: Tadig,
    /// First instant the agreement covers (event start times).
    pub valid_from: UtcTime,
    /// First instant after the agreement.
    pub valid_until: UtcTime,
    /// Currency of prices and tolerance.
    pub currency: Currency,
    /// One tariff per service covered, ordered by service.
    pub tariffs: Vec<Tariff>,
    /// Rating tolerance.
    pub tolerance: Tolerance,
}

/// How a record compares with its agreement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rating {
    /// The charge the tariff gives, at the settlement scale.
    pub expected: Amount,
    /// True when the declared charge is outside the tolerance.
    pub flagged: bool,
}

impl Agreement {
    /// The agreement's id: SHA-256 of its canonical bytes.
    pub fn id(&self) -> Hash {
        sha256(&[&self.canonical_bytes()])
    }

    /// The canonical JSON both parties sign.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        to_canonical(self)
    }

    /// Checks the agreement is well formed for a consortium settling in `currency`.
    pub fn validate(&self, currency: Currency) -> Result<(), Rejection> {
        let bad = |m: String| Err(Rejection::new(ErrorCode::AgreementInvalid, m));
        if self.home == self.visited {
            return bad(format!("home and visited are both {}", self.home));
        }
        if self.valid_from >= self.valid_until {
            return bad(format!(
                "valid_from {} is not before valid_until {}",
                self.valid_from, self.valid_until
            ));
        }
        if self.currency != currency {
            return bad(format!(
                "currency {} is not the settlement currency {currency}",
                self.currency
            ));
        }
        if self.tariffs.is_empty() || self.tariffs.len() > TARIFFS_PER_AGREEMENT_MAX {
            return bad(format!(
                "{} tariffs; 1 to {TARIFFS_PER_AGREEMENT_MAX} are allowed",
                self.tariffs.len()
            ));
        }
        for (i, t) in self.tariffs.iter().enumerate() {
            if i > 0 && self.tariffs[i - 1].service >= t.service {
                return bad(format!(
                    "tariffs must be ordered by service with no repeats (tariff {i}, {})",
                    t.service
                ));
            }
            if t.price.minor() < 0 {
                return bad(format!("tariff {i} ({}) has a negative price", t.service));
            }
            if t.unit_size == 0 || t.increment_units == 0 {
                return bad(format!(
                    "tariff {i} ({}) needs unit_size and increment_units of at least 1",
                    t.service
                ));
            }
            if t.unit_size > i64::MAX as u64
                || t.minimum_units > i64::MAX as u64
                || t.increment_units > i64::MAX as u64
            {
                return bad(format!("tariff {i} ({}) has units out of range", t.service));
            }
        }
        if self.tolerance.absolute.minor() < 0 || self.tolerance.relative_bps > 10_000 {
            return bad("tolerance must be non-negative and at most 100%".into());
        }
        Ok(())
    }

    /// True when the agreement covers an event starting at `t`.
    pub fn covers(&self, t: UtcTime) -> bool {
        self.valid_from <= t && t < self.valid_until
    }

    /// True when the validity intervals of `self` and `other` intersect.
    pub fn overlaps(&self, other: &Agreement) -> bool {
        self.valid_from < other.valid_until && other.valid_from < self.valid_until
    }

    /// The tariff for `service`.
    pub fn tariff(&self, service: ServiceKind) -> Option<&Tariff> {
        self.tariffs
            .binary_search_by(|t| t.service.cmp(&service))
            .ok()
            .map(|i| &self.tariffs[i])
    }

    /// Re-rates `record` (whose declared charge is `declared`, already at `scale`).
    /// `None` when the agreement has no tariff for the service.
    pub fn rate(
        &self,
        record: &UsageRecord,
        declared: Amount,
        scale: Scale,
    ) -> Option<Result<Rating, MoneyError>> {
        let tariff = self.tariff(record.service)?;
        let used = match record.service.base_unit() {
            BaseUnit::Second => u64::from(record.duration_s),
            BaseUnit::Byte => record.volume_up_bytes.saturating_add(record.volume_down_bytes),
            BaseUnit::Event => 1,
        };
        Some(self.compare(tariff, used, declared, scale))
    }

    fn compare(
        &self,
        tariff: &Tariff,
        used: u64,
        declared: Amount,
        scale: Scale,
    ) -> Result<Rating, MoneyError> {
        let charge = tariff.charge(used, scale)?;
        let absolute = self.tolerance.absolute.rescale(scale, Rounding::HalfEven)?;
        let relative = crate::types::div_round_half_even(
            i128::from(charge.minor()).abs() * i128::from(self.tolerance.relative_bps),
            10_000,
        );
        let allowed = i128::from(absolute.minor()).max(relative);
        if declared.minor() < 0 {
            // A credit (refund): it may give back part or all of the agreement's charge for
            // the usage, never more than that beyond the tolerance.
            let expected = charge.checked_neg()?;
            let excess = i128::from(expected.minor()) - i128::from(declared.minor());
            return Ok(Rating {
                expected,
                flagged: excess > allowed,
            });
        }
        let diff = i128::from(declared.minor()) - i128::from(charge.minor());
        Ok(Rating {
            expected: charge,
            flagged: diff.abs() > allowed,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn s(p: u8) -> Scale {
        Scale::new(p).unwrap()
    }

    /// A typical voice/SMS/data agreement KORKT charges JPNDO.
    pub(crate) fn sample(home: &str, visited: &str) -> Agreement {
        Agreement {
            home: home.parse().unwrap(),
            visited: visited.parse().unwrap(),
            valid_from: "2026-01-01T00:00:00Z".parse().unwrap(),
            valid_until: "2027-01-01T00:00:00Z".parse().unwrap(),
            currency: Currency::SDR,
            tariffs: vec![
                Tariff {
                    service: ServiceKind::VoiceOriginated,
                    price: Amount::parse_at("0.6", s(3)).unwrap(), // per minute
                    unit_size: 60,
                    minimum_units: 30,
                    increment_units: 1,
                },
                Tariff {
                    service: ServiceKind::VoiceTerminated,
                    price: Amount::parse_at("0.06", s(3)).unwrap(),
                    unit_size: 60,
                    minimum_units: 30,
                    increment_units: 1,
                },
                Tariff {
                    service: ServiceKind::SmsOriginated,
                    price: Amount::parse_at("0.1", s(3)).unwrap(),
                    unit_size: 1,
                    minimum_units: 1,
                    increment_units: 1,
                },
                Tariff {
                    service: ServiceKind::Data,
                    price: Amount::parse_at("0.01", s(3)).unwrap(), // per MB
                    unit_size: 1_048_576,
                    minimum_units: 1024,
                    increment_units: 1024,
                },
            ],
            tolerance: Tolerance {
                absolute: Amount::parse_at("0.005", s(3)).unwrap(),
                relative_bps: 100,
            },
        }
    }

    #[test]
    fn billable_units_apply_minimum_and_increment() {
        let t = &sample("JPNDO", "KORKT").tariffs[0];
        assert_eq!(t.billable_units(0), 0);
        assert_eq!(t.billable_units(1), 30);
        assert_eq!(t.billable_units(45), 45);
        let data = &sample("JPNDO", "KORKT").tariffs[3];
        assert_eq!(data.billable_units(1), 1024);
        assert_eq!(data.billable_units(1025), 2048);
    }

    #[test]
    fn rating_rounds_half_even_and_flags_beyond_tolerance() {
        let a = sample("JPNDO", "KORKT");
        let mut r = crate::types::sample_record(0);
        r.duration_s = 65; // 65 s at 0.6/min = 0.65
        let rating = a
            .rate(&r, Amount::parse_at("0.650000", s(6)).unwrap(), s(6))
            .unwrap()
            .unwrap();
        assert_eq!(rating.expected.to_string(), "0.650000");
        assert!(!rating.flagged);
        // 0.660 is 0.010 off: beyond max(0.005, 1% of 0.65 = 0.0065).
        let rating = a
            .rate(&r, Amount::parse_at("0.66", s(6)).unwrap(), s(6))
            .unwrap()
            .unwrap();
        assert!(rating.flagged);
        // 0.655 is within 0.0065.
        let rating = a
            .rate(&r, Amount::parse_at("0.655", s(6)).unwrap(), s(6))
            .unwrap()
            .unwrap();
        assert!(!rating.flagged);
        // A tie at scale 2: 0.6 * 65/60 = 0.65 exactly; 0.6 * 61/60 = 0.61; price 0.05/min for
        // 63 s = 0.0525 -> 0.05 at 2 places (half-even keeps the even 0.05).
        let t = Tariff {
            service: ServiceKind::VoiceOriginated,
            price: Amount::parse_at("0.05", s(2)).unwrap(),
            unit_size: 60,
            minimum_units: 0,
            increment_units: 1,
        };
        assert_eq!(t.charge(63, s(2)).unwrap().to_string(), "0.05");
        assert_eq!(t.charge(63, s(4)).unwrap().to_string(), "0.0525");
    }

    #[test]
    fn credits_are_flagged_only_when_they_give_back_more_than_the_tariff() {
        let a = sample("JPNDO", "KORKT");
        let mut r = crate::types::sample_record(0);
        r.duration_s = 65; // 0.65 at the tariff
        let rate = |declared: &str| {
            a.rate(&r, Amount::parse_at(declared, s(6)).unwrap(), s(6))
                .unwrap()
                .unwrap()
        };
        let full = rate("-0.65");
        assert_eq!(full.expected.to_string(), "-0.650000");
        assert!(!full.flagged);
        assert!(!rate("-0.10").flagged, "a partial refund");
        assert!(!rate("-0.655").flagged, "within the tolerance");
        assert!(rate("-0.70").flagged, "more than the usage cost");
    }

    #[test]
    fn services_without_tariff_are_none() {
        let a = sample("JPNDO", "KORKT");
        let mut r = crate::types::sample_record(0);
        r.service = ServiceKind::Location;
        assert!(a.rate(&r, Amount::zero(s(6)), s(6)).is_none());
    }

    #[test]
    fn validation_catches_malformed_agreements() {
        let ok = sample("JPNDO", "KORKT");
        ok.validate(Currency::SDR).unwrap();
        let mut a = ok.clone();
        a.visited = a.home;
        assert!(a.validate(Currency::SDR).is_err());
        let mut a = ok.clone();
        a.valid_until = a.valid_from;
        assert!(a.validate(Currency::SDR).is_err());
        assert!(ok.validate("EUR".parse().unwrap()).is_err());
        let mut a = ok.clone();
        a.tariffs.swap(0, 1);
        assert!(a.validate(Currency::SDR).is_err());
        let mut a = ok.clone();
        a.tariffs[0].unit_size = 0;
        assert!(a.validate(Currency::SDR).is_err());
        let mut a = ok.clone();
        a.tolerance.relative_bps = 10_001;
        assert!(a.validate(Currency::SDR).is_err());
        let mut a = ok;
        a.tariffs.clear();
        assert_eq!(
            a.validate(Currency::SDR).unwrap_err().code,
            ErrorCode::AgreementInvalid
        );
    }

    #[test]
    fn id_is_stable_and_content_bound() {
        let a = sample("JPNDO", "KORKT");
        assert_eq!(a.id(), a.clone().id());
        let mut b = a.clone();
        b.tolerance.relative_bps = 99;
        assert_ne!(a.id(), b.id());
    }
}

//! Subscriber and party identifiers: IMSI (ITU-T E.212), MSISDN (E.164) and other-party
//! numbers, all validated digit strings.
//!
//! They are stored as a number plus a digit count, so leading zeros survive and comparison,
//! hashing and encoding stay cheap on the per-record hot path.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::TypeError;

/// The most digits a [`DigitString`] holds (fits in a `u64`).
pub const DIGITS_MAX: u8 = 19;

/// A string of 1..=19 decimal digits, leading zeros preserved.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DigitString {
    value: u64,
    len: u8,
}

impl DigitString {
    /// Parses a digit string with a length in `min..=max`; `kind` names the field for errors.
    pub fn parse(s: &str, kind: &'static str, min: u8, max: u8) -> Result<Self, TypeError> {
        debug_assert!(max <= DIGITS_MAX);
        let bad = |reason: &'static str| TypeError::Digits {
            kind,
            value: s.to_owned(),
            reason,
        };
        let len = u8::try_from(s.len()).map_err(|_| bad("too long"))?;
        if len < min || len > max {
            return Err(bad(if len < min {
                "too few digits"
            } else {
                "too many digits"
            }));
        }
        let mut value: u64 = 0;
        for b in s.bytes() {
            if !b.is_ascii_digit() {
                return Err(bad("only digits 0-9 are allowed"));
            }
            value = value * 10 + u64::from(b - b'0');
        }
        Ok(DigitString { value, len })
    }

    /// Rebuilds a digit string from its stored parts, checking they are consistent.
    pub fn from_parts(value: u64, len: u8, kind: &'static str) -> Result<Self, TypeError> {
        // 10^19 still fits in a u64, so the bound is exact for every allowed length.
        if len == 0 || len > DIGITS_MAX || value >= 10u64.pow(len.into()) {
            return Err(TypeError::Digits {
                kind,
                value: format!("{value} ({len} digits)"),
                reason: "value does not fit its digit count",
            });
        }
        Ok(DigitString { value, len })
    }

    /// The digits as a number (leading zeros are carried by [`DigitString::len`]).
    pub fn value(&self) -> u64 {
        self.value
    }

    /// The number of digits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Always false: a digit string has at least one digit.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for DigitString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value, width = usize::from(self.len))
    }
}

macro_rules! digit_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(DigitString);

        impl $name {
            /// Fewest digits accepted.
            pub const MIN_DIGITS: u8 = $min;
            /// Most digits accepted.
            pub const MAX_DIGITS: u8 = $max;

            /// Rebuilds the identifier from its stored number and digit count.
            pub fn from_parts(value: u64, len: u8) -> Result<Self, TypeError> {
                let d = DigitString::from_parts(value, len, $kind)?;
                if !($min..=$max).contains(&len) {
                    return Err(TypeError::Digits {
                        kind: $kind,
                        value: d.to_string(),
                        reason: "digit count out of range",
                    });
                }
                Ok($name(d))
            }

            /// The underlying digits.
            pub fn digits(&self) -> DigitString {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = TypeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                DigitString::parse(s, $kind, $min, $max).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

digit_id!(
    /// International Mobile Subscriber Identity (E.212): MCC (3) + MNC (2-3) + MSIN, 6 to 15
    /// digits. TAP carries it as TBCD in `chargeableSubscriber`.
    Imsi, "IMSI", 6, 15
);
digit_id!(
    /// Mobile subscriber number in E.164 international form (country code first), 1 to 15
    /// digits.
    Msisdn, "MSISDN", 1, 15
);
digit_id!(
    /// The other party of an event (called or calling number, SMS destination), 1 to 19 digits
    /// as the network recorded it.
    PartyNumber, "party number", 1, 19
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imsi_keeps_its_digits() {
        let imsi: Imsi = "450081234567890".parse().unwrap();
        assert_eq!(imsi.to_string(), "450081234567890");
        let d = imsi.digits();
        assert_eq!(Imsi::from_parts(d.value(), d.len()).unwrap(), imsi);
    }

    #[test]
    fn leading_zeros_survive() {
        let n: PartyNumber = "0044123".parse().unwrap();
        assert_eq!(n.to_string(), "0044123");
        assert_ne!(n, "44123".parse::<PartyNumber>().unwrap());
    }

    #[test]
    fn rejects_bad_digit_strings() {
        assert!("12345".parse::<Imsi>().is_err(), "too short");
        assert!("1234567890123456".parse::<Imsi>().is_err(), "too long");
        assert!("45008123456789A".parse::<Imsi>().is_err(), "letter");
        assert!("".parse::<Msisdn>().is_err(), "empty");
        assert!("+821012345678".parse::<Msisdn>().is_err(), "plus sign");
        let err = "4500A".parse::<PartyNumber>().unwrap_err().to_string();
        assert!(err.contains("party number"), "{err}");
    }

    #[test]
    fn from_parts_checks_consistency() {
        assert!(Imsi::from_parts(1_234_567, 6).is_err(), "7 digits claimed as 6");
        assert!(Imsi::from_parts(123, 3).is_err(), "below IMSI minimum");
        assert!(DigitString::from_parts(u64::MAX, 19, "x").is_err());
        assert!(DigitString::from_parts(9_999_999_999_999_999_999, 19, "x").is_ok());
    }
}

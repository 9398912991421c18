//! Money: integer minor units with an explicit decimal scale, never floating point.
//!
//! An [`Amount`] of `12345` at scale 3 is `12.345`. TAP expresses charges this way (the
//! file's `tapDecimalPlaces`, 0..=6, usually in SDR); the consortium settles at one scale.
//!
//! Rounding is explicit and always **half-even** (banker's rounding): a value exactly halfway
//! goes to the even neighbour, so a long run of roundings does not drift in one direction.
//! Arithmetic is checked: an overflow is an error, never a wrap.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::MoneyError;

/// Largest decimal scale an amount may carry (TAP allows 0..=6; prices may need more).
pub const SCALE_MAX: u8 = 9;

/// A number of decimal places, `0..=SCALE_MAX`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Scale(u8);

impl Scale {
    /// Validates a scale.
    pub const fn new(places: u8) -> Result<Self, MoneyError> {
        if places > SCALE_MAX {
            return Err(MoneyError::ScaleOutOfRange { places });
        }
        Ok(Scale(places))
    }

    /// The number of decimal places.
    pub const fn places(self) -> u8 {
        self.0
    }

    /// `10^places`.
    pub const fn factor(self) -> i64 {
        10i64.pow(self.0 as u32)
    }
}

impl Serialize for Scale {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

impl<'de> Deserialize<'de> for Scale {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Scale::new(u8::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// How a value that does not fit the target scale is rounded. Only half-even is offered:
/// settlement needs one rule that every implementation applies identically.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rounding {
    /// Round to nearest; ties go to the even neighbour (IEEE 754 roundTiesToEven).
    HalfEven,
}

/// Divides `n` by `d` (`d > 0`) rounding half-even. Exact in `i128`; operands that fit in
/// `i64` (rating's usual case) take one 64-bit division instead of two 128-bit ones.
pub fn div_round_half_even(n: i128, d: i128) -> i128 {
    assert!(d > 0, "divisor must be positive");
    if let (Ok(n), Ok(d)) = (i64::try_from(n), i64::try_from(d)) {
        return i128::from(div_round_half_even_i64(n, d));
    }
    div_round_half_even_wide(n, d)
}

/// `minor * num * 10^shift / den` (or `/ (den * 10^-shift)`), rounded half-even, when every
/// step fits in an `i64`; `None` otherwise. `den > 0`.
fn mul_div_i64(minor: i64, num: i64, den: i64, shift: i32) -> Option<i64> {
    let p = minor.checked_mul(num)?;
    let pow = 10i64.checked_pow(shift.unsigned_abs())?;
    let (n, d) = if shift >= 0 {
        (p.checked_mul(pow)?, den)
    } else {
        (p, den.checked_mul(pow)?)
    };
    Some(div_round_half_even_i64(n, d))
}

/// [`div_round_half_even`] in 64 bits. `d > 0`; the result cannot overflow: with `d == 1`
/// nothing is rounded up, and with `d >= 2` the quotient is at most half of `i64::MAX`.
fn div_round_half_even_i64(n: i64, d: i64) -> i64 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d).unsigned_abs(); // 0 <= r < d, so 2r fits in u64
    match (2 * r).cmp(&d.unsigned_abs()) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// [`div_round_half_even`] in 128 bits.
fn div_round_half_even_wide(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d); // 0 <= r < d, and n = q*d + r
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => {
            if q % 2 == 0 {
                q
            } else {
                q + 1
            }
        }
    }
}

/// A decimal amount: `minor` units of `10^-scale`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Amount {
    minor: i64,
    scale: Scale,
}

impl Amount {
    /// An amount of `minor` units at `scale`.
    pub const fn new(minor: i64, scale: Scale) -> Self {
        Amount { minor, scale }
    }

    /// Zero at `scale`.
    pub const fn zero(scale: Scale) -> Self {
        Amount { minor: 0, scale }
    }

    /// The integer count of minor units.
    pub const fn minor(self) -> i64 {
        self.minor
    }

    /// The decimal scale.
    pub const fn scale(self) -> Scale {
        self.scale
    }

    /// True for zero.
    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    fn same_scale(self, other: Amount) -> Result<(), MoneyError> {
        if self.scale != other.scale {
            return Err(MoneyError::ScaleMismatch {
                left: self.scale.places(),
                right: other.scale.places(),
            });
        }
        Ok(())
    }

    /// `self + other`; both must have the same scale.
    pub fn checked_add(self, other: Amount) -> Result<Amount, MoneyError> {
        self.same_scale(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow { op: "add" })?;
        Ok(Amount::new(minor, self.scale))
    }

    /// `self - other`; both must have the same scale.
    pub fn checked_sub(self, other: Amount) -> Result<Amount, MoneyError> {
        self.same_scale(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow { op: "subtract" })?;
        Ok(Amount::new(minor, self.scale))
    }

    /// `-self`.
    pub fn checked_neg(self) -> Result<Amount, MoneyError> {
        let minor = self
            .minor
            .checked_neg()
            .ok_or(MoneyError::Overflow { op: "negate" })?;
        Ok(Amount::new(minor, self.scale))
    }

    /// The same value at another scale. Going up is exact (or overflows); going down rounds
    /// with `rounding`.
    pub fn rescale(self, to: Scale, rounding: Rounding) -> Result<Amount, MoneyError> {
        self.mul_div(1, 1, to, rounding)
    }

    /// The same value at a larger or equal scale; never rounds.
    pub fn rescale_exact(self, to: Scale) -> Result<Amount, MoneyError> {
        if to < self.scale {
            return Err(MoneyError::InexactRescale {
                from: self.scale.places(),
                to: to.places(),
            });
        }
        self.rescale(to, Rounding::HalfEven)
    }

    /// `self * num / den`, expressed at scale `to`, rounded with `rounding`. Computed exactly
    /// in 128 bits; only the final result must fit in an `i64`.
    pub fn mul_div(self, num: i64, den: i64, to: Scale, rounding: Rounding) -> Result<Amount, MoneyError> {
        if den <= 0 {
            return Err(MoneyError::InvalidDivisor { divisor: den });
        }
        let Rounding::HalfEven = rounding;
        let shift = i32::from(to.places()) - i32::from(self.scale.places());
        // Rating's usual case fits in 64 bits: the same arithmetic without 128-bit
        // multiplications and divisions. Any overflow falls through to the exact path.
        if let Some(q) = mul_div_i64(self.minor, num, den, shift) {
            return Ok(Amount::new(q, to));
        }
        self.mul_div_wide(num, den, shift, to)
    }

    /// [`Amount::mul_div`] in 128 bits.
    fn mul_div_wide(self, num: i64, den: i64, shift: i32, to: Scale) -> Result<Amount, MoneyError> {
        let mut n = i128::from(self.minor) * i128::from(num);
        let mut d = i128::from(den);
        if shift >= 0 {
            n = n
                .checked_mul(10i128.pow(shift.unsigned_abs()))
                .ok_or(MoneyError::Overflow { op: "rescale" })?;
        } else {
            d *= 10i128.pow(shift.unsigned_abs());
        }
        let q = div_round_half_even(n, d);
        let minor = i64::try_from(q).map_err(|_| MoneyError::Overflow { op: "multiply" })?;
        Ok(Amount::new(minor, to))
    }

    /// Parses a decimal string (`"-12.345"`) at exactly `scale`; more fractional digits than
    /// the scale is an error rather than a silent rounding.
    pub fn parse_at(s: &str, scale: Scale) -> Result<Amount, MoneyError> {
        let bad = |reason: &'static str| MoneyError::Parse {
            value: s.to_owned(),
            reason,
        };
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int_part, frac_part) = match body.split_once('.') {
            Some((i, f)) => {
                if f.is_empty() {
                    return Err(bad("a decimal point must be followed by digits"));
                }
                (i, f)
            }
            None => (body, ""),
        };
        if int_part.is_empty() {
            return Err(bad("digits are required before the decimal point"));
        }
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return Err(bad("only digits, one '.', and a leading '-' are allowed"));
        }
        if frac_part.len() > usize::from(scale.places()) {
            return Err(bad("more decimal places than the currency scale allows"));
        }
        let mut minor: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            minor = minor * 10 + i128::from(b - b'0');
            if minor > i128::from(i64::MAX) + 1 {
                return Err(MoneyError::Overflow { op: "parse" });
            }
        }
        let pad = u32::from(scale.places()) - frac_part.len() as u32;
        minor = minor
            .checked_mul(10i128.pow(pad))
            .ok_or(MoneyError::Overflow { op: "parse" })?;
        if neg {
            minor = -minor;
        }
        let minor = i64::try_from(minor).map_err(|_| MoneyError::Overflow { op: "parse" })?;
        Ok(Amount::new(minor, scale))
    }

    /// Parses a decimal string taking the scale from its fractional digits (`"1.50"` is scale 2).
    pub fn parse_decimal(s: &str) -> Result<Amount, MoneyError> {
        let places = s.split_once('.').map_or(0, |(_, f)| f.len());
        let places = u8::try_from(places).unwrap_or(u8::MAX);
        Amount::parse_at(s, Scale::new(places)?)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let places = u32::from(self.scale.places());
        let abs = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        if places == 0 {
            return write!(f, "{sign}{abs}");
        }
        let factor = 10u64.pow(places);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / factor,
            abs % factor,
            width = places as usize
        )
    }
}

impl Serialize for Amount {
    /// Amounts serialize as decimal strings (`"12.345"`), never as JSON numbers.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Amount::parse_decimal(&s).map_err(serde::de::Error::custom)
    }
}

/// A currency code: three upper-case letters. ISO 4217 codes (`EUR`, `USD`, `XDR`) and
/// TAP's `SDR` (Special Drawing Rights, TAP's default settlement currency).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Special Drawing Rights as TAP names them.
    pub const SDR: Currency = Currency(*b"SDR");

    /// Validates a currency code.
    pub fn from_bytes(b: &[u8]) -> Result<Self, MoneyError> {
        let code: [u8; 3] = b.try_into().map_err(|_| MoneyError::Currency {
            value: String::from_utf8_lossy(b).into_owned(),
        })?;
        if !code.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::Currency {
                value: String::from_utf8_lossy(b).into_owned(),
            });
        }
        Ok(Currency(code))
    }

    /// The three ASCII letters.
    pub fn as_bytes(&self) -> &[u8; 3] {
        &self.0
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("currency is ASCII")
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Money {
    /// The value.
    pub amount: Amount,
    /// Its currency.
    pub currency: Currency,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::prop_oneof;

    proptest::proptest! {
        #[test]
        fn the_64_bit_division_agrees_with_the_128_bit_one(n: i64, d in 1i64..) {
            proptest::prop_assert_eq!(
                i128::from(div_round_half_even_i64(n, d)),
                div_round_half_even_wide(i128::from(n), i128::from(d))
            );
        }

        #[test]
        fn mul_div_fast_path_agrees_with_the_exact_one(
            minor in prop_oneof![-1_000_000_000i64..1_000_000_000, proptest::num::i64::ANY],
            num in prop_oneof![0i64..100_000, proptest::num::i64::ANY],
            den in prop_oneof![1i64..10_000, 1i64..],
            from in 0u8..=6,
            to in 0u8..=6,
        ) {
            let a = Amount::new(minor, s(from));
            let shift = i32::from(to) - i32::from(from);
            let exact = a.mul_div_wide(num, den, shift, s(to));
            let fast = a.mul_div(num, den, s(to), Rounding::HalfEven);
            proptest::prop_assert_eq!(fast, exact);
        }

        #[test]
        fn small_divisors_agree_too(n: i64, d in 1i64..1_000) {
            proptest::prop_assert_eq!(
                i128::from(div_round_half_even_i64(n, d)),
                div_round_half_even_wide(i128::from(n), i128::from(d))
            );
        }
    }

    fn s(p: u8) -> Scale {
        Scale::new(p).unwrap()
    }

    #[test]
    fn half_even_ties_go_to_even() {
        assert_eq!(div_round_half_even(i128::from(i64::MIN), 1), i128::from(i64::MIN));
        assert_eq!(
            div_round_half_even(i128::from(i64::MAX), 2),
            i128::from(i64::MAX / 2 + 1)
        );
        assert_eq!(
            div_round_half_even(i128::from(i64::MIN), 2),
            i128::from(i64::MIN / 2)
        );
        assert_eq!(div_round_half_even(25, 10), 2);
        assert_eq!(div_round_half_even(35, 10), 4);
        assert_eq!(div_round_half_even(-25, 10), -2);
        assert_eq!(div_round_half_even(-35, 10), -4);
        assert_eq!(div_round_half_even(26, 10), 3);
        assert_eq!(div_round_half_even(-26, 10), -3);
        assert_eq!(div_round_half_even(24, 10), 2);
        assert_eq!(div_round_half_even(-24, 10), -2);
    }

    #[test]
    fn rescale_down_rounds_half_even_and_up_is_exact() {
        let a = Amount::new(12_345, s(3)); // 12.345
        assert_eq!(
            a.rescale(s(2), Rounding::HalfEven).unwrap(),
            Amount::new(1234, s(2))
        );
        let b = Amount::new(12_355, s(3));
        assert_eq!(
            b.rescale(s(2), Rounding::HalfEven).unwrap(),
            Amount::new(1236, s(2))
        );
        assert_eq!(a.rescale_exact(s(6)).unwrap(), Amount::new(12_345_000, s(6)));
        assert!(matches!(
            a.rescale_exact(s(1)),
            Err(MoneyError::InexactRescale { .. })
        ));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let max = Amount::new(i64::MAX, s(0));
        assert_eq!(
            max.checked_add(Amount::new(1, s(0))),
            Err(MoneyError::Overflow { op: "add" })
        );
        assert!(
            Amount::new(i64::MIN, s(0))
                .checked_sub(Amount::new(1, s(0)))
                .is_err()
        );
        assert!(Amount::new(i64::MIN, s(0)).checked_neg().is_err());
        assert!(max.rescale(s(1), Rounding::HalfEven).is_err());
        assert!(max.mul_div(2, 1, s(0), Rounding::HalfEven).is_err());
        // The intermediate product may exceed i64 as long as the result fits.
        assert_eq!(
            max.mul_div(4, 4, s(0), Rounding::HalfEven).unwrap(),
            Amount::new(i64::MAX, s(0))
        );
    }

    #[test]
    fn scales_must_match_to_add() {
        let err = Amount::new(1, s(2))
            .checked_add(Amount::new(1, s(3)))
            .unwrap_err();
        assert_eq!(err, MoneyError::ScaleMismatch { left: 2, right: 3 });
    }

    #[test]
    fn display_and_parse_round_trip() {
        for (text, minor, places) in [
            ("12.345", 12_345, 3),
            ("-0.050", -50, 3),
            ("0", 0, 0),
            ("-7", -7, 0),
            ("0.000001", 1, 6),
        ] {
            let a = Amount::new(minor, s(places));
            assert_eq!(a.to_string(), text);
            assert_eq!(Amount::parse_at(text, s(places)).unwrap(), a);
            assert_eq!(Amount::parse_decimal(text).unwrap(), a);
        }
        assert_eq!(Amount::parse_at("1.5", s(3)).unwrap(), Amount::new(1500, s(3)));
        assert_eq!(Amount::new(i64::MIN, s(0)).to_string(), i64::MIN.to_string());
    }

    #[test]
    fn parse_rejects_malformed_and_inexact() {
        for bad in ["", "-", "1.", ".5", "1.2.3", "1e3", "+1", "12,5", "1.2345"] {
            assert!(Amount::parse_at(bad, s(3)).is_err(), "{bad:?}");
        }
        assert!(Amount::parse_at("9223372036854775808", s(0)).is_err());
        assert!(Amount::parse_at("-9223372036854775808", s(0)).is_ok());
        assert!(Amount::parse_at("99999999999999999999999", s(0)).is_err());
    }

    #[test]
    fn currency_codes() {
        assert_eq!("SDR".parse::<Currency>().unwrap(), Currency::SDR);
        assert!("sdr".parse::<Currency>().is_err());
        assert!("EURO".parse::<Currency>().is_err());
        assert!(Scale::new(10).is_err());
    }
}

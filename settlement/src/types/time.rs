//! Time as the ledger sees it: UTC seconds since the Unix epoch, with calendar conversions.
//!
//! Nothing here reads a clock. Ledger time comes from the proposer's timestamp in each
//! replicated command; event times come from the records.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::TypeError;

/// A calendar date and time of day, without a zone.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct CivilDateTime {
    /// Year, 1970..=9999.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of month, 1..=31 (checked against the month).
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=59 (leap seconds are not representable, as in TAP).
    pub second: u8,
}

/// Days in `month` of `year` (proleptic Gregorian).
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

impl CivilDateTime {
    /// Validates the fields.
    pub fn new(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Result<Self, TypeError> {
        let bad = |reason: &'static str| TypeError::Time {
            value: format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"),
            reason,
        };
        if !(1970..=9999).contains(&year) {
            return Err(bad("year must be between 1970 and 9999"));
        }
        if !(1..=12).contains(&month) {
            return Err(bad("month must be 1-12"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(bad("day does not exist in that month"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad("time of day out of range"));
        }
        Ok(CivilDateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Parses TAP's `YYYYMMDDHHMMSS` (the `LocalTimeStamp` of TD.57).
    pub fn parse_tap(s: &str) -> Result<Self, TypeError> {
        let b = s.as_bytes();
        if b.len() != 14 || !b.iter().all(u8::is_ascii_digit) {
            return Err(TypeError::Time {
                value: s.to_owned(),
                reason: "expected 14 digits YYYYMMDDHHMMSS",
            });
        }
        let n = |r: std::ops::Range<usize>| -> u32 {
            b[r].iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
        };
        CivilDateTime::new(
            n(0..4) as i32,
            n(4..6) as u8,
            n(6..8) as u8,
            n(8..10) as u8,
            n(10..12) as u8,
            n(12..14) as u8,
        )
    }

    /// Seconds since the epoch of this date-time read as UTC.
    fn epoch_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

/// A point in time: whole seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct UtcTime(i64);

impl UtcTime {
    /// The epoch itself.
    pub const EPOCH: UtcTime = UtcTime(0);

    /// A time from seconds since the epoch.
    pub const fn from_unix_seconds(s: i64) -> Self {
        UtcTime(s)
    }

    /// Seconds since the epoch.
    pub const fn unix_seconds(self) -> i64 {
        self.0
    }

    /// The UTC instant of a civil date-time.
    pub fn from_civil_utc(c: CivilDateTime) -> Self {
        UtcTime(c.epoch_seconds())
    }

    /// The UTC instant of a local civil time at `utc_offset_minutes` east of UTC (TAP's
    /// `UtcTimeOffset` such as `+0900` is +540 minutes): UTC = local - offset.
    pub fn from_local(c: CivilDateTime, utc_offset_minutes: i32) -> Self {
        UtcTime(c.epoch_seconds() - i64::from(utc_offset_minutes) * 60)
    }

    /// The civil date-time in UTC.
    pub fn to_civil(self) -> CivilDateTime {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        CivilDateTime {
            year,
            month,
            day,
            hour: (secs / 3600) as u8,
            minute: (secs % 3600 / 60) as u8,
            second: (secs % 60) as u8,
        }
    }

    /// First instant of the calendar month containing `self`.
    pub fn start_of_month(self) -> UtcTime {
        let c = self.to_civil();
        UtcTime(days_from_civil(c.year, c.month, 1) * 86_400)
    }

    /// First instant of the calendar month after the one containing `self`.
    pub fn start_of_next_month(self) -> UtcTime {
        let c = self.to_civil();
        let (y, m) = if c.month == 12 {
            (c.year + 1, 1)
        } else {
            (c.year, c.month + 1)
        };
        UtcTime(days_from_civil(y, m, 1) * 86_400)
    }

    /// `self + seconds`, or `None` on overflow.
    pub fn checked_add_seconds(self, seconds: i64) -> Option<UtcTime> {
        self.0.checked_add(seconds).map(UtcTime)
    }
}

impl fmt::Display for UtcTime {
    /// RFC 3339 in UTC: `2026-11-23T15:16:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.to_civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }
}

impl FromStr for UtcTime {
    type Err = TypeError;

    /// Parses RFC 3339 with a `Z` or `±HH:MM` offset and no fractional seconds
    /// (`2026-11-23T15:16:00Z`, `2026-11-24T00:16:00+09:00`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &'static str| TypeError::Time {
            value: s.to_owned(),
            reason,
        };
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(bad("expected RFC 3339 such as 2026-11-23T15:16:00Z"));
        }
        let digits = |r: std::ops::Range<usize>| -> Result<u32, TypeError> {
            let part = &b[r];
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(bad("expected digits"));
            }
            Ok(part.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
        };
        if b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') || b[13] != b':' || b[16] != b':'
        {
            return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
        }
        let civil = CivilDateTime::new(
            digits(0..4)? as i32,
            digits(5..7)? as u8,
            digits(8..10)? as u8,
            digits(11..13)? as u8,
            digits(14..16)? as u8,
            digits(17..19)? as u8,
        )?;
        let offset_minutes = match &b[19..] {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let h = digits(20..22)? as i32;
                let m = digits(23..25)? as i32;
                if h > 23 || m > 59 {
                    return Err(bad("UTC offset out of range"));
                }
                let mins = h * 60 + m;
                if *sign == b'-' { -mins } else { mins }
            }
            _ => return Err(bad("expected Z or an offset such as +09:00 after the seconds")),
        };
        Ok(UtcTime::from_local(civil, offset_minutes))
    }
}

impl Serialize for UtcTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UtcTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        let c = CivilDateTime::new(2026, 11, 23, 15, 16, 0).unwrap();
        let t = UtcTime::from_civil_utc(c);
        assert_eq!(t.unix_seconds(), 1_795_446_960);
        assert_eq!(t.to_string(), "2026-11-23T15:16:00Z");
        assert_eq!(t.to_civil(), c);
        assert_eq!("2026-11-24T00:16:00+09:00".parse::<UtcTime>().unwrap(), t);
    }

    #[test]
    fn local_time_with_offset_resolves_to_utc() {
        // 09:00 local at UTC+0900 (Seoul) is 00:00 UTC.
        let local = CivilDateTime::parse_tap("20261123090000").unwrap();
        assert_eq!(
            UtcTime::from_local(local, 540).to_string(),
            "2026-11-23T00:00:00Z"
        );
        // 01:00 local at UTC-0500 is 06:00 UTC.
        let local = CivilDateTime::parse_tap("20261123010000").unwrap();
        assert_eq!(
            UtcTime::from_local(local, -300).to_string(),
            "2026-11-23T06:00:00Z"
        );
    }

    #[test]
    fn month_boundaries() {
        let t: UtcTime = "2024-02-29T23:59:59Z".parse().unwrap();
        assert_eq!(t.start_of_month().to_string(), "2024-02-01T00:00:00Z");
        assert_eq!(t.start_of_next_month().to_string(), "2024-03-01T00:00:00Z");
        let dec: UtcTime = "2026-12-31T12:00:00Z".parse().unwrap();
        assert_eq!(dec.start_of_next_month().to_string(), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn rejects_impossible_dates() {
        assert!(
            CivilDateTime::parse_tap("20250229000000").is_err(),
            "not a leap year"
        );
        assert!(CivilDateTime::parse_tap("20261301000000").is_err());
        assert!(CivilDateTime::parse_tap("20261123246000").is_err());
        assert!(CivilDateTime::parse_tap("2026112309000").is_err());
        assert!(CivilDateTime::parse_tap("2026112309000X").is_err());
        assert!("2026-11-23 15:16:00Z".parse::<UtcTime>().is_err());
        assert!("2026-11-23T15:16:00+24:00".parse::<UtcTime>().is_err());
    }

    proptest! {
        #[test]
        fn civil_round_trips(secs in 0i64..253_402_300_799) {
            let t = UtcTime::from_unix_seconds(secs);
            prop_assert_eq!(UtcTime::from_civil_utc(t.to_civil()), t);
            prop_assert_eq!(t.to_string().parse::<UtcTime>().unwrap(), t);
        }
    }
}

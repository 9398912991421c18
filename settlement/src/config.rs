//! Consortium configuration, replicated: the settlement currency and scale, how ledger time
//! is cut into clearing periods, and the submission window for events.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::limits::PERIOD_SECONDS_MIN;
use crate::types::{Currency, Scale, UtcTime};

/// How ledger time is cut into clearing periods.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodScheme {
    /// Calendar months in UTC (the default, as monthly clearing is today).
    Monthly,
    /// Fixed-length periods of `seconds`, counted from the Unix epoch (for short cycles and
    /// demos: daily clearing is `86400`).
    Fixed {
        /// Period length in seconds.
        seconds: u64,
    },
}

impl PeriodScheme {
    /// The `[start, end)` of the scheme's period containing `t`.
    pub fn bounds(self, t: UtcTime) -> (UtcTime, UtcTime) {
        match self {
            PeriodScheme::Monthly => (t.start_of_month(), t.start_of_next_month()),
            PeriodScheme::Fixed { seconds } => {
                let len = seconds as i64;
                let start = t.unix_seconds().div_euclid(len) * len;
                (
                    UtcTime::from_unix_seconds(start),
                    UtcTime::from_unix_seconds(start + len),
                )
            }
        }
    }
}

/// A clearing period, identified by its start.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct PeriodId(pub UtcTime);

impl fmt::Display for PeriodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The consortium's replicated configuration.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ConsortiumConfig {
    /// The currency every batch, agreement and statement uses (TAP's default is SDR).
    pub settlement_currency: Currency,
    /// Decimal places of settled amounts; batches may use fewer (rescaled exactly), never more.
    pub settlement_scale: Scale,
    /// How ledger time is cut into periods.
    pub period: PeriodScheme,
    /// Events older than this, relative to their batch's ledger time, are rejected (severe).
    pub event_age_max_s: u64,
    /// Events starting more than this after their batch's ledger time are rejected (severe).
    /// A small allowance absorbs clock skew between a carrier's switches and its node.
    pub event_future_max_s: u64,
}

impl Default for ConsortiumConfig {
    fn default() -> Self {
        ConsortiumConfig {
            settlement_currency: Currency::SDR,
            settlement_scale: Scale::new(6).expect("6 is a valid scale"),
            period: PeriodScheme::Monthly,
            // TD.57 practice: usage must reach the home network within 30 days.
            event_age_max_s: 30 * 86_400,
            event_future_max_s: 300,
        }
    }
}

impl ConsortiumConfig {
    /// Checks the configuration is usable.
    pub fn validate(&self) -> Result<(), Rejection> {
        if let PeriodScheme::Fixed { seconds } = self.period
            && (seconds < PERIOD_SECONDS_MIN || seconds > i64::MAX as u64 / 4)
        {
            return Err(Rejection::new(
                ErrorCode::ConfigInvalid,
                format!("period length {seconds} s is out of range"),
            ));
        }
        if self.event_age_max_s > i64::MAX as u64 / 4 || self.event_future_max_s > i64::MAX as u64 / 4 {
            return Err(Rejection::new(
                ErrorCode::ConfigInvalid,
                "event window out of range",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monthly_and_fixed_bounds() {
        let t: UtcTime = "2026-11-23T15:16:00Z".parse().unwrap();
        let (s, e) = PeriodScheme::Monthly.bounds(t);
        assert_eq!(
            (s.to_string(), e.to_string()),
            ("2026-11-01T00:00:00Z".into(), "2026-12-01T00:00:00Z".into())
        );
        let (s, e) = PeriodScheme::Fixed { seconds: 86_400 }.bounds(t);
        assert_eq!(
            (s.to_string(), e.to_string()),
            ("2026-11-23T00:00:00Z".into(), "2026-11-24T00:00:00Z".into())
        );
    }

    #[test]
    fn invalid_config_is_refused() {
        let mut c = ConsortiumConfig::default();
        c.validate().unwrap();
        c.period = PeriodScheme::Fixed { seconds: 0 };
        assert_eq!(c.validate().unwrap_err().code, ErrorCode::ConfigInvalid);
    }
}

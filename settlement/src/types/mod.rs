//! Domain types: operators, subscribers, money, time, services and usage records.

mod money;
mod record;
mod service;
mod subscriber;
mod tadig;
mod time;

pub use money::{Amount, Currency, Money, Rounding, SCALE_MAX, Scale, div_round_half_even};
#[cfg(test)]
pub(crate) use record::tests::sample as sample_record;
pub use record::{EventIdentity, FileSequenceNumber, SourceRef, UsageRecord};
pub use service::{BaseUnit, ServiceKind};
pub use subscriber::{DIGITS_MAX, DigitString, Imsi, Msisdn, PartyNumber};
pub use tadig::Tadig;
pub use time::{CivilDateTime, UtcTime, days_in_month};

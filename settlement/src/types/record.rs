//! The normalized usage record every adapter produces and the ledger stores.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, Decoder, Encode, Encoder};
use crate::error::{CodecError, TypeError};
use crate::types::{Amount, Imsi, Msisdn, PartyNumber, Scale, ServiceKind, Tadig, UtcTime};

/// A TAP file sequence number, `1..=99999` (TD.57 `FileSequenceNumber`, five digits).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct FileSequenceNumber(u32);

impl FileSequenceNumber {
    /// Largest value five digits hold.
    pub const MAX: u32 = 99_999;

    /// Validates a file sequence number.
    pub fn new(n: u32) -> Result<Self, TypeError> {
        if n == 0 || n > Self::MAX {
            return Err(TypeError::FileSequenceNumber { value: n });
        }
        Ok(FileSequenceNumber(n))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for FileSequenceNumber {
    type Error = TypeError;
    fn try_from(n: u32) -> Result<Self, Self::Error> {
        FileSequenceNumber::new(n)
    }
}

impl From<FileSequenceNumber> for u32 {
    fn from(f: FileSequenceNumber) -> u32 {
        f.0
    }
}

impl fmt::Display for FileSequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:05}", self.0)
    }
}

/// Where a record came from: its file (when the input was a TAP file) and its position.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct SourceRef {
    /// The TAP file's sequence number, absent for CSV, JSON and streamed input.
    pub file_sequence_number: Option<FileSequenceNumber>,
    /// Zero-based index of the record (call event, CSV data row, JSON element) in its input.
    pub record_index: u32,
}

/// One roaming usage event, normalized from any input format.
///
/// Amounts are in the batch's currency; their scale is the input's (TAP `tapDecimalPlaces`).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The visited network (VPMN), which served the roamer and bills for it.
    pub visited: Tadig,
    /// The home network (HPMN), which pays.
    pub home: Tadig,
    /// The roaming subscriber.
    pub imsi: Imsi,
    /// The subscriber's number, when the input carries it.
    pub msisdn: Option<Msisdn>,
    /// The service used.
    pub service: ServiceKind,
    /// When the event started, in UTC.
    pub start: UtcTime,
    /// Duration in seconds (0 for events without duration).
    pub duration_s: u32,
    /// Bytes sent by the subscriber.
    pub volume_up_bytes: u64,
    /// Bytes received by the subscriber.
    pub volume_down_bytes: u64,
    /// Units charged, in the service's [`crate::types::BaseUnit`].
    pub charged_units: u64,
    /// Charge (excluding tax).
    pub charge: Amount,
    /// Tax on the charge.
    pub tax: Amount,
    /// The other party (called/calling number, SMS destination), when known.
    pub other_party: Option<PartyNumber>,
    /// Network charging reference (GPRS/IMS charging id), when known; part of the event's
    /// identity for duplicate detection.
    pub charging_id: Option<u64>,
    /// Traceability back to the input.
    pub source: SourceRef,
}

/// The fields that identify a call event for duplicate detection: the same event submitted
/// twice has the same identity even if its charge was changed (TD.57's duplicate check on
/// subscriber, start time, service, duration/volume and other party), and whether it is a
/// credit (the refund of an event is a second record, not a duplicate).
///
/// Layout: visited (5) and home (5) TADIG, then the event fields packed into 55 bytes (IMSI
/// value and length, service code with the credit flag in its top bit, start, duration,
/// volumes, other party value and length, charging id), so that their hash is one SHA-256
/// block.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct EventIdentity {
    bytes: [u8; EventIdentity::LEN],
}

impl EventIdentity {
    /// Bytes of the pair (visited and home TADIG) at the start.
    const PAIR_LEN: usize = 5 + 5;
    /// Bytes of the event fields after the pair: at most 55, one SHA-256 block.
    const EVENT_LEN: usize = 9 + 1 + 8 + 4 + 8 + 8 + 9 + 8;
    /// Encoded length.
    pub const LEN: usize = Self::PAIR_LEN + Self::EVENT_LEN;
    /// Offset of the event's start (unix seconds, big-endian) in the identity bytes.
    const START_AT: usize = Self::PAIR_LEN + 9 + 1;
    /// Length of a [`fingerprint`](Self::fingerprint).
    pub const FINGERPRINT_LEN: usize = Self::PAIR_LEN + 4 + 16;

    /// The identity bytes (fixed width, big-endian).
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.bytes
    }

    /// The duplicate-detection key: the pair in clear, the hour of the event's start, then
    /// the first 16 bytes of SHA-256 over the event fields. 128 bits make an accidental
    /// collision negligible (about 2^-48 after a trillion records of one pair); with the pair
    /// in clear, a sender that crafts a collision can only make one of its own records look
    /// like a duplicate of another of its own, never touch another pair's.
    ///
    /// The hour (hours since 1970, big-endian, clamped to 32 bits) only orders the keys: a
    /// batch's events span a few hours, so in an ordered index (RocksDB) its lookups and
    /// inserts land in a few neighbourhoods that stay in cache, instead of anywhere in the
    /// index. The same event always has the same start, so it never changes whether two
    /// events are the same.
    pub fn fingerprint(&self) -> [u8; Self::FINGERPRINT_LEN] {
        let (pair, event) = self.bytes.split_at(Self::PAIR_LEN);
        let start = i64::from_be_bytes(
            self.bytes[Self::START_AT..Self::START_AT + 8]
                .try_into()
                .expect("8 bytes"),
        );
        let hour = u32::try_from(start.div_euclid(3600).max(0)).unwrap_or(u32::MAX);
        let h = crate::crypto::sha256(&[event]);
        let mut f = [0u8; Self::FINGERPRINT_LEN];
        f[..Self::PAIR_LEN].copy_from_slice(pair);
        f[Self::PAIR_LEN..Self::PAIR_LEN + 4].copy_from_slice(&hour.to_be_bytes());
        f[Self::PAIR_LEN + 4..].copy_from_slice(&h.0[..16]);
        f
    }
}

impl UsageRecord {
    /// A credit (a refund, TAP's `chargeRefundIndicator`): charge or tax below zero. A valid
    /// credit has neither above zero; the state machine rejects mixed signs.
    pub fn is_credit(&self) -> bool {
        self.charge.minor() < 0 || self.tax.minor() < 0
    }

    /// The duplicate-detection identity of this event.
    pub fn identity(&self) -> EventIdentity {
        let mut b = [0u8; EventIdentity::LEN];
        let mut at = 0;
        let mut put = |s: &[u8]| {
            b[at..at + s.len()].copy_from_slice(s);
            at += s.len();
        };
        put(self.visited.as_bytes());
        put(self.home.as_bytes());
        put(&self.imsi.digits().value().to_be_bytes());
        put(&[self.imsi.digits().len()]);
        // A refund of an event is not a duplicate of the event. Service codes are below 128.
        debug_assert!(self.service.code() < 0x80);
        put(&[self.service.code() | (u8::from(self.is_credit()) << 7)]);
        put(&self.start.unix_seconds().to_be_bytes());
        put(&self.duration_s.to_be_bytes());
        put(&self.volume_up_bytes.to_be_bytes());
        put(&self.volume_down_bytes.to_be_bytes());
        match self.other_party {
            Some(p) => {
                put(&p.digits().value().to_be_bytes());
                put(&[p.digits().len()]);
            }
            None => put(&[0u8; 9]),
        }
        put(&self.charging_id.unwrap_or(0).to_be_bytes());
        debug_assert_eq!(at, EventIdentity::LEN);
        EventIdentity { bytes: b }
    }
}

fn put_amount(e: &mut Encoder, a: &Amount) {
    e.i64(a.minor());
    e.u8(a.scale().places());
}

fn get_amount(d: &mut Decoder<'_>, field: &'static str) -> Result<Amount, CodecError> {
    let minor = d.i64(field)?;
    let at = d.offset();
    let places = d.u8(field)?;
    let scale = Scale::new(places).map_err(|e| CodecError::Invalid {
        field,
        offset: at,
        reason: e.to_string(),
    })?;
    Ok(Amount::new(minor, scale))
}

impl Encode for Amount {
    fn encode(&self, e: &mut Encoder) {
        put_amount(e, self);
    }
}

impl Decode for Amount {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        get_amount(d, "amount")
    }
}

macro_rules! digits_codec {
    ($t:ty, $field:literal) => {
        impl Encode for $t {
            fn encode(&self, e: &mut Encoder) {
                e.u64(self.digits().value());
                e.u8(self.digits().len());
            }
        }
        impl Decode for $t {
            fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
                let at = d.offset();
                let v = d.u64($field)?;
                let n = d.u8($field)?;
                <$t>::from_parts(v, n).map_err(|e| CodecError::Invalid {
                    field: $field,
                    offset: at,
                    reason: e.to_string(),
                })
            }
        }
    };
}
digits_codec!(Imsi, "imsi");
digits_codec!(Msisdn, "msisdn");
digits_codec!(PartyNumber, "other_party");

impl Encode for Tadig {
    fn encode(&self, e: &mut Encoder) {
        e.fixed(self.as_bytes());
    }
}

impl Decode for Tadig {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let at = d.offset();
        let b: [u8; 5] = d.array("tadig")?;
        Tadig::from_bytes(&b).map_err(|e| CodecError::Invalid {
            field: "tadig",
            offset: at,
            reason: e.to_string(),
        })
    }
}

impl Encode for UtcTime {
    fn encode(&self, e: &mut Encoder) {
        e.i64(self.unix_seconds());
    }
}

impl Decode for UtcTime {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(UtcTime::from_unix_seconds(d.i64("time")?))
    }
}

impl Encode for ServiceKind {
    fn encode(&self, e: &mut Encoder) {
        e.u8(self.code());
    }
}

impl Decode for ServiceKind {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let at = d.offset();
        let c = d.u8("service")?;
        ServiceKind::from_code(c).map_err(|e| CodecError::Invalid {
            field: "service",
            offset: at,
            reason: e.to_string(),
        })
    }
}

impl Encode for UsageRecord {
    /// Record format v1 (draft §4.2): fixed field order, see the struct.
    fn encode(&self, e: &mut Encoder) {
        e.put(&self.visited);
        e.put(&self.home);
        e.put(&self.imsi);
        e.option(self.msisdn.as_ref(), |e, m| e.put(m));
        e.put(&self.service);
        e.put(&self.start);
        e.u32(self.duration_s);
        e.u64(self.volume_up_bytes);
        e.u64(self.volume_down_bytes);
        e.u64(self.charged_units);
        e.put(&self.charge);
        e.put(&self.tax);
        e.option(self.other_party.as_ref(), |e, p| e.put(p));
        e.option(self.charging_id.as_ref(), |e, c| e.u64(*c));
        e.option(self.source.file_sequence_number.as_ref(), |e, f| e.u32(f.get()));
        e.u32(self.source.record_index);
    }
}

impl Decode for UsageRecord {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let visited = d.get()?;
        let home = d.get()?;
        let imsi = d.get()?;
        let msisdn = if d.option("msisdn")? { Some(d.get()?) } else { None };
        let service = d.get()?;
        let start = d.get()?;
        let duration_s = d.u32("duration_s")?;
        let volume_up_bytes = d.u64("volume_up_bytes")?;
        let volume_down_bytes = d.u64("volume_down_bytes")?;
        let charged_units = d.u64("charged_units")?;
        let charge = get_amount(d, "charge")?;
        let tax = get_amount(d, "tax")?;
        let other_party = if d.option("other_party")? {
            Some(d.get()?)
        } else {
            None
        };
        let charging_id = if d.option("charging_id")? {
            Some(d.u64("charging_id")?)
        } else {
            None
        };
        let file_sequence_number = if d.option("file_sequence_number")? {
            let at = d.offset();
            let n = d.u32("file_sequence_number")?;
            Some(FileSequenceNumber::new(n).map_err(|e| CodecError::Invalid {
                field: "file_sequence_number",
                offset: at,
                reason: e.to_string(),
            })?)
        } else {
            None
        };
        let record_index = d.u32("record_index")?;
        Ok(UsageRecord {
            visited,
            home,
            imsi,
            msisdn,
            service,
            start,
            duration_s,
            volume_up_bytes,
            volume_down_bytes,
            charged_units,
            charge,
            tax,
            other_party,
            charging_id,
            source: SourceRef {
                file_sequence_number,
                record_index,
            },
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A valid record for tests across the crate.
    pub(crate) fn sample(i: u32) -> UsageRecord {
        let s3 = Scale::new(3).unwrap();
        UsageRecord {
            visited: "KORKT".parse().unwrap(),
            home: "JPNDO".parse().unwrap(),
            imsi: "440101234567890".parse().unwrap(),
            msisdn: Some("819012345678".parse().unwrap()),
            service: ServiceKind::VoiceOriginated,
            start: UtcTime::from_unix_seconds(1_795_000_000 + i64::from(i) * 60),
            duration_s: 65,
            volume_up_bytes: 0,
            volume_down_bytes: 0,
            charged_units: 65,
            charge: Amount::new(1_250, s3),
            tax: Amount::new(125, s3),
            other_party: Some("82212345678".parse().unwrap()),
            charging_id: None,
            source: SourceRef {
                file_sequence_number: Some(FileSequenceNumber::new(42).unwrap()),
                record_index: i,
            },
        }
    }

    #[test]
    fn record_round_trips() {
        let r = sample(7);
        let bytes = r.to_bytes();
        assert_eq!(UsageRecord::from_bytes(&bytes, "record").unwrap(), r);
    }

    #[test]
    fn identity_tells_credits_pairs_and_numbers_apart() {
        assert!(
            ServiceKind::ALL.iter().all(|s| s.code() < 0x80),
            "the credit flag shares the service byte"
        );
        let a = sample(1);
        let mut credit = a.clone();
        credit.charge = Amount::new(-credit.charge.minor().abs().max(1), credit.charge.scale());
        credit.tax = Amount::new(0, credit.tax.scale());
        assert_ne!(a.identity(), credit.identity(), "a refund is not a duplicate");
        assert_ne!(a.identity().fingerprint(), credit.identity().fingerprint());
        let mut other_pair = a.clone();
        other_pair.home = "CHNCM".parse().unwrap();
        assert_ne!(a.identity(), other_pair.identity());
        let f = other_pair.identity().fingerprint();
        assert_eq!(&f[..10], b"KORKTCHNCM", "the pair is in clear: {f:?}");
        // Same digits value, another length (leading zeros): another number.
        let mut short = a.clone();
        short.other_party = Some(PartyNumber::from_parts(123, 3).unwrap());
        let mut long = a.clone();
        long.other_party = Some(PartyNumber::from_parts(123, 4).unwrap());
        assert_ne!(short.identity(), long.identity());
        assert_ne!(short.identity().fingerprint(), long.identity().fingerprint());
    }

    #[test]
    fn identity_ignores_charge_but_not_start() {
        let a = sample(1);
        let mut b = a.clone();
        b.charge = Amount::new(9_999, b.charge.scale());
        b.source.record_index = 99;
        assert_eq!(a.identity(), b.identity());
        b.start = UtcTime::from_unix_seconds(a.start.unix_seconds() + 1);
        assert_ne!(a.identity(), b.identity());
    }

    /// The fingerprint is the pair, the start hour, then the event hash; events an hour
    /// apart differ in the hour bytes, events in the same hour share them.
    #[test]
    fn fingerprints_lead_with_pair_and_start_hour() {
        let a = sample(0);
        let f = a.identity().fingerprint();
        assert_eq!(&f[..10], b"KORKTJPNDO");
        let hour = u32::try_from(a.start.unix_seconds() / 3600).unwrap();
        assert_eq!(f[10..14], hour.to_be_bytes(), "start hour after the pair");
        let mut b = a.clone();
        b.start = UtcTime::from_unix_seconds(a.start.unix_seconds() + 3600);
        let g = b.identity().fingerprint();
        assert_eq!(g[10..14], (hour + 1).to_be_bytes());
        assert_ne!(f[14..], g[14..], "the hash covers the start too");
        let mut c = a.clone();
        c.start = UtcTime::from_unix_seconds(-1);
        assert_eq!(
            c.identity().fingerprint()[10..14],
            [0; 4],
            "before 1970 clamps to hour 0"
        );
    }

    #[test]
    fn file_sequence_numbers_are_five_digits() {
        assert!(FileSequenceNumber::new(0).is_err());
        assert!(FileSequenceNumber::new(100_000).is_err());
        assert_eq!(FileSequenceNumber::new(6).unwrap().to_string(), "00006");
    }

    proptest! {
        #[test]
        fn truncated_records_never_decode(cut in 0usize..120) {
            let bytes = sample(3).to_bytes();
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(UsageRecord::from_bytes(&bytes[..cut], "record").is_err());
        }
    }
}

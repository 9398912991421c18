//! NRTRDE 2.01 (GSMA TD.35): near-real-time roaming data exchange, for fraud control.
//!
//! The TD.35 ASN.1 module is not in `shared/reference`. The structure below was established
//! from public implementations built from it (a jASN1-generated NRTRDE decoder's classes and
//! a Perl NRTRDE scanner's tag table, both found with the `search` tool) and cross-checked
//! between them:
//!
//! ```text
//! Nrtrde ::= [APPLICATION 1] SEQUENCE { specificationVersionNumber [41] INTEGER,
//!   releaseVersionNumber [37] INTEGER, sender [38], recipient [36], sequenceNumber [39],
//!   fileAvailableTimeStamp [31], utcTimeOffset [45], callEvents [2] CallEventList OPTIONAL,
//!   callEventsCount [20] INTEGER }
//! CallEvent ::= CHOICE { moc [3] Moc, mtc [4] Mtc, gprs [5] Gprs }
//! ```
//!
//! Assumptions, documented because the module text was not available:
//! - `chargeAmount` is in SDR with 3 implied decimal places (TD.35 charges are in SDR; the
//!   decimal places are fixed by the standard, not carried in the file).
//! - `sequenceNumber` is 7 digits (`0000001`..`9999999`), which is why records carry no TAP
//!   file sequence number.
//! - Every element is decoded leniently: unknown application elements are skipped, as for TAP.
//!
//! Records from NRTRDE are **not** settlement input: they are returned as
//! [`NearRealTimeUsage`], a type the settlement batch builder does not accept, for visibility
//! and fraud thresholds only.

use serde::Serialize;
use settlement::types::{
    Amount, CivilDateTime, Imsi, Msisdn, PartyNumber, Scale, ServiceKind, SourceRef, Tadig, UsageRecord,
    UtcTime,
};

use crate::bcd;
use crate::ber::{BerType, Class, Element, Octets, describe};
use crate::diagnostic::{Diagnostic, Verdict, verdict};
use crate::error::Error;
use crate::limits::NRTRDE_FILE_BYTES_MAX;
use crate::tap::normalize::parse_utc_offset;

/// Decimal places of `chargeAmount` (SDR, TD.35).
pub const CHARGE_DECIMAL_PLACES: u8 = 3;

ber_choice! {
    /// `ServiceCode` [APPLICATION 46].
    pub enum ServiceCode ("serviceCode") {
        /// Two hex characters.
        TeleServiceCode ("teleServiceCode"): Octets = 43,
        /// Two hex characters.
        BearerServiceCode ("bearerServiceCode"): Octets = 18,
    }
}

ber_sequence! {
    /// `Moc` [APPLICATION 3]: mobile originated call or SMS.
    pub struct Moc ("moc") {
        /// BCD IMSI.
        imsi ("imsi"): Option<Octets> = 34,
        /// BCD IMEI.
        imei ("imei"): Option<Octets> = 33,
        /// `CCYYMMDDhhmmss` local time.
        call_event_start_time_stamp ("callEventStartTimeStamp"): Option<Octets> = 21,
        /// `+hhmm`.
        utc_time_offset ("utcTimeOffset"): Option<Octets> = 45,
        /// Seconds.
        call_event_duration ("callEventDuration"): Option<i64> = 19,
        /// Cause for termination.
        cause_for_termination ("causeForTermination"): Option<i64> = 24,
        /// Tele or bearer service.
        service_code ("serviceCode"): Option<ServiceCode> = 46,
        /// Supplementary service.
        supplementary_service_code ("supplementaryServiceCode"): Option<Octets> = 42,
        /// Digits dialled.
        dialled_digits ("dialledDigits"): Option<Octets> = 30,
        /// Number connected to.
        connected_number ("connectedNumber"): Option<Octets> = 27,
        /// Third party.
        third_party_number ("thirdPartyNumber"): Option<Octets> = 44,
        /// MSC.
        rec_entity_id ("recEntityId"): Option<Octets> = 35,
        /// Call reference.
        call_reference ("callReference"): Option<Octets> = 23,
        /// SDR, 3 decimal places.
        charge_amount ("chargeAmount"): Option<i64> = 25,
        /// Serving network.
        serving_network ("servingNetwork"): Option<Octets> = 15,
        /// BCD MSISDN.
        msisdn ("msisdn"): Option<Octets> = 49,
        /// Location area.
        location_area ("locationArea"): Option<i64> = 48,
        /// Cell.
        cell_id ("cellId"): Option<i64> = 47,
    }
}

ber_sequence! {
    /// `Mtc` [APPLICATION 4]: mobile terminated call or SMS.
    pub struct Mtc ("mtc") {
        /// BCD IMSI.
        imsi ("imsi"): Option<Octets> = 34,
        /// BCD IMEI.
        imei ("imei"): Option<Octets> = 33,
        /// `CCYYMMDDhhmmss` local time.
        call_event_start_time_stamp ("callEventStartTimeStamp"): Option<Octets> = 21,
        /// `+hhmm`.
        utc_time_offset ("utcTimeOffset"): Option<Octets> = 45,
        /// Seconds.
        call_event_duration ("callEventDuration"): Option<i64> = 19,
        /// Cause for termination.
        cause_for_termination ("causeForTermination"): Option<i64> = 24,
        /// Tele or bearer service.
        service_code ("serviceCode"): Option<ServiceCode> = 46,
        /// Calling number.
        calling_number ("callingNumber"): Option<Octets> = 22,
        /// MSC.
        rec_entity_id ("recEntityId"): Option<Octets> = 35,
        /// Call reference.
        call_reference ("callReference"): Option<Octets> = 23,
        /// SDR, 3 decimal places.
        charge_amount ("chargeAmount"): Option<i64> = 25,
        /// Serving network.
        serving_network ("servingNetwork"): Option<Octets> = 15,
        /// BCD MSISDN.
        msisdn ("msisdn"): Option<Octets> = 49,
        /// Location area.
        location_area ("locationArea"): Option<i64> = 48,
        /// Cell.
        cell_id ("cellId"): Option<i64> = 47,
    }
}

ber_sequence! {
    /// `Gprs` [APPLICATION 5]: packet data.
    pub struct Gprs ("gprs") {
        /// BCD IMSI.
        imsi ("imsi"): Option<Octets> = 34,
        /// BCD IMEI.
        imei ("imei"): Option<Octets> = 33,
        /// `CCYYMMDDhhmmss` local time.
        call_event_start_time_stamp ("callEventStartTimeStamp"): Option<Octets> = 21,
        /// `+hhmm`.
        utc_time_offset ("utcTimeOffset"): Option<Octets> = 45,
        /// Seconds.
        call_event_duration ("callEventDuration"): Option<i64> = 19,
        /// Cause for termination.
        cause_for_termination ("causeForTermination"): Option<i64> = 24,
        /// APN network identifier.
        access_point_name_ni ("accessPointNameNI"): Option<Octets> = 16,
        /// APN operator identifier.
        access_point_name_oi ("accessPointNameOI"): Option<Octets> = 17,
        /// Bytes to the subscriber.
        data_volume_incoming ("dataVolumeIncoming"): Option<i64> = 28,
        /// Bytes from the subscriber.
        data_volume_outgoing ("dataVolumeOutgoing"): Option<i64> = 29,
        /// SGSN.
        sgsn_address ("sgsnAddress"): Option<Octets> = 40,
        /// GGSN.
        ggsn_address ("ggsnAddress"): Option<Octets> = 32,
        /// Charging id.
        charging_id ("chargingId"): Option<i64> = 26,
        /// SDR, 3 decimal places.
        charge_amount ("chargeAmount"): Option<i64> = 25,
        /// Serving network.
        serving_network ("servingNetwork"): Option<Octets> = 15,
        /// BCD MSISDN.
        msisdn ("msisdn"): Option<Octets> = 49,
        /// Location area.
        location_area ("locationArea"): Option<i64> = 48,
        /// Cell.
        cell_id ("cellId"): Option<i64> = 47,
    }
}

/// One NRTRDE call event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NrtrdeEvent {
    /// [APPLICATION 3].
    Moc(Moc),
    /// [APPLICATION 4].
    Mtc(Mtc),
    /// [APPLICATION 5].
    Gprs(Gprs),
}

impl NrtrdeEvent {
    /// The ASN.1 name of the alternative.
    pub fn asn_name(&self) -> &'static str {
        match self {
            NrtrdeEvent::Moc(_) => "moc",
            NrtrdeEvent::Mtc(_) => "mtc",
            NrtrdeEvent::Gprs(_) => "gprs",
        }
    }
}

/// A decoded NRTRDE file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NrtrdeFile {
    /// 2.
    pub specification_version_number: Option<i64>,
    /// 1 (release 2.01).
    pub release_version_number: Option<i64>,
    /// The visited network.
    pub sender: Option<Octets>,
    /// The home network.
    pub recipient: Option<Octets>,
    /// Seven digits.
    pub sequence_number: Option<Octets>,
    /// `CCYYMMDDhhmmss`.
    pub file_available_time_stamp: Option<Octets>,
    /// `+hhmm` of the file time stamp.
    pub utc_time_offset: Option<Octets>,
    /// The events with their byte offsets.
    pub call_events: Vec<(u64, NrtrdeEvent)>,
    /// Declared count.
    pub call_events_count: Option<i64>,
}

fn once<T>(slot: &mut Option<T>, v: T, el: &Element<'_>, name: &'static str) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::UnexpectedElement {
            offset: el.offset,
            expected: name,
            found: "a second occurrence".to_owned(),
        });
    }
    *slot = Some(v);
    Ok(())
}

/// Decodes an NRTRDE file held in memory.
pub fn decode(bytes: &[u8]) -> Result<NrtrdeFile, Error> {
    if bytes.len() > NRTRDE_FILE_BYTES_MAX {
        return Err(Error::TooLarge {
            offset: 0,
            context: "NRTRDE file",
            size: bytes.len() as u64,
            max: NRTRDE_FILE_BYTES_MAX as u64,
        });
    }
    let (el, n) = Element::parse(bytes, 0, "NRTRDE file")?;
    if el.tag.class != Class::Application || el.tag.number != 1 || !el.constructed {
        return Err(Error::UnexpectedElement {
            offset: 0,
            expected: "an NRTRDE file: Nrtrde [APPLICATION 1]",
            found: describe(&el),
        });
    }
    if n < bytes.len() {
        return Err(Error::TrailingBytes {
            offset: n as u64,
            context: "NRTRDE file",
            count: (bytes.len() - n) as u64,
        });
    }
    let mut f = NrtrdeFile::default();
    let mut r = el.children("Nrtrde")?;
    while let Some(c) = r.next()? {
        if c.tag.class != Class::Application {
            continue;
        }
        match c.tag.number {
            41 => once(
                &mut f.specification_version_number,
                c.integer("specificationVersionNumber")?,
                &c,
                "one specificationVersionNumber",
            )?,
            37 => once(
                &mut f.release_version_number,
                c.integer("releaseVersionNumber")?,
                &c,
                "one releaseVersionNumber",
            )?,
            38 => once(&mut f.sender, Octets::decode_ber(&c, "sender")?, &c, "one sender")?,
            36 => once(
                &mut f.recipient,
                Octets::decode_ber(&c, "recipient")?,
                &c,
                "one recipient",
            )?,
            39 => once(
                &mut f.sequence_number,
                Octets::decode_ber(&c, "sequenceNumber")?,
                &c,
                "one sequenceNumber",
            )?,
            31 => once(
                &mut f.file_available_time_stamp,
                Octets::decode_ber(&c, "fileAvailableTimeStamp")?,
                &c,
                "one fileAvailableTimeStamp",
            )?,
            45 => once(
                &mut f.utc_time_offset,
                Octets::decode_ber(&c, "utcTimeOffset")?,
                &c,
                "one utcTimeOffset",
            )?,
            20 => once(
                &mut f.call_events_count,
                c.integer("callEventsCount")?,
                &c,
                "one callEventsCount",
            )?,
            2 => {
                let mut list = c.children("callEvents")?;
                let mut index = 0u32;
                while let Some(e) = list.next()? {
                    let wrap = |err: Error| Error::Record {
                        record_index: index,
                        offset: e.offset,
                        source: Box::new(err),
                    };
                    let ev = match (e.tag.class, e.tag.number) {
                        (Class::Application, 3) => {
                            NrtrdeEvent::Moc(BerType::decode_ber(&e, "moc").map_err(wrap)?)
                        }
                        (Class::Application, 4) => {
                            NrtrdeEvent::Mtc(BerType::decode_ber(&e, "mtc").map_err(wrap)?)
                        }
                        (Class::Application, 5) => {
                            NrtrdeEvent::Gprs(BerType::decode_ber(&e, "gprs").map_err(wrap)?)
                        }
                        _ => {
                            return Err(wrap(Error::UnexpectedElement {
                                offset: e.offset,
                                expected: "an NRTRDE call event: moc [3], mtc [4] or gprs [5]",
                                found: describe(&e),
                            }));
                        }
                    };
                    f.call_events.push((e.offset, ev));
                    index += 1;
                }
            }
            _ => {}
        }
    }
    Ok(f)
}

/// Encodes an NRTRDE file (definite lengths; for tests, fixtures and partners' test data).
pub fn encode(f: &NrtrdeFile) -> Vec<u8> {
    use crate::ber::{Tag, Writer};
    let mut w = Writer::with_capacity(256 + 128 * f.call_events.len());
    let m = w.begin(Tag::app(1));
    let int = |w: &mut Writer, tag: u32, v: Option<i64>| {
        if let Some(v) = v {
            w.integer(Tag::app(tag), v);
        }
    };
    let oct = |w: &mut Writer, tag: u32, v: &Option<Octets>| {
        if let Some(v) = v {
            w.primitive(Tag::app(tag), v.as_slice());
        }
    };
    int(&mut w, 41, f.specification_version_number);
    int(&mut w, 37, f.release_version_number);
    oct(&mut w, 38, &f.sender);
    oct(&mut w, 36, &f.recipient);
    oct(&mut w, 39, &f.sequence_number);
    oct(&mut w, 31, &f.file_available_time_stamp);
    oct(&mut w, 45, &f.utc_time_offset);
    if !f.call_events.is_empty() {
        let l = w.begin(Tag::app(2));
        for (_, e) in &f.call_events {
            match e {
                NrtrdeEvent::Moc(x) => x.encode_ber(Tag::app(3), &mut w),
                NrtrdeEvent::Mtc(x) => x.encode_ber(Tag::app(4), &mut w),
                NrtrdeEvent::Gprs(x) => x.encode_ber(Tag::app(5), &mut w),
            }
        }
        w.end(l);
    }
    int(&mut w, 20, f.call_events_count);
    w.end(m);
    w.into_bytes()
}

/// A usage record from NRTRDE: near-real-time, for visibility and fraud thresholds. It is a
/// distinct type so it cannot be submitted for settlement by mistake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NearRealTimeUsage {
    /// The usage, normalized like TAP usage (charge in SDR at 3 decimal places).
    pub usage: UsageRecord,
    /// Always true: the marker the issue asks for, kept in JSON output.
    pub near_real_time: bool,
}

/// Result of reading an NRTRDE file.
#[derive(Clone, Debug, Serialize)]
pub struct NrtrdeReport {
    /// Sender as written.
    pub sender: Option<String>,
    /// Recipient as written.
    pub recipient: Option<String>,
    /// Sequence number as written.
    pub sequence_number: Option<String>,
    /// Events in the file.
    pub events: u32,
    /// Per type.
    pub events_by_type: std::collections::BTreeMap<String, u32>,
    /// The records that could be built.
    pub records: Vec<NearRealTimeUsage>,
    /// Findings (events that cannot be used are severe; a count mismatch is fatal).
    pub diagnostics: Vec<Diagnostic>,
    /// Worst finding.
    pub verdict: Verdict,
}

fn bcd_text(o: &Option<Octets>) -> Option<String> {
    o.as_ref().and_then(|o| bcd::decode_digits(o.as_slice()).ok())
}

/// Maps the file's events and checks the header and count.
pub fn report(f: &NrtrdeFile) -> NrtrdeReport {
    let mut d = Vec::new();
    let text = |o: &Option<Octets>| o.as_ref().map(Octets::trimmed_text);
    let sender = text(&f.sender).and_then(|s| s.parse::<Tadig>().ok());
    let recipient = text(&f.recipient).and_then(|s| s.parse::<Tadig>().ok());
    if sender.is_none() {
        d.push(Diagnostic::fatal(
            10,
            "sender",
            &[1, 38],
            "sender is missing or not a TADIG code",
        ));
    }
    if recipient.is_none() {
        d.push(Diagnostic::fatal(
            10,
            "recipient",
            &[1, 36],
            "recipient is missing or not a TADIG code",
        ));
    }
    if f.specification_version_number != Some(2) {
        d.push(Diagnostic::fatal(
            20,
            "specificationVersionNumber",
            &[1, 41],
            format!(
                "specification version {:?} is not NRTRDE 2",
                f.specification_version_number
            ),
        ));
    }
    let n = f.call_events.len();
    if f.call_events_count != Some(n as i64) {
        d.push(Diagnostic::fatal(
            100,
            "callEventsCount",
            &[1, 20],
            format!(
                "callEventsCount declares {:?} but the file holds {n} call events",
                f.call_events_count
            ),
        ));
    }
    let scale = Scale::new(CHARGE_DECIMAL_PLACES).expect("3 is a valid scale");
    let mut records = Vec::new();
    let mut by_type = std::collections::BTreeMap::new();
    for (i, (offset, ev)) in f.call_events.iter().enumerate() {
        let index = i as u32;
        *by_type.entry(ev.asn_name().to_owned()).or_insert(0) += 1;
        let (imsi, msisdn, ts, off, dur, charge, service, party, up, down, charging_id) = match ev {
            NrtrdeEvent::Moc(m) => (
                &m.imsi,
                &m.msisdn,
                &m.call_event_start_time_stamp,
                &m.utc_time_offset,
                m.call_event_duration,
                m.charge_amount,
                if matches!(&m.service_code, Some(ServiceCode::TeleServiceCode(c)) if c.as_slice() == b"22") {
                    ServiceKind::SmsOriginated
                } else {
                    ServiceKind::VoiceOriginated
                },
                m.connected_number.as_ref().or(m.dialled_digits.as_ref()),
                0,
                0,
                None,
            ),
            NrtrdeEvent::Mtc(m) => (
                &m.imsi,
                &m.msisdn,
                &m.call_event_start_time_stamp,
                &m.utc_time_offset,
                m.call_event_duration,
                m.charge_amount,
                if matches!(&m.service_code, Some(ServiceCode::TeleServiceCode(c)) if c.as_slice() == b"21") {
                    ServiceKind::SmsTerminated
                } else {
                    ServiceKind::VoiceTerminated
                },
                m.calling_number.as_ref(),
                0,
                0,
                None,
            ),
            NrtrdeEvent::Gprs(g) => (
                &g.imsi,
                &g.msisdn,
                &g.call_event_start_time_stamp,
                &g.utc_time_offset,
                g.call_event_duration,
                g.charge_amount,
                ServiceKind::Data,
                None,
                g.data_volume_outgoing.unwrap_or(0),
                g.data_volume_incoming.unwrap_or(0),
                g.charging_id,
            ),
        };
        let name = ev.asn_name();
        let mut bad = |code: u16, item: &'static str, msg: String| {
            d.push(Diagnostic::severe(index, code, item, &[1, 2], format!("{name}: {msg}")).at(*offset));
        };
        let Some(imsi) = bcd_text(imsi).and_then(|s| s.parse::<Imsi>().ok()) else {
            bad(10, "imsi", "IMSI is missing or not 6 to 15 BCD digits".to_owned());
            continue;
        };
        let civil = ts
            .as_ref()
            .map(Octets::trimmed_text)
            .and_then(|t| CivilDateTime::parse_tap(&t).ok());
        let minutes = off.as_ref().and_then(|o| parse_utc_offset(o.as_slice()));
        let (Some(civil), Some(minutes)) = (civil, minutes) else {
            bad(
                10,
                "callEventStartTimeStamp",
                "start time stamp or its UTC offset is missing or invalid".to_owned(),
            );
            continue;
        };
        let (Some(visited), Some(home)) = (sender, recipient) else {
            continue;
        };
        let duration_s = u32::try_from(dur.unwrap_or(0)).unwrap_or(0);
        let up = u64::try_from(up).unwrap_or(0);
        let down = u64::try_from(down).unwrap_or(0);
        let charged_units = match service.base_unit() {
            settlement::types::BaseUnit::Second => u64::from(duration_s),
            settlement::types::BaseUnit::Byte => up.saturating_add(down),
            settlement::types::BaseUnit::Event => 1,
        };
        records.push(NearRealTimeUsage {
            usage: UsageRecord {
                visited,
                home,
                imsi,
                msisdn: bcd_text(msisdn).and_then(|s| s.parse::<Msisdn>().ok()),
                service,
                start: UtcTime::from_local(civil, minutes),
                duration_s,
                volume_up_bytes: up,
                volume_down_bytes: down,
                charged_units,
                charge: Amount::new(charge.unwrap_or(0), scale),
                tax: Amount::zero(scale),
                other_party: party
                    .and_then(|p| {
                        bcd::ascii_digits(p.as_slice()).or_else(|| bcd::decode_digits(p.as_slice()).ok())
                    })
                    .and_then(|s| s.parse::<PartyNumber>().ok()),
                charging_id: charging_id.and_then(|c| u64::try_from(c).ok()),
                source: SourceRef {
                    file_sequence_number: None,
                    record_index: index,
                },
            },
            near_real_time: true,
        });
    }
    NrtrdeReport {
        sender: text(&f.sender),
        recipient: text(&f.recipient),
        sequence_number: text(&f.sequence_number),
        events: n as u32,
        events_by_type: by_type,
        records,
        verdict: verdict(&d),
        diagnostics: d,
    }
}

//! Mapping TAP call events to settlement [`UsageRecord`]s.
//!
//! Per call event type (TD.57 item names):
//!
//! | event | subscriber | start | service | other party |
//! |---|---|---|---|---|
//! | `mobileOriginatedCall` | `chargeableSubscriber` | `callEventStartTimeStamp` | voice MO, or SMS MO for TeleService 20/21/22 | `calledNumber`, else digits of `dialledDigits` |
//! | `mobileTerminatedCall` | `chargeableSubscriber` | `callEventStartTimeStamp` | voice MT, or SMS MT for TeleService 20/21/22 | `callingNumber` |
//! | `supplServiceEvent` | `chargeableSubscriber` | `supplServiceUsed.chargingTimeStamp` | supplementary service | — |
//! | `serviceCentreUsage` | `basicInformation.chargeableSubscriber` | `depositTimeStamp` | service centre usage | `nonChargedNumber` |
//! | `gprsCall` | `gprsChargeableSubscriber` | `callEventStartTimeStamp` | data | — |
//! | `contentTransaction` | `chargedPartyIdList` type 2 (IMSI) | `orderPlacedTimeStamp` (else delivery) | content | — |
//! | `locationService` | `trackingCustomerIdList` type 2, else tracked | `lCSRequestTimestamp` (else charging) | location | — |
//! | `messagingEvent` | `chargedParty.imsi` | `serviceStartTimestamp` | messaging event | `nonChargedPartyNumber` |
//! | `mobileSession` | `chargedParty.imsi` | `serviceStartTimestamp` | mobile session | `nonChargedPartyNumber` |
//!
//! Time: the local time stamp minus the UTC offset its code refers to (`NetworkInfo`).
//! Money: the record's `charge` is its totalCharge contribution (charge type `00` plus CAMEL
//! invocation fee) minus refunded charges, at the file's `tapDecimalPlaces` in the file's TAP
//! currency (charges in TAP are already converted; the exchange rate code only has to be
//! defined). Refunds therefore give negative charges. `tax` likewise.
//! Volumes: `dataVolumeIncoming` is what the subscriber received (down), `dataVolumeOutgoing`
//! what it sent (up).

use std::collections::BTreeMap;

use settlement::types::{
    Amount, CivilDateTime, FileSequenceNumber, Imsi, Msisdn, PartyNumber, Scale, ServiceKind, SourceRef,
    Tadig, UsageRecord, UtcTime,
};

use super::model::*;
use super::validate::EventAmounts;
use super::{CallEvent, event_tag};
use crate::bcd;
use crate::ber::Octets;
use crate::diagnostic::Diagnostic;

/// Parses `+hhmm` / `-hhmm` into minutes east of UTC.
pub fn parse_utc_offset(text: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(text).ok()?.trim_matches(' ');
    let b = s.as_bytes();
    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = i32::from(b[1] - b'0') * 10 + i32::from(b[2] - b'0');
    let m = i32::from(b[3] - b'0') * 10 + i32::from(b[4] - b'0');
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 60 + m))
}

/// What a call event maps from: the file's identities, scale and UTC offset table.
#[derive(Clone, Debug)]
pub struct Normalizer {
    /// The sender (visited network).
    pub visited: Tadig,
    /// The recipient (home network).
    pub home: Tadig,
    /// The file's sequence number.
    pub file_sequence_number: Option<FileSequenceNumber>,
    /// `tapDecimalPlaces`.
    pub scale: Scale,
    /// `utcTimeOffsetCode` → minutes east of UTC.
    pub utc_offsets: BTreeMap<i64, i32>,
}

/// Where an item sits, for error messages and RAP error contexts.
struct Item {
    name: &'static str,
    path: &'static [u32],
}

struct Subscriber<'a> {
    imsi: Option<ImsiSource<'a>>,
    msisdn: Option<ImsiSource<'a>>,
    /// Why there is no IMSI, when there is none.
    missing: &'static str,
    /// True when the subscriber is there but identified otherwise than by IMSI (valid TAP
    /// that roamledger cannot settle), false when it is missing altogether.
    other_identity: bool,
}

#[derive(Clone, Copy)]
enum ImsiSource<'a> {
    Bcd(&'a Octets),
    Ascii(&'a Octets),
}

struct View<'a> {
    subscriber: Subscriber<'a>,
    subscriber_item: Item,
    start: Option<&'a DateTime>,
    start_item: Item,
    service: ServiceKind,
    duration: Option<i64>,
    volume_down: i64,
    volume_up: i64,
    other_party: Option<ImsiSource<'a>>,
    charging_id: Option<i64>,
    charged_units: Option<i64>,
}

fn sim(cs: Option<&ChargeableSubscriber>) -> Subscriber<'_> {
    match cs {
        Some(ChargeableSubscriber::Sim(s)) => Subscriber {
            imsi: s.imsi.as_ref().map(ImsiSource::Bcd),
            msisdn: s.msisdn.as_ref().map(ImsiSource::Bcd),
            missing: "simChargeableSubscriber has no imsi",
            other_identity: false,
        },
        Some(ChargeableSubscriber::Min(_)) => Subscriber {
            imsi: None,
            msisdn: None,
            missing: "the subscriber is identified by a MIN (CDMA); roamledger settles IMSI-identified usage only",
            other_identity: true,
        },
        Some(ChargeableSubscriber::Unknown(_)) => Subscriber {
            imsi: None,
            msisdn: None,
            missing: "chargeableSubscriber uses an alternative this release does not know",
            other_identity: true,
        },
        None => Subscriber {
            imsi: None,
            msisdn: None,
            missing: "mandatory item chargeableSubscriber is missing",
            other_identity: false,
        },
    }
}

fn tele_service(list: &[BasicServiceUsed]) -> Option<&[u8]> {
    list.iter()
        .find_map(|b| match b.basic_service.as_ref()?.service_code.as_ref()? {
            BasicServiceCode::TeleServiceCode(c) => Some(c.as_slice()),
            _ => None,
        })
}

fn is_sms(code: Option<&[u8]>) -> bool {
    matches!(code, Some(b"20" | b"21" | b"22"))
}

/// Charged units of the first type-00 charge detail.
fn first_charged_units<'a>(infos: impl IntoIterator<Item = &'a ChargeInformation>) -> Option<i64> {
    infos
        .into_iter()
        .flat_map(|ci| ci.charge_detail_list.iter())
        .find(|cd| cd.charge_type.as_ref().map(Octets::as_slice) == Some(b"00"))
        .and_then(|cd| cd.charged_units)
}

fn id_of<'a>(
    ids: impl IntoIterator<Item = (Option<i64>, Option<&'a Octets>)>,
    wanted: i64,
) -> Option<&'a Octets> {
    ids.into_iter()
        .find(|(t, _)| *t == Some(wanted))
        .and_then(|(_, v)| v)
}

/// The parts mobile originated and terminated calls share: subscriber, start, duration,
/// SMS-or-voice from the TeleService, charged units.
type CallBasics<'a> = (
    Option<&'a ChargeableSubscriber>,
    Option<&'a DateTime>,
    Option<i64>,
);

fn circuit<'a>(
    v: &mut View<'a>,
    (subscriber, start, duration): CallBasics<'a>,
    services: &'a [BasicServiceUsed],
    (subscriber_path, start_path): (&'static [u32], &'static [u32]),
    (sms, voice): (ServiceKind, ServiceKind),
) {
    v.subscriber = sim(subscriber);
    v.subscriber_item.path = subscriber_path;
    v.start = start;
    v.start_item.path = start_path;
    v.duration = duration;
    v.service = if is_sms(tele_service(services)) {
        sms
    } else {
        voice
    };
    v.charged_units = first_charged_units(services.iter().flat_map(|b| b.charge_information_list.iter()));
}

fn view(event: &CallEvent) -> Option<View<'_>> {
    use event_tag::*;
    let empty = || Subscriber {
        imsi: None,
        msisdn: None,
        missing: "",
        other_identity: false,
    };
    let mut v = View {
        subscriber: empty(),
        subscriber_item: Item {
            name: "chargeableSubscriber",
            path: &[],
        },
        start: None,
        start_item: Item {
            name: "callEventStartTimeStamp",
            path: &[],
        },
        service: ServiceKind::VoiceOriginated,
        duration: None,
        volume_down: 0,
        volume_up: 0,
        other_party: None,
        charging_id: None,
        charged_units: None,
    };
    match event {
        CallEvent::MobileOriginatedCall(e) => {
            let b = e.basic_call_information.as_ref();
            circuit(
                &mut v,
                (
                    b.and_then(|b| b.chargeable_subscriber.as_ref()),
                    b.and_then(|b| b.call_event_start_time_stamp.as_ref()),
                    b.and_then(|b| b.total_call_event_duration),
                ),
                &e.basic_service_used_list,
                (&[MOC, 147, 427], &[MOC, 147, 44]),
                (ServiceKind::SmsOriginated, ServiceKind::VoiceOriginated),
            );
            let d = b.and_then(|b| b.destination.as_ref());
            v.other_party = d.and_then(|d| {
                d.called_number
                    .as_ref()
                    .map(ImsiSource::Bcd)
                    .or(d.dialled_digits.as_ref().map(ImsiSource::Ascii))
            });
        }
        CallEvent::MobileTerminatedCall(e) => {
            let b = e.basic_call_information.as_ref();
            circuit(
                &mut v,
                (
                    b.and_then(|b| b.chargeable_subscriber.as_ref()),
                    b.and_then(|b| b.call_event_start_time_stamp.as_ref()),
                    b.and_then(|b| b.total_call_event_duration),
                ),
                &e.basic_service_used_list,
                (&[MTC, 153, 427], &[MTC, 153, 44]),
                (ServiceKind::SmsTerminated, ServiceKind::VoiceTerminated),
            );
            v.other_party = b
                .and_then(|b| b.call_originator.as_ref())
                .and_then(|o| o.calling_number.as_ref())
                .map(ImsiSource::Bcd);
        }
        CallEvent::SupplServiceEvent(e) => {
            v.subscriber = sim(e.chargeable_subscriber.as_ref());
            v.subscriber_item.path = &[SUPPL_SERVICE, 427];
            v.start = e
                .suppl_service_used
                .as_ref()
                .and_then(|s| s.charging_time_stamp.as_ref());
            v.start_item = Item {
                name: "chargingTimeStamp",
                path: &[SUPPL_SERVICE, 206, 74],
            };
            v.service = ServiceKind::SupplementaryService;
        }
        CallEvent::ServiceCentreUsage(e) => {
            let b = e.basic_information.as_ref();
            v.subscriber = match b.and_then(|b| b.chargeable_subscriber.as_ref()) {
                Some(ScuChargeableSubscriber::Gsm(s)) => Subscriber {
                    imsi: s.imsi.as_ref().map(ImsiSource::Bcd),
                    msisdn: s.msisdn.as_ref().map(ImsiSource::Bcd),
                    missing: "gsmChargeableSubscriber has no imsi",
                    other_identity: false,
                },
                Some(_) => Subscriber {
                    imsi: None,
                    msisdn: None,
                    missing: "the subscriber is not a GSM subscriber; roamledger settles IMSI-identified usage only",
                    other_identity: true,
                },
                None => Subscriber {
                    imsi: None,
                    msisdn: None,
                    missing: "mandatory item chargeableSubscriber is missing",
                    other_identity: false,
                },
            };
            v.subscriber_item.path = &[SERVICE_CENTRE, 191, 430];
            v.start = e
                .scu_time_stamps
                .as_ref()
                .and_then(|t| t.deposit_time_stamp.as_ref());
            v.start_item = Item {
                name: "depositTimeStamp",
                path: &[SERVICE_CENTRE, 193, 88],
            };
            v.service = ServiceKind::ServiceCentreUsage;
            v.other_party = b
                .and_then(|b| b.non_charged_number.as_ref())
                .map(ImsiSource::Ascii);
        }
        CallEvent::GprsCall(e) => {
            let b = e.gprs_basic_call_information.as_ref();
            v.subscriber = sim(b
                .and_then(|b| b.gprs_chargeable_subscriber.as_ref())
                .and_then(|g| g.chargeable_subscriber.as_ref()));
            v.subscriber_item.path = &[GPRS, 114, 115, 427];
            v.start = b.and_then(|b| b.call_event_start_time_stamp.as_ref());
            v.start_item.path = &[GPRS, 114, 44];
            v.duration = b.and_then(|b| b.total_call_event_duration);
            v.charging_id = b.and_then(|b| b.charging_id);
            v.service = ServiceKind::Data;
            if let Some(s) = &e.gprs_service_used {
                v.volume_down = s.data_volume_incoming.unwrap_or(0);
                v.volume_up = s.data_volume_outgoing.unwrap_or(0);
            }
        }
        CallEvent::ContentTransaction(e) => {
            let ids = e
                .charged_party_information
                .iter()
                .flat_map(|c| c.charged_party_id_list.iter())
                .map(|i| (i.charged_party_id_type, i.charged_party_identifier.as_ref()));
            v.subscriber = Subscriber {
                imsi: id_of(ids.clone(), 2).map(ImsiSource::Ascii),
                msisdn: id_of(ids, 1).map(ImsiSource::Ascii),
                missing: "chargedPartyIdList has no IMSI (chargedPartyIdType 2)",
                other_identity: e.charged_party_information.is_some(),
            };
            v.subscriber_item = Item {
                name: "chargedPartyInformation",
                path: &[CONTENT, 324],
            };
            let bi = e.content_transaction_basic_info.as_ref();
            v.start = bi.and_then(|b| {
                b.order_placed_time_stamp
                    .as_ref()
                    .or(b.requested_delivery_time_stamp.as_ref())
                    .or(b.actual_delivery_time_stamp.as_ref())
            });
            v.start_item = Item {
                name: "orderPlacedTimeStamp",
                path: &[CONTENT, 304, 300],
            };
            v.duration = bi.and_then(|b| b.total_transaction_duration);
            v.service = ServiceKind::Content;
            for s in &e.content_service_used {
                v.volume_down = v.volume_down.saturating_add(s.data_volume_incoming.unwrap_or(0));
                v.volume_up = v.volume_up.saturating_add(s.data_volume_outgoing.unwrap_or(0));
            }
        }
        CallEvent::LocationService(e) => {
            let tracking = e
                .tracking_customer_information
                .iter()
                .flat_map(|t| t.tracking_customer_id_list.iter());
            let tracked = e
                .tracked_customer_information
                .iter()
                .flat_map(|t| t.tracked_customer_id_list.iter());
            let imsi = id_of(tracking.clone().map(pair), 2).or_else(|| id_of(tracked.clone().map(pair), 2));
            let msisdn = id_of(tracking.map(pair), 1).or_else(|| id_of(tracked.map(pair), 1));
            v.subscriber = Subscriber {
                imsi: imsi.map(ImsiSource::Ascii),
                msisdn: msisdn.map(ImsiSource::Ascii),
                missing: "neither trackingCustomerIdList nor trackedCustomerIdList has an IMSI (customerIdType 2)",
                other_identity: e.tracking_customer_information.is_some()
                    || e.tracked_customer_information.is_some(),
            };
            v.subscriber_item = Item {
                name: "trackingCustomerInformation",
                path: &[LOCATION, 298],
            };
            let u = e.location_service_usage.as_ref();
            v.start = u.and_then(|u| {
                u.lcs_qos_requested
                    .as_ref()
                    .and_then(|q| q.lcs_request_timestamp.as_ref())
                    .or(u.charging_time_stamp.as_ref())
            });
            v.start_item = Item {
                name: "lCSRequestTimestamp",
                path: &[LOCATION, 382, 383, 384],
            };
            v.service = ServiceKind::Location;
        }
        CallEvent::MessagingEvent(e) => {
            v.subscriber = charged_party(e.charged_party.as_ref());
            v.subscriber_item = Item {
                name: "chargedParty",
                path: &[MESSAGING, 436],
            };
            v.start = e.service_start_timestamp.as_ref();
            v.start_item = Item {
                name: "serviceStartTimestamp",
                path: &[MESSAGING, 447],
            };
            v.service = ServiceKind::MessagingEvent;
            v.other_party = e
                .non_charged_party
                .as_ref()
                .and_then(|n| n.non_charged_party_number.as_ref())
                .map(ImsiSource::Bcd);
        }
        CallEvent::MobileSession(e) => {
            v.subscriber = charged_party(e.charged_party.as_ref());
            v.subscriber_item = Item {
                name: "chargedParty",
                path: &[MOBILE_SESSION, 436],
            };
            v.start = e.service_start_timestamp.as_ref();
            v.start_item = Item {
                name: "serviceStartTimestamp",
                path: &[MOBILE_SESSION, 447],
            };
            v.duration = e.total_call_event_duration;
            v.service = ServiceKind::MobileSession;
            v.other_party = e
                .non_charged_party
                .as_ref()
                .and_then(|n| n.non_charged_party_number.as_ref())
                .map(ImsiSource::Bcd);
        }
        CallEvent::Unknown(_) => return None,
    }
    Some(v)
}

fn pair(c: &CustomerIdentification) -> (Option<i64>, Option<&Octets>) {
    (c.customer_id_type, c.customer_identifier.as_ref())
}

fn charged_party(p: Option<&ChargedParty>) -> Subscriber<'_> {
    Subscriber {
        imsi: p.and_then(|p| p.imsi.as_ref()).map(ImsiSource::Bcd),
        msisdn: p.and_then(|p| p.msisdn.as_ref()).map(ImsiSource::Bcd),
        missing: "mandatory item chargedParty.imsi is missing",
        other_identity: p.is_some_and(|p| p.public_user_id.is_some() || p.msisdn.is_some()),
    }
}

fn digits(src: ImsiSource<'_>) -> Result<String, &'static str> {
    match src {
        ImsiSource::Bcd(o) => bcd::decode_digits(o.as_slice()),
        ImsiSource::Ascii(o) => bcd::ascii_digits(o.as_slice()).ok_or("not a string of decimal digits"),
    }
}

impl Normalizer {
    /// The UTC instant of a `DateTime`, or why it has none.
    pub fn resolve_time(&self, dt: &DateTime) -> Result<UtcTime, (u16, &'static str, String)> {
        let local = dt.local_time_stamp.as_ref().ok_or((
            30,
            "localTimeStamp",
            "mandatory item localTimeStamp is missing".to_owned(),
        ))?;
        let text = std::str::from_utf8(local.as_slice()).unwrap_or("");
        let civil = CivilDateTime::parse_tap(text).map_err(|e| {
            let code = if text.len() == 14 && text.bytes().all(|b| b.is_ascii_digit()) {
                20
            } else {
                10
            };
            (
                code,
                "localTimeStamp",
                format!(
                    "local time stamp {:?} is not a valid date and time: {e}",
                    local.to_text()
                ),
            )
        })?;
        let code = dt.utc_time_offset_code.ok_or((
            31,
            "utcTimeOffsetCode",
            "mandatory item utcTimeOffsetCode is missing".to_owned(),
        ))?;
        let minutes = self.utc_offsets.get(&code).ok_or((
            100,
            "utcTimeOffsetCode",
            format!("UTC time offset code {code} is not defined in networkInfo.utcTimeOffsetInfo"),
        ))?;
        Ok(UtcTime::from_local(civil, *minutes))
    }

    /// Maps one call event, or gives the findings that prevent it: severe ones, or only
    /// [`Diagnostic::unmapped`] warnings for valid TAP that cannot be settled.
    pub fn record(
        &self,
        index: u32,
        event: &CallEvent,
        amounts: &EventAmounts,
    ) -> Result<UsageRecord, Vec<Diagnostic>> {
        let Some(v) = view(event) else {
            return Err(vec![Diagnostic::severe(
                index,
                10,
                "callEventDetails",
                &[event.tag()],
                format!(
                    "call event type [APPLICATION {}] is not defined in TAP 3.12; it cannot be validated or settled",
                    event.tag()
                ),
            )]);
        };
        let mut errs = Vec::new();
        let name = event.asn_name();
        let imsi = match v.subscriber.imsi {
            None if v.subscriber.other_identity => {
                errs.push(Diagnostic::unmapped(
                    index,
                    v.subscriber_item.name,
                    v.subscriber_item.path,
                    format!(
                        "{name} is valid TAP but cannot be settled: {}",
                        v.subscriber.missing
                    ),
                ));
                None
            }
            None => {
                errs.push(Diagnostic::severe(
                    index,
                    30,
                    v.subscriber_item.name,
                    v.subscriber_item.path,
                    format!("{name}: {}", v.subscriber.missing),
                ));
                None
            }
            Some(src) => match digits(src) {
                Err(reason) => {
                    errs.push(Diagnostic::severe(
                        index,
                        10,
                        "imsi",
                        v.subscriber_item.path,
                        format!("{name}: IMSI is not a valid digit string: {reason}"),
                    ));
                    None
                }
                // TD.57: Imsi is 3 to 8 octets, so 5 to 16 digits with the filler.
                Ok(d) if !(5..=15).contains(&d.len()) => {
                    errs.push(Diagnostic::severe(
                        index,
                        20,
                        "imsi",
                        v.subscriber_item.path,
                        format!("{name}: IMSI {d} has {} digits; 5 to 15 are allowed", d.len()),
                    ));
                    None
                }
                Ok(d) => match d.parse::<Imsi>() {
                    Ok(i) => Some(i),
                    Err(e) => {
                        errs.push(Diagnostic::unmapped(
                            index,
                            "imsi",
                            v.subscriber_item.path,
                            format!(
                                "{name} is valid TAP but cannot be settled: IMSI {d} identifies only the network \
                                 (MCC+MNC), not a subscriber ({e})"
                            ),
                        ));
                        None
                    }
                },
            },
        };
        let msisdn = v
            .subscriber
            .msisdn
            .and_then(|m| digits(m).ok())
            .and_then(|d| d.parse::<Msisdn>().ok());
        let start = match v.start {
            None => {
                errs.push(Diagnostic::severe(
                    index,
                    30,
                    v.start_item.name,
                    v.start_item.path,
                    format!("{name}: mandatory item {} is missing", v.start_item.name),
                ));
                None
            }
            Some(dt) => match self.resolve_time(dt) {
                Ok(t) => Some(t),
                Err((code, item, msg)) => {
                    let mut path = v.start_item.path.to_vec();
                    path.push(if item == "localTimeStamp" { 16 } else { 232 });
                    errs.push(Diagnostic::severe(
                        index,
                        code,
                        item,
                        &path,
                        format!("{name}: {}: {msg}", v.start_item.name),
                    ));
                    None
                }
            },
        };
        let duration = v.duration.unwrap_or(0);
        let duration_s = match u32::try_from(duration) {
            Ok(d) => d,
            Err(_) => {
                errs.push(Diagnostic::severe(
                    index,
                    20,
                    "totalCallEventDuration",
                    &[event.tag()],
                    format!("{name}: duration {duration} s is out of range"),
                ));
                0
            }
        };
        let (Some(imsi), Some(start)) = (imsi, start) else {
            return Err(errs);
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        let volume_up = u64::try_from(v.volume_up).unwrap_or(0);
        let volume_down = u64::try_from(v.volume_down).unwrap_or(0);
        let charged_units = match v.service.base_unit() {
            settlement::types::BaseUnit::Second => v
                .charged_units
                .and_then(|u| u64::try_from(u).ok())
                .unwrap_or(u64::from(duration_s)),
            settlement::types::BaseUnit::Byte => volume_up.saturating_add(volume_down),
            settlement::types::BaseUnit::Event => 1,
        };
        let clamp = |x: i128| i64::try_from(x).unwrap_or(if x < 0 { i64::MIN } else { i64::MAX });
        Ok(UsageRecord {
            visited: self.visited,
            home: self.home,
            imsi,
            msisdn,
            service: v.service,
            start,
            duration_s,
            volume_up_bytes: volume_up,
            volume_down_bytes: volume_down,
            charged_units,
            charge: Amount::new(clamp(amounts.net_charge()), self.scale),
            tax: Amount::new(clamp(amounts.net_tax()), self.scale),
            other_party: v
                .other_party
                .and_then(|p| digits(p).ok())
                .and_then(|d| d.parse::<PartyNumber>().ok()),
            charging_id: v.charging_id.and_then(|c| u64::try_from(c).ok()),
            source: SourceRef {
                file_sequence_number: self.file_sequence_number,
                record_index: index,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_offsets() {
        assert_eq!(parse_utc_offset(b"+0100"), Some(60));
        assert_eq!(parse_utc_offset(b"-0530"), Some(-330));
        assert_eq!(parse_utc_offset(b"+1400"), Some(840));
        assert_eq!(parse_utc_offset(b"+1500"), None);
        assert_eq!(parse_utc_offset(b"0100"), None);
        assert_eq!(parse_utc_offset(b"+01:0"), None);
        assert_eq!(parse_utc_offset(b"+0160"), None);
    }
}

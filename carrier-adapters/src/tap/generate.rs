//! A deterministic TAP traffic generator for a pair of carriers.
//!
//! Same configuration and seed, same bytes: randomness comes from SplitMix64 seeded by the
//! caller, never from the OS. The mix is what a visited network typically sends: voice calls
//! out and in, SMS out and in, packet data, VoLTE sessions, supplementary services, with a
//! few CAMEL calls and taxes. The audit totals are computed with the same rules validation
//! checks, so an unmutated file validates clean.
//!
//! Mutations make invalid files for tests: wrong audit totals (fatal 100), impossible time
//! stamps (severe, that record) and duplicated call events (severe, the copy).

use settlement::types::{CivilDateTime, Tadig, UtcTime};

use super::model::*;
use super::validate::EventAmounts;
use super::{CallEvent, DataInterChange, TransferBatch, group_tag};
use crate::bcd;
use crate::ber::{BerType, Octets, Tag, Writer};
use crate::error::Error;
use crate::limits::GENERATED_EVENTS_MAX;

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, good enough for synthetic traffic.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Invalid content to put in a generated file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mutations {
    /// Declare a `totalCharge` one unit off (fatal 100).
    pub bad_total_charge: bool,
    /// Declare a `callEventDetailsCount` one off (fatal 100).
    pub bad_event_count: bool,
    /// Number of events given an impossible start time stamp (severe).
    pub bad_time_stamps: u32,
    /// Number of events repeated as exact duplicates (severe, on the copy).
    pub duplicates: u32,
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// The visited network (sender).
    pub sender: Tadig,
    /// The home network (recipient).
    pub recipient: Tadig,
    /// Number of call events (duplicates included).
    pub events: u32,
    /// The seed.
    pub seed: u64,
    /// File sequence number, 1..=99999.
    pub file_sequence_number: u32,
    /// `tapDecimalPlaces`, 0..=6.
    pub tap_decimal_places: u8,
    /// First event's local time (events follow within about a day).
    pub start: CivilDateTime,
    /// Test data (`fileTypeIndicator` `T`, file name `TD...`).
    pub test: bool,
    /// Invalid content.
    pub mutations: Mutations,
}

impl GeneratorConfig {
    /// A live file of `events` events, sequence number 1, scale 3, starting 2026-11-01.
    pub fn new(sender: Tadig, recipient: Tadig, events: u32, seed: u64) -> Self {
        GeneratorConfig {
            sender,
            recipient,
            events,
            seed,
            file_sequence_number: 1,
            tap_decimal_places: 3,
            start: CivilDateTime::new(2026, 11, 1, 0, 0, 0).expect("valid date"),
            test: false,
            mutations: Mutations::default(),
        }
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |field, reason: String| Err(Error::Encode { field, reason });
        if self.events > GENERATED_EVENTS_MAX {
            return bad(
                "events",
                format!("{} is more than the limit of {GENERATED_EVENTS_MAX}", self.events),
            );
        }
        if !(1..=99_999).contains(&self.file_sequence_number) {
            return bad(
                "fileSequenceNumber",
                format!("{} is outside 1..=99999", self.file_sequence_number),
            );
        }
        if self.tap_decimal_places > 6 {
            return bad(
                "tapDecimalPlaces",
                format!("{} is outside 0..=6", self.tap_decimal_places),
            );
        }
        if self.sender == self.recipient {
            return bad(
                "recipient",
                "sender and recipient are the same carrier".to_owned(),
            );
        }
        let m = self.mutations;
        if u64::from(m.bad_time_stamps) + u64::from(m.duplicates) > u64::from(self.events) {
            return bad("mutations", "more mutated events than events".to_owned());
        }
        Ok(())
    }
}

/// UTC offset codes of generated files.
const OFFSETS: [(i64, &str); 2] = [(1, "+0100"), (2, "+0900")];

fn o(s: &str) -> Option<Octets> {
    Some(Octets::from(s))
}

fn dtl(c: CivilDateTime, offset: &str) -> DateTimeLong {
    DateTimeLong {
        local_time_stamp: o(&stamp(c)),
        utc_time_offset: o(offset),
    }
}

fn stamp(c: CivilDateTime) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The header groups of a generated file.
pub fn header(cfg: &GeneratorConfig) -> super::BatchHeader {
    let created = UtcTime::from_civil_utc(cfg.start)
        .checked_add_seconds(2 * 86_400)
        .unwrap_or(UtcTime::EPOCH)
        .to_civil();
    super::BatchHeader {
        batch_control_info: Some(BatchControlInfo {
            sender: o(cfg.sender.as_str()),
            recipient: o(cfg.recipient.as_str()),
            file_sequence_number: o(&format!("{:05}", cfg.file_sequence_number)),
            file_creation_time_stamp: Some(dtl(created, "+0000")),
            transfer_cut_off_time_stamp: Some(dtl(created, "+0000")),
            file_available_time_stamp: Some(dtl(created, "+0000")),
            specification_version_number: Some(3),
            release_version_number: Some(12),
            file_type_indicator: cfg.test.then(|| Octets::from("T")),
            rap_file_sequence_number: None,
            operator_spec_information: vec![],
        }),
        accounting_info: Some(AccountingInfo {
            taxation: vec![Taxation {
                tax_code: Some(1),
                tax_type: o("01"),
                tax_rate: o("1000000"),
                charge_type: None,
                tax_indicator: None,
            }],
            discounting: vec![],
            local_currency: o("EUR"),
            tap_currency: None,
            currency_conversion_info: vec![CurrencyConversion {
                exchange_rate_code: Some(1),
                number_of_decimal_places: Some(5),
                exchange_rate: Some(112_345),
            }],
            tap_decimal_places: Some(i64::from(cfg.tap_decimal_places)),
        }),
        network_info: Some(NetworkInfo {
            utc_time_offset_info: OFFSETS
                .iter()
                .map(|(c, s)| UtcTimeOffsetInfo {
                    utc_time_offset_code: Some(*c),
                    utc_time_offset: o(s),
                })
                .collect(),
            rec_entity_info: vec![
                RecEntityInformation {
                    rec_entity_code: Some(1),
                    rec_entity_type: Some(1),
                    rec_entity_id: o(&format!("MSC-{}", cfg.sender)),
                },
                RecEntityInformation {
                    rec_entity_code: Some(2),
                    rec_entity_type: Some(3),
                    rec_entity_id: o("10.1.2.3"),
                },
            ],
        }),
        message_description_info: vec![],
    }
}

/// Produces the call events one at a time.
struct Events {
    rng: SplitMix64,
    cfg: GeneratorConfig,
    /// MCC+MNC digits of the home network's IMSIs.
    home_plmn: String,
    /// Seconds from `cfg.start` of the next event.
    clock: i64,
    index: u32,
    /// Indexes that get a bad time stamp.
    bad_stamps: std::collections::BTreeSet<u32>,
    /// Indexes that repeat an earlier event.
    dup_at: std::collections::BTreeSet<u32>,
    recent: Vec<CallEvent>,
    /// Unit of money at the file's scale: 1 SDR.
    unit: i64,
}

fn plmn_of(t: &Tadig) -> String {
    // A stable, plausible MCC (2xx-7xx) and two-digit MNC derived from the TADIG code.
    let h = t
        .as_bytes()
        .iter()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(*b)));
    format!("{}{:02}{:02}", 2 + h % 6, (h / 6) % 100, (h / 600) % 100)
}

impl Events {
    fn new(cfg: &GeneratorConfig) -> Self {
        let mut rng = SplitMix64::new(cfg.seed);
        let n = u64::from(cfg.events);
        let mut pick = |count: u32, taken: &std::collections::BTreeSet<u32>, min: u32| {
            let mut s = std::collections::BTreeSet::new();
            let span = n.saturating_sub(u64::from(min));
            while (s.len() as u32) < count && span > 0 {
                let i = min + rng.below(span) as u32;
                if !taken.contains(&i) {
                    s.insert(i);
                }
            }
            s
        };
        let dup_at = pick(cfg.mutations.duplicates, &Default::default(), 1);
        let bad_stamps = pick(cfg.mutations.bad_time_stamps, &dup_at, 0);
        Events {
            home_plmn: plmn_of(&cfg.recipient),
            rng,
            cfg: cfg.clone(),
            clock: 0,
            index: 0,
            bad_stamps,
            dup_at,
            recent: Vec::new(),
            unit: 10i64.pow(u32::from(cfg.tap_decimal_places)),
        }
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.below(10) as u8))
            .collect()
    }

    fn bcd(&mut self, prefix: &str, n: usize) -> Option<Octets> {
        let d = format!("{prefix}{}", self.digits(n));
        Some(Octets::from_slice(&bcd::encode_digits(&d).expect("digits")))
    }

    fn subscriber(&mut self) -> ChargeableSubscriber {
        // A pool of 50,000 subscribers per home network so that usage repeats per roamer.
        let k = self.rng.below(50_000);
        let imsi = format!("{}{:010}", self.home_plmn, 1_000_000 + k);
        let msisdn = format!("8190{:08}", 10_000_000 + k);
        ChargeableSubscriber::Sim(ImsiMsisdn {
            imsi: Some(Octets::from_slice(&bcd::encode_digits(&imsi).expect("digits"))),
            msisdn: Some(Octets::from_slice(&bcd::encode_digits(&msisdn).expect("digits"))),
        })
    }

    fn time(&mut self) -> DateTime {
        self.clock += 1 + self.rng.below(20) as i64;
        let code = OFFSETS[self.rng.below(2) as usize].0;
        let local = UtcTime::from_civil_utc(self.cfg.start)
            .checked_add_seconds(self.clock)
            .unwrap_or(UtcTime::EPOCH)
            .to_civil();
        let text = if self.bad_stamps.contains(&self.index) {
            // Month 13, hour 25: impossible.
            format!("{:04}1332250000", local.year)
        } else {
            stamp(local)
        };
        DateTime {
            local_time_stamp: Some(Octets::from(text.as_str())),
            utc_time_offset_code: Some(code),
        }
    }

    /// One charge information: type 00 charge for `units` at `rate_per_unit` (in 1/1000 SDR
    /// per unit), with 10 % tax on every third event.
    fn charge(&mut self, item: &str, units: i64, rate_milli: i64, per: i64) -> ChargeInformation {
        let blocks = (units + per - 1) / per;
        let charge = blocks * rate_milli * self.unit / 1000;
        let taxed = self.rng.below(3) == 0;
        ChargeInformation {
            charged_item: o(item),
            exchange_rate_code: Some(1),
            call_type_group: Some(CallTypeGroup {
                call_type_level1: Some(1 + self.rng.below(2) as i64),
                call_type_level2: Some(0),
                call_type_level3: Some(0),
            }),
            charge_detail_list: vec![ChargeDetail {
                charge_type: o("00"),
                charge: Some(charge),
                chargeable_units: Some(units),
                charged_units: Some(blocks * per),
                charge_detail_time_stamp: None,
            }],
            tax_information: if taxed {
                vec![TaxInformation {
                    tax_code: Some(1),
                    tax_value: Some(charge / 10),
                    taxable_amount: Some(charge),
                }]
            } else {
                vec![]
            },
            discount_information: None,
        }
    }

    fn location(&mut self) -> Option<LocationInformation> {
        Some(LocationInformation {
            network_location: Some(NetworkLocation {
                rec_entity_code: Some(1),
                call_reference: None,
                location_area: Some(1000 + self.rng.below(9000) as i64),
                cell_id: Some(self.rng.below(65_535) as i64),
            }),
            home_location_information: None,
            geographical_location: None,
        })
    }

    fn service(&mut self, tele: &str, ci: ChargeInformation) -> Vec<BasicServiceUsed> {
        vec![BasicServiceUsed {
            basic_service: Some(BasicService {
                service_code: Some(BasicServiceCode::TeleServiceCode(Octets::from(tele))),
                ..BasicService::default()
            }),
            charging_time_stamp: None,
            charge_information_list: vec![ci],
            hscsd_indicator: None,
        }]
    }

    fn fresh(&mut self) -> CallEvent {
        let roll = self.rng.below(100);
        match roll {
            0..=34 => {
                let dur = 1 + self.rng.below(1200) as i64;
                let sms = false;
                self.moc(dur, sms)
            }
            35..=44 => self.moc(0, true),
            45..=62 => {
                let dur = 1 + self.rng.below(900) as i64;
                self.mtc(dur, false)
            }
            63..=67 => self.mtc(0, true),
            68..=91 => self.gprs(),
            92..=96 => self.session(),
            _ => self.suppl(),
        }
    }

    fn moc(&mut self, dur: i64, sms: bool) -> CallEvent {
        let sub = self.subscriber();
        let start = self.time();
        let dest = self.bcd("", 11);
        let ci = if sms {
            self.charge("E", 1, 120, 1)
        } else {
            self.charge("D", dur, 150, 60)
        };
        let camel = (!sms && self.rng.below(20) == 0).then(|| CamelServiceUsed {
            camel_service_key: Some(11),
            camel_service_level: Some(0),
            camel_invocation_fee: Some(20 * self.unit / 1000),
            ..CamelServiceUsed::default()
        });
        CallEvent::MobileOriginatedCall(Box::new(MobileOriginatedCall {
            basic_call_information: Some(MoBasicCallInformation {
                chargeable_subscriber: Some(sub),
                destination: Some(Destination {
                    called_number: dest,
                    ..Destination::default()
                }),
                call_event_start_time_stamp: Some(start),
                total_call_event_duration: Some(dur),
                ..MoBasicCallInformation::default()
            }),
            location_information: self.location(),
            equipment_identifier: Some(ImeiOrEsn::Imei(self.bcd("3569", 10).expect("digits"))),
            basic_service_used_list: self.service(if sms { "22" } else { "11" }, ci),
            camel_service_used: camel,
            ..MobileOriginatedCall::default()
        }))
    }

    fn mtc(&mut self, dur: i64, sms: bool) -> CallEvent {
        let sub = self.subscriber();
        let start = self.time();
        let caller = self.bcd("", 10);
        let ci = if sms {
            self.charge("E", 1, 0, 1)
        } else {
            self.charge("D", dur, 60, 60)
        };
        CallEvent::MobileTerminatedCall(Box::new(MobileTerminatedCall {
            basic_call_information: Some(MtBasicCallInformation {
                chargeable_subscriber: Some(sub),
                call_originator: Some(CallOriginator {
                    calling_number: caller,
                    ..CallOriginator::default()
                }),
                call_event_start_time_stamp: Some(start),
                total_call_event_duration: Some(dur),
                ..MtBasicCallInformation::default()
            }),
            location_information: self.location(),
            basic_service_used_list: self.service(if sms { "21" } else { "11" }, ci),
            ..MobileTerminatedCall::default()
        }))
    }

    fn gprs(&mut self) -> CallEvent {
        let sub = self.subscriber();
        let start = self.time();
        let down = self.rng.below(50_000_000) as i64;
        let up = self.rng.below(5_000_000) as i64;
        let dur = 1 + self.rng.below(3600) as i64;
        // 0.01 SDR per started 100 kB.
        let ci = self.charge("V", up + down + 1, 10, 100_000);
        let charging_id = self.rng.below(u64::from(u32::MAX)) as i64;
        CallEvent::GprsCall(Box::new(GprsCall {
            gprs_basic_call_information: Some(GprsBasicCallInformation {
                gprs_chargeable_subscriber: Some(GprsChargeableSubscriber {
                    chargeable_subscriber: Some(sub),
                    ..GprsChargeableSubscriber::default()
                }),
                gprs_destination: Some(GprsDestination {
                    access_point_name_ni: o("internet"),
                    access_point_name_oi: None,
                }),
                call_event_start_time_stamp: Some(start),
                total_call_event_duration: Some(dur),
                charging_id: Some(charging_id),
                ..GprsBasicCallInformation::default()
            }),
            gprs_location_information: Some(GprsLocationInformation {
                gprs_network_location: Some(GprsNetworkLocation {
                    rec_entity: vec![2],
                    location_area: None,
                    cell_id: None,
                }),
                ..GprsLocationInformation::default()
            }),
            gprs_service_used: Some(GprsServiceUsed {
                ims_signalling_context: None,
                data_volume_incoming: Some(down),
                data_volume_outgoing: Some(up),
                charge_information_list: vec![ci],
            }),
            ..GprsCall::default()
        }))
    }

    fn session(&mut self) -> CallEvent {
        let ChargeableSubscriber::Sim(sub) = self.subscriber() else {
            unreachable!("subscriber() makes SIM subscribers")
        };
        let start = self.time();
        let dur = 1 + self.rng.below(1800) as i64;
        let ci = self.charge("D", dur, 100, 60);
        let other = self.bcd("", 11);
        CallEvent::MobileSession(Box::new(MobileSession {
            mobile_session_service: Some(1),
            charged_party: Some(ChargedParty {
                imsi: sub.imsi,
                msisdn: sub.msisdn,
                ..ChargedParty::default()
            }),
            event_reference: o(&format!("ims-{}", self.rng.next_u64())),
            rec_entity_code_list: vec![1],
            service_start_timestamp: Some(start),
            total_call_event_duration: Some(dur),
            non_charged_party: Some(NonChargedParty {
                non_charged_party_number: other,
                non_charged_public_user_id: None,
            }),
            session_charge_info_list: vec![SessionChargeInformation {
                charged_item: ci.charged_item,
                exchange_rate_code: ci.exchange_rate_code,
                call_type_group: ci.call_type_group,
                charge_detail_list: ci.charge_detail_list,
                tax_information_list: ci.tax_information,
            }],
            ..MobileSession::default()
        }))
    }

    fn suppl(&mut self) -> CallEvent {
        let sub = self.subscriber();
        let start = self.time();
        let ci = self.charge("E", 1, 50, 1);
        CallEvent::SupplServiceEvent(Box::new(SupplServiceEvent {
            chargeable_subscriber: Some(sub),
            location_information: self.location(),
            suppl_service_used: Some(SupplServiceUsed {
                suppl_service_code: o("21"),
                suppl_service_action_code: Some(1),
                charging_time_stamp: Some(start),
                charge_information: Some(ci),
                ..SupplServiceUsed::default()
            }),
            ..SupplServiceEvent::default()
        }))
    }

    fn next_event(&mut self) -> CallEvent {
        let e = if self.dup_at.contains(&self.index) && !self.recent.is_empty() {
            let k = self.rng.below(self.recent.len() as u64) as usize;
            self.recent[k].clone()
        } else {
            self.fresh()
        };
        if self.bad_stamps.contains(&self.index) {
            // Not a source for duplicates: a copy would fail twice.
        } else if self.recent.len() < 64 {
            self.recent.push(e.clone());
        } else {
            let k = self.rng.below(64) as usize;
            self.recent[k] = e.clone();
        }
        self.index += 1;
        e
    }
}

fn audit(cfg: &GeneratorConfig, sums: &EventAmounts, events: u32) -> AuditControlInfo {
    let m = cfg.mutations;
    let fit = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
    AuditControlInfo {
        earliest_call_time_stamp: Some(dtl(cfg.start, OFFSETS[0].1)),
        latest_call_time_stamp: Some(dtl(cfg.start, OFFSETS[0].1)),
        total_charge: Some(fit(sums.total_charge()) + i64::from(m.bad_total_charge)),
        total_charge_refund: None,
        total_tax_refund: None,
        total_tax_value: Some(fit(sums.tax)),
        total_discount_value: Some(fit(sums.discount)),
        total_discount_refund: None,
        total_advised_charge_value_list: vec![],
        call_event_details_count: Some(i64::from(events) + i64::from(m.bad_event_count)),
        operator_spec_information: vec![],
    }
}

/// Generates a transfer batch in memory.
pub fn generate(cfg: &GeneratorConfig) -> Result<TransferBatch, Error> {
    cfg.check()?;
    let h = header(cfg);
    let mut source = Events::new(cfg);
    let mut sums = EventAmounts::default();
    let no_fixed = Default::default();
    let mut events = Vec::with_capacity(cfg.events.min(1 << 20) as usize);
    for _ in 0..cfg.events {
        let e = source.next_event();
        let a = EventAmounts::of(&e, &no_fixed);
        sums.add(&a);
        events.push(e);
    }
    Ok(TransferBatch {
        batch_control_info: h.batch_control_info,
        accounting_info: h.accounting_info,
        network_info: h.network_info,
        message_description_info: h.message_description_info,
        call_event_details: events,
        audit_control_info: Some(audit(cfg, &sums, cfg.events)),
    })
}

/// Generates and encodes a file without holding its events: memory is the output bytes.
/// The bytes equal `encode(&DataInterChange::TransferBatch(generate(cfg)?))`.
pub fn generate_bytes(cfg: &GeneratorConfig) -> Result<Vec<u8>, Error> {
    cfg.check()?;
    let h = header(cfg);
    let mut w = Writer::with_capacity(256 * cfg.events.min(1 << 22) as usize + 1024);
    let m = w.begin(Tag::app(group_tag::TRANSFER_BATCH));
    if let Some(x) = &h.batch_control_info {
        x.encode_ber(Tag::app(group_tag::BATCH_CONTROL_INFO), &mut w);
    }
    if let Some(x) = &h.accounting_info {
        x.encode_ber(Tag::app(group_tag::ACCOUNTING_INFO), &mut w);
    }
    if let Some(x) = &h.network_info {
        x.encode_ber(Tag::app(group_tag::NETWORK_INFO), &mut w);
    }
    let mut source = Events::new(cfg);
    let mut sums = EventAmounts::default();
    let no_fixed = Default::default();
    if cfg.events > 0 {
        let l = w.begin(Tag::app(group_tag::CALL_EVENT_DETAILS));
        for _ in 0..cfg.events {
            let e = source.next_event();
            sums.add(&EventAmounts::of(&e, &no_fixed));
            e.encode(&mut w);
        }
        w.end(l);
    }
    audit(cfg, &sums, cfg.events).encode_ber(Tag::app(group_tag::AUDIT_CONTROL_INFO), &mut w);
    w.end(m);
    Ok(w.into_bytes())
}

/// [`generate`] wrapped as a `DataInterChange`.
pub fn generate_file(cfg: &GeneratorConfig) -> Result<DataInterChange, Error> {
    generate(cfg).map(DataInterChange::TransferBatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Severity, Verdict};
    use crate::tap::ingest::ingest;
    use crate::tap::validate::ValidationContext;

    fn cfg(n: u32, seed: u64) -> GeneratorConfig {
        GeneratorConfig::new("KORKT".parse().unwrap(), "JPNDO".parse().unwrap(), n, seed)
    }

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }

    #[test]
    fn same_seed_same_bytes_and_streaming_equals_in_memory() {
        let a = generate_bytes(&cfg(300, 42)).unwrap();
        assert_eq!(a, generate_bytes(&cfg(300, 42)).unwrap());
        assert_ne!(a, generate_bytes(&cfg(300, 43)).unwrap());
        let whole = crate::tap::encode(&generate_file(&cfg(300, 42)).unwrap());
        assert_eq!(a, whole);
    }

    #[test]
    fn generated_files_validate_clean_with_a_realistic_mix() {
        let bytes = generate_bytes(&cfg(2000, 7)).unwrap();
        let got = ingest(&bytes, &ValidationContext::default()).unwrap();
        let r = &got.report;
        assert_eq!(r.verdict, Verdict::Ok, "{:#?}", r.diagnostics);
        assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
        assert_eq!(got.records.len(), 2000);
        for t in [
            "mobileOriginatedCall",
            "mobileTerminatedCall",
            "gprsCall",
            "mobileSession",
            "supplServiceEvent",
        ] {
            assert!(
                r.events_by_type.get(t).copied().unwrap_or(0) > 10,
                "{t}: {:?}",
                r.events_by_type
            );
        }
        use settlement::types::ServiceKind::*;
        for k in [
            VoiceOriginated,
            VoiceTerminated,
            SmsOriginated,
            SmsTerminated,
            Data,
            MobileSession,
        ] {
            assert!(got.records.iter().any(|x| x.service == k), "{k:?} missing");
        }
        assert!(r.totals.computed.camel_fee > 0);
        assert!(r.totals.computed.tax > 0);
    }

    #[test]
    fn mutations_produce_the_expected_findings() {
        let mut c = cfg(500, 9);
        c.mutations = Mutations {
            bad_total_charge: true,
            bad_event_count: false,
            bad_time_stamps: 3,
            duplicates: 4,
        };
        let got = ingest(&generate_bytes(&c).unwrap(), &ValidationContext::default()).unwrap();
        let d = &got.report.diagnostics;
        assert_eq!(got.report.verdict, Verdict::Fatal);
        assert!(
            d.iter()
                .any(|x| x.item == "totalCharge" && x.code == 100 && x.severity == Severity::Fatal)
        );
        assert_eq!(
            d.iter().filter(|x| x.item == "localTimeStamp").count(),
            3,
            "{d:#?}"
        );
        assert_eq!(d.iter().filter(|x| x.code == 207).count(), 4, "{d:#?}");
        assert!(got.records.is_empty(), "a fatal file yields no records");
        c.mutations.bad_total_charge = false;
        c.mutations.bad_event_count = true;
        let got = ingest(&generate_bytes(&c).unwrap(), &ValidationContext::default()).unwrap();
        assert!(
            got.report
                .diagnostics
                .iter()
                .any(|x| x.item == "callEventDetailsCount" && x.code == 100)
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        let mut c = cfg(1, 1);
        c.file_sequence_number = 0;
        assert!(generate(&c).is_err());
        let mut c = cfg(1, 1);
        c.tap_decimal_places = 7;
        assert!(generate_bytes(&c).is_err());
        let mut c = cfg(1, 1);
        c.recipient = c.sender;
        assert!(generate(&c).is_err());
        let mut c = cfg(2, 1);
        c.mutations.duplicates = 3;
        assert!(generate(&c).is_err());
        assert!(generate(&cfg(GENERATED_EVENTS_MAX + 1, 1)).is_err());
    }
}

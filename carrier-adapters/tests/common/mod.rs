//! Fixtures shared by the integration tests: every one is made by this crate's own encoders
//! from fixed seeds, so the golden files in `testdata/` can be regenerated and compared.
#![allow(dead_code)]

use carrier_adapters::ber::Octets;
use carrier_adapters::nrtrde::{self, Gprs, Moc, Mtc, NrtrdeEvent, NrtrdeFile, ServiceCode};
use carrier_adapters::rap::{self, FatalGroup, FatalInput, RapFile, RapHeader, SevereInput};
use carrier_adapters::tap::generate::{GeneratorConfig, Mutations, generate, generate_bytes};
use carrier_adapters::tap::ingest::ingest;
use carrier_adapters::tap::model::DateTimeLong;
use carrier_adapters::tap::validate::ValidationContext;
use carrier_adapters::tap::{CallEvent, DataInterChange, TransferBatch, decode};
use settlement::types::{ServiceKind, UsageRecord};

pub fn cfg(events: u32, seed: u64) -> GeneratorConfig {
    GeneratorConfig::new("KORKT".parse().unwrap(), "JPNDO".parse().unwrap(), events, seed)
}

/// A clean live file: 25 events, seed 1.
pub fn clean_tap() -> Vec<u8> {
    generate_bytes(&cfg(25, 1)).unwrap()
}

/// A test file with every mutation: fatal totals, 2 bad time stamps, 2 duplicates.
pub fn mutated_config() -> GeneratorConfig {
    let mut c = cfg(30, 2);
    c.file_sequence_number = 2;
    c.test = true;
    c.mutations = Mutations {
        bad_total_charge: true,
        bad_event_count: false,
        bad_time_stamps: 2,
        duplicates: 2,
    };
    c
}

pub fn mutated_tap() -> Vec<u8> {
    generate_bytes(&mutated_config()).unwrap()
}

pub fn rap_header() -> RapHeader {
    RapHeader {
        sender: "JPNDO".into(),
        recipient: "KORKT".into(),
        rap_file_sequence_number: 1,
        created: DateTimeLong {
            local_time_stamp: Some(Octets::from("20261105120000")),
            utc_time_offset: Some(Octets::from("+0900")),
        },
        tap_release: 12,
        tap_decimal_places: 3,
        tap_currency: "SDR".into(),
        test: false,
    }
}

/// The RAP file returning the mutated file: a fatal return for its audit and severe returns
/// for each event with severe findings.
pub fn rap_return_batch() -> RapFile {
    let bytes = mutated_tap();
    let report = ingest(&bytes, &ValidationContext::default()).unwrap().report;
    let DataInterChange::TransferBatch(tb) = decode(&bytes).unwrap() else {
        panic!("generated file is a batch")
    };
    let mut severe: Vec<SevereInput> = Vec::new();
    for i in &report.rejected {
        let errors = report
            .diagnostics
            .iter()
            .filter(|d| d.record_index == Some(*i))
            .map(rap::error_detail)
            .collect();
        severe.push(SevereInput {
            file_sequence_number: 2,
            call_event: tb.call_event_details[*i as usize].clone(),
            errors,
        });
    }
    let fatal_errors = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == carrier_adapters::diagnostic::Severity::Fatal)
        .map(rap::error_detail)
        .collect();
    let fatal = vec![FatalInput {
        file_sequence_number: 2,
        group: FatalGroup::Audit(tb.audit_control_info.clone().unwrap(), fatal_errors),
    }];
    RapFile::ReturnBatch(rap::build_return_batch(&rap_header(), fatal, severe).unwrap())
}

pub fn ack() -> RapFile {
    RapFile::Acknowledgement(rap::Acknowledgement {
        sender: Some("KORKT".into()),
        recipient: Some("JPNDO".into()),
        rap_file_sequence_number: Some("00001".into()),
        ack_file_creation_time_stamp: rap_header().created.into(),
        ack_file_available_time_stamp: rap_header().created.into(),
        file_type_indicator: None,
        operator_spec_list: vec![],
    })
}

fn bcd(d: &str) -> Option<Octets> {
    Some(Octets::from_slice(
        &carrier_adapters::bcd::encode_digits(d).unwrap(),
    ))
}

/// An NRTRDE file with the voice, SMS and data records of the clean TAP file.
pub fn nrtrde_file() -> NrtrdeFile {
    let got = ingest(&clean_tap(), &ValidationContext::default()).unwrap();
    let mut events = Vec::new();
    for r in got.records.iter().filter(|r| {
        matches!(
            r.service,
            ServiceKind::VoiceOriginated
                | ServiceKind::VoiceTerminated
                | ServiceKind::SmsOriginated
                | ServiceKind::Data
        )
    }) {
        let c = r.start.to_civil();
        let ts = Some(Octets::from(
            format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}",
                c.year, c.month, c.day, c.hour, c.minute, c.second
            )
            .as_str(),
        ));
        let imsi = bcd(&r.imsi.to_string());
        let msisdn = r.msisdn.and_then(|m| bcd(&m.to_string()));
        let charge = Some(
            r.charge
                .rescale(
                    settlement::types::Scale::new(3).unwrap(),
                    settlement::types::Rounding::HalfEven,
                )
                .unwrap()
                .minor(),
        );
        let e = match r.service {
            ServiceKind::Data => NrtrdeEvent::Gprs(Gprs {
                imsi,
                msisdn,
                call_event_start_time_stamp: ts,
                utc_time_offset: Some("+0000".into()),
                call_event_duration: Some(i64::from(r.duration_s)),
                data_volume_incoming: Some(r.volume_down_bytes as i64),
                data_volume_outgoing: Some(r.volume_up_bytes as i64),
                charging_id: r.charging_id.map(|c| c as i64),
                charge_amount: charge,
                access_point_name_ni: Some("internet".into()),
                ..Gprs::default()
            }),
            ServiceKind::VoiceTerminated => NrtrdeEvent::Mtc(Mtc {
                imsi,
                msisdn,
                call_event_start_time_stamp: ts,
                utc_time_offset: Some("+0000".into()),
                call_event_duration: Some(i64::from(r.duration_s)),
                service_code: Some(ServiceCode::TeleServiceCode("11".into())),
                calling_number: r.other_party.map(|p| Octets::from(p.to_string().as_str())),
                charge_amount: charge,
                ..Mtc::default()
            }),
            _ => NrtrdeEvent::Moc(Moc {
                imsi,
                msisdn,
                call_event_start_time_stamp: ts,
                utc_time_offset: Some("+0000".into()),
                call_event_duration: Some(i64::from(r.duration_s)),
                service_code: Some(ServiceCode::TeleServiceCode(
                    if r.service == ServiceKind::SmsOriginated {
                        "22"
                    } else {
                        "11"
                    }
                    .into(),
                )),
                connected_number: r.other_party.map(|p| Octets::from(p.to_string().as_str())),
                charge_amount: charge,
                ..Moc::default()
            }),
        };
        events.push((0, e));
    }
    let n = events.len() as i64;
    NrtrdeFile {
        specification_version_number: Some(2),
        release_version_number: Some(1),
        sender: Some("KORKT".into()),
        recipient: Some("JPNDO".into()),
        sequence_number: Some("0000001".into()),
        file_available_time_stamp: Some("20261101120000".into()),
        utc_time_offset: Some("+0900".into()),
        call_events: events,
        call_events_count: Some(n),
    }
}

pub fn nrtrde_bytes() -> Vec<u8> {
    nrtrde::encode(&nrtrde_file())
}

/// Records of the clean TAP file.
pub fn clean_records() -> Vec<UsageRecord> {
    ingest(&clean_tap(), &ValidationContext::default())
        .unwrap()
        .records
}

pub fn clean_batch() -> TransferBatch {
    generate(&cfg(25, 1)).unwrap()
}

/// The first event of a given type in a generated batch.
pub fn first_of(tb: &TransferBatch, name: &str) -> CallEvent {
    tb.call_event_details
        .iter()
        .find(|e| e.asn_name() == name)
        .cloned()
        .unwrap()
}

/// Re-encodes BER with the indefinite length form on every constructed element, as many TAP
/// producers write (the reference samples do).
pub fn to_indefinite(bytes: &[u8]) -> Vec<u8> {
    use carrier_adapters::ber::Element;
    fn tag_bytes(el: &Element<'_>, out: &mut Vec<u8>) {
        let class = match el.tag.class {
            carrier_adapters::ber::Class::Universal => 0x00,
            carrier_adapters::ber::Class::Application => 0x40,
            carrier_adapters::ber::Class::Context => 0x80,
            carrier_adapters::ber::Class::Private => 0xC0,
        } | if el.constructed { 0x20 } else { 0 };
        let n = el.tag.number;
        if n < 31 {
            out.push(class | n as u8);
        } else {
            out.push(class | 0x1F);
            let groups = (32 - n.leading_zeros()).div_ceil(7).max(1);
            for g in (0..groups).rev() {
                out.push(if g > 0 { 0x80 } else { 0 } | ((n >> (7 * g)) & 0x7F) as u8);
            }
        }
    }
    fn walk(el: &Element<'_>, raw: &[u8], out: &mut Vec<u8>) {
        if !el.constructed {
            out.extend_from_slice(raw);
            return;
        }
        tag_bytes(el, out);
        out.push(0x80);
        let mut r = el.children("x").unwrap();
        let mut pos = 0usize;
        while let Some(c) = r.next().unwrap() {
            walk(&c, &el.content[pos..pos + c.encoded_len], out);
            pos += c.encoded_len;
        }
        out.extend_from_slice(&[0, 0]);
    }
    let (el, n) = Element::parse(bytes, 0, "x").unwrap();
    let mut out = Vec::with_capacity(bytes.len() * 2);
    walk(&el, &bytes[..n], &mut out);
    out
}

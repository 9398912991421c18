//! RAP building, audit checks and decoding errors; NRTRDE decoding and its findings.

mod common;

use carrier_adapters::Error;
use carrier_adapters::ber::{Octets, Tag, Writer};
use carrier_adapters::diagnostic::{Severity, Verdict};
use carrier_adapters::nrtrde::{self, NrtrdeEvent};
use carrier_adapters::rap::{self, RapFile, ReturnDetail};
use settlement::error::{ErrorCode, RecordRejection};

#[test]
fn severe_returns_from_settlement_rejections() {
    let tb = common::clean_batch();
    let rejections = vec![
        RecordRejection {
            index: 2,
            code: ErrorCode::DuplicateRecord,
            message: "duplicate".into(),
        },
        RecordRejection {
            index: 2,
            code: ErrorCode::EventTooOld,
            message: "old".into(),
        },
        RecordRejection {
            index: 5,
            code: ErrorCode::NegativeAmount,
            message: "negative".into(),
        },
    ];
    let inputs = rap::severe_inputs_from_rejections(1, &rejections, |i| {
        tb.call_event_details.get(i as usize).cloned()
    })
    .unwrap();
    assert_eq!(
        inputs.len(),
        2,
        "two rejections of one event become one return with two errors"
    );
    assert_eq!(inputs[0].errors.len(), 2);
    let (item, number) = ErrorCode::EventTooOld.td57();
    assert_eq!(item, "callEventStartTimeStamp");
    let e = &inputs[0].errors[1];
    assert_eq!(e.error_code, Some(i64::from(number)));
    assert_eq!(
        e.error_context[0].path_item_id,
        Some(i64::from(tb.call_event_details[2].tag()))
    );
    assert_eq!(
        e.error_context[1].path_item_id,
        Some(44),
        "callEventStartTimeStamp tag"
    );
    let rb = rap::build_return_batch(&common::rap_header(), vec![], inputs).unwrap();
    let a = rb.rap_audit_control_info.clone().unwrap();
    assert_eq!(a.return_details_count, Some(2));
    let amounts: i128 = [2usize, 5]
        .iter()
        .map(|i| {
            carrier_adapters::tap::validate::EventAmounts::of(&tb.call_event_details[*i], &Default::default())
                .total_charge()
        })
        .sum();
    assert_eq!(a.total_severe_return_value.map(i128::from), Some(amounts));
    let h = rb.rap_batch_control_info.clone().unwrap();
    assert_eq!(h.rap_specification_version_number, Some(1));
    assert_eq!(h.rap_release_version_number, Some(5));
    assert_eq!(rap::check(&rb).0, Verdict::Ok);
    // A rejection pointing at no event is refused.
    let bad = [RecordRejection {
        index: 999,
        code: ErrorCode::DuplicateRecord,
        message: String::new(),
    }];
    assert!(rap::severe_inputs_from_rejections(1, &bad, |_| None).is_err());
}

#[test]
fn rap_audit_mismatches_are_fatal() {
    let RapFile::ReturnBatch(mut rb) = common::rap_return_batch() else {
        panic!()
    };
    let a = rb.rap_audit_control_info.as_mut().unwrap();
    a.return_details_count = Some(1);
    a.total_severe_return_value = Some(1);
    a.total_severe_return_tax = Some(-1);
    let (v, d) = rap::check(&rb);
    assert_eq!(v, Verdict::Fatal);
    for item in [
        "returnDetailsCount",
        "totalSevereReturnValue",
        "totalSevereReturnTax",
    ] {
        assert!(
            d.iter().any(|x| x.item == item && x.code == 100),
            "{item}: {d:#?}"
        );
    }
    let a = rb.rap_audit_control_info.as_mut().unwrap();
    a.return_details_count = None;
    a.total_severe_return_value = None;
    let (_, d) = rap::check(&rb);
    assert_eq!(
        d.iter()
            .filter(|x| x.severity == Severity::Fatal && x.code < 100)
            .count(),
        2
    );
    rb.rap_audit_control_info = None;
    rb.rap_batch_control_info = None;
    let (_, d) = rap::check(&rb);
    assert_eq!(d.len(), 2);
}

#[test]
fn rap_builder_refuses_bad_input() {
    let mut h = common::rap_header();
    h.rap_file_sequence_number = 0;
    assert!(rap::build_return_batch(&h, vec![], vec![]).is_err());
    let tb = common::clean_batch();
    let no_errors = rap::SevereInput {
        file_sequence_number: 1,
        call_event: tb.call_event_details[0].clone(),
        errors: vec![],
    };
    assert!(rap::build_return_batch(&common::rap_header(), vec![], vec![no_errors]).is_err());
}

#[test]
fn rap_decode_errors() {
    let good = rap::encode(&common::rap_return_batch());
    let mut trailing = good.clone();
    trailing.push(7);
    assert!(matches!(rap::decode(&trailing), Err(Error::TrailingBytes { .. })));
    assert!(matches!(
        rap::decode(&good[..good.len() - 1]),
        Err(Error::Truncated { .. })
    ));
    let e = rap::decode(&[0x61, 0x00]).unwrap_err();
    assert!(e.to_string().contains("returnBatch [APPLICATION 534]"), "{e}");
    // A return detail of an unknown type, and a severe return without its call event.
    let mut w = Writer::new();
    let m = w.begin(Tag::app(534));
    let l = w.begin(Tag::app(536));
    let s = w.begin(Tag::app(540));
    w.primitive(Tag::app(109), b"00001");
    w.end(s);
    w.end(l);
    w.end(m);
    match rap::decode(w.as_bytes()) {
        Err(Error::Record {
            record_index: 0,
            source,
            ..
        }) => {
            assert!(
                source.to_string().contains("callEventDetail is missing"),
                "{source}"
            )
        }
        other => panic!("{other:?}"),
    }
    let mut w = Writer::new();
    let m = w.begin(Tag::app(534));
    let l = w.begin(Tag::app(536));
    w.primitive(Tag::app(600), b"");
    w.end(l);
    w.end(m);
    assert!(matches!(rap::decode(w.as_bytes()), Err(Error::Record { .. })));
    // Stop and missing returns decode.
    let f = RapFile::ReturnBatch(rap::ReturnBatch {
        rap_batch_control_info: None,
        return_details: vec![
            ReturnDetail::StopReturn(rap::StopReturn {
                last_seq_number: Some("00009".into()),
                operator_spec_list: vec![],
            }),
            ReturnDetail::MissingReturn(rap::MissingReturn {
                start_missing_seq_number: Some("00003".into()),
                end_missing_seq_number: Some("00004".into()),
                operator_spec_list: vec!["gap".into()],
            }),
        ],
        rap_audit_control_info: None,
    });
    assert_eq!(rap::decode(&rap::encode(&f)).unwrap(), f);
}

#[test]
fn nrtrde_records_are_near_real_time() {
    let f = nrtrde::decode(&common::nrtrde_bytes()).unwrap();
    let r = nrtrde::report(&f);
    assert_eq!(r.verdict, Verdict::Ok, "{:#?}", r.diagnostics);
    assert!(r.events_by_type.contains_key("moc") && r.events_by_type.contains_key("gprs"));
    assert!(
        r.records
            .iter()
            .all(|x| x.near_real_time && x.usage.charge.scale().places() == 3)
    );
    let tap_records = common::clean_records();
    let first = &r.records[0].usage;
    assert!(
        tap_records
            .iter()
            .any(|t| t.imsi == first.imsi && t.start == first.start)
    );
}

#[test]
fn nrtrde_findings() {
    let mut f = common::nrtrde_file();
    f.call_events_count = Some(1);
    f.specification_version_number = Some(1);
    f.sender = Some("bad".into());
    if let Some((_, NrtrdeEvent::Moc(m))) = f
        .call_events
        .iter_mut()
        .find(|(_, e)| matches!(e, NrtrdeEvent::Moc(_)))
    {
        m.imsi = Some(Octets::from_slice(&[0xAB]));
    }
    if let Some((_, NrtrdeEvent::Gprs(g))) = f
        .call_events
        .iter_mut()
        .find(|(_, e)| matches!(e, NrtrdeEvent::Gprs(_)))
    {
        g.utc_time_offset = Some("0100".into());
    }
    let r = nrtrde::report(&nrtrde::decode(&nrtrde::encode(&f)).unwrap());
    assert_eq!(r.verdict, Verdict::Fatal);
    for (item, code) in [
        ("callEventsCount", 100),
        ("specificationVersionNumber", 20),
        ("sender", 10),
        ("imsi", 10),
        ("callEventStartTimeStamp", 10),
    ] {
        assert!(
            r.diagnostics.iter().any(|d| d.item == item && d.code == code),
            "{item}: {:#?}",
            r.diagnostics
        );
    }
}

#[test]
fn nrtrde_decode_errors() {
    let good = common::nrtrde_bytes();
    assert!(matches!(
        nrtrde::decode(&good[..good.len() - 2]),
        Err(Error::Truncated { .. })
    ));
    let mut t = good.clone();
    t.extend_from_slice(&[0, 0]);
    assert!(matches!(nrtrde::decode(&t), Err(Error::TrailingBytes { .. })));
    assert!(
        nrtrde::decode(&[0x62, 0x00])
            .unwrap_err()
            .to_string()
            .contains("Nrtrde [APPLICATION 1]")
    );
    let mut w = Writer::new();
    let m = w.begin(Tag::app(1));
    w.integer(Tag::app(20), 1);
    w.integer(Tag::app(20), 1);
    w.end(m);
    assert!(nrtrde::decode(w.as_bytes()).is_err(), "a repeated item");
    let mut w = Writer::new();
    let m = w.begin(Tag::app(1));
    let l = w.begin(Tag::app(2));
    w.primitive(Tag::app(9), b"");
    w.end(l);
    w.end(m);
    assert!(matches!(
        nrtrde::decode(w.as_bytes()),
        Err(Error::Record { record_index: 0, .. })
    ));
}

#[test]
fn fatal_returns_from_a_validation_report_and_from_settlement() {
    use carrier_adapters::tap::ingest::ingest;
    use carrier_adapters::tap::validate::ValidationContext;
    use carrier_adapters::tap::{DataInterChange, decode};
    let bytes = common::mutated_tap();
    let report = ingest(&bytes, &ValidationContext::default()).unwrap().report;
    let DataInterChange::TransferBatch(tb) = decode(&bytes).unwrap() else {
        panic!()
    };
    let fatal = rap::fatal_inputs_from_report(
        2,
        &tb.header(),
        tb.audit_control_info.as_ref(),
        &report.diagnostics,
    );
    assert_eq!(fatal.len(), 1);
    assert!(matches!(&fatal[0].group, rap::FatalGroup::Audit(_, e) if e[0].error_code == Some(100)));
    // A header problem returns the batch control information.
    let mut h = tb.header();
    h.batch_control_info.as_mut().unwrap().release_version_number = Some(9);
    let mut tb2 = tb.clone();
    tb2.batch_control_info = h.batch_control_info.clone();
    let r2 = ingest(
        &carrier_adapters::tap::encode(&DataInterChange::TransferBatch(tb2)),
        &ValidationContext::default(),
    )
    .unwrap()
    .report;
    let fatal = rap::fatal_inputs_from_report(2, &h, None, &r2.diagnostics);
    assert!(
        fatal
            .iter()
            .any(|f| matches!(&f.group, rap::FatalGroup::BatchControl(..)))
    );
    assert!(
        fatal
            .iter()
            .any(|f| matches!(&f.group, rap::FatalGroup::TransferBatch(..))),
        "audit group absent: returned on the batch"
    );
    let s = rap::fatal_input_for_rejection(7, ErrorCode::RecipientUnknown);
    let rb = rap::build_return_batch(&common::rap_header(), vec![s], vec![]).unwrap();
    let rb2 = rap::decode(&rap::encode(&RapFile::ReturnBatch(rb.clone()))).unwrap();
    assert_eq!(rb2, RapFile::ReturnBatch(rb));
}

//! TD.57 validation findings: each rule is triggered once and named precisely.

mod common;

use carrier_adapters::ber::Octets;
use carrier_adapters::diagnostic::{Severity, Verdict};
use carrier_adapters::tap::ingest::ingest;
use carrier_adapters::tap::model::*;
use carrier_adapters::tap::validate::{TapReport, ValidationContext};
use carrier_adapters::tap::{CallEvent, DataInterChange, TransferBatch, encode};
use settlement::types::FileSequenceNumber;

fn report_of(tb: TransferBatch, ctx: &ValidationContext) -> TapReport {
    ingest(&encode(&DataInterChange::TransferBatch(tb)), ctx)
        .unwrap()
        .report
}

fn has(r: &TapReport, sev: Severity, code: u16, item: &str) -> bool {
    r.diagnostics
        .iter()
        .any(|d| d.severity == sev && d.code == code && d.item == item)
}

fn base() -> TransferBatch {
    common::clean_batch()
}

fn bci(tb: &mut TransferBatch) -> &mut BatchControlInfo {
    tb.batch_control_info.as_mut().unwrap()
}

#[test]
fn clean_batch_is_ok() {
    let r = report_of(base(), &ValidationContext::default());
    assert_eq!(r.verdict, Verdict::Ok, "{:#?}", r.diagnostics);
}

#[test]
fn decimal_places_outside_0_to_6_is_fatal_20() {
    let mut tb = base();
    tb.accounting_info.as_mut().unwrap().tap_decimal_places = Some(7);
    let r = report_of(tb, &ValidationContext::default());
    assert!(
        has(&r, Severity::Fatal, 20, "tapDecimalPlaces"),
        "{:#?}",
        r.diagnostics
    );
    assert_eq!(r.verdict, Verdict::Fatal);
    let mut tb = base();
    tb.accounting_info.as_mut().unwrap().tap_decimal_places = None;
    assert!(has(
        &report_of(tb, &ValidationContext::default()),
        Severity::Fatal,
        34,
        "accountingInfo"
    ));
}

#[test]
fn sender_recipient_sequence_and_version_checks_are_fatal() {
    let ctx = ValidationContext::default();
    let mut tb = base();
    bci(&mut tb).recipient = Some("KORKT".into());
    assert!(has(&report_of(tb, &ctx), Severity::Fatal, 100, "recipient"));

    let mine = ValidationContext {
        recipient: Some("DEUD1".parse().unwrap()),
        sender: Some("FRAF1".parse().unwrap()),
        ..ValidationContext::default()
    };
    let r = report_of(base(), &mine);
    assert!(has(&r, Severity::Fatal, 20, "recipient"), "{:#?}", r.diagnostics);
    assert!(has(&r, Severity::Fatal, 20, "sender"));

    let mut tb = base();
    bci(&mut tb).sender = Some("kor".into());
    assert!(has(&report_of(tb, &ctx), Severity::Fatal, 10, "sender"));

    let dup = ValidationContext {
        last_file_sequence_number: Some(FileSequenceNumber::new(1).unwrap()),
        ..ValidationContext::default()
    };
    assert!(has(
        &report_of(base(), &dup),
        Severity::Fatal,
        100,
        "fileSequenceNumber"
    ));
    let mut tb = base();
    bci(&mut tb).file_sequence_number = Some("00005".into());
    let r = report_of(tb, &dup);
    assert!(has(&r, Severity::Warning, 101, "fileSequenceNumber"));
    assert_eq!(r.verdict, Verdict::Ok, "a gap alone is only a warning");
    for (fsn, code) in [("12", 10), ("0000X", 10), ("00000", 20)] {
        let mut tb = base();
        bci(&mut tb).file_sequence_number = Some(fsn.into());
        assert!(
            has(&report_of(tb, &ctx), Severity::Fatal, code, "fileSequenceNumber"),
            "{fsn}"
        );
    }
    let mut tb = base();
    bci(&mut tb).file_sequence_number = None;
    assert!(has(&report_of(tb, &ctx), Severity::Fatal, 32, "batchControlInfo"));

    let mut tb = base();
    bci(&mut tb).specification_version_number = Some(2);
    bci(&mut tb).release_version_number = Some(10);
    let r = report_of(tb, &ctx);
    assert!(has(&r, Severity::Fatal, 20, "specificationVersionNumber"));
    assert!(has(&r, Severity::Fatal, 20, "releaseVersionNumber"));
    let mut tb = base();
    bci(&mut tb).specification_version_number = None;
    bci(&mut tb).release_version_number = None;
    bci(&mut tb).file_available_time_stamp = None;
    bci(&mut tb).transfer_cut_off_time_stamp = None;
    let r = report_of(tb, &ctx);
    for code in [33, 34, 35, 36] {
        assert!(
            has(&r, Severity::Fatal, code, "batchControlInfo"),
            "{code}: {:#?}",
            r.diagnostics
        );
    }

    let test = ValidationContext {
        expect_test_data: Some(true),
        ..ValidationContext::default()
    };
    assert!(has(
        &report_of(base(), &test),
        Severity::Fatal,
        39,
        "batchControlInfo"
    ));
    let mut tb = base();
    bci(&mut tb).file_type_indicator = Some("T".into());
    let live = ValidationContext {
        expect_test_data: Some(false),
        ..ValidationContext::default()
    };
    assert!(has(
        &report_of(tb, &live),
        Severity::Fatal,
        38,
        "batchControlInfo"
    ));
}

#[test]
fn missing_groups_are_fatal() {
    let ctx = ValidationContext::default();
    let mut tb = base();
    tb.batch_control_info = None;
    tb.accounting_info = None;
    tb.network_info = None;
    tb.audit_control_info = None;
    let r = report_of(tb, &ctx);
    for code in [30, 31, 32, 33] {
        assert!(
            has(&r, Severity::Fatal, code, "transferBatch"),
            "{code}: {:#?}",
            r.diagnostics
        );
    }
}

#[test]
fn accounting_and_network_tables_are_checked() {
    let ctx = ValidationContext::default();
    let mut tb = base();
    let a = tb.accounting_info.as_mut().unwrap();
    a.local_currency = None;
    a.tap_currency = Some("sdr".into());
    a.currency_conversion_info
        .push(a.currency_conversion_info[0].clone());
    a.currency_conversion_info.push(CurrencyConversion::default());
    let r = report_of(tb, &ctx);
    assert!(has(&r, Severity::Fatal, 30, "accountingInfo"));
    assert!(has(&r, Severity::Fatal, 10, "tapCurrency"));
    assert!(has(&r, Severity::Fatal, 33, "currencyConversionInfo"));
    assert!(has(&r, Severity::Fatal, 30, "currencyConversionInfo"));

    let mut tb = base();
    let n = tb.network_info.as_mut().unwrap();
    n.utc_time_offset_info.push(n.utc_time_offset_info[0].clone());
    n.utc_time_offset_info.push(UtcTimeOffsetInfo {
        utc_time_offset_code: Some(9),
        utc_time_offset: Some("+25:00".into()),
    });
    let r = report_of(tb, &ctx);
    assert!(has(&r, Severity::Fatal, 33, "utcTimeOffsetInfo"));
    assert!(has(&r, Severity::Fatal, 31, "utcTimeOffsetInfo"));
    let mut tb = base();
    tb.network_info.as_mut().unwrap().utc_time_offset_info.clear();
    assert!(has(&report_of(tb, &ctx), Severity::Fatal, 30, "networkInfo"));
}

#[test]
fn audit_totals_mismatch_is_fatal_100_and_missing_items_are_named() {
    let ctx = ValidationContext::default();
    let mut tb = base();
    let a = tb.audit_control_info.as_mut().unwrap();
    a.total_tax_value = Some(a.total_tax_value.unwrap() + 1);
    a.total_discount_value = Some(5);
    a.call_event_details_count = Some(3);
    a.total_charge_refund = Some(1);
    let r = report_of(tb, &ctx);
    for item in [
        "totalTaxValue",
        "totalDiscountValue",
        "callEventDetailsCount",
        "totalChargeRefund",
    ] {
        assert!(
            has(&r, Severity::Fatal, 100, item),
            "{item}: {:#?}",
            r.diagnostics
        );
    }
    let m = r.diagnostics.iter().find(|d| d.item == "totalTaxValue").unwrap();
    assert!(
        m.message.contains("declares") && m.message.contains("add up to"),
        "{}",
        m.message
    );
    assert!(
        m.offset.is_some(),
        "audit findings carry the audit group's offset"
    );
    let mut tb = base();
    let a = tb.audit_control_info.as_mut().unwrap();
    a.total_charge = None;
    a.total_tax_value = None;
    a.total_discount_value = None;
    a.call_event_details_count = None;
    let r = report_of(tb, &ctx);
    for code in [30, 31, 32, 33] {
        assert!(has(&r, Severity::Fatal, code, "auditControlInfo"), "{code}");
    }
}

#[test]
fn refunds_count_apart_and_must_be_declared() {
    let mut tb = base();
    let imsi = Octets::from("262092464569171");
    let dt = DateTime {
        local_time_stamp: Some("20261101100000".into()),
        utc_time_offset_code: Some(1),
    };
    let ci = |charge| ChargeInformation {
        charged_item: Some("E".into()),
        exchange_rate_code: Some(1),
        charge_detail_list: vec![ChargeDetail {
            charge_type: Some("00".into()),
            charge: Some(charge),
            ..ChargeDetail::default()
        }],
        tax_information: vec![TaxInformation {
            tax_code: Some(1),
            tax_value: Some(charge / 10),
            taxable_amount: None,
        }],
        ..ChargeInformation::default()
    };
    let content = ContentTransaction {
        content_transaction_basic_info: Some(ContentTransactionBasicInfo {
            order_placed_time_stamp: Some(dt),
            ..ContentTransactionBasicInfo::default()
        }),
        charged_party_information: Some(ChargedPartyInformation {
            charged_party_id_list: vec![ChargedPartyIdentification {
                charged_party_id_type: Some(2),
                charged_party_identifier: Some(imsi),
            }],
            ..ChargedPartyInformation::default()
        }),
        content_service_used: vec![
            ContentServiceUsed {
                charge_information_list: vec![ci(1000)],
                ..ContentServiceUsed::default()
            },
            ContentServiceUsed {
                charge_refund_indicator: Some(1),
                charge_information_list: vec![ci(300)],
                ..ContentServiceUsed::default()
            },
        ],
        ..ContentTransaction::default()
    };
    tb.call_event_details
        .push(CallEvent::ContentTransaction(Box::new(content)));
    let a = tb.audit_control_info.as_mut().unwrap();
    a.total_charge = Some(a.total_charge.unwrap() + 1000);
    a.total_tax_value = Some(a.total_tax_value.unwrap() + 100);
    a.call_event_details_count = Some(26);
    let r = report_of(tb.clone(), &ValidationContext::default());
    assert!(
        has(&r, Severity::Fatal, 34, "auditControlInfo"),
        "{:#?}",
        r.diagnostics
    );
    assert!(has(&r, Severity::Fatal, 35, "auditControlInfo"));
    let a = tb.audit_control_info.as_mut().unwrap();
    a.total_charge_refund = Some(300);
    a.total_tax_refund = Some(30);
    let got = ingest(
        &encode(&DataInterChange::TransferBatch(tb)),
        &ValidationContext::default(),
    )
    .unwrap();
    assert_eq!(got.report.verdict, Verdict::Ok, "{:#?}", got.report.diagnostics);
    let last = got.records.last().unwrap();
    assert_eq!(last.charge.minor(), 700, "refunds reduce the record's charge");
    assert_eq!(last.tax.minor(), 70);
}

/// The first event of the batch, a mobile originated call, changed by `f`.
fn with_moc(f: impl FnOnce(&mut MobileOriginatedCall)) -> TapReport {
    let mut tb = base();
    let i = tb
        .call_event_details
        .iter()
        .position(|e| e.asn_name() == "mobileOriginatedCall")
        .unwrap();
    let CallEvent::MobileOriginatedCall(m) = &mut tb.call_event_details[i] else {
        unreachable!()
    };
    f(m);
    let mut r = report_of(tb, &ValidationContext::default());
    r.diagnostics
        .retain(|d| d.item != "totalCharge" && d.item != "totalTaxValue");
    r
}

fn sim(m: &mut MobileOriginatedCall) -> &mut ImsiMsisdn {
    match m
        .basic_call_information
        .as_mut()
        .unwrap()
        .chargeable_subscriber
        .as_mut()
        .unwrap()
    {
        ChargeableSubscriber::Sim(s) => s,
        _ => unreachable!(),
    }
}

fn first_ci(m: &mut MobileOriginatedCall) -> &mut ChargeInformation {
    &mut m.basic_service_used_list[0].charge_information_list[0]
}

#[test]
fn per_event_problems_are_severe_for_that_record() {
    type Case = (
        &'static str,
        u16,
        &'static str,
        Box<dyn FnOnce(&mut MobileOriginatedCall)>,
    );
    let cases: Vec<Case> = vec![
        (
            "unknown UTC code",
            100,
            "utcTimeOffsetCode",
            Box::new(|m| {
                m.basic_call_information
                    .as_mut()
                    .unwrap()
                    .call_event_start_time_stamp
                    .as_mut()
                    .unwrap()
                    .utc_time_offset_code = Some(77)
            }),
        ),
        (
            "no UTC code",
            31,
            "utcTimeOffsetCode",
            Box::new(|m| {
                m.basic_call_information
                    .as_mut()
                    .unwrap()
                    .call_event_start_time_stamp
                    .as_mut()
                    .unwrap()
                    .utc_time_offset_code = None
            }),
        ),
        (
            "bad time stamp syntax",
            10,
            "localTimeStamp",
            Box::new(|m| {
                m.basic_call_information
                    .as_mut()
                    .unwrap()
                    .call_event_start_time_stamp
                    .as_mut()
                    .unwrap()
                    .local_time_stamp = Some("2026-11-01".into())
            }),
        ),
        (
            "missing local time",
            30,
            "localTimeStamp",
            Box::new(|m| {
                m.basic_call_information
                    .as_mut()
                    .unwrap()
                    .call_event_start_time_stamp
                    .as_mut()
                    .unwrap()
                    .local_time_stamp = None
            }),
        ),
        (
            "no start",
            30,
            "callEventStartTimeStamp",
            Box::new(|m| {
                m.basic_call_information
                    .as_mut()
                    .unwrap()
                    .call_event_start_time_stamp = None
            }),
        ),
        (
            "no subscriber",
            30,
            "chargeableSubscriber",
            Box::new(|m| m.basic_call_information.as_mut().unwrap().chargeable_subscriber = None),
        ),
        (
            "no IMSI",
            30,
            "chargeableSubscriber",
            Box::new(|m| sim(m).imsi = None),
        ),
        (
            "bad BCD",
            10,
            "imsi",
            Box::new(|m| sim(m).imsi = Some(Octets::from_slice(&[0x26, 0xAB, 0x1F]))),
        ),
        (
            "short IMSI",
            20,
            "imsi",
            Box::new(|m| sim(m).imsi = Some(Octets::from_slice(&[0x26, 0x2F]))),
        ),
        (
            "unknown exchange rate",
            100,
            "exchangeRateCode",
            Box::new(|m| first_ci(m).exchange_rate_code = Some(42)),
        ),
        (
            "unknown tax code",
            100,
            "taxCode",
            Box::new(|m| {
                first_ci(m).tax_information = vec![TaxInformation {
                    tax_code: Some(9),
                    tax_value: Some(0),
                    taxable_amount: None,
                }]
            }),
        ),
        (
            "unknown discount code",
            100,
            "discountCode",
            Box::new(|m| {
                first_ci(m).discount_information = Some(DiscountInformation {
                    discount_code: Some(5),
                    discount: Some(0),
                    discountable_amount: None,
                })
            }),
        ),
        (
            "unknown rec entity",
            100,
            "recEntityCode",
            Box::new(|m| {
                m.location_information
                    .as_mut()
                    .unwrap()
                    .network_location
                    .as_mut()
                    .unwrap()
                    .rec_entity_code = Some(99)
            }),
        ),
        (
            "negative charge",
            20,
            "charge",
            Box::new(|m| first_ci(m).charge_detail_list[0].charge = Some(-5)),
        ),
        (
            "no charge type",
            30,
            "chargeDetail",
            Box::new(|m| first_ci(m).charge_detail_list[0].charge_type = None),
        ),
        (
            "bad charge type",
            10,
            "chargeType",
            Box::new(|m| first_ci(m).charge_detail_list[0].charge_type = Some("A".into())),
        ),
        (
            "negative duration",
            20,
            "totalCallEventDuration",
            Box::new(|m| {
                m.basic_call_information
                    .as_mut()
                    .unwrap()
                    .total_call_event_duration = Some(-1)
            }),
        ),
        (
            "negative CAMEL fee",
            20,
            "camelInvocationFee",
            Box::new(|m| {
                m.camel_service_used = Some(CamelServiceUsed {
                    camel_invocation_fee: Some(-1),
                    ..CamelServiceUsed::default()
                })
            }),
        ),
    ];
    for (what, code, item, f) in cases {
        let r = with_moc(f);
        let d: Vec<_> = r
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Severe)
            .collect();
        assert!(
            d.iter()
                .any(|d| d.code == code && d.item == item && d.record_index.is_some()),
            "{what}: expected severe {code} {item}, got {:#?}",
            r.diagnostics
        );
        assert_eq!(r.rejected.len(), 1, "{what}: exactly one record rejected");
    }
}

#[test]
fn valid_tap_that_cannot_be_settled_is_a_warning_not_a_loss() {
    let r = with_moc(|m| {
        m.basic_call_information.as_mut().unwrap().chargeable_subscriber =
            Some(ChargeableSubscriber::Min(MinChargeableSubscriber {
                min: Some("1234567890".into()),
                mdn: None,
            }))
    });
    assert_eq!(r.verdict, Verdict::Ok);
    assert_eq!(r.unmapped.len(), 1);
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.code == 200 && d.message.contains("MIN")),
        "{:#?}",
        r.diagnostics
    );
    let r = with_moc(|m| sim(m).imsi = Some(Octets::from_slice(&[0x26, 0x20, 0x9F])));
    assert_eq!(r.unmapped.len(), 1, "{:#?}", r.diagnostics);
}

#[test]
fn service_centre_message_descriptions_are_checked() {
    let mut tb = base();
    let imsi = Octets::from_slice(&carrier_adapters::bcd::encode_digits("262092464569171").unwrap());
    tb.call_event_details
        .push(CallEvent::ServiceCentreUsage(Box::new(ServiceCentreUsage {
            basic_information: Some(ScuBasicInformation {
                chargeable_subscriber: Some(ScuChargeableSubscriber::Gsm(ImsiMsisdn {
                    imsi: Some(imsi),
                    msisdn: None,
                })),
                non_charged_number: Some("43234455664F".into()),
                ..ScuBasicInformation::default()
            }),
            rec_entity_code: Some(1),
            scu_charge_type: Some(ScuChargeType {
                message_description_code: Some(3),
                ..ScuChargeType::default()
            }),
            scu_time_stamps: Some(ScuTimeStamps {
                deposit_time_stamp: Some(DateTime {
                    local_time_stamp: Some("20261101100000".into()),
                    utc_time_offset_code: Some(2),
                }),
                ..ScuTimeStamps::default()
            }),
            ..ServiceCentreUsage::default()
        })));
    let r = report_of(tb, &ValidationContext::default());
    assert!(
        has(&r, Severity::Severe, 100, "messageDescriptionCode"),
        "{:#?}",
        r.diagnostics
    );
}

#[test]
fn notifications_are_validated() {
    let n = Notification {
        sender: Some("KORKT".into()),
        recipient: Some("KORKT".into()),
        file_sequence_number: Some("00003".into()),
        specification_version_number: Some(3),
        release_version_number: Some(12),
        ..Notification::default()
    };
    let got = ingest(
        &encode(&DataInterChange::Notification(n)),
        &ValidationContext::default(),
    )
    .unwrap();
    let r = got.report;
    assert_eq!(r.kind, carrier_adapters::tap::validate::FileKind::Notification);
    assert!(has(&r, Severity::Fatal, 100, "recipient"));
    assert!(has(&r, Severity::Fatal, 33, "notification"));
    assert!(has(&r, Severity::Fatal, 36, "notification"));
}

#[test]
fn in_file_duplicate_detection_is_bounded() {
    let bytes = common::mutated_tap();
    let ctx = ValidationContext {
        duplicate_check_events_max: 3,
        ..ValidationContext::default()
    };
    let r = ingest(&bytes, &ctx).unwrap().report;
    assert!(
        has(&r, Severity::Warning, 208, "callEventDetails"),
        "{:#?}",
        r.diagnostics
    );
    assert_eq!(
        r.diagnostics.iter().filter(|d| d.code == 207).count(),
        0,
        "duplicates past the bound are left to settlement"
    );
    let full = ingest(&bytes, &ValidationContext::default()).unwrap().report;
    assert_eq!(full.diagnostics.iter().filter(|d| d.code == 207).count(), 2);
}

//! The public TAP samples in `../shared/reference/tap3/samples` decode with the event counts
//! and audit totals their README states, and validate clean.
//!
//! Where the folder is absent (a checkout without `shared/` beside it) each test prints a
//! "skipped" line and passes; where it is present, any mismatch fails.

use std::collections::BTreeMap;
use std::path::PathBuf;

use carrier_adapters::diagnostic::{Severity, UNMAPPED, Verdict};
use carrier_adapters::tap::ingest::ingest;
use carrier_adapters::tap::validate::{FileKind, ValidationContext};

mod manifest;

// The skip must be visible in test output, as the project's rule for reference tests asks.
#[allow(clippy::print_stdout)]
fn samples() -> Option<PathBuf> {
    let dir = manifest::dir().join("../../shared/reference/tap3/samples");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipped: ../shared/reference not found (looked in {})",
            dir.display()
        );
        None
    }
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name))
        .unwrap_or_else(|e| panic!("{name} is listed in the reference README but cannot be read: {e}"))
}

struct Expect {
    file: &'static str,
    events: u32,
    by_type: &'static [(&'static str, u32)],
    total_charge: i128,
    total_tax: i128,
    charge_refund: i128,
    /// Charge of events that are valid TAP but cannot be settled.
    unmapped_charge: i128,
}

const BATCHES: &[Expect] = &[
    Expect {
        file: "TDAUTPTEUR0100303.tap311",
        events: 1,
        by_type: &[("mobileOriginatedCall", 1)],
        total_charge: 25_000,
        total_tax: 2_500,
        charge_refund: 0,
        unmapped_charge: 0,
    },
    Expect {
        file: "TDAUTPTEUR0100006_CONTRANS.TAP311",
        events: 8,
        by_type: &[("contentTransaction", 8)],
        total_charge: 37_517,
        total_tax: 0,
        charge_refund: 0,
        unmapped_charge: 0,
    },
    Expect {
        file: "TD62_scenarios_from_TD61.tap311",
        events: 105,
        by_type: &[
            ("contentTransaction", 4),
            ("gprsCall", 10),
            ("locationService", 3),
            ("mobileOriginatedCall", 50),
            ("mobileTerminatedCall", 20),
            ("serviceCentreUsage", 1),
            ("supplServiceEvent", 17),
        ],
        total_charge: 12_978_057,
        total_tax: 1_769_869,
        charge_refund: 795,
        // Scenario 1072: a WLAN session whose IMSI is only MCC+MNC (26209), the subscriber
        // being identified by NAI.
        unmapped_charge: 200_000,
    },
];

#[test]
fn transfer_batches_match_the_readme_and_validate_clean() {
    let Some(dir) = samples() else { return };
    for e in BATCHES {
        let bytes = read(&dir, e.file);
        let got =
            ingest(&bytes, &ValidationContext::default()).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let r = &got.report;
        assert_eq!(r.kind, FileKind::TransferBatch, "{}", e.file);
        assert_eq!(r.events, e.events, "{}: event count", e.file);
        let want: BTreeMap<String, u32> = e.by_type.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        assert_eq!(r.events_by_type, want, "{}: events by type", e.file);
        assert_eq!(
            r.totals.total_charge_computed, e.total_charge,
            "{}: computed totalCharge",
            e.file
        );
        assert_eq!(
            r.totals.total_charge_declared.map(i128::from),
            Some(e.total_charge),
            "{}",
            e.file
        );
        assert_eq!(
            r.totals.total_tax_computed, e.total_tax,
            "{}: computed totalTaxValue",
            e.file
        );
        assert_eq!(
            r.totals.total_tax_declared.map(i128::from),
            Some(e.total_tax),
            "{}",
            e.file
        );
        assert_eq!(
            r.totals.computed.charge_refund, e.charge_refund,
            "{}: totalChargeRefund",
            e.file
        );
        assert_eq!(r.tap_decimal_places, Some(3), "{}", e.file);
        let problems: Vec<_> = r
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Warning)
            .collect();
        assert!(
            problems.is_empty() && r.verdict == Verdict::Ok,
            "{} should validate clean, found: {:#?}",
            e.file,
            problems
        );
        // Every event is either a record or reported as valid-but-unsettleable.
        assert_eq!(
            got.records.len() + r.unmapped.len(),
            e.events as usize,
            "{}",
            e.file
        );
        assert!(
            r.diagnostics.iter().all(|d| d.code == UNMAPPED),
            "{}: {:#?}",
            e.file,
            r.diagnostics
        );
        let net: i128 = got.records.iter().map(|x| i128::from(x.charge.minor())).sum();
        assert_eq!(
            net + e.unmapped_charge,
            e.total_charge - e.charge_refund,
            "{}: records carry the totals",
            e.file
        );
        assert!(got.records.iter().all(|x| x.charge.scale().places() == 3));
    }
}

#[test]
fn td62_breakdown_matches_the_readme() {
    let Some(dir) = samples() else { return };
    let got = ingest(
        &read(&dir, "TD62_scenarios_from_TD61.tap311"),
        &ValidationContext::default(),
    )
    .unwrap();
    let c = got.report.totals.computed;
    // README: totalCharge 12978057 = 12958852 charges - 795 refund + 20000 CAMEL invocation fees.
    assert_eq!(c.charge + c.charge_refund, 12_958_852);
    assert_eq!(c.camel_fee, 20_000);
    assert_eq!(c.charge_refund, 795);
}

#[test]
fn the_notification_decodes_as_one() {
    let Some(dir) = samples() else { return };
    let bytes = read(&dir, "TDAUTPTEUR0100304_Notification.tap311");
    assert_eq!(bytes[0], 0x62);
    let got = ingest(&bytes, &ValidationContext::default()).unwrap();
    assert_eq!(got.report.kind, FileKind::Notification);
    assert_eq!(got.report.sender.as_deref(), Some("AUTPT"));
    assert_eq!(got.report.recipient.as_deref(), Some("EUR01"));
    assert_eq!(got.report.file_sequence_number.as_deref(), Some("00304"));
    assert_eq!(got.report.events, 0);
    assert!(got.records.is_empty());
    assert_eq!(got.report.verdict, Verdict::Ok, "{:#?}", got.report.diagnostics);
}

#[test]
fn every_sample_file_is_accounted_for() {
    let Some(dir) = samples() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".xml"))
        .collect();
    names.sort();
    let mut known: Vec<String> = BATCHES.iter().map(|e| e.file.to_owned()).collect();
    known.push("TDAUTPTEUR0100304_Notification.tap311".to_owned());
    known.sort();
    assert_eq!(names, known, "a sample file without expectations in this test");
}

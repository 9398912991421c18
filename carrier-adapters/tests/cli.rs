//! The command logic behind `roamledger tap|rap|nrtrde`: JSON shape, exit codes, and
//! ingest by parts.

mod common;

use carrier_adapters::cli;
use carrier_adapters::tap::ingest::{ingest, ingest_seekable, part_keys};
use carrier_adapters::tap::validate::ValidationContext;
use serde_json::Value;
use settlement::batch::BatchId;

fn json(out: &cli::CommandOutput) -> Value {
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn tap_decode_prints_the_issue_fields() {
    let v = json(&cli::tap_decode(&common::clean_tap()));
    for k in [
        "kind",
        "sender",
        "recipient",
        "file_sequence_number",
        "events",
        "events_by_type",
        "total_charge_declared",
        "total_charge_computed",
        "total_tax_declared",
        "total_tax_computed",
        "verdict",
        "errors",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["kind"], "transferBatch");
    assert_eq!(v["sender"], "KORKT");
    assert_eq!(v["file_sequence_number"], "00001");
    assert_eq!(v["events"], 25);
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["total_charge_declared"], v["total_charge_computed"]);
    let by: u64 = v["events_by_type"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(by, 25);
}

#[test]
fn tap_decode_reports_fatal_and_severe_findings_with_exit_0() {
    let out = cli::tap_decode(&common::mutated_tap());
    let v = json(&out);
    assert_eq!(v["verdict"], "fatal");
    let errors = v["errors"].as_array().unwrap();
    let fatal = errors.iter().find(|e| e["severity"] == "fatal").unwrap();
    assert_eq!(fatal["code"], 100);
    assert!(fatal.get("record_index").is_none());
    let severe = errors.iter().find(|e| e["severity"] == "severe").unwrap();
    assert!(severe["record_index"].is_u64());
    assert!(severe["message"].as_str().unwrap().len() > 20);
}

#[test]
fn undecodable_input_exits_2_naming_the_offset() {
    let b = common::clean_tap();
    let out = cli::tap_decode(&b[..b.len() / 2]);
    assert_eq!(out.exit_code, 2);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("byte offset"), "{}", out.stderr);
    let out = cli::rap_decode(b"\x01\x02");
    assert_eq!(out.exit_code, 2);
    let out = cli::nrtrde_decode(b"");
    assert_eq!(out.exit_code, 2);
}

#[test]
fn notification_json() {
    let n = carrier_adapters::tap::model::Notification {
        sender: Some("KORKT".into()),
        recipient: Some("JPNDO".into()),
        file_sequence_number: Some("00009".into()),
        specification_version_number: Some(3),
        release_version_number: Some(12),
        file_available_time_stamp: Some(Default::default()),
        transfer_cut_off_time_stamp: Some(Default::default()),
        ..Default::default()
    };
    let b = carrier_adapters::tap::encode(&carrier_adapters::tap::DataInterChange::Notification(n));
    let v = json(&cli::tap_decode(&b));
    assert_eq!(v["kind"], "notification");
    assert_eq!(v["events"], 0);
    assert_eq!(v["verdict"], "ok", "{v}");
    assert!(v["total_charge_computed"].is_null());
}

#[test]
fn tap_generate_is_deterministic_and_checks_arguments() {
    let a = cli::tap_generate("KORKT", "JPNDO", 40, 5, None, None).unwrap();
    let b = cli::tap_generate("KORKT", "JPNDO", 40, 5, None, None).unwrap();
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(a.file_name, "CDKORKTJPNDO00001");
    let c = cli::tap_generate("KORKT", "JPNDO", 40, 5, Some(99), None).unwrap();
    assert_eq!(c.file_name, "CDKORKTJPNDO00099");
    assert_eq!(json(&cli::tap_decode(&c.bytes))["file_sequence_number"], "00099");
    let e = cli::tap_generate("KORKT", "JPNDO", 1, 1, Some(100_000), None).unwrap_err();
    assert!(e.stderr.contains("100000"), "{}", e.stderr);
    let v = json(&a.output);
    assert_eq!(v["events"], 40);
    assert_eq!(v["start"], "2026-11-01T00:00:00Z");
    // A start moves every event by the same amount and keeps the file valid.
    let start: settlement::types::UtcTime = "2027-03-05T06:00:00Z".parse().unwrap();
    let d = cli::tap_generate("KORKT", "JPNDO", 40, 5, None, Some(start)).unwrap();
    assert_eq!(json(&d.output)["start"], "2027-03-05T06:00:00Z");
    assert_ne!(d.bytes, a.bytes);
    assert_eq!(json(&cli::tap_decode(&d.bytes))["verdict"], "ok");
    assert_eq!(json(&cli::tap_decode(&a.bytes))["verdict"], "ok");
    for (from, to, want) in [
        ("korkt", "JPNDO", "--from"),
        ("KORKT", "JP", "--to"),
        ("KORKT", "KORKT", "same"),
    ] {
        let e = cli::tap_generate(from, to, 1, 1, None, None).unwrap_err();
        assert_eq!(e.exit_code, 2);
        assert!(e.stderr.contains(want), "{}", e.stderr);
    }
}

#[test]
fn rap_and_nrtrde_decode_json() {
    let v = json(&cli::rap_decode(&carrier_adapters::rap::encode(
        &common::rap_return_batch(),
    )));
    assert_eq!(v["kind"], "returnBatch");
    assert_eq!(v["rap_version"], "1.05");
    assert_eq!(v["returns_by_type"]["severeReturn"], 4);
    assert_eq!(v["returns_by_type"]["fatalReturn"], 1);
    assert_eq!(v["verdict"], "ok");
    let v = json(&cli::rap_decode(&carrier_adapters::rap::encode(&common::ack())));
    assert_eq!(v["kind"], "acknowledgement");
    let v = json(&cli::nrtrde_decode(&common::nrtrde_bytes()));
    assert_eq!(v["near_real_time"], true);
    assert_eq!(v["verdict"], "ok");
    assert!(v["records"].as_array().unwrap().len() > 5);
}

#[test]
fn large_files_become_file_parts_with_the_same_keys_both_ways() {
    let bytes = carrier_adapters::tap::generate::generate_bytes(&common::cfg(2_500, 3)).unwrap();
    let whole = ingest(&bytes, &ValidationContext::default()).unwrap();
    let batches = whole.batches();
    assert_eq!(batches.len(), 3);
    assert!(matches!(
        batches[0].0.id,
        BatchId::FilePart {
            part: 0,
            parts: 3,
            ..
        }
    ));
    assert_eq!(batches[2].1.len(), 500);
    let mut seen = Vec::new();
    let report = ingest_seekable(
        std::io::Cursor::new(&bytes),
        &ValidationContext::default(),
        |k, r| seen.push((k.clone(), r.to_vec())),
    )
    .unwrap();
    assert_eq!(report.events, 2_500);
    assert_eq!(seen.len(), 3);
    for ((k1, r1), (k2, r2)) in batches.iter().zip(&seen) {
        assert_eq!(k1, k2);
        assert_eq!(*r1, &r2[..]);
    }
    // A small file is one batch under its file sequence number.
    let small = ingest(&common::clean_tap(), &ValidationContext::default()).unwrap();
    assert!(matches!(small.batches()[0].0.id, BatchId::FileSequence(_)));
    assert_eq!(part_keys(&small.key.clone().unwrap(), 0).len(), 1);
    // A fatal file hands out nothing.
    let mut n = 0;
    let r = ingest_seekable(
        std::io::Cursor::new(common::mutated_tap()),
        &ValidationContext::default(),
        |_, _| n += 1,
    )
    .unwrap();
    assert_eq!(n, 0);
    assert_eq!(r.verdict, carrier_adapters::diagnostic::Verdict::Fatal);
}

#[test]
fn seekable_ingest_reports_a_changing_input_and_seek_failures() {
    use std::io::{Read, Seek, SeekFrom};
    /// Serves one file on the first pass and another after the rewind.
    struct Flip {
        first: Vec<u8>,
        second: Vec<u8>,
        pos: usize,
        rewound: bool,
        fail_seek: bool,
    }
    impl Read for Flip {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let src = if self.rewound { &self.second } else { &self.first };
            let n = buf.len().min(src.len() - self.pos);
            buf[..n].copy_from_slice(&src[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }
    impl Seek for Flip {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            if self.fail_seek && self.pos > 0 {
                return Err(std::io::Error::other("tape drive cannot rewind"));
            }
            if self.pos > 0 {
                self.rewound = true;
            }
            self.pos = match to {
                SeekFrom::Start(p) => p as usize,
                _ => self.pos,
            };
            Ok(self.pos as u64)
        }
    }
    let a = carrier_adapters::tap::generate::generate_bytes(&common::cfg(1_500, 1)).unwrap();
    let b = carrier_adapters::tap::generate::generate_bytes(&common::cfg(2_500, 1)).unwrap();
    let flip = Flip {
        first: a.clone(),
        second: b,
        pos: 0,
        rewound: false,
        fail_seek: false,
    };
    let e = ingest_seekable(flip, &ValidationContext::default(), |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("changed between"), "{e}");
    let stuck = Flip {
        first: a.clone(),
        second: a,
        pos: 0,
        rewound: false,
        fail_seek: true,
    };
    let e = ingest_seekable(stuck, &ValidationContext::default(), |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("cannot rewind"), "{e}");
}

#[test]
fn rap_audit_sums_that_overflow_are_refused() {
    use carrier_adapters::tap::CallEvent;
    use carrier_adapters::tap::model::*;
    let huge = CallEvent::MessagingEvent(Box::new(MessagingEvent {
        charge: Some(i64::MAX),
        ..MessagingEvent::default()
    }));
    let input = |e: &CallEvent| carrier_adapters::rap::SevereInput {
        file_sequence_number: 1,
        call_event: e.clone(),
        errors: vec![carrier_adapters::rap::ErrorDetail {
            error_code: Some(100),
            ..Default::default()
        }],
    };
    let e = carrier_adapters::rap::build_return_batch(
        &common::rap_header(),
        vec![],
        vec![input(&huge), input(&huge)],
    )
    .unwrap_err();
    assert!(e.to_string().contains("totalSevereReturnValue"), "{e}");
}

#[test]
fn csv_read_failures_name_the_line() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("network share vanished"))
        }
    }
    let e = carrier_adapters::csv::CsvReader::new(
        std::io::BufReader::new(Broken),
        settlement::types::Scale::new(3).unwrap(),
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().contains("line 1") && e.to_string().contains("vanished"),
        "{e}"
    );
}

//! Golden files in `testdata/`, all made by this crate's encoders from fixed seeds.
//!
//! Each test regenerates its file and compares bytes, then decodes the committed file and
//! checks what it holds. Run with `UPDATE_GOLDEN=1` to rewrite the files after an intended
//! format change (and review the diff).

mod common;
mod manifest;

use carrier_adapters::diagnostic::Verdict;
use carrier_adapters::tap::ingest::ingest;
use carrier_adapters::tap::validate::{FileKind, ValidationContext};
use carrier_adapters::{csv, nrtrde, rap, tmf635};
use settlement::types::{Currency, Scale};

fn golden(name: &str, fresh: &[u8]) -> Vec<u8> {
    let path = manifest::dir().join("testdata").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, fresh).unwrap();
    }
    let stored =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert!(
        stored == fresh,
        "{name} differs from what the encoder produces now; rerun with UPDATE_GOLDEN=1 if intended"
    );
    stored
}

#[test]
fn clean_tap_file() {
    let b = golden("CDKORKTJPNDO00001.tap", &common::clean_tap());
    let got = ingest(&b, &ValidationContext::default()).unwrap();
    assert_eq!(got.report.kind, FileKind::TransferBatch);
    assert_eq!(got.report.events, 25);
    assert_eq!(got.report.verdict, Verdict::Ok, "{:#?}", got.report.diagnostics);
    assert_eq!(got.records.len(), 25);
}

#[test]
fn mutated_tap_file() {
    let b = golden("TDKORKTJPNDO00002.tap", &common::mutated_tap());
    let got = ingest(&b, &ValidationContext::default()).unwrap();
    assert_eq!(got.report.verdict, Verdict::Fatal);
    assert_eq!(got.report.rejected.len(), 4, "{:#?}", got.report.diagnostics);
}

#[test]
fn rap_return_batch_file() {
    let b = golden("RCJPNDOKORKT00001.rap", &rap::encode(&common::rap_return_batch()));
    let rap::RapFile::ReturnBatch(rb) = rap::decode(&b).unwrap() else {
        panic!("a return batch")
    };
    assert_eq!(rb.return_details.len(), 5, "1 fatal + 4 severe returns");
    let (verdict, d) = rap::check(&rb);
    assert_eq!(verdict, Verdict::Ok, "{d:#?}");
}

#[test]
fn rap_acknowledgement_file() {
    let b = golden("RCJPNDOKORKT00001_ack.rap", &rap::encode(&common::ack()));
    assert!(matches!(
        rap::decode(&b).unwrap(),
        rap::RapFile::Acknowledgement(_)
    ));
}

#[test]
fn nrtrde_file() {
    let b = golden("NRKORKTJPNDO0000001.nrtrde", &common::nrtrde_bytes());
    let f = nrtrde::decode(&b).unwrap();
    let r = nrtrde::report(&f);
    assert_eq!(r.verdict, Verdict::Ok, "{:#?}", r.diagnostics);
    assert_eq!(r.records.len(), f.call_events.len());
    assert!(r.records.iter().all(|x| x.near_real_time));
}

#[test]
fn csv_and_json_files() {
    let recs = common::clean_records();
    let c = golden("usage.csv", csv::write(&recs).as_bytes());
    let back: Vec<_> = csv::CsvReader::new(&c[..], Scale::new(3).unwrap())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let strip = |mut r: settlement::types::UsageRecord| {
        r.source.file_sequence_number = None;
        r
    };
    assert_eq!(back, recs.iter().cloned().map(strip).collect::<Vec<_>>());
    let j = golden("usage.json", tmf635::write(&recs, Currency::SDR).as_bytes());
    let opts = tmf635::JsonOptions {
        scale: Scale::new(3).unwrap(),
        currency: Some(Currency::SDR),
    };
    let back: Vec<_> = tmf635::read(&j, &opts)
        .unwrap()
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, recs.into_iter().map(strip).collect::<Vec<_>>());
}

//! CSV and TMF635 JSON input: good input maps, every bad value names its line and column or
//! its JSON path.

mod common;

use carrier_adapters::Error;
use carrier_adapters::csv::CsvReader;
use carrier_adapters::tmf635::{JsonOptions, read};
use settlement::types::{Currency, Scale, ServiceKind};

fn s3() -> Scale {
    Scale::new(3).unwrap()
}

const HEADER: &str = "visited,home,imsi,service,start,charge,tax,duration_s,other_party";

#[test]
fn csv_reads_rows_in_any_column_order() {
    let text = "charge,start,service,imsi,home,visited\n1.5,2026-11-23T15:16:00Z,voice_mo,450081234567890,JPNDO,KORKT\n\n\"0.250\",2026-11-24T00:16:00+09:00,sms_mo,450081234567890,JPNDO,KORKT\r\n".to_string();
    let rows: Vec<_> = CsvReader::new(text.as_bytes(), s3())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].charge.minor(), 1500);
    assert_eq!(rows[0].charged_units, 0, "voice without duration");
    assert_eq!(rows[1].service, ServiceKind::SmsOriginated);
    assert_eq!(rows[1].charged_units, 1);
    assert_eq!(rows[1].start, rows[0].start);
    assert_eq!(rows[1].source.record_index, 1);
}

fn csv_err(body: &str) -> Error {
    let text = format!("{HEADER}\n{body}\n");
    CsvReader::new(text.as_bytes(), s3())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err()
}

#[test]
fn csv_errors_name_line_column_and_field() {
    let good = "KORKT,JPNDO,450081234567890,voice_mo,2026-11-23T15:16:00Z,1.000,0.100,60,4412345";
    let text = format!("{HEADER}\n{good}\n");
    assert!(
        CsvReader::new(text.as_bytes(), s3())
            .unwrap()
            .next()
            .unwrap()
            .is_ok()
    );
    for (body, col, field) in [
        (
            "korkt,JPNDO,450081234567890,voice_mo,2026-11-23T15:16:00Z,1,0,60,1",
            1,
            "visited",
        ),
        (
            "KORKT,JP,450081234567890,voice_mo,2026-11-23T15:16:00Z,1,0,60,1",
            2,
            "home",
        ),
        (
            "KORKT,JPNDO,45008,voice_mo,2026-11-23T15:16:00Z,1,0,60,1",
            3,
            "imsi",
        ),
        (
            "KORKT,JPNDO,450081234567890,fax,2026-11-23T15:16:00Z,1,0,60,1",
            4,
            "service",
        ),
        (
            "KORKT,JPNDO,450081234567890,voice_mo,yesterday,1,0,60,1",
            5,
            "start",
        ),
        (
            "KORKT,JPNDO,450081234567890,voice_mo,2026-11-23T15:16:00Z,1.0001,0,60,1",
            6,
            "charge",
        ),
        (
            "KORKT,JPNDO,450081234567890,voice_mo,2026-11-23T15:16:00Z,1,x,60,1",
            7,
            "tax",
        ),
        (
            "KORKT,JPNDO,450081234567890,voice_mo,2026-11-23T15:16:00Z,1,0,-5,1",
            8,
            "duration_s",
        ),
        (
            "KORKT,JPNDO,450081234567890,voice_mo,2026-11-23T15:16:00Z,1,0,60,+44",
            9,
            "other_party",
        ),
        ("KORKT,JPNDO,,voice_mo,2026-11-23T15:16:00Z,1,0,60,1", 3, "imsi"),
    ] {
        match csv_err(body) {
            Error::Csv {
                line,
                column,
                field: f,
                reason,
            } => {
                assert_eq!((line, column, f.as_str()), (2, col, field), "{body}: {reason}");
            }
            e => panic!("{e}"),
        }
    }
    for (body, want) in [
        ("KORKT,JPNDO", "fields where the header names"),
        ("\"KORKT,JPNDO", "not closed"),
        ("\"KORKT\"x,JPNDO", "after a closing quote"),
        ("KO\"RKT,JPNDO", "quote inside"),
    ] {
        let e = csv_err(body).to_string();
        assert!(e.contains(want), "{body}: {e}");
    }
}

#[test]
fn csv_header_and_line_problems() {
    for (text, want) in [
        ("", "header line"),
        (
            "visited,home,imsi,service,start,charge,colour\n",
            "unknown column",
        ),
        ("visited,home,imsi,service,start,charge,home\n", "named twice"),
        ("visited,home,imsi,service,start\n", "required column"),
    ] {
        let e = CsvReader::new(text.as_bytes(), s3())
            .err()
            .expect(text)
            .to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let long = format!(
        "{HEADER}\n{}\n",
        "x".repeat(carrier_adapters::limits::CSV_LINE_BYTES_MAX + 10)
    );
    let e = CsvReader::new(long.as_bytes(), s3())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("longer than"), "{e}");
    let bin = [HEADER.as_bytes(), b"\n\xff\xfe\n"].concat();
    let e = CsvReader::new(&bin[..], s3())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("UTF-8"), "{e}");
    // After a bad row, reading goes on with the next one.
    let text = format!("{HEADER}\nbad\nKORKT,JPNDO,450081234567890,data,2026-11-23T15:16:00Z,1,0,,\n");
    let rows: Vec<_> = CsvReader::new(text.as_bytes(), s3()).unwrap().collect();
    assert!(rows[0].is_err() && rows[1].is_ok());
    assert_eq!(rows[1].as_ref().unwrap().source.record_index, 1);
}

fn opts() -> JsonOptions {
    JsonOptions {
        scale: s3(),
        currency: Some(Currency::SDR),
    }
}

fn usage(patch: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v = serde_json::json!({
        "usageDate": "2026-11-23T15:16:00Z",
        "usageType": "data",
        "usageCharacteristic": [
            {"name": "imsi", "value": "450081234567890"},
            {"name": "volumeUpBytes", "value": 1000},
            {"name": "volumeDownBytes", "value": 24000},
            {"name": "roamingZone", "value": "EU"}
        ],
        "ratedProductUsage": [{
            "taxExcludedRatingAmount": {"unit": "SDR", "value": 1.25},
            "taxIncludedRatingAmount": {"unit": "SDR", "value": "1.375"}
        }],
        "relatedParty": [{"role": "servingNetwork", "id": "KORKT"}, {"role": "homeNetwork", "id": "JPNDO"}]
    });
    patch(&mut v);
    // serde_json cannot write a number in exponent form; splice one in.
    String::from_utf8(serde_json::to_vec(&v).unwrap())
        .unwrap()
        .replace("\"__EXP__\"", "1e3")
        .into_bytes()
}

#[test]
fn tmf635_reads_money_from_its_text() {
    let out = read(&usage(|_| {}), &opts()).unwrap();
    let r = out[0].as_ref().unwrap();
    assert_eq!(r.charge.minor(), 1250);
    assert_eq!(r.tax.minor(), 125);
    assert_eq!(r.charged_units, 25_000);
    assert_eq!(r.visited.as_str(), "KORKT");
    // 0.1 + 0.2 in floats is not 0.3; in decimal text it is.
    let b = usage(|v| {
        v["ratedProductUsage"] = serde_json::json!([
            {"taxExcludedRatingAmount": {"unit": "SDR", "value": 0.1}},
            {"taxExcludedRatingAmount": {"unit": "SDR", "value": 0.2}}
        ]);
    });
    assert_eq!(
        read(&b, &opts()).unwrap()[0].as_ref().unwrap().charge.minor(),
        300
    );
}

#[test]
fn tmf635_errors_name_the_path() {
    type Case = (
        Box<dyn FnOnce(&mut serde_json::Value)>,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            Box::new(|v| v["usageDate"] = "soon".into()),
            ".usageDate",
            "invalid time",
        ),
        (
            Box::new(|v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("usageDate")
                    .map(|_| ())
                    .unwrap()
            }),
            ".usageDate",
            "required",
        ),
        (
            Box::new(|v| v["usageType"] = "fax".into()),
            ".usageType",
            "unknown service",
        ),
        (
            Box::new(|v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("usageType")
                    .map(|_| ())
                    .unwrap()
            }),
            ".usageType",
            "required",
        ),
        (
            Box::new(|v| v["relatedParty"][1]["id"] = "x".into()),
            ".relatedParty[1].id",
            "TADIG",
        ),
        (
            Box::new(|v| v["relatedParty"][1]["role"] = "servingNetwork".into()),
            ".relatedParty[1].role",
            "twice",
        ),
        (
            Box::new(|v| v["relatedParty"] = serde_json::json!([])),
            ".relatedParty",
            "visitedNetwork",
        ),
        (
            Box::new(|v| v["relatedParty"][0]["role"] = "homeNetwork".into()),
            ".relatedParty[1].role",
            "twice",
        ),
        (
            Box::new(|v| v["usageCharacteristic"][0]["value"] = "12".into()),
            ".usageCharacteristic[0].value",
            "imsi",
        ),
        (
            Box::new(|v| v["usageCharacteristic"][1]["value"] = (-1).into()),
            ".usageCharacteristic[1].value",
            "volumeUpBytes",
        ),
        (
            Box::new(|v| v["usageCharacteristic"][1]["value"] = serde_json::json!({"x": 1})),
            ".usageCharacteristic[1].value",
            "number or a string",
        ),
        (
            Box::new(|v| v["usageCharacteristic"] = serde_json::json!([])),
            ".usageCharacteristic",
            "imsi",
        ),
        (
            Box::new(|v| v["ratedProductUsage"][0]["taxExcludedRatingAmount"]["value"] = "__EXP__".into()),
            ".taxExcludedRatingAmount",
            "exponent",
        ),
        (
            Box::new(|v| v["ratedProductUsage"][0]["taxExcludedRatingAmount"]["value"] = "1.2345".into()),
            ".taxExcludedRatingAmount",
            "decimal places",
        ),
        (
            Box::new(|v| v["ratedProductUsage"][0]["taxExcludedRatingAmount"]["unit"] = "EUR".into()),
            ".taxExcludedRatingAmount",
            "not the batch currency",
        ),
        (
            Box::new(|v| v["ratedProductUsage"][0]["taxIncludedRatingAmount"]["value"] = "abc".into()),
            ".taxIncludedRatingAmount",
            "invalid amount",
        ),
        (
            Box::new(|v| {
                v["ratedProductUsage"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("taxExcludedRatingAmount")
                    .map(|_| ())
                    .unwrap()
            }),
            ".taxExcludedRatingAmount",
            "required",
        ),
        (
            Box::new(|v| v["ratedProductUsage"] = serde_json::json!([])),
            ".ratedProductUsage",
            "at least one",
        ),
    ];
    for (patch, path, reason) in cases {
        let out = read(&usage(patch), &opts()).unwrap();
        match &out[0] {
            Err(Error::Json {
                record_index: Some(0),
                path: p,
                reason: r,
            }) => {
                assert!(
                    p.starts_with("$[0]") && p.contains(path),
                    "{p} should name {path} ({r})"
                );
                assert!(r.contains(reason), "{path}: {r} should say {reason}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn tmf635_input_shape_errors() {
    let e = read(b"[{\"usageDate\": ", &opts()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Json {
                record_index: None,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("line 1"), "{e}");
    assert!(read(b"\xff", &opts()).is_err());
    let out = read(b"[1, {\"usageDate\": 3}]", &opts()).unwrap();
    assert!(matches!(
        &out[0],
        Err(Error::Json {
            record_index: Some(0),
            ..
        })
    ));
    assert!(matches!(
        &out[1],
        Err(Error::Json {
            record_index: Some(1),
            ..
        })
    ));
    // A single object is accepted as one usage.
    let one = usage(|_| {});
    assert_eq!(read(&one, &opts()).unwrap().len(), 1);
}

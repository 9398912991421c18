//! Command logic for the `roamledger` binary, independent of the argument parser.
//!
//! The binary (in the `node` crate) reads the file named on the command line, calls one of
//! these functions, writes [`CommandOutput::stdout`] to standard output and
//! [`CommandOutput::stderr`] to standard error, and exits with
//! [`CommandOutput::exit_code`]. For `tap generate` it writes [`Generated::bytes`] to the
//! `--out` file. Nothing here touches the file system.
//!
//! Exit codes: 0 when the file decodes (whatever the validation verdict), 2 when it cannot be
//! decoded or the arguments are invalid (the message names the byte offset or argument).

use serde_json::{Value, json};
use settlement::types::{Tadig, UtcTime};

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::filename::FileName;
use crate::tap::generate::{GeneratorConfig, generate_bytes};
use crate::tap::ingest::run;
use crate::tap::validate::{FileKind, TapReport, ValidationContext};
use crate::{nrtrde, rap};

/// What a command prints and how it exits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// 0 decoded, 2 could not decode / bad arguments.
    pub exit_code: i32,
    /// Pretty JSON (with a final newline) on success.
    pub stdout: String,
    /// A one-line error on failure.
    pub stderr: String,
}

impl CommandOutput {
    fn json(v: &Value) -> Self {
        let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
        s.push('\n');
        CommandOutput {
            exit_code: 0,
            stdout: s,
            stderr: String::new(),
        }
    }

    fn failed(what: &str, e: &Error) -> Self {
        let at = e
            .offset()
            .map(|o| format!(" (byte offset {o})"))
            .unwrap_or_default();
        CommandOutput {
            exit_code: 2,
            stdout: String::new(),
            stderr: format!("error: cannot decode {what}{at}: {e}\n"),
        }
    }
}

fn errors_json(diagnostics: &[Diagnostic]) -> Value {
    Value::Array(
        diagnostics
            .iter()
            .map(|d| {
                let mut o = json!({
                    "severity": d.severity,
                    "code": d.code,
                    "item": d.item,
                    "message": d.message,
                });
                if let Some(i) = d.record_index {
                    o["record_index"] = json!(i);
                }
                if let Some(off) = d.offset {
                    o["offset"] = json!(off);
                }
                o
            })
            .collect(),
    )
}

/// Large integers as JSON numbers when they fit, else as strings (never floats).
fn int(v: i128) -> Value {
    match i64::try_from(v) {
        Ok(x) => json!(x),
        Err(_) => json!(v.to_string()),
    }
}

/// The `tap decode` JSON of a validation report.
pub fn tap_report_json(r: &TapReport) -> Value {
    let batch = r.kind == FileKind::TransferBatch;
    let t = &r.totals;
    json!({
        "kind": r.kind,
        "sender": r.sender,
        "recipient": r.recipient,
        "file_sequence_number": r.file_sequence_number,
        "release": r.release_version.map(|v| format!("3.{v}")),
        "tap_decimal_places": r.tap_decimal_places,
        "currency": r.currency,
        "events": r.events,
        "events_by_type": r.events_by_type,
        "total_charge_declared": t.total_charge_declared,
        "total_charge_computed": if batch { int(t.total_charge_computed) } else { Value::Null },
        "total_tax_declared": t.total_tax_declared,
        "total_tax_computed": if batch { int(t.total_tax_computed) } else { Value::Null },
        "total_discount_declared": t.total_discount_declared,
        "total_discount_computed": if batch { int(t.total_discount_computed) } else { Value::Null },
        "total_charge_refund_computed": if batch { int(t.computed.charge_refund) } else { Value::Null },
        "rejected_events": r.rejected.len(),
        "unmapped_events": r.unmapped.len(),
        "verdict": r.verdict,
        "errors": errors_json(&r.diagnostics),
        "errors_not_listed": r.diagnostics_dropped,
    })
}

/// `roamledger tap decode FILE`: decodes and validates (TD.57) a TAP file.
pub fn tap_decode(bytes: &[u8]) -> CommandOutput {
    match run(bytes, &ValidationContext::default(), |_| {}) {
        Ok((report, ..)) => CommandOutput::json(&tap_report_json(&report)),
        Err(e) => CommandOutput::failed("TAP file", &e),
    }
}

/// A generated file.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The TAP bytes to write to `--out`.
    pub bytes: Vec<u8>,
    /// The conventional name (`CD` + sender + recipient + sequence).
    pub file_name: String,
    /// What to print.
    pub output: CommandOutput,
}

/// `roamledger tap generate --from TADIG --to TADIG --events N --seed S [--sequence N]
/// [--start TIME] --out FILE`. The file sequence number is `sequence`, else 1; the first
/// event is at `start` (UTC), else at the generator's fixed default (the caller, which may
/// read the clock, chooses a date its receiver still accepts).
pub fn tap_generate(
    from: &str,
    to: &str,
    events: u32,
    seed: u64,
    sequence: Option<u32>,
    start: Option<UtcTime>,
) -> Result<Generated, CommandOutput> {
    let arg_err = |msg: String| CommandOutput {
        exit_code: 2,
        stdout: String::new(),
        stderr: format!("error: {msg}\n"),
    };
    let from: Tadig = from.parse().map_err(|e| arg_err(format!("--from: {e}")))?;
    let to: Tadig = to.parse().map_err(|e| arg_err(format!("--to: {e}")))?;
    let mut cfg = GeneratorConfig::new(from, to, events, seed);
    if let Some(n) = sequence {
        cfg.file_sequence_number = n;
    }
    if let Some(t) = start {
        cfg.start = t.to_civil();
    }
    let bytes = generate_bytes(&cfg).map_err(|e| arg_err(e.to_string()))?;
    let name = FileName::tap(from, to, cfg.file_sequence_number, cfg.test)
        .map_err(|e| arg_err(e.to_string()))?
        .to_string();
    let output = CommandOutput::json(&json!({
        "file_name": name,
        "sender": from,
        "recipient": to,
        "file_sequence_number": cfg.file_sequence_number,
        "events": events,
        "seed": seed,
        "start": UtcTime::from_civil_utc(cfg.start).to_string(),
        "bytes": bytes.len(),
    }));
    Ok(Generated {
        bytes,
        file_name: name,
        output,
    })
}

/// `roamledger rap decode FILE`: decodes a RAP return batch or acknowledgement and checks its
/// audit.
pub fn rap_decode(bytes: &[u8]) -> CommandOutput {
    let f = match rap::decode(bytes) {
        Ok(f) => f,
        Err(e) => return CommandOutput::failed("RAP file", &e),
    };
    let text = |o: &Option<crate::ber::Octets>| o.as_ref().map(crate::ber::Octets::trimmed_text);
    let v = match &f {
        rap::RapFile::Acknowledgement(a) => json!({
            "kind": "acknowledgement",
            "sender": text(&a.sender),
            "recipient": text(&a.recipient),
            "rap_file_sequence_number": text(&a.rap_file_sequence_number),
            "verdict": "ok",
            "errors": [],
        }),
        rap::RapFile::ReturnBatch(b) => {
            let (verdict, diags) = rap::check(b);
            let h = b.rap_batch_control_info.clone().unwrap_or_default();
            let a = b.rap_audit_control_info.clone().unwrap_or_default();
            let mut by_type = std::collections::BTreeMap::<&str, u32>::new();
            let mut returns = Vec::new();
            for d in &b.return_details {
                let (kind, v) = match d {
                    rap::ReturnDetail::StopReturn(s) => {
                        ("stopReturn", json!({"last_seq_number": text(&s.last_seq_number)}))
                    }
                    rap::ReturnDetail::MissingReturn(m) => (
                        "missingReturn",
                        json!({"start": text(&m.start_missing_seq_number), "end": text(&m.end_missing_seq_number)}),
                    ),
                    rap::ReturnDetail::FatalReturn(fr) => (
                        "fatalReturn",
                        json!({"file_sequence_number": text(&fr.file_sequence_number)}),
                    ),
                    rap::ReturnDetail::SevereReturn(s) => (
                        "severeReturn",
                        json!({
                            "file_sequence_number": text(&s.file_sequence_number),
                            "call_event": s.call_event.asn_name(),
                            "error_codes": s.error_detail.iter().filter_map(|e| e.error_code).collect::<Vec<_>>(),
                        }),
                    ),
                };
                *by_type.entry(kind).or_insert(0) += 1;
                returns.push(json!({"type": kind, "detail": v}));
            }
            json!({
                "kind": "returnBatch",
                "sender": text(&h.sender),
                "recipient": text(&h.recipient),
                "rap_file_sequence_number": text(&h.rap_file_sequence_number),
                "rap_version": match (h.rap_specification_version_number, h.rap_release_version_number) {
                    (Some(s), Some(r)) => Some(format!("{s}.{r:02}")),
                    _ => None,
                },
                "returns": b.return_details.len(),
                "returns_by_type": by_type,
                "return_details": returns,
                "total_severe_return_value": a.total_severe_return_value,
                "total_severe_return_tax": a.total_severe_return_tax,
                "return_details_count": a.return_details_count,
                "verdict": verdict,
                "errors": errors_json(&diags),
            })
        }
    };
    CommandOutput::json(&v)
}

/// `roamledger nrtrde decode FILE`: decodes an NRTRDE file into near-real-time records.
pub fn nrtrde_decode(bytes: &[u8]) -> CommandOutput {
    match nrtrde::decode(bytes) {
        Ok(f) => {
            let r = nrtrde::report(&f);
            CommandOutput::json(&json!({
                "kind": "nrtrde",
                "near_real_time": true,
                "sender": r.sender,
                "recipient": r.recipient,
                "sequence_number": r.sequence_number,
                "events": r.events,
                "events_by_type": r.events_by_type,
                "records": r.records.iter().map(|x| &x.usage).collect::<Vec<_>>(),
                "verdict": r.verdict,
                "errors": errors_json(&r.diagnostics),
            }))
        }
        Err(e) => CommandOutput::failed("NRTRDE file", &e),
    }
}

//! The RAP file answering one TAP file (TD.32): what a node hands back to the carrier that
//! submitted the TAP file.
//!
//! - A file with a fatal TD.57 verdict gets fatal returns, one per group in error (batch
//!   control, accounting, network or audit information, else the transfer batch), each
//!   carrying that group and its error details.
//! - Otherwise every call event rejected — by TD.57 validation (severe) or by the settlement
//!   ledger (duplicates, agreement, time window) — is returned whole in a severe return with
//!   its error details.
//!
//! The RAP file is addressed from the TAP recipient (home network) to the TAP sender, and is
//! numbered with the TAP file's own sequence number, so a retried upload yields the same RAP
//! file name and content (roamledger keeps no separate RAP counter).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use settlement::error::ErrorCode;
use settlement::types::{Tadig, UtcTime};

use crate::ber::Octets;
use crate::diagnostic::{Severity, Verdict};
use crate::error::Error;
use crate::filename::FileName;
use crate::rap::{
    FatalGroup, FatalInput, RapFile, RapHeader, SevereInput, build_return_batch, encode, error_detail,
    error_detail_for_rejection,
};
use crate::tap::group_tag;
use crate::tap::model::DateTimeLong;
use crate::tap::validate::TapReport;
use crate::tap::{CallEvent, Opened, open};

/// The RAP file for a TAP file (`reader` over its bytes, `report` from its validation) and
/// the records the ledger rejected, as (call event index, code). `None` when nothing is
/// returned (no rejection) or the file cannot be addressed (no valid sender, recipient or
/// sequence number: the submitter learns that from the upload's diagnostics instead).
pub fn return_for_tap<R: Read>(
    reader: R,
    report: &TapReport,
    settlement_rejected: &[(u32, ErrorCode)],
    now: UtcTime,
) -> Result<Option<(FileName, Vec<u8>)>, Error> {
    let tadig = |s: &Option<String>| s.as_deref().and_then(|t| t.trim().parse::<Tadig>().ok());
    let (Some(tap_sender), Some(tap_recipient)) = (tadig(&report.sender), tadig(&report.recipient)) else {
        return Ok(None);
    };
    let Some(fsn) = report
        .file_sequence_number
        .as_deref()
        .and_then(|f| f.trim().parse::<u32>().ok())
        .filter(|n| (1..=99_999).contains(n))
    else {
        return Ok(None);
    };
    let fatal = report.verdict == Verdict::Fatal;
    // Event indexes to return, with their reasons.
    let mut severe_events: BTreeSet<u32> = BTreeSet::new();
    if !fatal {
        severe_events.extend(report.rejected.iter().copied());
        severe_events.extend(settlement_rejected.iter().map(|(i, _)| *i));
        if severe_events.is_empty() {
            return Ok(None);
        }
    }
    let Opened::TransferBatch(mut stream) = open(reader)? else {
        return Ok(None);
    };
    let header = stream.header().clone();
    let test = header
        .batch_control_info
        .as_ref()
        .is_some_and(|b| b.file_type_indicator.is_some());
    let mut events: BTreeMap<u32, CallEvent> = BTreeMap::new();
    for item in stream.by_ref() {
        let item = item?;
        if severe_events.contains(&item.index) {
            events.insert(item.index, item.event);
        }
    }
    let trailer = stream.finish()?;

    let mut fatal_inputs = Vec::new();
    let mut severe_inputs = Vec::new();
    if fatal {
        let mut by_group: BTreeMap<u32, Vec<crate::rap::ErrorDetail>> = BTreeMap::new();
        for d in report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Fatal)
        {
            let group = d.path.first().copied().unwrap_or(group_tag::TRANSFER_BATCH);
            by_group.entry(group).or_default().push(error_detail(d));
        }
        for (group, errors) in by_group {
            let g = match group {
                group_tag::BATCH_CONTROL_INFO if header.batch_control_info.is_some() => {
                    FatalGroup::BatchControl(header.batch_control_info.clone().expect("checked"), errors)
                }
                group_tag::ACCOUNTING_INFO if header.accounting_info.is_some() => {
                    FatalGroup::Accounting(header.accounting_info.clone().expect("checked"), errors)
                }
                group_tag::NETWORK_INFO if header.network_info.is_some() => {
                    FatalGroup::Network(header.network_info.clone().expect("checked"), errors)
                }
                group_tag::AUDIT_CONTROL_INFO if trailer.audit_control_info.is_some() => {
                    FatalGroup::Audit(trailer.audit_control_info.clone().expect("checked"), errors)
                }
                _ => FatalGroup::TransferBatch(errors),
            };
            fatal_inputs.push(FatalInput {
                file_sequence_number: fsn,
                group: g,
            });
        }
    } else {
        let codes: BTreeMap<u32, Vec<ErrorCode>> = settlement_rejected.iter().fold(
            BTreeMap::new(),
            |mut m: BTreeMap<u32, Vec<ErrorCode>>, (i, c)| {
                m.entry(*i).or_default().push(*c);
                m
            },
        );
        for index in severe_events {
            let Some(event) = events.remove(&index) else {
                return Err(Error::Encode {
                    field: "severeReturn",
                    reason: format!("call event {index} to return is not in file {fsn:05}"),
                });
            };
            let mut errors: Vec<_> = report
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Severe && d.record_index == Some(index))
                .map(error_detail)
                .collect();
            for code in codes.get(&index).into_iter().flatten() {
                errors.push(error_detail_for_rejection(&event, *code));
            }
            severe_inputs.push(SevereInput {
                file_sequence_number: fsn,
                call_event: event,
                errors,
            });
        }
    }
    let c = now.to_civil();
    let created = DateTimeLong {
        local_time_stamp: Some(Octets::from(
            format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}",
                c.year, c.month, c.day, c.hour, c.minute, c.second
            )
            .as_str(),
        )),
        utc_time_offset: Some(Octets::from("+0000")),
    };
    let rap_header = RapHeader {
        sender: tap_recipient.to_string(),
        recipient: tap_sender.to_string(),
        rap_file_sequence_number: fsn,
        created,
        tap_release: report.release_version.unwrap_or(12),
        tap_decimal_places: report.tap_decimal_places.unwrap_or(0),
        tap_currency: report.currency.clone().unwrap_or_else(|| "SDR".into()),
        test,
    };
    let batch = build_return_batch(&rap_header, fatal_inputs, severe_inputs)?;
    let name = FileName::rap(tap_recipient, tap_sender, fsn, test)?;
    Ok(Some((name, encode(&RapFile::ReturnBatch(batch)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tap::generate::{GeneratorConfig, generate_bytes};
    use crate::tap::ingest::ingest;
    use crate::tap::validate::ValidationContext;

    fn t(s: &str) -> Tadig {
        s.parse().unwrap()
    }

    fn now() -> UtcTime {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn severe_returns_for_ledger_rejections() {
        let cfg = GeneratorConfig::new(t("KORKT"), t("JPNDO"), 20, 3);
        let bytes = generate_bytes(&cfg).unwrap();
        let r = ingest(&bytes, &ValidationContext::default()).unwrap();
        assert_eq!(r.report.verdict, Verdict::Ok);
        let (name, rap) = return_for_tap(
            bytes.as_slice(),
            &r.report,
            &[(2, ErrorCode::DuplicateRecord), (7, ErrorCode::EventTooOld)],
            now(),
        )
        .unwrap()
        .expect("two rejections are returned");
        assert_eq!(name.to_string(), "RCJPNDOKORKT00001");
        let RapFile::ReturnBatch(b) = crate::rap::decode(&rap).unwrap() else {
            panic!("a return batch")
        };
        assert_eq!(b.return_details.len(), 2);
        let (verdict, findings) = crate::rap::check(&b);
        assert_ne!(verdict, Verdict::Fatal, "{findings:?}");
        // Nothing rejected: no RAP file.
        assert!(
            return_for_tap(bytes.as_slice(), &r.report, &[], now())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn fatal_files_get_fatal_returns() {
        let mut cfg = GeneratorConfig::new(t("KORKT"), t("JPNDO"), 5, 4);
        cfg.mutations.bad_total_charge = true;
        let bytes = generate_bytes(&cfg).unwrap();
        let r = ingest(&bytes, &ValidationContext::default()).unwrap();
        assert_eq!(r.report.verdict, Verdict::Fatal);
        let (_, rap) = return_for_tap(bytes.as_slice(), &r.report, &[], now())
            .unwrap()
            .unwrap();
        let RapFile::ReturnBatch(b) = crate::rap::decode(&rap).unwrap() else {
            panic!("a return batch")
        };
        assert!(
            b.return_details
                .iter()
                .all(|d| matches!(d, crate::rap::ReturnDetail::FatalReturn(_))),
            "{:?}",
            b.return_details
        );
        assert!(!b.return_details.is_empty());
    }
}

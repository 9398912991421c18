//! RAP 1.05 (GSMA TD.32): returned account procedure files, transcribed from `RAP-0105`.
//!
//! The home network returns rejected TAP data to the visited network: a **fatal return**
//! rejects a whole TAP file (with the group in error and its error details), a **severe
//! return** carries one rejected call event with its error details. The RAP audit counts the
//! returns and sums the charges and taxes of the returned call events. An **acknowledgement**
//! confirms receipt of a RAP file.
//!
//! [`build_return_batch`] makes a return batch from settlement rejections; [`decode`] reads
//! return batches and acknowledgements from partners; [`check`] verifies a return batch's
//! audit.

use settlement::error::{ErrorCode, RecordRejection};

use crate::ber::{BerType, Class, Element, Octets, Tag, Writer, describe};
use crate::diagnostic::{Diagnostic, Verdict, verdict};
use crate::error::Error;
use crate::limits::RAP_FILE_BYTES_MAX;
use crate::tap::model::{
    AccountingInfo, AuditControlInfo, BatchControlInfo, DateTimeLong, MessageDescriptionInformation,
    NetworkInfo, Notification,
};
use crate::tap::validate::EventAmounts;
use crate::tap::{CallEvent, event_tag};

/// `rapSpecificationVersionNumber` of RAP 1.05.
pub const RAP_SPECIFICATION_VERSION: i64 = 1;
/// `rapReleaseVersionNumber` of RAP 1.05.
pub const RAP_RELEASE_VERSION: i64 = 5;

ber_sequence! {
    /// `ErrorContext` [APPLICATION 545]: one step of the path to the item in error.
    pub struct ErrorContext ("ErrorContext") {
        /// The `[APPLICATION n]` tag of the item at this level.
        path_item_id ("pathItemId"): Option<i64> = 546,
        /// Which occurrence (1-based) when the item repeats.
        item_occurrence ("itemOccurrence"): Option<i64> = 547,
        /// Depth, 1 for the returned structure itself.
        item_level ("itemLevel"): Option<i64> = 548,
    }
}

ber_sequence! {
    /// `ErrorDetail` [APPLICATION 521].
    pub struct ErrorDetail ("ErrorDetail") {
        /// Path to the item in error.
        error_context ("errorContext"): Vec<ErrorContext> = 549 [545],
        /// Byte offset of the item, when known.
        item_offset ("itemOffset"): Option<i64> = 524,
        /// The TD.57 error code.
        error_code ("errorCode"): Option<i64> = 519,
    }
}

ber_sequence! {
    /// `RapBatchControlInfo` [APPLICATION 537].
    pub struct RapBatchControlInfo ("rapBatchControlInfoRap") {
        /// Sender of the RAP file (the home network).
        sender ("sender"): Option<Octets> = 196,
        /// Recipient (the visited network that sent the TAP data).
        recipient ("recipient"): Option<Octets> = 182,
        /// Five digits.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// When created.
        rap_file_creation_time_stamp ("rapFileCreationTimeStamp"): Option<DateTimeLong> = 526,
        /// When made available.
        rap_file_available_time_stamp ("rapFileAvailableTimeStamp"): Option<DateTimeLong> = 525,
        /// TAP specification version of the returned data.
        specification_version_number ("specificationVersionNumber"): Option<i64> = 201,
        /// TAP release version of the returned data.
        release_version_number ("releaseVersionNumber"): Option<i64> = 189,
        /// 1.
        rap_specification_version_number ("rapSpecificationVersionNumber"): Option<i64> = 544,
        /// 5.
        rap_release_version_number ("rapReleaseVersionNumber"): Option<i64> = 543,
        /// `T` for test data.
        file_type_indicator ("fileTypeIndicator"): Option<Octets> = 110,
        /// For a DCH: the partner concerned.
        roaming_partner ("roamingPartner"): Option<Octets> = 550,
        /// Free text.
        operator_spec_list ("operatorSpecList"): Vec<Octets> = 551 [163],
        /// Decimal places of the amounts.
        tap_decimal_places ("tapDecimalPlaces"): Option<i64> = 244,
        /// Currency of the amounts.
        tap_currency ("tapCurrency"): Option<Octets> = 210,
    }
}

ber_sequence! {
    /// `RapAuditControlInfo` [APPLICATION 541].
    pub struct RapAuditControlInfo ("rapAuditControlInfo") {
        /// Sum of the charges of the severe returns.
        total_severe_return_value ("totalSevereReturnValue"): Option<i64> = 533,
        /// Number of return details.
        return_details_count ("returnDetailsCount"): Option<i64> = 528,
        /// Free text.
        operator_spec_list ("operatorSpecList"): Vec<Octets> = 551 [163],
        /// Sum of the taxes of the severe returns.
        total_severe_return_tax ("totalSevereReturnTax"): Option<i64> = 553,
    }
}

ber_sequence! {
    /// `Acknowledgement` [APPLICATION 535].
    pub struct Acknowledgement ("acknowledgement") {
        /// Sender of the acknowledgement.
        sender ("sender"): Option<Octets> = 196,
        /// Recipient.
        recipient ("recipient"): Option<Octets> = 182,
        /// The RAP file acknowledged.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// When created.
        ack_file_creation_time_stamp ("ackFileCreationTimeStamp"): Option<DateTimeLong> = 516,
        /// When made available.
        ack_file_available_time_stamp ("ackFileAvailableTimeStamp"): Option<DateTimeLong> = 515,
        /// `T` for test.
        file_type_indicator ("fileTypeIndicator"): Option<Octets> = 110,
        /// Free text.
        operator_spec_list ("operatorSpecList"): Vec<Octets> = 551 [163],
    }
}

ber_sequence! {
    /// `StopReturn` [APPLICATION 554].
    pub struct StopReturn ("stopReturn") {
        /// Last TAP sequence number sent.
        last_seq_number ("lastSeqNumber"): Option<Octets> = 555,
        /// Free text.
        operator_spec_list ("operatorSpecList"): Vec<Octets> = 551 [163],
    }
}

ber_sequence! {
    /// `MissingReturn` [APPLICATION 538].
    pub struct MissingReturn ("missingReturn") {
        /// First missing TAP sequence number.
        start_missing_seq_number ("startMissingSeqNumber"): Option<Octets> = 532,
        /// Last missing, for a range.
        end_missing_seq_number ("endMissingSeqNumber"): Option<Octets> = 518,
        /// Free text.
        operator_spec_list ("operatorSpecList"): Vec<Octets> = 551 [163],
    }
}

ber_sequence! {
    /// `TransferBatchError` [APPLICATION 542].
    pub struct TransferBatchError ("transferBatchError") {
        /// Errors.
        error_detail ("errorDetail"): Vec<ErrorDetail> = 520 [521],
    }
}

ber_sequence! {
    /// `NotificationError` [APPLICATION 552].
    pub struct NotificationError ("notificationError") {
        /// The notification returned.
        notification ("notification"): Option<Notification> = 2,
        /// Errors.
        error_detail ("errorDetail"): Vec<ErrorDetail> = 520 [521],
    }
}

ber_sequence! {
    /// `BatchControlError` [APPLICATION 517].
    pub struct BatchControlError ("batchControlError") {
        /// The group returned.
        batch_control_info ("batchControlInfo"): Option<BatchControlInfo> = 4,
        /// Errors.
        error_detail ("errorDetail"): Vec<ErrorDetail> = 520 [521],
    }
}

ber_sequence! {
    /// `AccountingInfoError` [APPLICATION 512].
    pub struct AccountingInfoError ("accountingInfoError") {
        /// The group returned.
        accounting_info ("accountingInfo"): Option<AccountingInfo> = 5,
        /// Errors.
        error_detail ("errorDetail"): Vec<ErrorDetail> = 520 [521],
    }
}

ber_sequence! {
    /// `NetworkInfoError` [APPLICATION 523].
    pub struct NetworkInfoError ("networkInfoError") {
        /// The group returned.
        network_info ("networkInfo"): Option<NetworkInfo> = 6,
        /// Errors.
        error_detail ("errorDetail"): Vec<ErrorDetail> = 520 [521],
    }
}

ber_sequence! {
    /// `MessageDescriptionError` [APPLICATION 522].
    pub struct MessageDescriptionError ("messageDescriptionError") {
        /// The group returned.
        message_description_info ("messageDescriptionInfo"): Vec<MessageDescriptionInformation> = 8 [143],
        /// Errors.
        error_detail ("errorDetail"): Vec<ErrorDetail> = 520 [521],
    }
}

ber_sequence! {
    /// `AuditControlInfoError` [APPLICATION 513].
    pub struct AuditControlInfoError ("auditControlInfoError") {
        /// The group returned.
        audit_control_info ("auditControlInfo"): Option<AuditControlInfo> = 15,
        /// Errors.
        error_detail ("errorDetail"): Vec<ErrorDetail> = 520 [521],
    }
}

ber_sequence! {
    /// `FatalReturn` [APPLICATION 539]: a whole TAP file rejected.
    pub struct FatalReturn ("fatalReturn") {
        /// The TAP file rejected.
        file_sequence_number ("fileSequenceNumber"): Option<Octets> = 109,
        /// Errors on the batch as a whole.
        transfer_batch_error ("transferBatchError"): Option<TransferBatchError> = 542,
        /// Errors on a notification.
        notification_error ("notificationError"): Option<NotificationError> = 552,
        /// Errors on the batch control information.
        batch_control_error ("batchControlError"): Option<BatchControlError> = 517,
        /// Errors on the accounting information.
        accounting_info_error ("accountingInfoError"): Option<AccountingInfoError> = 512,
        /// Errors on the network information.
        network_info_error ("networkInfoError"): Option<NetworkInfoError> = 523,
        /// Errors on the message descriptions.
        message_description_error ("messageDescriptionError"): Option<MessageDescriptionError> = 522,
        /// Errors on the audit control information.
        audit_control_info_error ("auditControlInfoError"): Option<AuditControlInfoError> = 513,
        /// Free text.
        operator_spec_list ("operatorSpecList"): Vec<Octets> = 551 [163],
    }
}

/// `SevereReturn` [APPLICATION 540]: one call event rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SevereReturn {
    /// The TAP file it came from.
    pub file_sequence_number: Option<Octets>,
    /// The call event, as returned.
    pub call_event: CallEvent,
    /// Errors.
    pub error_detail: Vec<ErrorDetail>,
    /// Free text.
    pub operator_spec_list: Vec<Octets>,
}

const SEVERE_RETURN: u32 = 540;
const ERROR_DETAIL_LIST: u32 = 520;
const ERROR_DETAIL: u32 = 521;
const OPERATOR_SPEC_LIST: u32 = 551;
const OPERATOR_SPEC_INFORMATION: u32 = 163;

fn is_call_event_tag(n: u32) -> bool {
    use event_tag::*;
    matches!(
        n,
        MOC | MTC | SUPPL_SERVICE | SERVICE_CENTRE | GPRS | CONTENT | LOCATION | MESSAGING | MOBILE_SESSION
    )
}

impl BerType for SevereReturn {
    fn decode_ber(el: &Element<'_>, _field: &'static str) -> Result<Self, Error> {
        let mut fsn = None;
        let mut event = None;
        let mut errors = Vec::new();
        let mut ops = Vec::new();
        let mut r = el.children("severeReturn")?;
        while let Some(c) = r.next()? {
            if c.tag.class != Class::Application {
                continue;
            }
            match c.tag.number {
                109 => fsn = Some(Octets::decode_ber(&c, "fileSequenceNumber")?),
                ERROR_DETAIL_LIST => errors = crate::ber::decode_list(&c, "errorDetail", ERROR_DETAIL)?,
                OPERATOR_SPEC_LIST => {
                    ops = crate::ber::decode_list(&c, "operatorSpecList", OPERATOR_SPEC_INFORMATION)?
                }
                n if is_call_event_tag(n) => {
                    if event.is_some() {
                        return Err(Error::UnexpectedElement {
                            offset: c.offset,
                            expected: "one callEventDetail in a severeReturn",
                            found: describe(&c),
                        });
                    }
                    event = Some(CallEvent::decode(&c)?);
                }
                _ => {}
            }
        }
        let call_event = event.ok_or_else(|| {
            Error::field(
                el.offset,
                "severeReturn",
                "the returned callEventDetail is missing",
            )
        })?;
        Ok(SevereReturn {
            file_sequence_number: fsn,
            call_event,
            error_detail: errors,
            operator_spec_list: ops,
        })
    }

    fn encode_ber(&self, tag: Tag, w: &mut Writer) {
        let m = w.begin(tag);
        if let Some(f) = &self.file_sequence_number {
            f.encode_ber(Tag::app(109), w);
        }
        self.call_event.encode(w);
        crate::ber::encode_list(&self.error_detail, Tag::app(ERROR_DETAIL_LIST), ERROR_DETAIL, w);
        crate::ber::encode_list(
            &self.operator_spec_list,
            Tag::app(OPERATOR_SPEC_LIST),
            OPERATOR_SPEC_INFORMATION,
            w,
        );
        w.end(m);
    }
}

/// `ReturnDetail`: the untagged CHOICE of returns.
// Returns are built and read once each, never in bulk on a hot path: boxing would only
// complicate construction.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReturnDetail {
    /// [APPLICATION 554].
    StopReturn(StopReturn),
    /// [APPLICATION 538].
    MissingReturn(MissingReturn),
    /// [APPLICATION 539].
    FatalReturn(FatalReturn),
    /// [APPLICATION 540].
    SevereReturn(SevereReturn),
}

/// `ReturnBatch` [APPLICATION 534].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnBatch {
    /// Header.
    pub rap_batch_control_info: Option<RapBatchControlInfo>,
    /// The returns.
    pub return_details: Vec<ReturnDetail>,
    /// Audit.
    pub rap_audit_control_info: Option<RapAuditControlInfo>,
}

/// `RapDataInterChange`: what a RAP file holds.
// One value per file.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RapFile {
    /// A return batch.
    ReturnBatch(ReturnBatch),
    /// An acknowledgement.
    Acknowledgement(Acknowledgement),
}

const RETURN_BATCH: u32 = 534;
const ACKNOWLEDGEMENT: u32 = 535;
const RETURN_DETAIL_LIST: u32 = 536;
const RAP_BATCH_CONTROL_INFO: u32 = 537;
const RAP_AUDIT_CONTROL_INFO: u32 = 541;

fn decode_return_batch(el: &Element<'_>) -> Result<ReturnBatch, Error> {
    let mut b = ReturnBatch::default();
    let mut r = el.children("returnBatch")?;
    while let Some(c) = r.next()? {
        if c.tag.class != Class::Application {
            continue;
        }
        match c.tag.number {
            RAP_BATCH_CONTROL_INFO => {
                b.rap_batch_control_info = Some(BerType::decode_ber(&c, "rapBatchControlInfoRap")?)
            }
            RAP_AUDIT_CONTROL_INFO => {
                b.rap_audit_control_info = Some(BerType::decode_ber(&c, "rapAuditControlInfo")?)
            }
            RETURN_DETAIL_LIST => {
                let mut list = c.children("returnDetails")?;
                let mut index = 0u32;
                while let Some(d) = list.next()? {
                    let wrap = |e: Error| Error::Record {
                        record_index: index,
                        offset: d.offset,
                        source: Box::new(e),
                    };
                    let detail = match (d.tag.class, d.tag.number) {
                        (Class::Application, 554) => {
                            ReturnDetail::StopReturn(BerType::decode_ber(&d, "stopReturn").map_err(wrap)?)
                        }
                        (Class::Application, 538) => ReturnDetail::MissingReturn(
                            BerType::decode_ber(&d, "missingReturn").map_err(wrap)?,
                        ),
                        (Class::Application, 539) => {
                            ReturnDetail::FatalReturn(BerType::decode_ber(&d, "fatalReturn").map_err(wrap)?)
                        }
                        (Class::Application, SEVERE_RETURN) => {
                            ReturnDetail::SevereReturn(BerType::decode_ber(&d, "severeReturn").map_err(wrap)?)
                        }
                        _ => {
                            return Err(wrap(Error::UnexpectedElement {
                                offset: d.offset,
                                expected: "a stopReturn, missingReturn, fatalReturn or severeReturn",
                                found: describe(&d),
                            }));
                        }
                    };
                    b.return_details.push(detail);
                    index += 1;
                }
            }
            _ => {}
        }
    }
    Ok(b)
}

/// Decodes a RAP file (return batch or acknowledgement) held in memory.
pub fn decode(bytes: &[u8]) -> Result<RapFile, Error> {
    if bytes.len() > RAP_FILE_BYTES_MAX {
        return Err(Error::TooLarge {
            offset: 0,
            context: "RAP file",
            size: bytes.len() as u64,
            max: RAP_FILE_BYTES_MAX as u64,
        });
    }
    let (el, n) = Element::parse(bytes, 0, "RAP file")?;
    let out = match (el.tag.class, el.tag.number, el.constructed) {
        (Class::Application, RETURN_BATCH, true) => RapFile::ReturnBatch(decode_return_batch(&el)?),
        (Class::Application, ACKNOWLEDGEMENT, true) => {
            RapFile::Acknowledgement(BerType::decode_ber(&el, "acknowledgement")?)
        }
        _ => {
            return Err(Error::UnexpectedElement {
                offset: 0,
                expected: "a RAP returnBatch [APPLICATION 534] or acknowledgement [APPLICATION 535]",
                found: describe(&el),
            });
        }
    };
    if n < bytes.len() {
        return Err(Error::TrailingBytes {
            offset: n as u64,
            context: "RAP file",
            count: (bytes.len() - n) as u64,
        });
    }
    Ok(out)
}

/// Encodes a RAP file with definite lengths.
pub fn encode(f: &RapFile) -> Vec<u8> {
    let mut w = Writer::with_capacity(1024);
    match f {
        RapFile::Acknowledgement(a) => a.encode_ber(Tag::app(ACKNOWLEDGEMENT), &mut w),
        RapFile::ReturnBatch(b) => {
            let m = w.begin(Tag::app(RETURN_BATCH));
            if let Some(x) = &b.rap_batch_control_info {
                x.encode_ber(Tag::app(RAP_BATCH_CONTROL_INFO), &mut w);
            }
            let l = w.begin(Tag::app(RETURN_DETAIL_LIST));
            for d in &b.return_details {
                match d {
                    ReturnDetail::StopReturn(x) => x.encode_ber(Tag::app(554), &mut w),
                    ReturnDetail::MissingReturn(x) => x.encode_ber(Tag::app(538), &mut w),
                    ReturnDetail::FatalReturn(x) => x.encode_ber(Tag::app(539), &mut w),
                    ReturnDetail::SevereReturn(x) => x.encode_ber(Tag::app(SEVERE_RETURN), &mut w),
                }
            }
            w.end(l);
            if let Some(x) = &b.rap_audit_control_info {
                x.encode_ber(Tag::app(RAP_AUDIT_CONTROL_INFO), &mut w);
            }
            w.end(m);
        }
    }
    w.into_bytes()
}

/// The RAP `ErrorDetail` of a validation finding: its TD.57 code and the path of application
/// tags (TD.32 error context, levels from 1).
pub fn error_detail(d: &Diagnostic) -> ErrorDetail {
    ErrorDetail {
        error_context: d
            .path
            .iter()
            .enumerate()
            .map(|(i, tag)| ErrorContext {
                path_item_id: Some(i64::from(*tag)),
                item_occurrence: None,
                item_level: Some(i as i64 + 1),
            })
            .collect(),
        item_offset: None,
        error_code: Some(i64::from(d.code)),
    }
}

/// Tag of the TD.57 item a settlement error code names, for the RAP error context.
fn item_tag(item: &str) -> Option<u32> {
    Some(match item {
        "callEventStartTimeStamp" => 44,
        "charge" => 62,
        "basicServiceUsed" => 39,
        "callEventDetails" => 3,
        "sender" => 196,
        "recipient" => 182,
        "fileSequenceNumber" => 109,
        "tapCurrency" => 210,
        "tapDecimalPlaces" => 244,
        "auditControlInfo" => 15,
        _ => return None,
    })
}

/// The RAP `ErrorDetail` of a settlement rejection: TD.57 number from the settlement code's
/// TD.57 context, path = the call event, then the item.
pub fn error_detail_for_rejection(event: &CallEvent, code: ErrorCode) -> ErrorDetail {
    let (item, number) = code.td57();
    let mut path = vec![event.tag()];
    if let Some(t) = item_tag(item).filter(|t| *t != 3) {
        path.push(t);
    }
    error_detail(&Diagnostic {
        severity: crate::diagnostic::Severity::Severe,
        code: number,
        item: "callEventDetails",
        record_index: None,
        offset: None,
        message: String::new(),
        path,
    })
}

/// Header fields of a RAP file being built.
#[derive(Clone, Debug)]
pub struct RapHeader {
    /// The home network returning data.
    pub sender: String,
    /// The visited network that sent the TAP data.
    pub recipient: String,
    /// Five-digit RAP sequence number.
    pub rap_file_sequence_number: u32,
    /// Creation time (local time stamp and offset).
    pub created: DateTimeLong,
    /// TAP release of the returned data (11 or 12).
    pub tap_release: i64,
    /// `tapDecimalPlaces` of the returned data.
    pub tap_decimal_places: i64,
    /// TAP currency of the returned data.
    pub tap_currency: String,
    /// Test data.
    pub test: bool,
}

/// One call event to return with its errors.
#[derive(Clone, Debug)]
pub struct SevereInput {
    /// The TAP file it came from.
    pub file_sequence_number: u32,
    /// The event as decoded from that file.
    pub call_event: CallEvent,
    /// Why: at least one error detail.
    pub errors: Vec<ErrorDetail>,
}

/// Builds severe-return inputs from settlement record rejections and the TAP file's events
/// (by index). Rejections whose index has no event are reported as an error.
pub fn severe_inputs_from_rejections(
    file_sequence_number: u32,
    rejections: &[RecordRejection],
    event_at: impl Fn(u32) -> Option<CallEvent>,
) -> Result<Vec<SevereInput>, Error> {
    let mut out: Vec<SevereInput> = Vec::new();
    for r in rejections {
        let event = event_at(r.index).ok_or_else(|| Error::Encode {
            field: "severeReturn",
            reason: format!(
                "rejected record {} is not a call event of file {file_sequence_number:05}",
                r.index
            ),
        })?;
        let detail = error_detail_for_rejection(&event, r.code);
        match out.last_mut() {
            Some(last) if last.call_event == event => last.errors.push(detail),
            _ => out.push(SevereInput {
                file_sequence_number,
                call_event: event,
                errors: vec![detail],
            }),
        }
    }
    Ok(out)
}

/// A rejected TAP file: which group, and the errors.
#[derive(Clone, Debug)]
pub struct FatalInput {
    /// The file rejected.
    pub file_sequence_number: u32,
    /// The group in error with its errors.
    pub group: FatalGroup,
}

/// The group a fatal return is about.
#[derive(Clone, Debug)]
pub enum FatalGroup {
    /// The batch as a whole (e.g. a missing group).
    TransferBatch(Vec<ErrorDetail>),
    /// A notification.
    Notification(Notification, Vec<ErrorDetail>),
    /// The batch control information.
    BatchControl(BatchControlInfo, Vec<ErrorDetail>),
    /// The accounting information.
    Accounting(AccountingInfo, Vec<ErrorDetail>),
    /// The network information.
    Network(NetworkInfo, Vec<ErrorDetail>),
    /// The audit control information (audit total mismatches).
    Audit(AuditControlInfo, Vec<ErrorDetail>),
}

/// Fatal returns for a TAP file our validation rejected: its fatal findings grouped by the
/// group they concern (TD.32 returns the group in error with its error details).
pub fn fatal_inputs_from_report(
    file_sequence_number: u32,
    header: &crate::tap::BatchHeader,
    audit: Option<&AuditControlInfo>,
    diagnostics: &[Diagnostic],
) -> Vec<FatalInput> {
    use crate::tap::group_tag::*;
    let mut by_group: std::collections::BTreeMap<u32, Vec<ErrorDetail>> = std::collections::BTreeMap::new();
    for d in diagnostics
        .iter()
        .filter(|d| d.severity == crate::diagnostic::Severity::Fatal)
    {
        let group = d.path.get(1).copied().unwrap_or(TRANSFER_BATCH);
        by_group.entry(group).or_default().push(error_detail(d));
    }
    by_group
        .into_iter()
        .map(|(group, errors)| {
            let g = match group {
                BATCH_CONTROL_INFO => header
                    .batch_control_info
                    .clone()
                    .map(|b| FatalGroup::BatchControl(b, errors.clone())),
                ACCOUNTING_INFO => header
                    .accounting_info
                    .clone()
                    .map(|a| FatalGroup::Accounting(a, errors.clone())),
                NETWORK_INFO => header
                    .network_info
                    .clone()
                    .map(|n| FatalGroup::Network(n, errors.clone())),
                AUDIT_CONTROL_INFO => audit.cloned().map(|a| FatalGroup::Audit(a, errors.clone())),
                _ => None,
            };
            FatalInput {
                file_sequence_number,
                group: g.unwrap_or(FatalGroup::TransferBatch(errors)),
            }
        })
        .collect()
}

/// A fatal return for a TAP file the settlement machine rejected as a whole (a batch-level
/// [`ErrorCode`]).
pub fn fatal_input_for_rejection(file_sequence_number: u32, code: ErrorCode) -> FatalInput {
    let (item, number) = code.td57();
    let mut path = vec![crate::tap::group_tag::TRANSFER_BATCH];
    path.extend(item_tag(item));
    FatalInput {
        file_sequence_number,
        group: FatalGroup::TransferBatch(vec![error_detail(&Diagnostic::fatal(
            number,
            "transferBatch",
            &path,
            String::new(),
        ))]),
    }
}

/// Builds a return batch: fatal returns first, then severe returns, with the RAP audit
/// (TD.32: `returnDetailsCount` counts every return detail; `totalSevereReturnValue` sums the
/// returned events' charges as TAP's `totalCharge` counts them; `totalSevereReturnTax` their
/// taxes).
pub fn build_return_batch(
    header: &RapHeader,
    fatal: Vec<FatalInput>,
    severe: Vec<SevereInput>,
) -> Result<ReturnBatch, Error> {
    if header.rap_file_sequence_number == 0 || header.rap_file_sequence_number > 99_999 {
        return Err(Error::Encode {
            field: "rapFileSequenceNumber",
            reason: format!("{} is outside 1..=99999", header.rap_file_sequence_number),
        });
    }
    let fsn = |n: u32| Octets::from(format!("{n:05}").as_str());
    let mut details = Vec::new();
    for f in fatal {
        let mut r = FatalReturn {
            file_sequence_number: Some(fsn(f.file_sequence_number)),
            ..FatalReturn::default()
        };
        match f.group {
            FatalGroup::TransferBatch(e) => {
                r.transfer_batch_error = Some(TransferBatchError { error_detail: e })
            }
            FatalGroup::Notification(n, e) => {
                r.notification_error = Some(NotificationError {
                    notification: Some(n),
                    error_detail: e,
                })
            }
            FatalGroup::BatchControl(b, e) => {
                r.batch_control_error = Some(BatchControlError {
                    batch_control_info: Some(b),
                    error_detail: e,
                })
            }
            FatalGroup::Accounting(a, e) => {
                r.accounting_info_error = Some(AccountingInfoError {
                    accounting_info: Some(a),
                    error_detail: e,
                })
            }
            FatalGroup::Network(n, e) => {
                r.network_info_error = Some(NetworkInfoError {
                    network_info: Some(n),
                    error_detail: e,
                })
            }
            FatalGroup::Audit(a, e) => {
                r.audit_control_info_error = Some(AuditControlInfoError {
                    audit_control_info: Some(a),
                    error_detail: e,
                })
            }
        }
        details.push(ReturnDetail::FatalReturn(r));
    }
    let mut value: i128 = 0;
    let mut tax: i128 = 0;
    for s in severe {
        if s.errors.is_empty() {
            return Err(Error::Encode {
                field: "severeReturn",
                reason: "a severe return needs at least one error detail".to_owned(),
            });
        }
        // Amounts as they stand in the event (fixed discounts do not change charges).
        let a = EventAmounts::of(&s.call_event, &Default::default());
        value += a.total_charge();
        tax += a.tax;
        details.push(ReturnDetail::SevereReturn(SevereReturn {
            file_sequence_number: Some(fsn(s.file_sequence_number)),
            call_event: s.call_event,
            error_detail: s.errors,
            operator_spec_list: Vec::new(),
        }));
    }
    let too_big = |what: &'static str| Error::Encode {
        field: what,
        reason: "sum does not fit a 64-bit integer".to_owned(),
    };
    let count = details.len() as i64;
    Ok(ReturnBatch {
        rap_batch_control_info: Some(RapBatchControlInfo {
            sender: Some(header.sender.as_str().into()),
            recipient: Some(header.recipient.as_str().into()),
            rap_file_sequence_number: Some(fsn(header.rap_file_sequence_number)),
            rap_file_creation_time_stamp: Some(header.created.clone()),
            rap_file_available_time_stamp: Some(header.created.clone()),
            specification_version_number: Some(3),
            release_version_number: Some(header.tap_release),
            rap_specification_version_number: Some(RAP_SPECIFICATION_VERSION),
            rap_release_version_number: Some(RAP_RELEASE_VERSION),
            file_type_indicator: header.test.then(|| Octets::from("T")),
            roaming_partner: None,
            operator_spec_list: Vec::new(),
            tap_decimal_places: Some(header.tap_decimal_places),
            tap_currency: Some(header.tap_currency.as_str().into()),
        }),
        return_details: details,
        rap_audit_control_info: Some(RapAuditControlInfo {
            total_severe_return_value: Some(
                i64::try_from(value).map_err(|_| too_big("totalSevereReturnValue"))?,
            ),
            return_details_count: Some(count),
            operator_spec_list: Vec::new(),
            total_severe_return_tax: Some(i64::try_from(tax).map_err(|_| too_big("totalSevereReturnTax"))?),
        }),
    })
}

/// Checks a return batch's mandatory groups and audit (TD.32).
pub fn check(b: &ReturnBatch) -> (Verdict, Vec<Diagnostic>) {
    let mut d = Vec::new();
    let root = [RETURN_BATCH];
    if b.rap_batch_control_info.is_none() {
        d.push(Diagnostic::fatal(
            30,
            "returnBatch",
            &root,
            "mandatory group rapBatchControlInfoRap is missing",
        ));
    }
    let (mut value, mut tax) = (0i128, 0i128);
    for r in &b.return_details {
        if let ReturnDetail::SevereReturn(s) = r {
            let a = EventAmounts::of(&s.call_event, &Default::default());
            value += a.total_charge();
            tax += a.tax;
        }
    }
    match &b.rap_audit_control_info {
        None => d.push(Diagnostic::fatal(
            31,
            "returnBatch",
            &root,
            "mandatory group rapAuditControlInfo is missing",
        )),
        Some(a) => {
            let n = b.return_details.len() as i128;
            match a.return_details_count {
                Some(c) if i128::from(c) == n => {}
                Some(c) => d.push(Diagnostic::fatal(
                    100,
                    "returnDetailsCount",
                    &[RETURN_BATCH, RAP_AUDIT_CONTROL_INFO, 528],
                    format!("returnDetailsCount declares {c} but the file holds {n} return details"),
                )),
                None => d.push(Diagnostic::fatal(
                    31,
                    "rapAuditControlInfo",
                    &[RETURN_BATCH, RAP_AUDIT_CONTROL_INFO],
                    "mandatory item returnDetailsCount is missing",
                )),
            }
            match a.total_severe_return_value {
                Some(v) if i128::from(v) == value => {}
                Some(v) => d.push(Diagnostic::fatal(
                    100,
                    "totalSevereReturnValue",
                    &[RETURN_BATCH, RAP_AUDIT_CONTROL_INFO, 533],
                    format!(
                        "totalSevereReturnValue declares {v} but the returned call events add up to {value}"
                    ),
                )),
                None => d.push(Diagnostic::fatal(
                    30,
                    "rapAuditControlInfo",
                    &[RETURN_BATCH, RAP_AUDIT_CONTROL_INFO],
                    "mandatory item totalSevereReturnValue is missing",
                )),
            }
            if let Some(t) = a.total_severe_return_tax.filter(|t| i128::from(*t) != tax) {
                d.push(Diagnostic::fatal(
                    100,
                    "totalSevereReturnTax",
                    &[RETURN_BATCH, RAP_AUDIT_CONTROL_INFO, 553],
                    format!("totalSevereReturnTax declares {t} but the returned call events' taxes add up to {tax}"),
                ));
            }
        }
    }
    (verdict(&d), d)
}

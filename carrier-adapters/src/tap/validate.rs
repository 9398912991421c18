//! TD.57 validation of a TAP file: the header groups (fatal), each call event (severe), and
//! the audit totals (fatal 100).
//!
//! TD.57 audit rules implemented here:
//! - `totalCharge` = charges with charge type `00` outside refunds + CAMEL invocation fees;
//! - `totalChargeRefund` = charges with charge type `00` of content services flagged with
//!   `chargeRefundIndicator`;
//! - `totalTaxValue` / `totalTaxRefund` = tax values outside / inside refunds;
//! - `totalDiscountValue` / `totalDiscountRefund` likewise for discounts;
//! - `callEventDetailsCount` = number of call events, rejected ones included.
//!
//! A mismatch of any of these is fatal 100 in the item's context. A decimal places value
//! outside 0..=6 is fatal 20 (`tapDecimalPlaces`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use settlement::types::{Currency, EventIdentity, FileSequenceNumber, Scale, Tadig, UsageRecord};

use super::model::*;
use super::normalize::{Normalizer, parse_utc_offset};
use super::stream::{BatchHeader, BatchTrailer, EventItem};
use super::{CallEvent, group_tag};
use crate::ber::Octets;
use crate::diagnostic::{Diagnostic, Severity, Verdict, verdict};
use crate::error::Error;
use crate::limits::{DIAGNOSTICS_PER_FILE_MAX, DUPLICATE_CHECK_EVENTS_MAX};

/// The amounts one call event contributes to the audit totals, in minor units at
/// `tapDecimalPlaces`. `i128` so that no file can overflow a sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventAmounts {
    /// Charge type `00` charges outside refunds.
    pub charge: i128,
    /// Charge type `00` charges of refunds.
    pub charge_refund: i128,
    /// CAMEL invocation fees.
    pub camel_fee: i128,
    /// Tax values outside refunds.
    pub tax: i128,
    /// Tax values of refunds.
    pub tax_refund: i128,
    /// Discounts outside refunds.
    pub discount: i128,
    /// Discounts of refunds.
    pub discount_refund: i128,
}

impl EventAmounts {
    /// The event's contribution to `totalCharge`.
    pub fn total_charge(&self) -> i128 {
        self.charge + self.camel_fee
    }

    /// What the home network owes for the event: total charge less refunds.
    pub fn net_charge(&self) -> i128 {
        self.charge + self.camel_fee - self.charge_refund
    }

    /// Tax owed: taxes less refunded taxes.
    pub fn net_tax(&self) -> i128 {
        self.tax - self.tax_refund
    }

    /// Adds another event's amounts.
    pub fn add(&mut self, o: &EventAmounts) {
        self.charge += o.charge;
        self.charge_refund += o.charge_refund;
        self.camel_fee += o.camel_fee;
        self.tax += o.tax;
        self.tax_refund += o.tax_refund;
        self.discount += o.discount;
        self.discount_refund += o.discount_refund;
    }

    fn charge_info(&mut self, ci: &ChargeInformation, refund: bool, fixed: &BTreeMap<i64, i64>) {
        self.details(&ci.charge_detail_list, refund);
        self.taxes(&ci.tax_information, refund);
        self.discount_info(ci.discount_information.as_ref(), refund, fixed);
    }

    fn details(&mut self, list: &[ChargeDetail], refund: bool) {
        for cd in list {
            if cd.charge_type.as_ref().map(Octets::as_slice) == Some(b"00") {
                let c = i128::from(cd.charge.unwrap_or(0));
                if refund {
                    self.charge_refund += c;
                } else {
                    self.charge += c;
                }
            }
        }
    }

    fn taxes(&mut self, list: &[TaxInformation], refund: bool) {
        for t in list {
            let v = i128::from(t.tax_value.unwrap_or(0));
            if refund {
                self.tax_refund += v;
            } else {
                self.tax += v;
            }
        }
    }

    fn discount_info(&mut self, d: Option<&DiscountInformation>, refund: bool, fixed: &BTreeMap<i64, i64>) {
        // TD.57: the discount value, or for a code with a fixed discount value, that value
        // for each application.
        let v = i128::from(
            d.and_then(|d| d.discount.or_else(|| fixed.get(&d.discount_code?).copied()))
                .unwrap_or(0),
        );
        if refund {
            self.discount_refund += v;
        } else {
            self.discount += v;
        }
    }

    fn camel(&mut self, c: Option<&CamelServiceUsed>, fixed: &BTreeMap<i64, i64>) {
        if let Some(c) = c {
            self.camel_fee += i128::from(c.camel_invocation_fee.unwrap_or(0));
            self.taxes(&c.tax_information, false);
            self.discount_info(c.discount_information.as_ref(), false, fixed);
        }
    }

    fn circuit(
        &mut self,
        services: &[BasicServiceUsed],
        camel: Option<&CamelServiceUsed>,
        fixed: &BTreeMap<i64, i64>,
    ) {
        for b in services {
            b.charge_information_list
                .iter()
                .for_each(|ci| self.charge_info(ci, false, fixed));
        }
        self.camel(camel, fixed);
    }

    /// The amounts of one call event. `fixed_discounts` maps the batch's discount codes that
    /// carry a `fixedDiscountValue` to that value ([`fixed_discounts`]).
    pub fn of(event: &CallEvent, fixed_discounts: &BTreeMap<i64, i64>) -> EventAmounts {
        let fixed = fixed_discounts;
        let mut a = EventAmounts::default();
        match event {
            CallEvent::MobileOriginatedCall(e) => {
                a.circuit(&e.basic_service_used_list, e.camel_service_used.as_ref(), fixed)
            }
            CallEvent::MobileTerminatedCall(e) => {
                a.circuit(&e.basic_service_used_list, e.camel_service_used.as_ref(), fixed)
            }
            CallEvent::SupplServiceEvent(e) => {
                if let Some(ci) = e
                    .suppl_service_used
                    .as_ref()
                    .and_then(|s| s.charge_information.as_ref())
                {
                    a.charge_info(ci, false, fixed);
                }
            }
            CallEvent::ServiceCentreUsage(e) => {
                if let Some(ci) = &e.charge_information {
                    a.charge_info(ci, false, fixed);
                }
            }
            CallEvent::GprsCall(e) => {
                if let Some(s) = &e.gprs_service_used {
                    s.charge_information_list
                        .iter()
                        .for_each(|ci| a.charge_info(ci, false, fixed));
                }
                a.camel(e.camel_service_used.as_ref(), fixed);
            }
            CallEvent::ContentTransaction(e) => {
                for s in &e.content_service_used {
                    // TD.57: a service with chargeRefundIndicator is a refund.
                    let refund = s.charge_refund_indicator.is_some();
                    s.charge_information_list
                        .iter()
                        .for_each(|ci| a.charge_info(ci, refund, fixed));
                }
            }
            CallEvent::LocationService(e) => {
                if let Some(u) = &e.location_service_usage {
                    u.charge_information_list
                        .iter()
                        .for_each(|ci| a.charge_info(ci, false, fixed));
                }
            }
            CallEvent::MessagingEvent(e) => {
                a.charge += i128::from(e.charge.unwrap_or(0));
                a.taxes(&e.tax_information_list, false);
            }
            CallEvent::MobileSession(e) => {
                for s in &e.session_charge_info_list {
                    a.details(&s.charge_detail_list, false);
                    a.taxes(&s.tax_information_list, false);
                }
            }
            CallEvent::Unknown(_) => {}
        }
        a
    }
}

/// Discount codes of the batch that carry a `fixedDiscountValue`, with that value.
pub fn fixed_discounts(accounting: Option<&AccountingInfo>) -> BTreeMap<i64, i64> {
    accounting
        .into_iter()
        .flat_map(|a| a.discounting.iter())
        .filter_map(|d| match (d.discount_code, &d.discount_applied) {
            (Some(code), Some(DiscountApplied::FixedDiscountValue(v))) => Some((code, *v)),
            _ => None,
        })
        .collect()
}

/// What the recipient knows before reading the file.
#[derive(Clone, Debug)]
pub struct ValidationContext {
    /// The recipient this node is (the home network): a file for anyone else is fatal.
    pub recipient: Option<Tadig>,
    /// The sender expected, when known.
    pub sender: Option<Tadig>,
    /// The last file sequence number accepted from this sender: an equal or lower number is a
    /// duplicate (fatal); a gap is a warning (missing files are claimed in RAP).
    pub last_file_sequence_number: Option<FileSequenceNumber>,
    /// `Some(true)` when test data is expected, `Some(false)` for chargeable data.
    pub expect_test_data: Option<bool>,
    /// Call events checked against each other for in-file duplicates (memory bound);
    /// [`DUPLICATE_CHECK_EVENTS_MAX`] by default.
    pub duplicate_check_events_max: usize,
}

impl Default for ValidationContext {
    fn default() -> Self {
        ValidationContext {
            recipient: None,
            sender: None,
            last_file_sequence_number: None,
            expect_test_data: None,
            duplicate_check_events_max: DUPLICATE_CHECK_EVENTS_MAX,
        }
    }
}

/// Declared and computed totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditTotals {
    /// Declared `totalCharge`.
    pub total_charge_declared: Option<i64>,
    /// Computed `totalCharge`.
    pub total_charge_computed: i128,
    /// Declared `totalTaxValue`.
    pub total_tax_declared: Option<i64>,
    /// Computed `totalTaxValue`.
    pub total_tax_computed: i128,
    /// Declared `totalDiscountValue`.
    pub total_discount_declared: Option<i64>,
    /// Computed `totalDiscountValue`.
    pub total_discount_computed: i128,
    /// Declared `callEventDetailsCount`.
    pub events_declared: Option<i64>,
    /// Sum of all event amounts.
    pub computed: EventAmounts,
}

/// `transferBatch` or `notification`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FileKind {
    /// A transfer batch.
    TransferBatch,
    /// A notification.
    Notification,
}

/// The result of validating one TAP file.
#[derive(Clone, Debug, Serialize)]
pub struct TapReport {
    /// What the file is.
    pub kind: FileKind,
    /// `sender` as written.
    pub sender: Option<String>,
    /// `recipient` as written.
    pub recipient: Option<String>,
    /// `fileSequenceNumber` as written.
    pub file_sequence_number: Option<String>,
    /// `releaseVersionNumber`.
    pub release_version: Option<i64>,
    /// `tapDecimalPlaces`.
    pub tap_decimal_places: Option<i64>,
    /// TAP currency (SDR when not given).
    pub currency: Option<String>,
    /// Call events in the file.
    pub events: u32,
    /// Count per `CallEventDetail` alternative (ASN.1 names).
    pub events_by_type: BTreeMap<String, u32>,
    /// Totals.
    pub totals: AuditTotals,
    /// Worst severity found.
    pub verdict: Verdict,
    /// Every finding, in file order (header, events, audit).
    pub diagnostics: Vec<Diagnostic>,
    /// Indexes of call events rejected with severe errors.
    pub rejected: BTreeSet<u32>,
    /// Indexes of valid call events that cannot become settlement records (see
    /// [`Diagnostic::unmapped`]).
    pub unmapped: BTreeSet<u32>,
    /// Findings not kept once [`DIAGNOSTICS_PER_FILE_MAX`] was reached.
    pub diagnostics_dropped: u64,
}

/// Header facts checked once and used for every event.
struct Lookups {
    fixed_discounts: BTreeMap<i64, i64>,
    exchange_rates: BTreeSet<i64>,
    taxes: BTreeSet<i64>,
    discounts: BTreeSet<i64>,
    rec_entities: BTreeSet<i64>,
    message_descriptions: BTreeSet<i64>,
}

/// Validates a transfer batch as it streams: construct with the header, feed every event,
/// finish with the trailer.
pub struct BatchValidator {
    ctx: ValidationContext,
    normalizer: Option<Normalizer>,
    lookups: Lookups,
    sender: Option<String>,
    recipient: Option<String>,
    fsn: Option<String>,
    release: Option<i64>,
    decimal_places: Option<i64>,
    currency: Option<String>,
    sums: EventAmounts,
    by_type: BTreeMap<&'static str, u32>,
    events: u32,
    diagnostics: Vec<Diagnostic>,
    dropped: u64,
    rejected: BTreeSet<u32>,
    unmapped: BTreeSet<u32>,
    seen: BTreeSet<EventIdentity>,
    duplicate_check_stopped: bool,
}

const TB: u32 = group_tag::TRANSFER_BATCH;
const BCI: u32 = group_tag::BATCH_CONTROL_INFO;
const ACC: u32 = group_tag::ACCOUNTING_INFO;
const NET: u32 = group_tag::NETWORK_INFO;
const AUD: u32 = group_tag::AUDIT_CONTROL_INFO;

fn text(o: &Option<Octets>) -> Option<String> {
    o.as_ref().map(Octets::trimmed_text)
}

/// Checks shared by the batch control information and a notification: sender, recipient,
/// sequence number, versions, file type.
#[allow(clippy::too_many_arguments)]
fn check_identity(
    ctx: &ValidationContext,
    group: u32,
    sender: &Option<Octets>,
    recipient: &Option<Octets>,
    fsn: &Option<Octets>,
    spec: Option<i64>,
    release: Option<i64>,
    file_type: &Option<Octets>,
    out: &mut Vec<Diagnostic>,
) -> (Option<Tadig>, Option<Tadig>, Option<FileSequenceNumber>) {
    let gname = if group == BCI {
        "batchControlInfo"
    } else {
        "notification"
    };
    let root: &[u32] = if group == BCI { &[TB, BCI] } else { &[group] };
    let p = |tag: u32| {
        let mut v = root.to_vec();
        v.push(tag);
        v
    };
    let tadig =
        |o: &Option<Octets>, item: &'static str, tag: u32, missing: u16, out: &mut Vec<Diagnostic>| match o {
            None => {
                out.push(Diagnostic::fatal(
                    missing,
                    gname,
                    root,
                    format!("mandatory item {item} is missing in {gname}"),
                ));
                None
            }
            Some(v) => match v.trimmed_text().parse::<Tadig>() {
                Ok(t) => Some(t),
                Err(e) => {
                    out.push(Diagnostic::fatal(
                        10,
                        item,
                        &p(tag),
                        format!("{item} is not a TADIG code: {e}"),
                    ));
                    None
                }
            },
        };
    let s = tadig(sender, "sender", 196, 30, out);
    let r = tadig(recipient, "recipient", 182, 31, out);
    if let (Some(s), Some(exp)) = (s, ctx.sender)
        && s != exp
    {
        out.push(Diagnostic::fatal(
            20,
            "sender",
            &p(196),
            format!("file is from {s} but {exp} was expected"),
        ));
    }
    if let (Some(r), Some(me)) = (r, ctx.recipient)
        && r != me
    {
        out.push(Diagnostic::fatal(
            20,
            "recipient",
            &p(182),
            format!("file is addressed to {r}, not to this network ({me})"),
        ));
    }
    if let (Some(s), Some(r)) = (s, r)
        && s == r
    {
        out.push(Diagnostic::fatal(
            100,
            "recipient",
            &p(182),
            format!("sender and recipient are both {s}"),
        ));
    }
    let n = match fsn {
        None => {
            out.push(Diagnostic::fatal(
                32,
                gname,
                root,
                format!("mandatory item fileSequenceNumber is missing in {gname}"),
            ));
            None
        }
        Some(v) => {
            let t = v.trimmed_text();
            if t.len() != 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
                out.push(Diagnostic::fatal(
                    10,
                    "fileSequenceNumber",
                    &p(109),
                    format!("file sequence number {t:?} is not five digits"),
                ));
                None
            } else {
                match t
                    .parse::<u32>()
                    .ok()
                    .and_then(|n| FileSequenceNumber::new(n).ok())
                {
                    Some(n) => Some(n),
                    None => {
                        out.push(Diagnostic::fatal(
                            20,
                            "fileSequenceNumber",
                            &p(109),
                            format!("file sequence number {t} is outside 00001..99999"),
                        ));
                        None
                    }
                }
            }
        }
    };
    if let (Some(n), Some(last)) = (n, ctx.last_file_sequence_number) {
        if n <= last {
            out.push(Diagnostic::fatal(
                100,
                "fileSequenceNumber",
                &p(109),
                format!("file sequence number {n} was already received (last accepted is {last})"),
            ));
        } else if n.get() > last.get() + 1 {
            out.push(Diagnostic::warning(
                101,
                "fileSequenceNumber",
                format!("file sequence number {n} follows {last}: files in between are missing"),
            ));
        }
    }
    match spec {
        None => out.push(Diagnostic::fatal(
            34,
            gname,
            root,
            format!("mandatory item specificationVersionNumber is missing in {gname}"),
        )),
        Some(3) => {}
        Some(v) => out.push(Diagnostic::fatal(
            20,
            "specificationVersionNumber",
            &p(201),
            format!("specification version {v} is not TAP 3"),
        )),
    }
    match release {
        None => out.push(Diagnostic::fatal(
            35,
            gname,
            root,
            format!("mandatory item releaseVersionNumber is missing in {gname}"),
        )),
        Some(11 | 12) => {}
        Some(v) => out.push(Diagnostic::fatal(
            20,
            "releaseVersionNumber",
            &p(189),
            format!("release version 3.{v} is not supported (3.11 and 3.12 are)"),
        )),
    }
    let is_test = file_type.is_some();
    match ctx.expect_test_data {
        Some(false) if is_test => out.push(Diagnostic::fatal(
            38,
            gname,
            &p(110),
            "file is marked as test data (fileTypeIndicator) but chargeable data was expected",
        )),
        Some(true) if !is_test => out.push(Diagnostic::fatal(
            39,
            gname,
            root,
            "file is chargeable data (no fileTypeIndicator) but test data was expected",
        )),
        _ => {}
    }
    (s, r, n)
}

impl BatchValidator {
    /// Checks the header groups.
    pub fn new(header: &BatchHeader, ctx: &ValidationContext) -> Self {
        let mut d = Vec::new();
        let mut ids = (None, None, None);
        let mut sender = None;
        let mut recipient = None;
        let mut fsn = None;
        let mut release = None;
        match &header.batch_control_info {
            None => d.push(Diagnostic::fatal(
                30,
                "transferBatch",
                &[TB],
                "mandatory group batchControlInfo is missing",
            )),
            Some(b) => {
                ids = check_identity(
                    ctx,
                    BCI,
                    &b.sender,
                    &b.recipient,
                    &b.file_sequence_number,
                    b.specification_version_number,
                    b.release_version_number,
                    &b.file_type_indicator,
                    &mut d,
                );
                sender = text(&b.sender);
                recipient = text(&b.recipient);
                fsn = text(&b.file_sequence_number);
                release = b.release_version_number;
                if b.file_available_time_stamp.is_none() {
                    d.push(Diagnostic::fatal(
                        33,
                        "batchControlInfo",
                        &[TB, BCI],
                        "mandatory item fileAvailableTimeStamp is missing",
                    ));
                }
                if b.transfer_cut_off_time_stamp.is_none() {
                    d.push(Diagnostic::fatal(
                        36,
                        "batchControlInfo",
                        &[TB, BCI],
                        "mandatory item transferCutOffTimeStamp is missing",
                    ));
                }
            }
        }
        let mut scale = None;
        let mut currency = None;
        let mut lookups = Lookups {
            fixed_discounts: fixed_discounts(header.accounting_info.as_ref()),
            exchange_rates: BTreeSet::new(),
            taxes: BTreeSet::new(),
            discounts: BTreeSet::new(),
            rec_entities: BTreeSet::new(),
            message_descriptions: BTreeSet::new(),
        };
        let mut decimal_places = None;
        match &header.accounting_info {
            None => d.push(Diagnostic::fatal(
                31,
                "transferBatch",
                &[TB],
                "mandatory group accountingInfo is missing",
            )),
            Some(a) => {
                decimal_places = a.tap_decimal_places;
                match a.tap_decimal_places {
                    None => d.push(Diagnostic::fatal(
                        34,
                        "accountingInfo",
                        &[TB, ACC],
                        "mandatory item tapDecimalPlaces is missing",
                    )),
                    // TD.57: tapDecimalPlaces 0..6, otherwise fatal 20.
                    Some(p @ 0..=6) => scale = Scale::new(p as u8).ok(),
                    Some(p) => d.push(Diagnostic::fatal(
                        20,
                        "tapDecimalPlaces",
                        &[TB, ACC, 244],
                        format!("tapDecimalPlaces {p} is outside the allowed range 0 to 6"),
                    )),
                }
                if a.local_currency.is_none() {
                    d.push(Diagnostic::fatal(
                        30,
                        "accountingInfo",
                        &[TB, ACC],
                        "mandatory item localCurrency is missing",
                    ));
                }
                currency = Some(match &a.tap_currency {
                    None => Currency::SDR.to_string(),
                    Some(c) => {
                        let t = c.trimmed_text();
                        if t.parse::<Currency>().is_err() {
                            d.push(Diagnostic::fatal(
                                10,
                                "tapCurrency",
                                &[TB, ACC, 210],
                                format!("TAP currency {t:?} is not a three-letter currency code"),
                            ));
                        }
                        t
                    }
                });
                for c in &a.currency_conversion_info {
                    match (c.exchange_rate_code, c.exchange_rate, c.number_of_decimal_places) {
                        (Some(code), Some(rate), Some(_)) if rate > 0 => {
                            if !lookups.exchange_rates.insert(code) {
                                d.push(Diagnostic::fatal(
                                    33,
                                    "currencyConversionInfo",
                                    &[TB, ACC, 80],
                                    format!("exchange rate code {code} is defined twice"),
                                ));
                            }
                        }
                        _ => d.push(Diagnostic::fatal(
                            30,
                            "currencyConversionInfo",
                            &[TB, ACC, 80],
                            "an exchange rate lacks its code, rate (> 0) or number of decimal places",
                        )),
                    }
                }
                lookups.taxes = a.taxation.iter().filter_map(|t| t.tax_code).collect();
                lookups.discounts = a.discounting.iter().filter_map(|t| t.discount_code).collect();
            }
        }
        let mut offsets = BTreeMap::new();
        match &header.network_info {
            None => d.push(Diagnostic::fatal(
                32,
                "transferBatch",
                &[TB],
                "mandatory group networkInfo is missing",
            )),
            Some(n) => {
                if n.utc_time_offset_info.is_empty() {
                    d.push(Diagnostic::fatal(
                        30,
                        "networkInfo",
                        &[TB, NET],
                        "mandatory item utcTimeOffsetInfo is missing",
                    ));
                }
                for u in &n.utc_time_offset_info {
                    let parsed = u
                        .utc_time_offset
                        .as_ref()
                        .and_then(|o| parse_utc_offset(o.as_slice()));
                    match (u.utc_time_offset_code, parsed) {
                        (Some(code), Some(minutes)) => {
                            if offsets.insert(code, minutes).is_some() {
                                d.push(Diagnostic::fatal(
                                    33,
                                    "utcTimeOffsetInfo",
                                    &[TB, NET, 234],
                                    format!("UTC time offset code {code} is defined twice"),
                                ));
                            }
                        }
                        (code, _) => d.push(Diagnostic::fatal(
                            31,
                            "utcTimeOffsetInfo",
                            &[TB, NET, 234],
                            format!(
                                "UTC time offset entry {} has no valid offset (expected +hhmm or -hhmm, found {:?})",
                                code.map_or("without a code".to_owned(), |c| format!("code {c}")),
                                u.utc_time_offset.as_ref().map(Octets::to_text)
                            ),
                        )),
                    }
                }
                lookups.rec_entities = n
                    .rec_entity_info
                    .iter()
                    .filter_map(|r| r.rec_entity_code)
                    .collect();
            }
        }
        lookups.message_descriptions = header
            .message_description_info
            .iter()
            .filter_map(|m| m.message_description_code)
            .collect();
        let normalizer = match (ids.0, ids.1, scale) {
            (Some(visited), Some(home), Some(scale)) => Some(Normalizer {
                visited,
                home,
                file_sequence_number: ids.2,
                scale,
                utc_offsets: offsets,
            }),
            _ => None,
        };
        BatchValidator {
            ctx: ctx.clone(),
            normalizer,
            lookups,
            sender,
            recipient,
            fsn,
            release,
            decimal_places,
            currency,
            sums: EventAmounts::default(),
            by_type: BTreeMap::new(),
            events: 0,
            diagnostics: d,
            dropped: 0,
            rejected: BTreeSet::new(),
            unmapped: BTreeSet::new(),
            seen: BTreeSet::new(),
            duplicate_check_stopped: false,
        }
    }

    /// The context validated against.
    pub fn context(&self) -> &ValidationContext {
        &self.ctx
    }

    fn push(&mut self, d: Diagnostic) {
        if let Some(i) = d.record_index
            && d.severity == Severity::Severe
        {
            self.rejected.insert(i);
        }
        if self.diagnostics.len() < DIAGNOSTICS_PER_FILE_MAX {
            self.diagnostics.push(d);
        } else {
            self.dropped += 1;
        }
    }

    /// Checks codes an event refers to against the header tables.
    fn check_references(&mut self, index: u32, event: &CallEvent, offset: u64) {
        let mut errs = Vec::new();
        let name = event.asn_name();
        let tag = event.tag();
        let mut infos: Vec<&ChargeInformation> = Vec::new();
        let mut rec_entities: Vec<i64> = Vec::new();
        let mut extra_rates: Vec<i64> = Vec::new();
        let mut extra_taxes: Vec<&TaxInformation> = Vec::new();
        let mut sessions: Vec<&SessionChargeInformation> = Vec::new();
        let mut negative: Vec<(&'static str, i64)> = Vec::new();
        let loc = |l: &Option<LocationInformation>| {
            l.as_ref()
                .and_then(|l| l.network_location.as_ref())
                .and_then(|n| n.rec_entity_code)
        };
        let mut camel = None;
        let mut msg_desc = None;
        // Mobile originated and terminated calls share their charging structure.
        let circuit = match event {
            CallEvent::MobileOriginatedCall(e) => Some((
                &e.basic_service_used_list,
                &e.location_information,
                &e.camel_service_used,
            )),
            CallEvent::MobileTerminatedCall(e) => Some((
                &e.basic_service_used_list,
                &e.location_information,
                &e.camel_service_used,
            )),
            _ => None,
        };
        if let Some((services, location, c)) = circuit {
            infos.extend(services.iter().flat_map(|b| &b.charge_information_list));
            rec_entities.extend(loc(location));
            camel = c.as_ref();
        }
        match event {
            CallEvent::MobileOriginatedCall(_) | CallEvent::MobileTerminatedCall(_) => {}
            CallEvent::SupplServiceEvent(e) => {
                infos.extend(
                    e.suppl_service_used
                        .as_ref()
                        .and_then(|s| s.charge_information.as_ref()),
                );
                rec_entities.extend(loc(&e.location_information));
            }
            CallEvent::ServiceCentreUsage(e) => {
                infos.extend(e.charge_information.as_ref());
                rec_entities.extend(e.rec_entity_code);
                msg_desc = e
                    .scu_charge_type
                    .as_ref()
                    .and_then(|s| s.message_description_code);
            }
            CallEvent::GprsCall(e) => {
                infos.extend(
                    e.gprs_service_used
                        .iter()
                        .flat_map(|s| &s.charge_information_list),
                );
                rec_entities.extend(
                    e.gprs_location_information
                        .iter()
                        .flat_map(|g| g.gprs_network_location.iter())
                        .flat_map(|n| n.rec_entity.iter().copied()),
                );
                camel = e.camel_service_used.as_ref();
            }
            CallEvent::ContentTransaction(e) => {
                infos.extend(
                    e.content_service_used
                        .iter()
                        .flat_map(|s| &s.charge_information_list),
                );
            }
            CallEvent::LocationService(e) => {
                infos.extend(
                    e.location_service_usage
                        .iter()
                        .flat_map(|u| &u.charge_information_list),
                );
                rec_entities.extend(e.rec_entity_code);
            }
            CallEvent::MessagingEvent(e) => {
                rec_entities.extend(e.rec_entity_code_list.iter().copied());
                extra_rates.extend(e.exchange_rate_code);
                extra_taxes.extend(&e.tax_information_list);
                if let Some(c) = e.charge.filter(|c| *c < 0) {
                    negative.push(("charge", c));
                }
            }
            CallEvent::MobileSession(e) => {
                rec_entities.extend(e.rec_entity_code_list.iter().copied());
                sessions.extend(&e.session_charge_info_list);
            }
            CallEvent::Unknown(_) => {}
        }
        if let Some(c) = camel {
            extra_rates.extend(c.exchange_rate_code);
            extra_taxes.extend(&c.tax_information);
            if let Some(f) = c.camel_invocation_fee.filter(|f| *f < 0) {
                negative.push(("camelInvocationFee", f));
            }
        }
        let mut details: Vec<&ChargeDetail> = Vec::new();
        for ci in &infos {
            extra_rates.extend(ci.exchange_rate_code);
            extra_taxes.extend(&ci.tax_information);
            details.extend(&ci.charge_detail_list);
            if let Some(code) = ci.discount_information.as_ref().and_then(|d| d.discount_code)
                && !self.lookups.discounts.contains(&code)
            {
                errs.push(Diagnostic::severe(
                    index,
                    100,
                    "discountCode",
                    &[tag, 69, 96, 91],
                    format!("{name}: discount code {code} is not defined in accountingInfo.discounting"),
                ));
            }
        }
        for s in &sessions {
            extra_rates.extend(s.exchange_rate_code);
            extra_taxes.extend(&s.tax_information_list);
            details.extend(&s.charge_detail_list);
        }
        for cd in details {
            match cd.charge_type.as_ref().map(Octets::as_slice) {
                None => errs.push(Diagnostic::severe(
                    index,
                    30,
                    "chargeDetail",
                    &[tag, 63],
                    format!("{name}: a charge detail has no chargeType"),
                )),
                Some(t) if !(2..=3).contains(&t.len()) || !t.iter().all(u8::is_ascii_digit) => {
                    errs.push(Diagnostic::severe(
                        index,
                        10,
                        "chargeType",
                        &[tag, 63, 71],
                        format!(
                            "{name}: charge type {:?} is not 2 or 3 digits",
                            String::from_utf8_lossy(t)
                        ),
                    ))
                }
                _ => {}
            }
            if let Some(c) = cd.charge.filter(|c| *c < 0) {
                negative.push(("charge", c));
            }
        }
        for t in &extra_taxes {
            if let Some(code) = t.tax_code
                && !self.lookups.taxes.contains(&code)
            {
                errs.push(Diagnostic::severe(
                    index,
                    100,
                    "taxCode",
                    &[tag, 213, 212],
                    format!("{name}: tax code {code} is not defined in accountingInfo.taxation"),
                ));
            }
            if let Some(v) = t.tax_value.filter(|v| *v < 0) {
                negative.push(("taxValue", v));
            }
        }
        for code in extra_rates {
            if !self.lookups.exchange_rates.contains(&code) {
                errs.push(Diagnostic::severe(
                    index,
                    100,
                    "exchangeRateCode",
                    &[tag, 105],
                    format!("{name}: exchange rate code {code} is not defined in accountingInfo.currencyConversionInfo"),
                ));
            }
        }
        for code in rec_entities {
            if !self.lookups.rec_entities.contains(&code) {
                errs.push(Diagnostic::severe(
                    index,
                    100,
                    "recEntityCode",
                    &[tag, 184],
                    format!(
                        "{name}: recording entity code {code} is not defined in networkInfo.recEntityInfo"
                    ),
                ));
            }
        }
        if let Some(code) = msg_desc
            && !self.lookups.message_descriptions.contains(&code)
        {
            errs.push(Diagnostic::severe(
                index,
                100,
                "messageDescriptionCode",
                &[tag, 192, 141],
                format!("{name}: message description code {code} is not defined in messageDescriptionInfo"),
            ));
        }
        for (item, v) in negative {
            errs.push(Diagnostic::severe(
                index,
                20,
                item,
                &[tag],
                format!("{name}: {item} {v} is negative; TAP amounts are absolute values"),
            ));
        }
        for e in errs {
            self.push(e.at(offset));
        }
    }

    /// Checks one call event and returns its usage record when it is acceptable.
    pub fn event(&mut self, item: &EventItem) -> Option<UsageRecord> {
        let index = item.index;
        self.events = self.events.max(index + 1);
        *self.by_type.entry(item.event.asn_name()).or_insert(0) += 1;
        let amounts = EventAmounts::of(&item.event, &self.lookups.fixed_discounts);
        self.sums.add(&amounts);
        let before = self.rejected.contains(&index);
        self.check_references(index, &item.event, item.offset);
        let record = match &self.normalizer {
            Some(n) => match n.record(index, &item.event, &amounts) {
                Ok(r) => Some(r),
                Err(ds) => {
                    for d in ds {
                        if d.code == crate::diagnostic::UNMAPPED && d.severity == Severity::Warning {
                            self.unmapped.insert(index);
                        }
                        self.push(d.at(item.offset));
                    }
                    None
                }
            },
            None => None,
        };
        let record = record.filter(|_| !self.rejected.contains(&index) || before);
        if let Some(r) = &record {
            // Duplicate call events within the file (same subscriber, start, service,
            // duration, volumes and other party): the second is returned. Bounded: see
            // DUPLICATE_CHECK_EVENTS_MAX.
            let max = self
                .ctx
                .duplicate_check_events_max
                .min(DUPLICATE_CHECK_EVENTS_MAX);
            if self.seen.len() >= max {
                if !self.duplicate_check_stopped {
                    self.duplicate_check_stopped = true;
                    self.push(Diagnostic::warning(
                        208,
                        "callEventDetails",
                        format!(
                            "duplicate call events are checked within the first {max} records of a file only; later ones are left to settlement's duplicate detection"
                        ),
                    ));
                }
            } else if !self.seen.insert(r.identity()) {
                self.push(
                    Diagnostic::severe(
                        index,
                        207,
                        "callEventDetails",
                        &[item.event.tag()],
                        format!(
                            "{}: duplicate of an earlier call event in this file (same subscriber, start time, service, duration and other party)",
                            item.event.asn_name()
                        ),
                    )
                    .at(item.offset),
                );
                return None;
            }
        }
        record
    }

    /// Records a call event that could not be decoded (TD.57 syntax error, severe).
    pub fn undecodable(&mut self, err: &Error) {
        if let Error::Record {
            record_index,
            offset,
            source,
        } = err
        {
            self.events = self.events.max(record_index + 1);
            *self.by_type.entry("undecodable").or_insert(0) += 1;
            self.push(
                Diagnostic::severe(
                    *record_index,
                    10,
                    "callEventDetails",
                    &[],
                    format!("call event cannot be decoded: {source}"),
                )
                .at(*offset),
            );
        }
    }

    /// Checks the audit totals and returns the report.
    pub fn finish(mut self, trailer: &BatchTrailer) -> TapReport {
        self.events = self.events.max(trailer.event_count);
        let s = self.sums;
        let mut totals = AuditTotals {
            total_charge_computed: s.total_charge(),
            total_tax_computed: s.tax,
            total_discount_computed: s.discount,
            computed: s,
            ..AuditTotals::default()
        };
        let audit_at = trailer.audit_offset;
        let fatal = |d: Diagnostic| match audit_at {
            Some(o) => d.at(o),
            None => d,
        };
        match &trailer.audit_control_info {
            None => {
                let d = fatal(Diagnostic::fatal(
                    33,
                    "transferBatch",
                    &[TB],
                    "mandatory group auditControlInfo is missing",
                ));
                self.push(d);
            }
            Some(a) => {
                totals.total_charge_declared = a.total_charge;
                totals.total_tax_declared = a.total_tax_value;
                totals.total_discount_declared = a.total_discount_value;
                totals.events_declared = a.call_event_details_count;
                // (item, tag, declared, computed, code when missing, mandatory)
                type Check = (&'static str, u32, Option<i64>, i128, u16, bool);
                let checks: [Check; 7] = [
                    ("totalCharge", 415, a.total_charge, s.total_charge(), 30, true),
                    ("totalTaxValue", 226, a.total_tax_value, s.tax, 31, true),
                    (
                        "totalDiscountValue",
                        225,
                        a.total_discount_value,
                        s.discount,
                        32,
                        true,
                    ),
                    (
                        "callEventDetailsCount",
                        43,
                        a.call_event_details_count,
                        i128::from(self.events),
                        33,
                        true,
                    ),
                    (
                        "totalChargeRefund",
                        355,
                        a.total_charge_refund,
                        s.charge_refund,
                        34,
                        false,
                    ),
                    ("totalTaxRefund", 353, a.total_tax_refund, s.tax_refund, 35, false),
                    (
                        "totalDiscountRefund",
                        354,
                        a.total_discount_refund,
                        s.discount_refund,
                        36,
                        false,
                    ),
                ];
                let places = self
                    .decimal_places
                    .and_then(|p| u8::try_from(p).ok())
                    .filter(|p| *p <= 6);
                for (item, tag, declared, computed, missing, mandatory) in checks {
                    let money = item != "callEventDetailsCount";
                    let show = |v: i128| match (money, places) {
                        (true, Some(p)) if p > 0 => {
                            let f = 10i128.pow(u32::from(p));
                            let sign = if v < 0 { "-" } else { "" };
                            format!(
                                "{v} ({sign}{}.{:0w$})",
                                v.abs() / f,
                                v.abs() % f,
                                w = usize::from(p)
                            )
                        }
                        _ => v.to_string(),
                    };
                    match declared {
                        None if mandatory => {
                            let d = fatal(Diagnostic::fatal(
                                missing,
                                "auditControlInfo",
                                &[TB, AUD],
                                format!("mandatory item {item} is missing"),
                            ));
                            self.push(d);
                        }
                        None if computed != 0 => {
                            let d = fatal(Diagnostic::fatal(
                                missing,
                                "auditControlInfo",
                                &[TB, AUD],
                                format!(
                                    "{item} is missing but the call events add up to {}",
                                    show(computed)
                                ),
                            ));
                            self.push(d);
                        }
                        None => {}
                        Some(v) if i128::from(v) != computed => {
                            let what = if money {
                                "the call events add up to"
                            } else {
                                "the file holds"
                            };
                            let d = fatal(Diagnostic::fatal(
                                100,
                                item,
                                &[TB, AUD, tag],
                                format!(
                                    "{item} declares {} but {what} {}",
                                    show(i128::from(v)),
                                    show(computed)
                                ),
                            ));
                            self.push(d);
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        let verdict = verdict(&self.diagnostics);
        TapReport {
            kind: FileKind::TransferBatch,
            sender: self.sender,
            recipient: self.recipient,
            file_sequence_number: self.fsn,
            release_version: self.release,
            tap_decimal_places: self.decimal_places,
            currency: self.currency,
            events: self.events,
            events_by_type: self.by_type.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            totals,
            verdict,
            diagnostics: self.diagnostics,
            unmapped: self.unmapped.difference(&self.rejected).copied().collect(),
            rejected: self.rejected,
            diagnostics_dropped: self.dropped,
        }
    }

    /// The mapping context, when the header allows records to be built.
    pub fn normalizer(&self) -> Option<&Normalizer> {
        self.normalizer.as_ref()
    }
}

/// Validates a notification.
pub fn validate_notification(n: &Notification, ctx: &ValidationContext) -> TapReport {
    let mut d = Vec::new();
    check_identity(
        ctx,
        group_tag::NOTIFICATION,
        &n.sender,
        &n.recipient,
        &n.file_sequence_number,
        n.specification_version_number,
        n.release_version_number,
        &n.file_type_indicator,
        &mut d,
    );
    if n.file_available_time_stamp.is_none() {
        d.push(Diagnostic::fatal(
            33,
            "notification",
            &[group_tag::NOTIFICATION],
            "mandatory item fileAvailableTimeStamp is missing",
        ));
    }
    if n.transfer_cut_off_time_stamp.is_none() {
        d.push(Diagnostic::fatal(
            36,
            "notification",
            &[group_tag::NOTIFICATION],
            "mandatory item transferCutOffTimeStamp is missing",
        ));
    }
    TapReport {
        kind: FileKind::Notification,
        sender: text(&n.sender),
        recipient: text(&n.recipient),
        file_sequence_number: text(&n.file_sequence_number),
        release_version: n.release_version_number,
        tap_decimal_places: None,
        currency: None,
        events: 0,
        events_by_type: BTreeMap::new(),
        totals: AuditTotals::default(),
        verdict: verdict(&d),
        diagnostics: d,
        rejected: BTreeSet::new(),
        unmapped: BTreeSet::new(),
        diagnostics_dropped: 0,
    }
}

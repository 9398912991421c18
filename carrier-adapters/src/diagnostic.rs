//! Validation findings modelled on GSMA TD.57 (TAP) and TD.32 (RAP).
//!
//! A TD.57 error is identified by a *context item* (the ASN.1 name of the group or item it
//! concerns) and a number within that context: 10 syntax error, 20 value out of range, 30-39 a
//! mandatory item missing, 100 and up a logical check. Fatal errors reject the whole file;
//! severe errors return one call event in RAP; warnings are reported and change nothing.
//!
//! What the TAP validator reports (context item, number, severity):
//!
//! | context | number | severity | meaning |
//! |---|---|---|---|
//! | `transferBatch` | 30 / 31 / 32 / 33 | fatal | batchControlInfo / accountingInfo / networkInfo / auditControlInfo missing |
//! | `batchControlInfo`, `notification` | 30-36 | fatal | a mandatory item missing (sender, recipient, sequence number, available time, versions, cut-off) |
//! | `batchControlInfo`, `notification` | 38 / 39 | fatal | test data where live data was expected, or the reverse |
//! | `sender`, `recipient` | 10 / 20 | fatal | not a TADIG code / not the expected party |
//! | `recipient` | 100 | fatal | sender and recipient are the same |
//! | `fileSequenceNumber` | 10 / 20 / 100 | fatal | not five digits / outside 00001..99999 / already received |
//! | `fileSequenceNumber` | 101 | warning | a gap: files in between are missing |
//! | `specificationVersionNumber`, `releaseVersionNumber` | 20 | fatal | not TAP 3.11 or 3.12 |
//! | `tapDecimalPlaces` | 20 | fatal | outside 0..6 |
//! | `accountingInfo` | 30 / 34 | fatal | localCurrency / tapDecimalPlaces missing |
//! | `tapCurrency` | 10 | fatal | not a currency code |
//! | `currencyConversionInfo`, `utcTimeOffsetInfo` | 30 / 31 / 33 | fatal | incomplete entry / bad offset / code defined twice |
//! | `auditControlInfo` | 30-36 | fatal | a total missing (refund totals only when refunds exist) |
//! | `totalCharge`, `totalTaxValue`, `totalDiscountValue`, `callEventDetailsCount`, refund totals | 100 | fatal | does not match the call events |
//! | `callEventDetails` | 10 | severe | the call event cannot be decoded, or its type is unknown |
//! | `callEventDetails` | 207 | severe | duplicate of an earlier event in the file |
//! | `callEventDetails` | 208 | warning | the in-file duplicate check stopped at its memory bound |
//! | subscriber items | 30 | severe | no chargeable subscriber / IMSI |
//! | `imsi` | 10 / 20 | severe | not BCD digits / not 5-15 digits |
//! | start time items, `localTimeStamp` | 30 / 10 / 20 | severe | missing / not 14 digits / not a real date |
//! | `utcTimeOffsetCode` | 31 / 100 | severe | missing / not defined in networkInfo |
//! | `exchangeRateCode`, `taxCode`, `discountCode`, `recEntityCode`, `messageDescriptionCode` | 100 | severe | not defined in the header tables |
//! | `chargeDetail`, `chargeType` | 30 / 10 | severe | charge type missing / not 2-3 digits |
//! | `charge`, `taxValue`, `camelInvocationFee`, `totalCallEventDuration` | 20 | severe | negative |
//! | subscriber items | 200 | warning | valid TAP that cannot be settled (CDMA MIN, IMSI of MCC+MNC only): reported, not lost |

use serde::Serialize;

/// Code of the warning for a valid call event roamledger cannot settle (outside TD.57's
/// numbering, which stops below 200).
pub const UNMAPPED: u16 = 200;

/// How bad a finding is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported; nothing is rejected.
    Warning,
    /// TD.57 severe: the call event is rejected and returned in RAP.
    Severe,
    /// TD.57 fatal: the whole file is rejected.
    Fatal,
}

/// The overall outcome of validating a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No fatal or severe error.
    Ok,
    /// Some call events are rejected; the rest is accepted.
    Severe,
    /// The whole file is rejected.
    Fatal,
}

/// One finding.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Diagnostic {
    /// Fatal, severe or warning.
    pub severity: Severity,
    /// The TD.57 error number within the context item.
    pub code: u16,
    /// The TD.57 context item (ASN.1 name), e.g. `totalCharge`.
    pub item: &'static str,
    /// Zero-based call event index, for errors in one event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_index: Option<u32>,
    /// Absolute byte offset of the event or group concerned, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// What is wrong, for a billing engineer.
    pub message: String,
    /// `[APPLICATION n]` tags from the returned structure (call event or group) down to the
    /// item: the RAP `ErrorContext` path.
    #[serde(skip)]
    pub path: Vec<u32>,
}

impl Diagnostic {
    /// A fatal finding on a group of the file.
    pub fn fatal(code: u16, item: &'static str, path: &[u32], message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Fatal,
            code,
            item,
            record_index: None,
            offset: None,
            message: message.into(),
            path: path.to_vec(),
        }
    }

    /// A severe finding on one call event.
    pub fn severe(
        record_index: u32,
        code: u16,
        item: &'static str,
        path: &[u32],
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Severe,
            code,
            item,
            record_index: Some(record_index),
            offset: None,
            message: message.into(),
            path: path.to_vec(),
        }
    }

    /// A warning.
    pub fn warning(code: u16, item: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            code,
            item,
            record_index: None,
            offset: None,
            message: message.into(),
            path: Vec::new(),
        }
    }

    /// A call event that is valid TAP but cannot become a settlement record (for example a
    /// CDMA subscriber without IMSI): reported as a warning with code 200, never dropped
    /// silently.
    pub fn unmapped(record_index: u32, item: &'static str, path: &[u32], message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            code: UNMAPPED,
            item,
            record_index: Some(record_index),
            offset: None,
            message: message.into(),
            path: path.to_vec(),
        }
    }

    /// The same finding with a byte offset.
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

/// The verdict of a set of findings.
pub fn verdict(diagnostics: &[Diagnostic]) -> Verdict {
    match diagnostics.iter().map(|d| d.severity).max() {
        Some(Severity::Fatal) => Verdict::Fatal,
        Some(Severity::Severe) => Verdict::Severe,
        _ => Verdict::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_is_the_worst_severity() {
        assert_eq!(verdict(&[]), Verdict::Ok);
        let w = Diagnostic::warning(1, "x", "w");
        let s = Diagnostic::severe(3, 100, "utcTimeOffsetCode", &[9, 44, 232], "s");
        let f = Diagnostic::fatal(100, "totalCharge", &[15, 415], "f").at(7);
        assert_eq!(verdict(std::slice::from_ref(&w)), Verdict::Ok);
        assert_eq!(verdict(&[w.clone(), s.clone()]), Verdict::Severe);
        assert_eq!(verdict(&[s, f.clone(), w]), Verdict::Fatal);
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["severity"], "fatal");
        assert_eq!(j["offset"], 7);
        assert!(j.get("record_index").is_none());
        assert!(j.get("path").is_none());
    }
}

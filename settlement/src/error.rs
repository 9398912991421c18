//! Errors of the settlement core.
//!
//! Two kinds, kept apart on purpose:
//! - **Rejections** ([`Rejection`], [`RecordRejection`]) are domain outcomes: a forged batch,
//!   a duplicate record, an unknown agreement. They are results of `apply`, replicated and
//!   stored like any other outcome, and every one has a stable [`ErrorCode`].
//! - **Failures** ([`ApplyError`]) mean the node cannot go on applying: the store failed or
//!   holds bytes it cannot decode. The driver must stop, never skip a command.
//!
//! The codes follow GSMA TD.57's scheme: a number within the context of a named item, where
//! 10 is a syntax error, 20 a value out of range, 30-39 a mandatory item missing and 100+ a
//! logical check of that item. Checks TD.57 does not have (signatures, agreements, the
//! consortium registry) use numbers from 200 up. The table is [`ErrorCode::ALL`]; the
//! standard's copy is `standards-draft` §7.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::types::{Tadig, UtcTime};

/// A domain type failed validation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TypeError {
    /// Not a TADIG code.
    #[error("invalid TADIG code {value:?}: {reason}")]
    Tadig {
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a valid digit string of its kind.
    #[error("invalid {kind} {value:?}: {reason}")]
    Digits {
        /// IMSI, MSISDN or party number.
        kind: &'static str,
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a valid time.
    #[error("invalid time {value:?}: {reason}")]
    Time {
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Unknown service wire code.
    #[error("unknown service code {code}")]
    ServiceCode {
        /// The code.
        code: u8,
    },
    /// Unknown service name.
    #[error("unknown service {name:?}")]
    ServiceName {
        /// The name.
        name: String,
    },
    /// File sequence number outside 1..=99999.
    #[error("file sequence number {value} is outside 1..=99999")]
    FileSequenceNumber {
        /// The number given.
        value: u32,
    },
    /// A file part outside its file.
    #[error("file part {part} of {parts} is invalid (parts >= 2, part < parts)")]
    FilePart {
        /// Part index.
        part: u32,
        /// Number of parts.
        parts: u32,
    },
    /// Text too long for its field.
    #[error("{field} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Money arithmetic or parsing failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// A result does not fit in 64 bits.
    #[error("amount overflow in {op}")]
    Overflow {
        /// The operation.
        op: &'static str,
    },
    /// Amounts of different scales combined.
    #[error("cannot combine amounts with {left} and {right} decimal places")]
    ScaleMismatch {
        /// Scale of the left operand.
        left: u8,
        /// Scale of the right operand.
        right: u8,
    },
    /// A scale above the maximum.
    #[error("{places} decimal places is more than the maximum of {max}", max = crate::types::SCALE_MAX)]
    ScaleOutOfRange {
        /// The scale given.
        places: u8,
    },
    /// A rescale that would have to round.
    #[error("rescaling from {from} to {to} decimal places would round")]
    InexactRescale {
        /// Source scale.
        from: u8,
        /// Target scale.
        to: u8,
    },
    /// Division by zero or a negative number.
    #[error("invalid divisor {divisor}")]
    InvalidDivisor {
        /// The divisor.
        divisor: i64,
    },
    /// Not a decimal amount.
    #[error("invalid amount {value:?}: {reason}")]
    Parse {
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a currency code.
    #[error("invalid currency code {value:?}: three upper-case letters expected")]
    Currency {
        /// The text given.
        value: String,
    },
}

/// Binary decoding failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// Input ended inside a field.
    #[error("truncated input: {field} at byte {offset} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Byte offset where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes remaining.
        available: usize,
    },
    /// A length or count above its limit or beyond the input.
    #[error("{field} at byte {offset} claims {len} elements/bytes; at most {max} possible")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Byte offset of the length.
        offset: usize,
        /// The length claimed.
        len: usize,
        /// The most allowed there.
        max: usize,
    },
    /// A field with an invalid value.
    #[error("invalid {field} at byte {offset}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Byte offset.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// Bytes left over after a complete value.
    #[error("{extra} trailing bytes after {what} at byte {offset}")]
    TrailingBytes {
        /// What was decoded.
        what: &'static str,
        /// Where it ended.
        offset: usize,
        /// How many bytes were left.
        extra: usize,
    },
    /// An encoding version this implementation does not know.
    #[error("unsupported {what} format version {version}")]
    Version {
        /// What was decoded.
        what: &'static str,
        /// The version found.
        version: u8,
    },
}

/// A storage backend failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("storage error: {message}")]
pub struct StoreError {
    /// What the backend reported.
    pub message: String,
}

/// A certificate or signature problem.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The certificate bytes are not a DER X.509 certificate.
    #[error("certificate is not valid DER X.509: {reason}")]
    CertificateParse {
        /// Parser message.
        reason: String,
    },
    /// The certificate's key algorithm is not one we verify with.
    #[error("unsupported public key algorithm {oid} (Ed25519 and ECDSA P-256 are supported)")]
    UnsupportedKey {
        /// The algorithm OID.
        oid: String,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The certificate is not valid at the time given.
    #[error("certificate is not valid at {at} (valid {not_before} to {not_after})")]
    Expired {
        /// Time checked.
        at: UtcTime,
        /// Start of validity.
        not_before: UtcTime,
        /// End of validity.
        not_after: UtcTime,
    },
    /// The certificate is not signed by the consortium root.
    #[error("certificate is not issued by the consortium root: {reason}")]
    NotIssuedByRoot {
        /// Why.
        reason: String,
    },
    /// The certificate does not name the carrier it is registered for.
    #[error("certificate does not carry TADIG {expected} (found {found:?})")]
    WrongCarrier {
        /// Expected TADIG.
        expected: Tadig,
        /// TADIG codes found in the certificate.
        found: Vec<String>,
    },
    /// A private key could not be loaded.
    #[error("signing key is not a valid PKCS#8 Ed25519 key: {reason}")]
    SigningKey {
        /// Why.
        reason: String,
    },
}

/// The node cannot continue applying commands.
#[derive(Debug, Error)]
pub enum ApplyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored state did not decode: corruption or a version this build does not read.
    #[error("stored state is corrupt at key {key}: {source}")]
    Corrupt {
        /// The key, printable.
        key: String,
        /// The decoding error.
        source: CodecError,
    },
    /// The log handed us an index out of order.
    #[error("command at log index {index} applied after index {applied}")]
    OutOfOrder {
        /// Index offered.
        index: u64,
        /// Index already applied.
        applied: u64,
    },
    /// A snapshot stream is malformed.
    #[error("snapshot is malformed: {reason}")]
    Snapshot {
        /// Why.
        reason: String,
    },
}

/// Whether a rejection costs the whole batch, one record, or a non-batch command.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// TD.57 fatal: the whole batch is rejected, nothing in it is applied.
    Fatal,
    /// TD.57 severe: the record is rejected (and returned in RAP); the rest is applied.
    Severe,
    /// A non-batch command (registry, agreement, dispute, close, signature) is refused.
    Command,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $sev:ident, $item:literal, $num:literal; )*) => {
        /// Stable rejection codes. The wire number never changes meaning; new codes get new
        /// numbers. `td57()` gives the TD.57-style (item, number) pair.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
        #[repr(u16)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant = $wire, )*
        }

        impl ErrorCode {
            /// Every code, in wire order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The stable wire number.
            pub fn wire(self) -> u16 {
                self as u16
            }

            /// The code for a wire number.
            pub fn from_wire(n: u16) -> Option<ErrorCode> {
                match n {
                    $( $wire => Some(ErrorCode::$variant), )*
                    _ => None,
                }
            }

            /// Fatal, severe or command-level.
            pub fn severity(self) -> Severity {
                match self {
                    $( ErrorCode::$variant => Severity::$sev, )*
                }
            }

            /// The TD.57-style context item and error number.
            pub fn td57(self) -> (&'static str, u16) {
                match self {
                    $( ErrorCode::$variant => ($item, $num), )*
                }
            }

            /// The stable symbolic name, e.g. `DuplicateRecord`.
            pub fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => stringify!($variant), )*
                }
            }
        }
    };
}

error_codes! {
    // ---- Fatal: the whole batch is rejected. ----
    /// The batch signature does not verify against the sender's registered certificate.
    BatchSignatureInvalid = 1001, Fatal, "batchSignature", 200;
    /// The sender is not an active member of the consortium.
    SenderUnknown = 1002, Fatal, "sender", 20;
    /// The recipient is not an active member of the consortium.
    RecipientUnknown = 1003, Fatal, "recipient", 20;
    /// Sender and recipient are the same carrier.
    RecipientIsSender = 1004, Fatal, "recipient", 100;
    /// The same idempotency key was used earlier for different content.
    ConflictingDuplicateBatch = 1005, Fatal, "fileSequenceNumber", 100;
    /// The declared digest is not the digest of the records.
    BatchDigestMismatch = 1006, Fatal, "auditControlInfo", 100;
    /// The batch currency is not the consortium's settlement currency.
    CurrencyNotSettlementCurrency = 1007, Fatal, "tapCurrency", 20;
    /// Record amounts carry a scale other than the batch's, or the batch scale is above the
    /// settlement scale.
    DecimalPlacesOutOfRange = 1008, Fatal, "tapDecimalPlaces", 20;
    /// No accepted agreement exists for the (home, visited) pair.
    NoAgreement = 1009, Fatal, "recipient", 201;
    /// A record names a visited/home pair other than the batch's sender/recipient.
    RecordNotForBatchPair = 1010, Fatal, "callEventDetails", 202;
    /// The batch has no records.
    EmptyBatch = 1011, Fatal, "callEventDetails", 30;
    /// The batch has more records than the limit.
    BatchTooLarge = 1012, Fatal, "callEventDetails", 203;
    /// Adding the batch would overflow an aggregate.
    AggregateOverflow = 1013, Fatal, "auditControlInfo", 204;
    /// The sender's signing certificate is not valid at ledger time.
    SenderCertificateExpired = 1014, Fatal, "batchSignature", 205;
    /// The batch's ledger time falls in a period already closed.
    PeriodClosed = 1015, Fatal, "transferCutOffTimeStamp", 206;
    /// A record in the batch does not decode (TD.57 syntax error).
    RecordEncodingInvalid = 1016, Fatal, "callEventDetails", 10;

    // ---- Severe: one record is rejected. ----
    /// The same call event was already accepted (in this or an earlier batch).
    DuplicateRecord = 2001, Severe, "callEventDetails", 207;
    /// The event starts after the batch's ledger time.
    EventInFuture = 2002, Severe, "callEventStartTimeStamp", 100;
    /// The event is older than the consortium's submission window.
    EventTooOld = 2003, Severe, "callEventStartTimeStamp", 101;
    /// Charge and tax of opposite signs (a credit has both at or below zero).
    NegativeAmount = 2004, Severe, "charge", 20;
    /// The agreement in force has no tariff for the service.
    ServiceNotInAgreement = 2005, Severe, "basicServiceUsed", 208;
    /// No accepted agreement covers the event's start time.
    NoAgreementAtEventTime = 2006, Severe, "callEventStartTimeStamp", 209;

    // ---- Command: a non-batch command is refused. ----
    /// Genesis after the ledger already started, or a command before genesis.
    GenesisState = 3001, Command, "consortium", 210;
    /// A signature on a command does not verify.
    CommandSignatureInvalid = 3002, Command, "signature", 200;
    /// The carrier is not registered or is retired.
    CarrierUnknown = 3003, Command, "carrier", 20;
    /// The carrier is already registered.
    CarrierExists = 3004, Command, "carrier", 100;
    /// A certificate is malformed, expired, not issued by the root, or names another carrier.
    CertificateInvalid = 3005, Command, "certificate", 211;
    /// The signer is not allowed to issue this command.
    NotAuthorized = 3006, Command, "signature", 212;
    /// The agreement is malformed (dates, tariffs, tolerance).
    AgreementInvalid = 3007, Command, "agreement", 20;
    /// No agreement with that id.
    AgreementUnknown = 3008, Command, "agreement", 213;
    /// The agreement overlaps an accepted one for the same pair.
    AgreementOverlap = 3009, Command, "agreement", 214;
    /// The agreement was already accepted.
    AgreementAlreadyAccepted = 3010, Command, "agreement", 215;
    /// No accepted record with that id.
    RecordUnknown = 3011, Command, "record", 216;
    /// The record is already disputed.
    RecordAlreadyDisputed = 3012, Command, "record", 217;
    /// The period has not ended at ledger time.
    PeriodNotEnded = 3013, Command, "period", 218;
    /// The period is already closed.
    PeriodAlreadyClosed = 3014, Command, "period", 219;
    /// No such period or statement.
    StatementUnknown = 3015, Command, "statement", 220;
    /// The party already signed the statement.
    StatementAlreadySigned = 3016, Command, "statement", 221;
    /// Configuration is invalid or cannot change now.
    ConfigInvalid = 3017, Command, "consortium", 222;
    /// The command exceeds a limit.
    LimitExceeded = 3018, Command, "command", 223;
    /// No period with that start exists.
    PeriodUnknown = 3019, Command, "period", 224;
    /// The command bytes do not decode.
    CommandMalformed = 3020, Command, "command", 10;
    /// The same agreement was already proposed and awaits acceptance.
    AgreementAlreadyProposed = 3021, Command, "agreement", 225;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (item, n) = self.td57();
        write!(f, "{} ({}, {item} {n})", self.name(), self.wire())
    }
}

/// A domain rejection of a whole command (or a whole batch): replicated, stored, answered.
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[error("{code}: {message}")]
pub struct Rejection {
    /// The stable code.
    pub code: ErrorCode,
    /// A message a billing engineer understands, naming the batch, record or field.
    pub message: String,
}

impl Rejection {
    /// A rejection with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// One record of a batch rejected with a severe error; the rest of the batch was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRejection {
    /// Zero-based index of the record in the batch.
    pub index: u32,
    /// The stable code.
    pub code: ErrorCode,
    /// What is wrong, naming the field.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.wire()), "duplicate wire code {}", c.wire());
            assert_eq!(ErrorCode::from_wire(c.wire()), Some(*c));
        }
        assert_eq!(ErrorCode::from_wire(0), None);
    }

    #[test]
    fn severities_follow_the_number_ranges() {
        for c in ErrorCode::ALL {
            let expected = match c.wire() / 1000 {
                1 => Severity::Fatal,
                2 => Severity::Severe,
                3 => Severity::Command,
                _ => panic!("code {c} outside the ranges"),
            };
            assert_eq!(c.severity(), expected, "{c}");
        }
    }

    #[test]
    fn display_names_the_td57_context() {
        assert_eq!(
            ErrorCode::DuplicateRecord.to_string(),
            "DuplicateRecord (2001, callEventDetails 207)"
        );
    }
}

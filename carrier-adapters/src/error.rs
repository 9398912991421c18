//! The one error type of the adapters. Every variant names where the input went wrong: a byte
//! offset for binary formats, a line and column for CSV, a record index and JSON path for JSON.
//!
//! Errors are for input that cannot be *read*. Input that reads but breaks a TD.57 rule (wrong
//! totals, unknown UTC offset code, missing IMSI) is not an error: it is a
//! [`crate::diagnostic::Diagnostic`] in the validation report.

use thiserror::Error;

/// Why input could not be decoded (or an encoder was given something it cannot write).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input ended inside an element.
    #[error(
        "truncated input: {context} starting at byte {offset} needs {needed} bytes but only {available} remain"
    )]
    Truncated {
        /// Absolute byte offset of the element (or field) that was cut.
        offset: u64,
        /// What was being read.
        context: &'static str,
        /// Bytes the element declares or needs.
        needed: u64,
        /// Bytes that were left.
        available: u64,
    },
    /// A tag or length octet sequence that is not valid BER.
    #[error("malformed BER at byte {offset} in {context}: {reason}")]
    Malformed {
        /// Absolute byte offset.
        offset: u64,
        /// What was being read.
        context: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Constructed elements nested deeper than [`crate::limits::BER_DEPTH_MAX`].
    #[error("BER elements nested deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// Absolute byte offset of the element that went too deep.
        offset: u64,
        /// The limit.
        max: usize,
    },
    /// An element larger than its limit.
    #[error("{context} at byte {offset} is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Absolute byte offset.
        offset: u64,
        /// What was being read.
        context: &'static str,
        /// Its size (declared or found so far).
        size: u64,
        /// The limit from [`crate::limits`].
        max: u64,
    },
    /// Bytes after the end of the top-level element.
    #[error("{count} trailing bytes after the end of the {context}, starting at byte {offset}")]
    TrailingBytes {
        /// Absolute byte offset of the first extra byte.
        offset: u64,
        /// What ended there.
        context: &'static str,
        /// How many extra bytes (at least; a reader input is not read to its end).
        count: u64,
    },
    /// An element that is not allowed where it was found.
    #[error("unexpected {found} at byte {offset}: expected {expected}")]
    UnexpectedElement {
        /// Absolute byte offset.
        offset: u64,
        /// What the structure allows there.
        expected: &'static str,
        /// The tag found, e.g. `[APPLICATION 9] constructed`.
        found: String,
    },
    /// A field whose content does not decode as its ASN.1 type (TD.57 "syntax error").
    #[error("invalid {field} at byte {offset}: {reason}")]
    Field {
        /// Absolute byte offset of the field's tag.
        offset: u64,
        /// The ASN.1 item name, e.g. `callEventDetailsCount`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An error inside one call event (or one returned event of a RAP file).
    #[error("call event {record_index} (starting at byte {offset}): {source}")]
    Record {
        /// Zero-based index of the event in its list.
        record_index: u32,
        /// Absolute byte offset of the event.
        offset: u64,
        /// The error inside it.
        source: Box<Error>,
    },
    /// The underlying reader failed.
    #[error("reading the input failed after byte {offset}: {message}")]
    Io {
        /// Bytes successfully read before the failure.
        offset: u64,
        /// The I/O error.
        message: String,
    },
    /// A CSV usage line that cannot be read.
    #[error("CSV line {line}, column {column} ({field}): {reason}")]
    Csv {
        /// One-based line number.
        line: u64,
        /// One-based column number.
        column: usize,
        /// The column's header name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A TMF635 JSON usage that cannot be read.
    #[error("JSON usage {}at {path}: {reason}", record_index.map(|i| format!("{i} ")).unwrap_or_default())]
    Json {
        /// Zero-based index of the usage in the input array, when inside one.
        record_index: Option<u32>,
        /// JSON path of the bad value, e.g. `$[3].usageDate`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file name that does not follow the convention.
    #[error("file name {name:?}: {reason}")]
    FileName {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An encoder or generator was given a value it cannot write.
    #[error("cannot encode {field}: {reason}")]
    Encode {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The absolute byte offset where the problem is, for binary inputs.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Truncated { offset, .. }
            | Error::Malformed { offset, .. }
            | Error::TooDeep { offset, .. }
            | Error::TooLarge { offset, .. }
            | Error::TrailingBytes { offset, .. }
            | Error::UnexpectedElement { offset, .. }
            | Error::Field { offset, .. }
            | Error::Io { offset, .. } => Some(*offset),
            Error::Record { source, offset, .. } => source.offset().or(Some(*offset)),
            Error::Csv { .. } | Error::Json { .. } | Error::FileName { .. } | Error::Encode { .. } => None,
        }
    }

    /// True when the error is confined to one call event whose bytes were framed correctly:
    /// the rest of the file can still be read.
    pub fn is_record_level(&self) -> bool {
        matches!(self, Error::Record { .. })
    }

    /// A field error.
    pub(crate) fn field(offset: u64, field: &'static str, reason: impl Into<String>) -> Error {
        Error::Field {
            offset,
            field,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_reported_through_record_wrappers() {
        let inner = Error::field(120, "imsi", "odd filler");
        let e = Error::Record {
            record_index: 3,
            offset: 100,
            source: Box::new(inner),
        };
        assert_eq!(e.offset(), Some(120));
        assert!(e.is_record_level());
        let text = e.to_string();
        assert!(
            text.contains("call event 3") && text.contains("byte 120"),
            "{text}"
        );
        let j = Error::Json {
            record_index: Some(2),
            path: "$[2].usageDate".into(),
            reason: "bad".into(),
        };
        assert_eq!(j.offset(), None);
        assert!(j.to_string().contains("usage 2 at $[2].usageDate"), "{j}");
    }
}

//! Canonical JSON: the bytes parties sign for statements, agreements, registrations and
//! disputes (draft §4.1).
//!
//! The rules are those of RFC 8785 (JCS) restricted to the values we emit: objects with keys
//! sorted by their UTF-16 code units (for our ASCII keys, byte order), no insignificant
//! whitespace, strings escaped minimally (`"` `\\` and control characters, the short forms
//! `\b \f \n \r \t` where they exist, otherwise `\u00xx` in lower-case hex), integers only
//! (amounts travel as decimal strings, so no floating point ever appears) and integers kept
//! within ±2^53 so every JSON implementation reads them exactly.
//!
//! Keys are sorted by the writer ([`direct`]), explicitly, whatever order serde gives them.

use serde::Serialize;
use serde::de::DeserializeOwned;
#[cfg(test)]
use serde_json::Value;

mod direct;

use crate::error::CodecError;

/// Largest integer magnitude allowed in canonical JSON (2^53 - 1).
pub const SAFE_INTEGER_MAX: u64 = (1 << 53) - 1;

/// The canonical JSON bytes of `v`, written directly by a serde serializer (no intermediate
/// `serde_json::Value` tree: a statement lists every batch key of its period, and building
/// and dropping a tree of maps and strings for tens of thousands of them dominated closing a
/// period). The bytes are those of serializing with `serde_json::to_value` and writing the
/// value canonically; a test keeps the two in agreement.
///
/// Panics if `v` serializes to a float or an integer beyond ±(2^53 - 1): our types never do,
/// and emitting a non-canonical document would be a bug, not an input error.
pub fn to_canonical<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    if let Err(e) = v.serialize(direct::Canon(&mut out)) {
        panic!("domain types serialize to canonical JSON: {e}");
    }
    out
}

/// Parses canonical JSON into `T`, failing if the bytes are not exactly the canonical form of
/// what they parse to (so a signature over them means one thing only).
pub fn from_canonical<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, CodecError> {
    let v: T = serde_json::from_slice(bytes).map_err(|e| CodecError::Invalid {
        field: what,
        offset: 0,
        reason: format!("not valid JSON for a {what}: {e}"),
    })?;
    let again = to_canonical(&v);
    if again != bytes {
        let at = again
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(bytes.len()));
        return Err(CodecError::Invalid {
            field: what,
            offset: at,
            reason:
                "not in canonical form (draft §4.1): key order, whitespace, escaping or number form differs"
                    .into(),
        });
    }
    Ok(v)
}

/// The reference form: the canonical bytes of a `serde_json::Value` (what `to_canonical` must
/// equal).
#[cfg(test)]
pub(crate) fn value_to_canonical<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let value = serde_json::to_value(v).expect("domain types serialize to JSON");
    let mut out = Vec::new();
    write_value(&value, &mut out);
    out
}

#[cfg(test)]
fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                assert!(u <= SAFE_INTEGER_MAX, "integer {u} too large for canonical JSON");
                out.extend_from_slice(u.to_string().as_bytes());
            } else if let Some(i) = n.as_i64() {
                assert!(
                    i.unsigned_abs() <= SAFE_INTEGER_MAX,
                    "integer {i} too large for canonical JSON"
                );
                out.extend_from_slice(i.to_string().as_bytes());
            } else {
                panic!("floating point number {n} in canonical JSON");
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            // RFC 8785 sorts by UTF-16 code units.
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(x, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Doc {
        zeta: u32,
        alpha: String,
        nested: BTreeMap<String, i64>,
        list: Vec<bool>,
        none: Option<u8>,
    }

    fn doc() -> Doc {
        Doc {
            zeta: 7,
            alpha: "a\"b\\c\n\u{1}é".into(),
            nested: [("b".to_string(), -3), ("a".to_string(), 4)]
                .into_iter()
                .collect(),
            list: vec![true, false],
            none: None,
        }
    }

    #[test]
    fn sorted_compact_minimally_escaped() {
        let bytes = to_canonical(&doc());
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"alpha\":\"a\\\"b\\\\c\\n\\u0001é\",\"list\":[true,false],\"nested\":{\"a\":4,\"b\":-3},\"none\":null,\"zeta\":7}"
        );
    }

    #[test]
    fn round_trips_and_refuses_non_canonical_bytes() {
        let bytes = to_canonical(&doc());
        assert_eq!(from_canonical::<Doc>(&bytes, "doc").unwrap(), doc());
        let spaced = String::from_utf8(bytes.clone()).unwrap().replacen(':', ": ", 1);
        assert!(from_canonical::<Doc>(spaced.as_bytes(), "doc").is_err());
        let reordered = br#"{"zeta":7,"alpha":"x","nested":{},"list":[],"none":null}"#;
        assert!(from_canonical::<Doc>(reordered, "doc").is_err());
        assert!(from_canonical::<Doc>(b"{", "doc").is_err());
    }

    /// Every shape of the serde data model the direct writer handles, with struct fields out
    /// of key order, non-ASCII and escaped keys, enum variants of each kind, bytes, options,
    /// integer and enum map keys, nesting.
    #[derive(Serialize)]
    struct Shapes {
        zulu: Vec<Variant>,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        maybe: Option<Box<Shapes>>,
        unit: (),
        tuple: (u8, i64, String),
        keyed: BTreeMap<u32, bool>,
        by_variant: BTreeMap<Kind, i8>,
        texts: BTreeMap<String, Option<char>>,
        newtype: Wrapper,
        alpha: i64,
    }

    #[derive(Serialize)]
    struct Wrapper(u16);

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Kind {
        Beta,
        Alpha,
    }

    #[derive(Serialize)]
    enum Variant {
        Unit,
        Newtype(u64),
        Tuple(i32, String),
        Struct { z: u8, a: Vec<u8>, m: String },
    }

    fn shapes(depth: u8) -> Shapes {
        Shapes {
            zulu: vec![
                Variant::Unit,
                Variant::Newtype(SAFE_INTEGER_MAX),
                Variant::Tuple(-7, "\u{7f}\u{1f}".into()),
                Variant::Struct {
                    z: 1,
                    a: vec![0, 255],
                    m: "é\u{10000}".into(),
                },
            ],
            bytes: vec![0, 1, 254, 255],
            maybe: (depth > 0).then(|| Box::new(shapes(depth - 1))),
            unit: (),
            tuple: (9, -(SAFE_INTEGER_MAX as i64), "t\"\\\t".into()),
            keyed: [(10, true), (2, false), (1, true)].into_iter().collect(),
            by_variant: [(Kind::Beta, 1), (Kind::Alpha, -1)].into_iter().collect(),
            texts: [
                ("\u{ff61}".to_string(), Some('x')),
                ("\u{10000}".to_string(), None),
                ("".to_string(), Some('\n')),
                ("a\"b".to_string(), Some('é')),
            ]
            .into_iter()
            .collect(),
            newtype: Wrapper(65_535),
            alpha: i64::MIN + 1 + (i64::MAX - SAFE_INTEGER_MAX as i64),
        }
    }

    #[test]
    fn direct_writer_equals_the_value_reference() {
        for v in [shapes(0), shapes(2)] {
            assert_eq!(
                String::from_utf8(to_canonical(&v)).unwrap(),
                String::from_utf8(value_to_canonical(&v)).unwrap()
            );
        }
        assert_eq!(to_canonical(&doc()), value_to_canonical(&doc()));
        // Keys beyond the BMP sort by UTF-16 code units: U+10000 (a surrogate pair, 0xD800...)
        // before U+FF61, unlike their UTF-8 byte order.
        let v = to_canonical(&shapes(0));
        let text = String::from_utf8(v).unwrap();
        assert!(text.find("\u{10000}").unwrap() < text.find("\u{ff61}").unwrap());
    }

    /// A map that gives a key twice keeps the last value, as a `serde_json::Map` does.
    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        struct Twice;
        impl Serialize for Twice {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("b", &1)?;
                m.serialize_entry("a", &2)?;
                m.serialize_entry("b", &3)?;
                m.end()
            }
        }
        assert_eq!(to_canonical(&Twice), br#"{"a":2,"b":3}"#);
        assert_eq!(to_canonical(&Twice), value_to_canonical(&Twice));
    }

    #[test]
    #[should_panic(expected = "floating point")]
    fn floats_are_a_bug() {
        to_canonical(&1.5f64);
    }

    #[test]
    #[should_panic(expected = "too large")]
    fn unsafe_integers_are_a_bug() {
        to_canonical(&(1u64 << 60));
    }
}

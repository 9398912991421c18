//! A serde serializer that writes canonical JSON (draft §4.1) straight into a byte buffer.
//!
//! It produces exactly what `serde_json::to_value` followed by the canonical writer produced
//! (the data model mapping is serde_json's: bytes as arrays of numbers, `None` and unit as
//! `null`, enum variants externally tagged, integer and string-like map keys as strings), with
//! two differences that only reject: floats and integers beyond ±(2^53 - 1) are errors.
//!
//! Objects: each member is written in the order serde gives it, its position remembered; when
//! the object ends, members that did not come in canonical key order are put in order (one
//! copy of that object's bytes). Struct fields declared in key order cost nothing extra. As in
//! a `serde_json::Map`, a key given twice keeps its last value.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::io::Write as _;

use serde::ser::{self, Impossible, Serialize};
use smallvec::SmallVec;

use super::{SAFE_INTEGER_MAX, write_string};

/// Why a value has no canonical JSON form.
#[derive(Debug)]
pub(super) struct CanonError(String);

impl fmt::Display for CanonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CanonError {}

impl ser::Error for CanonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CanonError(msg.to_string())
    }
}

/// RFC 8785 orders keys by their UTF-16 code units; for ASCII keys that is byte order.
fn key_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

fn write_u64(out: &mut Vec<u8>, u: u64) -> Result<(), CanonError> {
    if u > SAFE_INTEGER_MAX {
        return Err(CanonError(format!("integer {u} too large for canonical JSON")));
    }
    write!(out, "{u}").expect("writing to a Vec cannot fail");
    Ok(())
}

fn write_i64(out: &mut Vec<u8>, i: i64) -> Result<(), CanonError> {
    if i.unsigned_abs() > SAFE_INTEGER_MAX {
        return Err(CanonError(format!("integer {i} too large for canonical JSON")));
    }
    write!(out, "{i}").expect("writing to a Vec cannot fail");
    Ok(())
}

/// Writes one JSON value into the buffer.
pub(super) struct Canon<'a>(pub(super) &'a mut Vec<u8>);

impl<'a> ser::Serializer for Canon<'a> {
    type Ok = ();
    type Error = CanonError;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), CanonError> {
        self.0.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), CanonError> {
        write_i64(self.0, v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<(), CanonError> {
        write_i64(self.0, v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<(), CanonError> {
        write_i64(self.0, v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<(), CanonError> {
        write_i64(self.0, v)
    }

    fn serialize_i128(self, v: i128) -> Result<(), CanonError> {
        match i64::try_from(v) {
            Ok(i) => write_i64(self.0, i),
            Err(_) => Err(CanonError(format!("integer {v} too large for canonical JSON"))),
        }
    }

    fn serialize_u8(self, v: u8) -> Result<(), CanonError> {
        write_u64(self.0, v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<(), CanonError> {
        write_u64(self.0, v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<(), CanonError> {
        write_u64(self.0, v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<(), CanonError> {
        write_u64(self.0, v)
    }

    fn serialize_u128(self, v: u128) -> Result<(), CanonError> {
        match u64::try_from(v) {
            Ok(u) => write_u64(self.0, u),
            Err(_) => Err(CanonError(format!("integer {v} too large for canonical JSON"))),
        }
    }

    fn serialize_f32(self, v: f32) -> Result<(), CanonError> {
        Err(CanonError(format!("floating point number {v} in canonical JSON")))
    }

    fn serialize_f64(self, v: f64) -> Result<(), CanonError> {
        Err(CanonError(format!("floating point number {v} in canonical JSON")))
    }

    fn serialize_char(self, v: char) -> Result<(), CanonError> {
        write_string(v.encode_utf8(&mut [0u8; 4]), self.0);
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), CanonError> {
        write_string(v, self.0);
        Ok(())
    }

    /// As serde_json: an array of numbers.
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CanonError> {
        self.0.push(b'[');
        for (i, b) in v.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            write!(self.0, "{b}").expect("writing to a Vec cannot fail");
        }
        self.0.push(b']');
        Ok(())
    }

    fn serialize_none(self) -> Result<(), CanonError> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CanonError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), CanonError> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CanonError> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CanonError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CanonError> {
        value.serialize(self)
    }

    /// `{"variant": value}`.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CanonError> {
        self.0.push(b'{');
        write_string(variant, self.0);
        self.0.push(b':');
        value.serialize(Canon(&mut *self.0))?;
        self.0.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>, CanonError> {
        Ok(Array::open(self.0, false))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Array<'a>, CanonError> {
        Ok(Array::open(self.0, false))
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Array<'a>, CanonError> {
        Ok(Array::open(self.0, false))
    }

    /// `{"variant": [..]}`.
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>, CanonError> {
        self.0.push(b'{');
        write_string(variant, self.0);
        self.0.push(b':');
        Ok(Array::open(self.0, true))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>, CanonError> {
        Ok(Object::open(self.0, false))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'a>, CanonError> {
        Ok(Object::open(self.0, false))
    }

    /// `{"variant": {..}}`.
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>, CanonError> {
        self.0.push(b'{');
        write_string(variant, self.0);
        self.0.push(b':');
        Ok(Object::open(self.0, true))
    }
}

/// An array being written; `wrapped` closes the `{"variant":` around a tuple variant.
pub(super) struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    wrapped: bool,
}

impl<'a> Array<'a> {
    fn open(out: &'a mut Vec<u8>, wrapped: bool) -> Self {
        out.push(b'[');
        Array {
            out,
            first: true,
            wrapped,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonError> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Canon(&mut *self.out))
    }

    fn close(self) -> Result<(), CanonError> {
        self.out.push(b']');
        if self.wrapped {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// serde's four array-like traits, all writing elements.
macro_rules! array_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = CanonError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonError> {
                self.element(value)
            }

            fn end(self) -> Result<(), CanonError> {
                self.close()
            }
        }
    )*};
}

array_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// One member of an object being written: its key and where `"key":value` sits in the
/// buffer.
struct Member {
    key: Cow<'static, str>,
    from: usize,
    to: usize,
}

/// An object being written; `wrapped` closes the `{"variant":` around a struct variant.
pub(super) struct Object<'a> {
    out: &'a mut Vec<u8>,
    /// Just after the `{`.
    start: usize,
    members: SmallVec<[Member; 8]>,
    /// A map key waiting for its value.
    key: Option<String>,
    wrapped: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>, wrapped: bool) -> Self {
        out.push(b'{');
        let start = out.len();
        Object {
            out,
            start,
            members: SmallVec::new(),
            key: None,
            wrapped,
        }
    }

    fn member<T: Serialize + ?Sized>(&mut self, key: Cow<'static, str>, value: &T) -> Result<(), CanonError> {
        if !self.members.is_empty() {
            self.out.push(b',');
        }
        let from = self.out.len();
        write_string(&key, self.out);
        self.out.push(b':');
        value.serialize(Canon(&mut *self.out))?;
        self.members.push(Member {
            key,
            from,
            to: self.out.len(),
        });
        Ok(())
    }

    /// Puts the members in key order (the last of equal keys wins) and closes the object.
    fn close(self) -> Result<(), CanonError> {
        let Object {
            out,
            start,
            members,
            wrapped,
            ..
        } = self;
        let in_order = members
            .windows(2)
            .all(|w| key_order(&w[0].key, &w[1].key) == Ordering::Less);
        if !in_order {
            let body = out[start..].to_vec();
            let mut order: Vec<usize> = (0..members.len()).collect();
            // Stable: equal keys stay in the order given, and the last of them is kept.
            order.sort_by(|&a, &b| key_order(&members[a].key, &members[b].key));
            out.truncate(start);
            let mut first = true;
            for (n, &i) in order.iter().enumerate() {
                let superseded = order
                    .get(n + 1)
                    .is_some_and(|&j| key_order(&members[i].key, &members[j].key) == Ordering::Equal);
                if superseded {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                let m = &members[i];
                out.extend_from_slice(&body[m.from - start..m.to - start]);
            }
        }
        out.push(b'}');
        if wrapped {
            out.push(b'}');
        }
        Ok(())
    }
}

/// Structs and struct variants: members with static keys.
macro_rules! struct_impl {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Object<'_> {
            type Ok = ();
            type Error = CanonError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), CanonError> {
                self.member(Cow::Borrowed(key), value)
            }

            fn end(self) -> Result<(), CanonError> {
                self.close()
            }
        }
    )*};
}

struct_impl!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = CanonError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CanonError> {
        self.key = Some(key.serialize(MapKey)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| CanonError("a map value without its key".into()))?;
        self.member(Cow::Owned(key), value)
    }

    fn end(self) -> Result<(), CanonError> {
        self.close()
    }
}

/// A map key as the string serde_json makes of it: strings and chars as they are, integers
/// and booleans in decimal and `true`/`false`, unit variants by name; anything else is not a
/// JSON object key.
struct MapKey;

fn not_a_key() -> CanonError {
    CanonError("a map key must be a string, a number or a unit variant".into())
}

impl ser::Serializer for MapKey {
    type Ok = String;
    type Error = CanonError;
    type SerializeSeq = Impossible<String, CanonError>;
    type SerializeTuple = Impossible<String, CanonError>;
    type SerializeTupleStruct = Impossible<String, CanonError>;
    type SerializeTupleVariant = Impossible<String, CanonError>;
    type SerializeMap = Impossible<String, CanonError>;
    type SerializeStruct = Impossible<String, CanonError>;
    type SerializeStructVariant = Impossible<String, CanonError>;

    fn serialize_bool(self, v: bool) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_i8(self, v: i8) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_i16(self, v: i16) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_i32(self, v: i32) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_i64(self, v: i64) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_i128(self, v: i128) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_u8(self, v: u8) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_u16(self, v: u16) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_u32(self, v: u32) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_u64(self, v: u64) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_u128(self, v: u128) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_f32(self, v: f32) -> Result<String, CanonError> {
        Err(CanonError(format!("floating point number {v} in canonical JSON")))
    }

    fn serialize_f64(self, v: f64) -> Result<String, CanonError> {
        Err(CanonError(format!("floating point number {v} in canonical JSON")))
    }

    fn serialize_char(self, v: char) -> Result<String, CanonError> {
        Ok(v.to_string())
    }

    fn serialize_str(self, v: &str) -> Result<String, CanonError> {
        Ok(v.to_owned())
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<String, CanonError> {
        Err(not_a_key())
    }

    fn serialize_none(self) -> Result<String, CanonError> {
        Err(not_a_key())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, CanonError> {
        Err(not_a_key())
    }

    fn serialize_unit(self) -> Result<String, CanonError> {
        Err(not_a_key())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, CanonError> {
        Err(not_a_key())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, CanonError> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, CanonError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, CanonError> {
        Err(not_a_key())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, CanonError> {
        Err(not_a_key())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, CanonError> {
        Err(not_a_key())
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, CanonError> {
        Err(not_a_key())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CanonError> {
        Err(not_a_key())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CanonError> {
        Err(not_a_key())
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, CanonError> {
        Err(not_a_key())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CanonError> {
        Err(not_a_key())
    }
}

//! The deterministic binary encoding of commands, records and state (format version 1).
//!
//! Integers are fixed-width big-endian (so encoded keys sort numerically), byte strings and
//! text are prefixed with a `u32` length, options with a `0`/`1` byte, sequences with a `u32`
//! count. There is exactly one encoding of every value: it is what the batch digest, the
//! Merkle leaves and the chain hash are computed over, so two implementations that follow
//! `standards-draft` produce identical bytes.
//!
//! Decoding never trusts a length field further than the bytes actually present: a claimed
//! length larger than the remaining input is an error before anything is allocated.

use crate::error::CodecError;

/// Appends encoded values to a buffer.
#[derive(Default, Debug)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Encoder::default()
    }

    /// An empty encoder with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Encoder {
            buf: Vec::with_capacity(n),
        }
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Clears the buffer, keeping its allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Big-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Big-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Big-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Big-endian two's-complement `i64`.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// `0` or `1`.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    /// Raw bytes of a fixed, known length (no prefix).
    pub fn fixed(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// Length-prefixed bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(u32::try_from(v.len()).expect("encoded field larger than 4 GiB"));
        self.buf.extend_from_slice(v);
    }
    /// Length-prefixed UTF-8 text.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    /// A sequence count.
    pub fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("sequence longer than u32::MAX"));
    }
    /// An optional value: `0`, or `1` followed by the value.
    pub fn option<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Encoder, &T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }
    /// Encodes a value implementing [`Encode`].
    pub fn put<T: Encode + ?Sized>(&mut self, v: &T) {
        v.encode(self);
    }
}

/// Reads encoded values from a byte slice, tracking the offset for error messages.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Current byte offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), CodecError> {
        if self.pos != self.buf.len() {
            return Err(CodecError::TrailingBytes {
                what,
                offset: self.pos,
                extra: self.buf.len() - self.pos,
            });
        }
        Ok(())
    }

    /// Takes `n` raw bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(CodecError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes `N` raw bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CodecError> {
        Ok(self.take(N, field)?.try_into().expect("length checked"))
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, field)?[0])
    }
    /// Big-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }
    /// Big-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }
    /// Big-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }
    /// Big-endian `i64`.
    pub fn i64(&mut self, field: &'static str) -> Result<i64, CodecError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }
    /// A `0`/`1` byte.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, CodecError> {
        let at = self.pos;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError::Invalid {
                field,
                offset: at,
                reason: "boolean must be 0 or 1".into(),
            }),
        }
    }
    /// Length-prefixed bytes, at most `max` long.
    pub fn bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], CodecError> {
        let at = self.pos;
        let n = self.u32(field)? as usize;
        if n > max {
            return Err(CodecError::TooLong {
                field,
                offset: at,
                len: n,
                max,
            });
        }
        self.take(n, field)
    }
    /// Length-prefixed UTF-8 text, at most `max` bytes.
    pub fn str(&mut self, field: &'static str, max: usize) -> Result<&'a str, CodecError> {
        let at = self.pos;
        let b = self.bytes(field, max)?;
        std::str::from_utf8(b).map_err(|_| CodecError::Invalid {
            field,
            offset: at,
            reason: "text is not UTF-8".into(),
        })
    }
    /// A sequence count, at most `max`, and never more than one element per remaining
    /// `min_element_bytes` (so a forged count cannot drive a large allocation).
    pub fn count(
        &mut self,
        field: &'static str,
        max: usize,
        min_element_bytes: usize,
    ) -> Result<usize, CodecError> {
        let at = self.pos;
        let n = self.u32(field)? as usize;
        let fits = n.saturating_mul(min_element_bytes.max(1)) <= self.remaining();
        if n > max || !fits {
            return Err(CodecError::TooLong {
                field,
                offset: at,
                len: n,
                max: max.min(self.remaining() / min_element_bytes.max(1)),
            });
        }
        Ok(n)
    }
    /// An option marker: `false` for `0`, `true` for `1`.
    pub fn option(&mut self, field: &'static str) -> Result<bool, CodecError> {
        self.bool(field)
    }
    /// Decodes a value implementing [`Decode`].
    pub fn get<T: Decode>(&mut self) -> Result<T, CodecError> {
        T::decode(self)
    }
    /// Builds an `Invalid` error at the current offset.
    pub fn invalid(&self, field: &'static str, reason: impl Into<String>) -> CodecError {
        CodecError::Invalid {
            field,
            offset: self.pos,
            reason: reason.into(),
        }
    }
}

/// A value with a canonical binary encoding.
pub trait Encode {
    /// Appends the encoding of `self`.
    fn encode(&self, e: &mut Encoder);

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode(&mut e);
        e.into_bytes()
    }
}

/// A value decodable from its canonical binary encoding.
pub trait Decode: Sized {
    /// Reads one value.
    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError>;

    /// Decodes a whole buffer, failing on trailing bytes.
    fn from_bytes(b: &[u8], what: &'static str) -> Result<Self, CodecError> {
        let mut d = Decoder::new(b);
        let v = Self::decode(&mut d)?;
        d.finish(what)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian_fixed_width() {
        let mut e = Encoder::new();
        e.u16(0x0102);
        e.u32(3);
        e.i64(-1);
        assert_eq!(
            e.as_bytes(),
            &[1, 2, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        let mut d = Decoder::new(e.as_bytes());
        assert_eq!(d.u16("a").unwrap(), 0x0102);
        assert_eq!(d.u32("b").unwrap(), 3);
        assert_eq!(d.i64("c").unwrap(), -1);
        d.finish("test").unwrap();
    }

    #[test]
    fn truncation_names_the_field_and_offset() {
        let mut d = Decoder::new(&[0, 0, 0]);
        let err = d.u32("file_sequence_number").unwrap_err();
        assert_eq!(
            err,
            CodecError::Truncated {
                field: "file_sequence_number",
                offset: 0,
                needed: 4,
                available: 3
            }
        );
    }

    #[test]
    fn forged_lengths_are_refused_before_allocation() {
        // Claims 4 GiB of text with 2 bytes present.
        let mut d = Decoder::new(&[0xff, 0xff, 0xff, 0xff, b'a', b'b']);
        assert!(matches!(d.str("name", 64), Err(CodecError::TooLong { .. })));
        let mut d = Decoder::new(&[0, 0, 0, 10, 1, 2]);
        assert!(matches!(
            d.count("records", 1000, 8),
            Err(CodecError::TooLong { .. })
        ));
        let mut d = Decoder::new(&[0, 0, 0, 3, 1, 2]);
        assert!(matches!(d.bytes("blob", 100), Err(CodecError::Truncated { .. })));
    }

    #[test]
    fn bad_booleans_and_trailing_bytes_are_errors() {
        assert!(Decoder::new(&[2]).bool("flag").is_err());
        let mut d = Decoder::new(&[1, 9]);
        d.bool("flag").unwrap();
        assert!(matches!(
            d.finish("x"),
            Err(CodecError::TrailingBytes { extra: 1, .. })
        ));
    }
}

//! A small, purpose-built BER (X.690) reader and writer.
//!
//! Why not a general ASN.1 library: TAP files are read as a *stream* of call events (a 1 GB
//! file must not be materialised), every error must name the absolute byte offset, unknown
//! extension elements must be skipped, and decoding must run at more than a million events a
//! second. A zero-copy tag-length-value reader over byte slices does all of that in a few
//! hundred lines: an [`Element`] borrows its content from the input, and a [`Reader`] walks
//! the children of a constructed element. Nothing here allocates from a length field: a
//! declared length is only ever used to slice bytes that are already present.
//!
//! Supported: low- and high-tag-number form, short and long definite lengths, the indefinite
//! length with end-of-contents markers (as most TAP producers write), any nesting up to
//! [`crate::limits::BER_DEPTH_MAX`]. Not supported (rejected with an error): constructed
//! encodings of primitive string types, which TD.57 files do not use.
//!
//! The writer produces definite lengths only (DER-like minimal lengths and integers).

use std::fmt;

use crate::error::Error;
use crate::limits::{BER_DEPTH_MAX, INTEGER_BYTES_MAX};

/// The class of a BER tag.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Class {
    /// Universal (the ASN.1 built-in types).
    Universal,
    /// Application-wide (every TAP, RAP and NRTRDE type).
    Application,
    /// Context-specific.
    Context,
    /// Private.
    Private,
}

/// A tag: class and number (whether the element is constructed is a property of the
/// encoding, kept on [`Element`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Tag {
    /// The class.
    pub class: Class,
    /// The tag number.
    pub number: u32,
}

impl Tag {
    /// `[APPLICATION n]`.
    pub const fn app(number: u32) -> Tag {
        Tag {
            class: Class::Application,
            number,
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.class {
            Class::Universal => "UNIVERSAL ",
            Class::Application => "APPLICATION ",
            Class::Context => "",
            Class::Private => "PRIVATE ",
        };
        write!(f, "[{class}{}]", self.number)
    }
}

/// A decoded tag-length header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub tag: Tag,
    pub constructed: bool,
    /// Bytes of tag plus length octets.
    pub header_len: usize,
    /// `None` for the indefinite form.
    pub length: Option<u64>,
}

/// Outcome of looking at possibly incomplete input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan<T> {
    /// Found.
    Complete(T),
    /// The bytes end before the thing does; at least `needed` bytes from its start are
    /// required (for an indefinite element, a lower bound).
    Incomplete { needed: u64 },
}

/// Parses the tag and length at `buf[pos..]`. `base` is the absolute offset of `buf[0]`, used
/// only for error messages.
pub(crate) fn parse_header(buf: &[u8], pos: usize, base: u64) -> Result<Scan<Header>, Error> {
    let at = base + pos as u64;
    let malformed = |reason| Error::Malformed {
        offset: at,
        context: "tag or length",
        reason,
    };
    let b = &buf[pos.min(buf.len())..];
    let Some(&first) = b.first() else {
        return Ok(Scan::Incomplete { needed: 2 });
    };
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = first & 0x20 != 0;
    let mut i = 1;
    let number = if first & 0x1F != 0x1F {
        u32::from(first & 0x1F)
    } else {
        let mut n: u32 = 0;
        loop {
            let Some(&byte) = b.get(i) else {
                return Ok(Scan::Incomplete { needed: i as u64 + 2 });
            };
            i += 1;
            if i > 5 {
                return Err(malformed("tag number longer than 4 octets"));
            }
            n = (n << 7) | u32::from(byte & 0x7F);
            if byte & 0x80 == 0 {
                break;
            }
        }
        n
    };
    let Some(&l0) = b.get(i) else {
        return Ok(Scan::Incomplete { needed: i as u64 + 1 });
    };
    i += 1;
    let length = match l0 {
        0x00..=0x7F => Some(u64::from(l0)),
        0x80 => {
            if !constructed {
                return Err(malformed("indefinite length on a primitive element"));
            }
            None
        }
        0xFF => return Err(malformed("length octet 0xFF is reserved")),
        _ => {
            let n = usize::from(l0 & 0x7F);
            if n > 8 {
                return Err(malformed("length field longer than 8 octets"));
            }
            if b.len() < i + n {
                return Ok(Scan::Incomplete {
                    needed: (i + n) as u64,
                });
            }
            let len = b[i..i + n].iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
            i += n;
            Some(len)
        }
    };
    let tag = Tag { class, number };
    if tag.class == Class::Universal && tag.number == 0 && (constructed || length != Some(0)) {
        return Err(malformed(
            "tag [UNIVERSAL 0] is reserved for the end-of-contents marker",
        ));
    }
    Ok(Scan::Complete(Header {
        tag,
        constructed,
        header_len: i,
        length,
    }))
}

/// True when `buf[pos..]` starts with an end-of-contents marker.
pub(crate) fn is_eoc(buf: &[u8], pos: usize) -> bool {
    buf.get(pos..pos + 2) == Some(&[0, 0])
}

/// Extent of the element starting at `buf[pos]`: its header and total length including any
/// end-of-contents marker. Indefinite elements are walked child by child (depth-limited).
pub(crate) fn scan_element(
    buf: &[u8],
    pos: usize,
    base: u64,
    depth: usize,
) -> Result<Scan<(Header, usize)>, Error> {
    let at = base + pos as u64;
    if depth > BER_DEPTH_MAX {
        return Err(Error::TooDeep {
            offset: at,
            max: BER_DEPTH_MAX,
        });
    }
    let h = match parse_header(buf, pos, base)? {
        Scan::Complete(h) => h,
        Scan::Incomplete { needed } => return Ok(Scan::Incomplete { needed }),
    };
    let available = (buf.len() - pos) as u64;
    match h.length {
        Some(len) => {
            let total = (h.header_len as u64).saturating_add(len);
            if total > available {
                return Ok(Scan::Incomplete { needed: total });
            }
            Ok(Scan::Complete((h, total as usize)))
        }
        None => {
            let mut p = pos + h.header_len;
            loop {
                if p + 2 > buf.len() {
                    return Ok(Scan::Incomplete {
                        needed: (p - pos + 2) as u64,
                    });
                }
                if is_eoc(buf, p) {
                    return Ok(Scan::Complete((h, p + 2 - pos)));
                }
                match scan_element(buf, p, base, depth + 1)? {
                    Scan::Complete((_, n)) => p += n,
                    Scan::Incomplete { needed } => {
                        return Ok(Scan::Incomplete {
                            // A nested length may claim up to 2^64 bytes: saturate.
                            needed: ((p - pos) as u64).saturating_add(needed),
                        });
                    }
                }
            }
        }
    }
}

/// One element whose bytes are all present, borrowing its content.
#[derive(Clone, Copy, Debug)]
pub struct Element<'a> {
    /// Its tag.
    pub tag: Tag,
    /// Constructed (children) or primitive (bytes).
    pub constructed: bool,
    /// Absolute offset of the first tag octet.
    pub offset: u64,
    /// The content octets (for the indefinite form, without the end-of-contents marker).
    pub content: &'a [u8],
    /// Absolute offset of the first content octet.
    pub content_offset: u64,
    /// Total encoded length including header (and end-of-contents marker).
    pub encoded_len: usize,
}

impl<'a> Element<'a> {
    /// Parses the single element at the start of `buf` (absolute offset `base`), returning it
    /// and the number of bytes it spans. Truncation is an error naming `context`.
    pub fn parse(buf: &'a [u8], base: u64, context: &'static str) -> Result<(Element<'a>, usize), Error> {
        element_at(buf, 0, base, context)
    }

    /// The children of a constructed element.
    #[inline]
    pub fn children(&self, context: &'static str) -> Result<Reader<'a>, Error> {
        if !self.constructed {
            return Err(Error::field(
                self.offset,
                context,
                "expected a constructed element (SEQUENCE or CHOICE), found a primitive one",
            ));
        }
        Ok(Reader::new(self.content, self.content_offset, context))
    }

    /// The content of a primitive element.
    #[inline]
    pub fn primitive(&self, field: &'static str) -> Result<&'a [u8], Error> {
        if self.constructed {
            return Err(Error::field(
                self.offset,
                field,
                "constructed encoding of a primitive value is not supported",
            ));
        }
        Ok(self.content)
    }

    /// An INTEGER (at most 8 content octets, two's complement).
    #[inline]
    pub fn integer(&self, field: &'static str) -> Result<i64, Error> {
        let c = self.primitive(field)?;
        decode_integer(c).map_err(|reason| Error::field(self.offset, field, reason))
    }
}

/// Decodes INTEGER content octets.
#[inline]
pub(crate) fn decode_integer(c: &[u8]) -> Result<i64, &'static str> {
    if c.is_empty() {
        return Err("INTEGER with no content octets");
    }
    if c.len() > INTEGER_BYTES_MAX {
        return Err("INTEGER longer than 8 octets does not fit a 64-bit value");
    }
    let mut v: i64 = if c[0] & 0x80 != 0 { -1 } else { 0 };
    for &b in c {
        v = (v << 8) | i64::from(b);
    }
    Ok(v)
}

/// The common case in one pass: a tag of at most three octets and a definite length of at
/// most four length octets, all present, in an element of at least four bytes (the first
/// four are read at once). `None` sends the caller to the general path.
#[inline(always)]
pub(crate) fn fast_element(buf: &[u8], pos: usize, base: u64) -> Option<(Element<'_>, usize)> {
    let b = buf.get(pos..)?;
    let &[t0, t1, t2, t3] = b.first_chunk::<4>()?;
    // Tag number, tag octets, first length octet.
    let (number, i, l0) = if t0 & 0x1F != 0x1F {
        (u32::from(t0 & 0x1F), 1, t1)
    } else if t1 & 0x80 == 0 {
        (u32::from(t1), 2, t2)
    } else if t2 & 0x80 == 0 {
        ((u32::from(t1 & 0x7F) << 7) | u32::from(t2), 3, t3)
    } else {
        return None;
    };
    let (len, header_len) = if l0 < 0x80 {
        (usize::from(l0), i + 1)
    } else {
        let n = usize::from(l0 & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let octets = b.get(i + 1..i + 1 + n)?;
        (
            octets.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x)),
            i + 1 + n,
        )
    };
    if t0 & 0xDF == 0 {
        return None;
    }
    // Two bounds checks, each on a value already in hand: the header, then the content.
    let content = b.get(header_len..)?.get(..len)?;
    let class = match t0 >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let total = header_len + len;
    Some((
        Element {
            tag: Tag { class, number },
            constructed: t0 & 0x20 != 0,
            offset: base + pos as u64,
            content,
            content_offset: base + (pos + header_len) as u64,
            encoded_len: total,
        },
        total,
    ))
}

#[inline]
fn element_at<'a>(
    buf: &'a [u8],
    pos: usize,
    base: u64,
    context: &'static str,
) -> Result<(Element<'a>, usize), Error> {
    if let Some(found) = fast_element(buf, pos, base) {
        return Ok(found);
    }
    element_at_slow(buf, pos, base, context)
}

#[inline(never)]
fn element_at_slow<'a>(
    buf: &'a [u8],
    pos: usize,
    base: u64,
    context: &'static str,
) -> Result<(Element<'a>, usize), Error> {
    match scan_element(buf, pos, base, 0)? {
        Scan::Complete((h, total)) => {
            let start = pos + h.header_len;
            let end = if h.length.is_some() {
                pos + total
            } else {
                pos + total - 2
            };
            Ok((
                Element {
                    tag: h.tag,
                    constructed: h.constructed,
                    offset: base + pos as u64,
                    content: &buf[start..end],
                    content_offset: base + start as u64,
                    encoded_len: total,
                },
                total,
            ))
        }
        Scan::Incomplete { needed } => Err(Error::Truncated {
            offset: base + pos as u64,
            context,
            needed,
            available: (buf.len() - pos) as u64,
        }),
    }
}

/// Walks the elements of a byte slice (the content of a constructed element).
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    context: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose first byte is at absolute offset `base`.
    #[inline]
    pub fn new(buf: &'a [u8], base: u64, context: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            base,
            context,
        }
    }

    /// The next element, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    #[inline(always)]
    pub fn next(&mut self) -> Result<Option<Element<'a>>, Error> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        if let Some((el, n)) = fast_element(self.buf, self.pos, self.base) {
            self.pos += n;
            return Ok(Some(el));
        }
        let (el, n) = next_slow(self.buf, self.pos, self.base, self.context)?;
        self.pos += n;
        Ok(Some(el))
    }

    /// The next element when it is a short tag with a definite length that is all present;
    /// `None` otherwise (the end, or anything [`Reader::next`] must look at). No error type in
    /// the result keeps the hot path's values small.
    #[inline(always)]
    pub fn next_simple(&mut self) -> Option<Element<'a>> {
        let (el, n) = fast_element(self.buf, self.pos, self.base)?;
        self.pos += n;
        Some(el)
    }

    /// True when every element has been read. Checked before [`Reader::next`] once
    /// [`Reader::next_simple`] has said `None`, it keeps the end of a walk (which is every
    /// walk's last step) off the general path.
    #[inline(always)]
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }
}

/// [`Reader::next`] for everything but a short tag with a definite length: long forms,
/// indefinite lengths, end-of-contents markers, truncation. The reader's fields come by
/// value, so that callers' readers can live in registers.
#[inline(never)]
fn next_slow<'a>(
    buf: &'a [u8],
    pos: usize,
    base: u64,
    context: &'static str,
) -> Result<(Element<'a>, usize), Error> {
    if is_eoc(buf, pos) {
        return Err(Error::Malformed {
            offset: base + pos as u64,
            context,
            reason: "end-of-contents marker inside a definite-length element",
        });
    }
    element_at_slow(buf, pos, base, context)
}

/// Values that map to one BER element.
pub trait BerType: Sized {
    /// Decodes from an element whose tag the caller has matched; `field` names it in errors.
    fn decode_ber(el: &Element<'_>, field: &'static str) -> Result<Self, Error>;
    /// Decodes into an empty slot (types with large values override this to decode in
    /// place).
    #[inline]
    fn decode_into(slot: &mut Option<Self>, el: &Element<'_>, field: &'static str) -> Result<(), Error> {
        *slot = Some(Self::decode_ber(el, field)?);
        Ok(())
    }
    /// Decodes over `out`, which holds the type's default value (types with large values
    /// override this to decode in place). A CHOICE decodes its alternative this way, straight
    /// into the slot that holds it.
    #[inline]
    fn decode_in_place(out: &mut Self, el: &Element<'_>, field: &'static str) -> Result<(), Error> {
        *out = Self::decode_ber(el, field)?;
        Ok(())
    }
    /// Decodes one more element of a list (types with large values override this to decode
    /// in place).
    #[inline]
    fn decode_push(list: &mut Vec<Self>, el: &Element<'_>, field: &'static str) -> Result<(), Error> {
        list.push(Self::decode_ber(el, field)?);
        Ok(())
    }
    /// Encodes as one element tagged `tag`.
    fn encode_ber(&self, tag: Tag, w: &mut Writer);
}

impl BerType for i64 {
    #[inline]
    fn decode_ber(el: &Element<'_>, field: &'static str) -> Result<Self, Error> {
        el.integer(field)
    }
    #[inline]
    fn decode_into(slot: &mut Option<Self>, el: &Element<'_>, field: &'static str) -> Result<(), Error> {
        // Written straight into the slot: no Result carrying the value on the hot path.
        match (el.constructed, decode_integer(el.content)) {
            (false, Ok(v)) => {
                *slot = Some(v);
                Ok(())
            }
            _ => el.integer(field).map(|_| ()),
        }
    }
    fn encode_ber(&self, tag: Tag, w: &mut Writer) {
        w.integer(tag, *self);
    }
}

impl BerType for Octets {
    #[inline(always)]
    fn decode_ber(el: &Element<'_>, field: &'static str) -> Result<Self, Error> {
        Ok(Octets::from_slice(el.primitive(field)?))
    }
    #[inline(always)]
    fn decode_into(slot: &mut Option<Self>, el: &Element<'_>, field: &'static str) -> Result<(), Error> {
        if el.constructed {
            return el.primitive(field).map(|_| ());
        }
        // Written in place: the slot is filled straight from the input bytes.
        slot.insert(Octets(Repr::Inline(0, [0; INLINE]))).set(el.content);
        Ok(())
    }
    #[inline(always)]
    fn decode_in_place(out: &mut Self, el: &Element<'_>, field: &'static str) -> Result<(), Error> {
        out.set(el.primitive(field)?);
        Ok(())
    }
    fn encode_ber(&self, tag: Tag, w: &mut Writer) {
        w.primitive(tag, self.as_slice());
    }
}

/// Decodes a `SEQUENCE OF` whose elements are all tagged `[APPLICATION elem_tag]`.
#[inline]
pub fn decode_list<T: BerType>(
    el: &Element<'_>,
    field: &'static str,
    elem_tag: u32,
) -> Result<Vec<T>, Error> {
    // Most TAP lists hold one element: start with room for exactly one.
    let mut out = Vec::with_capacity(1);
    let mut r = el.children(field)?;
    loop {
        let child = match r.next_simple() {
            Some(c) => c,
            None if r.is_done() => break,
            None => match r.next()? {
                Some(c) => c,
                None => break,
            },
        };
        if child.tag != Tag::app(elem_tag) {
            return Err(Error::UnexpectedElement {
                offset: child.offset,
                expected: field,
                found: describe(&child),
            });
        }
        T::decode_push(&mut out, &child, field)?;
    }
    Ok(out)
}

/// Encodes a `SEQUENCE OF` (nothing when empty: TAP omits empty lists).
pub fn encode_list<T: BerType>(items: &[T], tag: Tag, elem_tag: u32, w: &mut Writer) {
    if items.is_empty() {
        return;
    }
    let m = w.begin(tag);
    for x in items {
        x.encode_ber(Tag::app(elem_tag), w);
    }
    w.end(m);
}

/// `[APPLICATION 9] constructed` style description for messages.
pub fn describe(el: &Element<'_>) -> String {
    format!(
        "element {} {}",
        el.tag,
        if el.constructed {
            "constructed"
        } else {
            "primitive"
        }
    )
}

/// Number of octets a definite length needs.
fn length_octets(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// A position returned by [`Writer::begin`], closed with [`Writer::end`].
#[must_use]
#[derive(Debug)]
pub struct Marker(usize);

/// A definite-length BER writer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// An empty writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    fn tag(&mut self, tag: Tag, constructed: bool) {
        let class = match tag.class {
            Class::Universal => 0x00,
            Class::Application => 0x40,
            Class::Context => 0x80,
            Class::Private => 0xC0,
        };
        let c = if constructed { 0x20 } else { 0 };
        if tag.number < 0x1F {
            self.buf.push(class | c | tag.number as u8);
            return;
        }
        self.buf.push(class | c | 0x1F);
        let n = tag.number;
        let groups = (32 - n.leading_zeros()).div_ceil(7).max(1);
        for g in (0..groups).rev() {
            let more = if g > 0 { 0x80 } else { 0 };
            self.buf.push(more | ((n >> (7 * g)) & 0x7F) as u8);
        }
    }

    fn length(&mut self, len: usize) {
        let n = length_octets(len);
        if n == 1 {
            self.buf.push(len as u8);
        } else {
            self.buf.push(0x80 | (n - 1) as u8);
            for i in (0..n - 1).rev() {
                self.buf.push((len >> (8 * i)) as u8);
            }
        }
    }

    /// A primitive element.
    pub fn primitive(&mut self, tag: Tag, content: &[u8]) {
        self.tag(tag, false);
        self.length(content.len());
        self.buf.extend_from_slice(content);
    }

    /// Bytes that are already BER (a whole element encoded elsewhere).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// An INTEGER in the fewest octets.
    pub fn integer(&mut self, tag: Tag, v: i64) {
        let b = v.to_be_bytes();
        let mut s = 0;
        while s < 7 && ((b[s] == 0 && b[s + 1] & 0x80 == 0) || (b[s] == 0xFF && b[s + 1] & 0x80 != 0)) {
            s += 1;
        }
        self.primitive(tag, &b[s..]);
    }

    /// Opens a constructed element.
    pub fn begin(&mut self, tag: Tag) -> Marker {
        self.tag(tag, true);
        self.buf.push(0);
        Marker(self.buf.len() - 1)
    }

    /// Closes a constructed element, writing its length.
    pub fn end(&mut self, m: Marker) {
        let at = m.0;
        let len = self.buf.len() - at - 1;
        let n = length_octets(len);
        if n == 1 {
            self.buf[at] = len as u8;
            return;
        }
        let mut lb = [0u8; 9];
        lb[0] = 0x80 | (n - 1) as u8;
        for i in 0..n - 1 {
            lb[n - 1 - i] = (len >> (8 * i)) as u8;
        }
        self.buf[at] = lb[0];
        self.buf.splice(at + 1..at + 1, lb[1..n].iter().copied());
    }
}

/// Inline capacity of [`Octets`]: most TAP strings (IMSI, numbers, codes, time stamps) fit.
const INLINE: usize = 22;

/// Writes `b` (at most [`INLINE`] bytes), zero-padded, to `a`. Built from a few fixed-size,
/// possibly overlapping loads combined in registers and stored straight into `a`: no `memcpy`
/// call for a variable length, and no temporary copy stored piecewise and read back at other
/// widths (which stalls store forwarding).
#[inline(always)]
fn inline_into(a: &mut [u8; INLINE], b: &[u8]) {
    const _: () = assert!(INLINE > 16 && INLINE <= 24);
    fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w)
    }
    fn u32_at(b: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[at..at + 4]);
        u64::from(u32::from_le_bytes(w))
    }
    let n = b.len();
    debug_assert!(n <= INLINE);
    // Little-endian words holding bytes 0..8, 8..16 and 16..INLINE, zero past `n`. Where two
    // loads overlap they carry the same bytes, so OR-ing them is exact.
    let (w0, w1, w2) = match n {
        0 => (0, 0, 0),
        1..=3 => {
            let w =
                u64::from(b[0]) | u64::from(b[n / 2]) << (8 * (n / 2)) | u64::from(b[n - 1]) << (8 * (n - 1));
            (w, 0, 0)
        }
        4..=8 => (u32_at(b, 0) | u32_at(b, n - 4) << (8 * (n - 4)), 0, 0),
        9..=16 => (u64_at(b, 0), u64_at(b, n - 8) >> (8 * (16 - n)), 0),
        _ => (u64_at(b, 0), u64_at(b, 8), u64_at(b, n - 8) >> (8 * (24 - n))),
    };
    a[..8].copy_from_slice(&w0.to_le_bytes());
    a[8..16].copy_from_slice(&w1.to_le_bytes());
    a[16..].copy_from_slice(&w2.to_le_bytes()[..INLINE - 16]);
}

/// An octet string that keeps short values inline (no allocation per field on the hot path).
#[derive(Clone)]
pub struct Octets(Repr);

#[derive(Clone)]
enum Repr {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl Octets {
    /// Copies `b`.
    #[inline(always)]
    pub fn from_slice(b: &[u8]) -> Octets {
        let mut o = Octets(Repr::Inline(0, [0; INLINE]));
        o.set(b);
        o
    }

    /// Replaces the value with a copy of `b`, in place.
    #[inline(always)]
    fn set(&mut self, b: &[u8]) {
        if b.len() > INLINE {
            self.0 = Repr::Heap(b.into());
            return;
        }
        if !matches!(self.0, Repr::Inline(..)) {
            self.0 = Repr::Inline(0, [0; INLINE]);
        }
        if let Repr::Inline(len, a) = &mut self.0 {
            *len = b.len() as u8;
            inline_into(a, b);
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(n, a) => &a[..usize::from(*n)],
            Repr::Heap(b) => b,
        }
    }

    /// The bytes as text, replacing non-UTF-8 (for messages and JSON).
    pub fn to_text(&self) -> String {
        String::from_utf8_lossy(self.as_slice()).into_owned()
    }

    /// The bytes as text with TD.57's rule applied: leading and trailing spaces discarded.
    pub fn trimmed_text(&self) -> String {
        self.to_text().trim_matches(' ').to_owned()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Octets {
    fn default() -> Self {
        Octets::from_slice(&[])
    }
}

impl From<&str> for Octets {
    fn from(s: &str) -> Self {
        Octets::from_slice(s.as_bytes())
    }
}

impl PartialEq for Octets {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Octets {}

impl std::hash::Hash for Octets {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for Octets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.as_slice();
        if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            write!(f, "{:?}", String::from_utf8_lossy(b))
        } else {
            f.write_str("0x")?;
            for c in b {
                write!(f, "{c:02x}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc_int(v: i64) -> Vec<u8> {
        let mut w = Writer::new();
        w.integer(Tag::app(5), v);
        w.into_bytes()
    }

    #[test]
    fn integers_are_minimal_and_round_trip() {
        assert_eq!(enc_int(0), vec![0x45, 1, 0]);
        assert_eq!(enc_int(127), vec![0x45, 1, 0x7F]);
        assert_eq!(enc_int(128), vec![0x45, 2, 0, 0x80]);
        assert_eq!(enc_int(-1), vec![0x45, 1, 0xFF]);
        assert_eq!(enc_int(-129), vec![0x45, 2, 0xFF, 0x7F]);
        for v in [0, 1, -1, 255, 256, -256, i64::MAX, i64::MIN, 25_000, 12_978_057] {
            let b = enc_int(v);
            let (el, n) = Element::parse(&b, 0, "t").unwrap();
            assert_eq!(n, b.len());
            assert_eq!(el.integer("x").unwrap(), v);
        }
    }

    #[test]
    fn integer_errors_name_the_field() {
        let empty = [0x45, 0];
        let (el, _) = Element::parse(&empty, 10, "t").unwrap();
        let e = el.integer("tapDecimalPlaces").unwrap_err();
        assert_eq!(e.offset(), Some(10));
        assert!(e.to_string().contains("tapDecimalPlaces"), "{e}");
        let long = [0x45, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        let (el, _) = Element::parse(&long, 0, "t").unwrap();
        assert!(el.integer("x").is_err());
        let cons = [0x65, 0];
        let (el, _) = Element::parse(&cons, 0, "t").unwrap();
        assert!(el.integer("x").is_err());
        assert!(el.primitive("x").is_err());
        let (el, _) = Element::parse(&empty, 0, "t").unwrap();
        assert!(el.children("x").is_err());
    }

    #[test]
    fn high_tag_numbers_and_long_lengths() {
        let mut w = Writer::new();
        let m = w.begin(Tag::app(433));
        w.primitive(Tag::app(16), &[b'x'; 300]);
        w.end(m);
        let b = w.into_bytes();
        // 433 = 3*128 + 49: 0x7F 0x83 0x31, then a two-octet long length.
        assert_eq!(&b[..3], &[0x7F, 0x83, 0x31]);
        assert_eq!(b[3], 0x82);
        let (el, n) = Element::parse(&b, 0, "t").unwrap();
        assert_eq!(n, b.len());
        assert_eq!(el.tag, Tag::app(433));
        let mut r = el.children("t").unwrap();
        let c = r.next().unwrap().unwrap();
        assert_eq!(c.tag, Tag::app(16));
        assert_eq!(c.content.len(), 300);
        assert!(r.next().unwrap().is_none());
        assert_eq!(Tag::app(433).to_string(), "[APPLICATION 433]");
    }

    #[test]
    fn indefinite_lengths_nest() {
        // [APP 1] indefinite { [APP 4] indefinite { [APP 196] "AB" } , [APP 43] 7 } EOC
        let b = [
            0x61, 0x80, 0x64, 0x80, 0x5F, 0x81, 0x44, 0x02, b'A', b'B', 0, 0, 0x5F, 0x2B, 0x01, 0x07, 0, 0,
        ];
        let (el, n) = Element::parse(&b, 0, "t").unwrap();
        assert_eq!(n, b.len());
        let mut r = el.children("t").unwrap();
        let bci = r.next().unwrap().unwrap();
        assert_eq!(bci.tag, Tag::app(4));
        let sender = bci.children("b").unwrap().next().unwrap().unwrap();
        assert_eq!(sender.content, b"AB");
        assert_eq!(sender.offset, 4);
        let count = r.next().unwrap().unwrap();
        assert_eq!(count.integer("c").unwrap(), 7);
        assert_eq!(count.offset, 12);
        assert!(r.next().unwrap().is_none());
    }

    #[test]
    fn truncation_and_malformed_input_are_errors_with_offsets() {
        let e = Element::parse(&[0x61, 0x05, 1, 2], 100, "transfer batch").unwrap_err();
        assert!(
            matches!(
                e,
                Error::Truncated {
                    offset: 100,
                    needed: 7,
                    available: 4,
                    ..
                }
            ),
            "{e}"
        );
        let e = Element::parse(&[0x61, 0x80, 0x45, 0x01, 0x01], 0, "tb").unwrap_err();
        assert!(matches!(e, Error::Truncated { .. }), "{e}");
        let e = Element::parse(&[0x45, 0x80], 0, "x").unwrap_err();
        assert!(e.to_string().contains("indefinite length on a primitive"), "{e}");
        let e = Element::parse(&[0x45, 0xFF], 0, "x").unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        let e = Element::parse(&[0x45, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1], 0, "x").unwrap_err();
        assert!(e.to_string().contains("longer than 8"), "{e}");
        let e = Element::parse(&[0x5F, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00], 0, "x").unwrap_err();
        assert!(e.to_string().contains("tag number"), "{e}");
        let e = Element::parse(&[0x00, 0x01, 0x00], 0, "x").unwrap_err();
        assert!(e.to_string().contains("end-of-contents"), "{e}");
        // An EOC inside definite content.
        let b = [0x61, 0x02, 0x00, 0x00];
        let (el, _) = Element::parse(&b, 0, "x").unwrap();
        let e = el.children("x").unwrap().next().unwrap_err();
        assert!(e.to_string().contains("inside a definite-length"), "{e}");
        // Header cut inside the tag or the length.
        assert!(Element::parse(&[0x5F, 0x81], 0, "x").is_err());
        assert!(Element::parse(&[0x45, 0x82, 0x01], 0, "x").is_err());
        assert!(Element::parse(&[], 0, "x").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut b = Vec::new();
        for _ in 0..(BER_DEPTH_MAX + 5) {
            b.extend_from_slice(&[0x61, 0x80]);
        }
        for _ in 0..(BER_DEPTH_MAX + 5) {
            b.extend_from_slice(&[0, 0]);
        }
        let e = Element::parse(&b, 0, "x").unwrap_err();
        assert!(matches!(e, Error::TooDeep { .. }), "{e}");
    }

    #[test]
    fn lists_reject_foreign_elements() {
        let mut w = Writer::new();
        let m = w.begin(Tag::app(162));
        Octets::from("a").encode_ber(Tag::app(163), &mut w);
        Octets::from("b").encode_ber(Tag::app(164), &mut w);
        w.end(m);
        let b = w.into_bytes();
        let (el, _) = Element::parse(&b, 0, "x").unwrap();
        let e = decode_list::<Octets>(&el, "operatorSpecInformation", 163).unwrap_err();
        assert!(matches!(e, Error::UnexpectedElement { offset: 9, .. }), "{e}");
    }

    #[test]
    fn inline_copy_handles_every_length_and_zero_pads() {
        let src: Vec<u8> = (1..=INLINE as u8).map(|x| x.wrapping_mul(37) | 0x80).collect();
        for n in 0..=INLINE {
            let mut a = [0xEE; INLINE];
            inline_into(&mut a, &src[..n]);
            assert_eq!(&a[..n], &src[..n], "length {n}");
            assert!(a[n..].iter().all(|&x| x == 0), "length {n}");
            assert_eq!(Octets::from_slice(&src[..n]).as_slice(), &src[..n]);
        }
    }

    #[test]
    fn octets_inline_and_heap() {
        let short = Octets::from("26201");
        let long = Octets::from_slice(&[7u8; 100]);
        assert_eq!(short.as_slice(), b"26201");
        assert_eq!(long.len(), 100);
        assert_eq!(format!("{short:?}"), "\"26201\"");
        assert_eq!(format!("{:?}", Octets::from_slice(&[0x26, 0xF1])), "0x26f1");
        assert_eq!(Octets::from(" ab ").trimmed_text(), "ab");
        assert!(Octets::default().is_empty());
    }

    /// Whatever the one-pass path accepts, the general path reads the same way.
    fn check_fast_path(b: &[u8], base: u64) -> Result<(), TestCaseError> {
        if let Some((fast, n)) = fast_element(b, 0, base) {
            let (slow, m) = element_at_slow(b, 0, base, "t").expect("the general path accepts it too");
            prop_assert_eq!(n, m);
            prop_assert_eq!(fast.tag, slow.tag);
            prop_assert_eq!(fast.constructed, slow.constructed);
            prop_assert_eq!(fast.offset, slow.offset);
            prop_assert_eq!(fast.content, slow.content);
            prop_assert_eq!(fast.content_offset, slow.content_offset);
            prop_assert_eq!(fast.encoded_len, slow.encoded_len);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn writer_output_parses_back(tag in 0u32..100_000, len in 0usize..70_000, v: i64) {
            let mut w = Writer::new();
            let m = w.begin(Tag::app(tag));
            w.primitive(Tag::app(tag / 2), &vec![1u8; len]);
            w.integer(Tag::app(7), v);
            w.end(m);
            let b = w.into_bytes();
            let (el, n) = Element::parse(&b, 0, "t").unwrap();
            prop_assert_eq!(n, b.len());
            prop_assert_eq!(el.tag, Tag::app(tag));
            let mut r = el.children("t").unwrap();
            prop_assert_eq!(r.next().unwrap().unwrap().content.len(), len);
            prop_assert_eq!(r.next().unwrap().unwrap().integer("v").unwrap(), v);
        }

        #[test]
        fn fast_path_agrees_with_the_general_path(
            class in 0u8..4,
            number in 0u32..20_000,
            constructed: bool,
            content in proptest::collection::vec(any::<u8>(), 0..300),
            cut in 0usize..3,
            base in 0u64..1_000_000,
        ) {
            let class = [Class::Universal, Class::Application, Class::Context, Class::Private][usize::from(class)];
            let tag = Tag { class, number };
            let mut w = Writer::new();
            if constructed {
                let m = w.begin(tag);
                w.raw(&content);
                w.end(m);
            } else {
                w.primitive(tag, &content);
            }
            let mut b = w.into_bytes();
            b.truncate(b.len().saturating_sub(cut));
            check_fast_path(&b, base)?;
        }

        #[test]
        fn fast_path_agrees_on_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..12), base: u32) {
            check_fast_path(&b, u64::from(base))?;
        }

        #[test]
        fn integers_decode_any_content_octets(c in proptest::collection::vec(any::<u8>(), 1..=8)) {
            // Two's complement, big-endian, whatever the padding: the plain definition.
            let mut want: i64 = if c[0] & 0x80 != 0 { -1 } else { 0 };
            for &b in &c {
                want = (want << 8) | i64::from(b);
            }
            prop_assert_eq!(decode_integer(&c), Ok(want));
        }

        #[test]
        fn octets_keep_their_bytes(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let o = Octets::from_slice(&b);
            prop_assert_eq!(o.as_slice(), &b[..]);
        }

        #[test]
        fn parsing_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Element::parse(&b, 0, "t").map(|(el, _)| {
                if let Ok(mut r) = el.children("t") {
                    while let Ok(Some(_)) = r.next() {}
                }
            });
        }
    }
}

//! Streaming TAP decoder: header groups first, then one call event at a time, then the audit.
//!
//! Memory is bounded by the largest single element (a call event is at most
//! [`CALL_EVENT_BYTES_MAX`], a header group at most [`HEADER_GROUP_BYTES_MAX`]) plus one read
//! chunk, whatever the file size: a 1 GB file is decoded in a few hundred kilobytes. Input is
//! any [`std::io::Read`]; a byte slice is one.
//!
//! Errors are of two kinds. A framing error (truncation, a bad length, trailing garbage) stops
//! the stream: nothing after it can be trusted. An error *inside* one well-framed call event
//! is yielded as [`Error::Record`] and the stream goes on with the next event, so a validator
//! can return that one record (TD.57 severe) and still check the audit totals.

use std::io::Read;

use super::{CallEvent, group_tag};
use crate::ber::{
    BerType, Element, Header, Scan, Tag, decode_list, describe, is_eoc, parse_header, scan_element,
};
use crate::error::Error;
use crate::limits::{
    CALL_EVENT_BYTES_MAX, CALL_EVENTS_PER_FILE_MAX, HEADER_GROUP_BYTES_MAX, READ_CHUNK_BYTES,
};
use crate::tap::model::{
    AccountingInfo, AuditControlInfo, BatchControlInfo, MessageDescriptionInformation, NetworkInfo,
    Notification,
};

/// A buffered window over a reader, tracking absolute offsets. `buf[start..end]` holds the
/// unread bytes; the buffer is zero-filled only when it grows, and unread bytes are moved to
/// its front only when it is full.
pub(crate) struct Input<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    base: u64,
    eof: bool,
}

impl<R: Read> Input<R> {
    pub(crate) fn new(reader: R) -> Self {
        Input {
            reader,
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    /// Absolute offset of the next unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    pub(crate) fn window(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
    }

    /// Reads one more chunk. Returns false at end of input.
    fn read_more(&mut self) -> Result<bool, Error> {
        if self.eof {
            return Ok(false);
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.base += self.start as u64;
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < READ_CHUNK_BYTES / 2 {
                self.buf.resize(self.buf.len() + READ_CHUNK_BYTES, 0);
            }
        }
        let n = loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Io {
                        offset: self.base + self.end as u64,
                        message: e.to_string(),
                    });
                }
            }
        };
        self.end += n;
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// True when no byte is left.
    pub(crate) fn at_end(&mut self) -> Result<bool, Error> {
        while self.window().is_empty() {
            if !self.read_more()? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The tag and length at the current position (not consumed).
    pub(crate) fn header(&mut self, context: &'static str) -> Result<Header, Error> {
        loop {
            match parse_header(self.window(), 0, self.offset())? {
                Scan::Complete(h) => return Ok(h),
                Scan::Incomplete { needed } => {
                    if !self.read_more()? {
                        return Err(Error::Truncated {
                            offset: self.offset(),
                            context,
                            needed,
                            available: self.window().len() as u64,
                        });
                    }
                }
            }
        }
    }

    /// True when the current position holds an end-of-contents marker.
    pub(crate) fn at_eoc(&mut self) -> Result<bool, Error> {
        while self.window().len() < 2 {
            if !self.read_more()? {
                break;
            }
        }
        Ok(is_eoc(self.window(), 0))
    }

    /// Makes the whole element at the current position available; returns its total length.
    pub(crate) fn element(&mut self, limit: usize, context: &'static str) -> Result<usize, Error> {
        if let Some((_, total)) = crate::ber::fast_element(self.window(), 0, self.offset())
            && total <= limit
        {
            return Ok(total);
        }
        loop {
            let at = self.offset();
            match scan_element(self.window(), 0, at, 0)? {
                Scan::Complete((_, total)) => {
                    if total > limit {
                        return Err(Error::TooLarge {
                            offset: at,
                            context,
                            size: total as u64,
                            max: limit as u64,
                        });
                    }
                    return Ok(total);
                }
                Scan::Incomplete { needed } => {
                    let have = self.window().len() as u64;
                    if needed > limit as u64 || have > limit as u64 {
                        return Err(Error::TooLarge {
                            offset: at,
                            context,
                            size: needed.max(have),
                            max: limit as u64,
                        });
                    }
                    if !self.read_more()? {
                        return Err(Error::Truncated {
                            offset: at,
                            context,
                            needed,
                            available: have,
                        });
                    }
                }
            }
        }
    }

    /// The element made available by [`Input::element`].
    pub(crate) fn view(&self, total: usize, context: &'static str) -> Result<Element<'_>, Error> {
        Element::parse(&self.window()[..total], self.offset(), context).map(|(e, _)| e)
    }
}

/// An open constructed element being walked child by child.
#[derive(Clone, Copy, Debug)]
struct Level {
    /// Absolute end offset for the definite form.
    end: Option<u64>,
    /// Where it starts (for messages).
    offset: u64,
}

/// The groups that precede the call events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchHeader {
    /// `batchControlInfo`.
    pub batch_control_info: Option<BatchControlInfo>,
    /// `accountingInfo`.
    pub accounting_info: Option<AccountingInfo>,
    /// `networkInfo`.
    pub network_info: Option<NetworkInfo>,
    /// `messageDescriptionInfo`.
    pub message_description_info: Vec<MessageDescriptionInformation>,
}

/// What follows the call events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchTrailer {
    /// `auditControlInfo`.
    pub audit_control_info: Option<AuditControlInfo>,
    /// Call events in the file (decodable or not).
    pub event_count: u32,
    /// Total bytes of the file.
    pub file_bytes: u64,
    /// Offset of the `auditControlInfo` group, when present.
    pub audit_offset: Option<u64>,
}

/// One decoded call event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventItem {
    /// Zero-based position in `callEventDetails`.
    pub index: u32,
    /// Absolute byte offset of the event.
    pub offset: u64,
    /// Encoded length in bytes.
    pub len: usize,
    /// The event.
    pub event: CallEvent,
}

/// What a TAP file turned out to be.
// One value per file.
#[allow(clippy::large_enum_variant)]
pub enum Opened<R> {
    /// A transfer batch, ready to stream its call events.
    TransferBatch(TapStream<R>),
    /// A notification (no call events), decoded whole.
    Notification(Notification),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Events,
    Trailer,
    Done,
}

/// A transfer batch being read: [`TapStream::header`] is available at once, call events come
/// from the [`Iterator`], and [`TapStream::finish`] reads the audit and checks the end.
pub struct TapStream<R> {
    input: Input<R>,
    batch: Level,
    list: Option<Level>,
    state: State,
    header: BatchHeader,
    audit: Option<AuditControlInfo>,
    audit_offset: Option<u64>,
    next_index: u32,
    last: Option<(u64, usize)>,
    failed: Option<Error>,
}

/// Opens a TAP file: reads the `DataInterChange` tag and, for a transfer batch, every group
/// before the call events.
pub fn open<R: Read>(reader: R) -> Result<Opened<R>, Error> {
    let mut input = Input::new(reader);
    if input.at_end()? {
        return Err(Error::Truncated {
            offset: 0,
            context: "TAP file",
            needed: 2,
            available: 0,
        });
    }
    let h = input.header("TAP DataInterChange")?;
    match (h.tag, h.constructed) {
        (t, true) if t == Tag::app(group_tag::NOTIFICATION) => {
            let total = input.element(HEADER_GROUP_BYTES_MAX, "notification")?;
            let n = Notification::decode_ber(&input.view(total, "notification")?, "notification")?;
            input.consume(total);
            expect_end(&mut input, "notification")?;
            Ok(Opened::Notification(n))
        }
        (t, true) if t == Tag::app(group_tag::TRANSFER_BATCH) => {
            let offset = input.offset();
            input.consume(h.header_len);
            let batch = Level {
                // A declared length may be absurd (up to 2^64): an end past any input is
                // reported as truncation when the bytes run out.
                end: h.length.map(|l| input.offset().saturating_add(l)),
                offset,
            };
            let mut s = TapStream {
                input,
                batch,
                list: None,
                state: State::Trailer,
                header: BatchHeader::default(),
                audit: None,
                audit_offset: None,
                next_index: 0,
                last: None,
                failed: None,
            };
            s.read_header()?;
            Ok(Opened::TransferBatch(s))
        }
        _ => Err(Error::UnexpectedElement {
            offset: 0,
            expected: "a TAP DataInterChange: transferBatch [APPLICATION 1] or notification [APPLICATION 2]",
            found: format!(
                "element {} {}",
                h.tag,
                if h.constructed { "constructed" } else { "primitive" }
            ),
        }),
    }
}

fn expect_end<R: Read>(input: &mut Input<R>, context: &'static str) -> Result<(), Error> {
    if input.at_end()? {
        return Ok(());
    }
    Err(Error::TrailingBytes {
        offset: input.offset(),
        context,
        count: input.window().len() as u64,
    })
}

/// Is the walk of `level` at its end (consuming an end-of-contents marker)?
fn level_done<R: Read>(input: &mut Input<R>, level: Level, context: &'static str) -> Result<bool, Error> {
    match level.end {
        Some(end) => {
            let at = input.offset();
            if at == end {
                return Ok(true);
            }
            if at > end {
                return Err(Error::Malformed {
                    offset: level.offset,
                    context,
                    reason: "contents overran the declared length",
                });
            }
            if input.at_end()? {
                return Err(Error::Truncated {
                    offset: level.offset,
                    context,
                    needed: end - level.offset,
                    available: at - level.offset,
                });
            }
            Ok(false)
        }
        None => {
            if input.at_eoc()? {
                input.consume(2);
                return Ok(true);
            }
            if input.at_end()? {
                return Err(Error::Truncated {
                    offset: level.offset,
                    context,
                    needed: input.offset() - level.offset + 2,
                    available: input.offset() - level.offset,
                });
            }
            Ok(false)
        }
    }
}

impl<R: Read> TapStream<R> {
    /// The groups before the call events.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Bytes the decoder holds in memory right now (its read buffer): bounded by the largest
    /// element plus one read chunk, whatever the file size.
    pub fn buffered_bytes(&self) -> usize {
        self.input.buf.len()
    }

    /// The encoded bytes of the event last returned by the iterator (for returning it
    /// verbatim in RAP). Valid until the next call to `next`.
    pub fn last_event_bytes(&self) -> Option<&[u8]> {
        let (off, len) = self.last?;
        let rel = usize::try_from(off.checked_sub(self.input.base)?).ok()?;
        self.input.buf[..self.input.end].get(rel..rel + len)
    }

    /// Reads child elements of the transfer batch until the call event list opens.
    fn read_header(&mut self) -> Result<(), Error> {
        loop {
            if level_done(&mut self.input, self.batch, "transferBatch")? {
                self.state = State::Done;
                return Ok(());
            }
            let h = self.input.header("transferBatch group")?;
            if h.tag == Tag::app(group_tag::CALL_EVENT_DETAILS) && h.constructed {
                let offset = self.input.offset();
                self.input.consume(h.header_len);
                self.list = Some(Level {
                    end: h.length.map(|l| self.input.offset().saturating_add(l)),
                    offset,
                });
                self.check_within_batch(offset, h)?;
                self.state = State::Events;
                return Ok(());
            }
            self.read_group(h)?;
        }
    }

    fn check_within_batch(&self, offset: u64, h: Header) -> Result<(), Error> {
        if let (Some(end), Some(len)) = (self.batch.end, h.length)
            && offset.saturating_add(h.header_len as u64).saturating_add(len) > end
        {
            return Err(Error::Malformed {
                offset,
                context: "transferBatch",
                reason: "a group extends beyond the end of the transfer batch",
            });
        }
        Ok(())
    }

    /// Reads one non-event group of the transfer batch.
    fn read_group(&mut self, h: Header) -> Result<(), Error> {
        use group_tag::*;
        let offset = self.input.offset();
        self.check_within_batch(offset, h)?;
        let total = self
            .input
            .element(HEADER_GROUP_BYTES_MAX, "transferBatch group")?;
        let el = self.input.view(total, "transferBatch group")?;
        let dup = |name: &'static str| Error::UnexpectedElement {
            offset,
            expected: name,
            found: "a second occurrence of the group".to_owned(),
        };
        let events_seen = self.state != State::Events && self.list.is_some();
        let late = |name: &'static str| Error::UnexpectedElement {
            offset,
            expected: "header groups before callEventDetails (TD.57 group order)",
            found: format!("{name} after the call events"),
        };
        if el.tag.class == crate::ber::Class::Application {
            match el.tag.number {
                BATCH_CONTROL_INFO => {
                    if events_seen {
                        return Err(late("batchControlInfo"));
                    }
                    if self.header.batch_control_info.is_some() {
                        return Err(dup("at most one batchControlInfo"));
                    }
                    self.header.batch_control_info = Some(BerType::decode_ber(&el, "batchControlInfo")?);
                }
                ACCOUNTING_INFO => {
                    if events_seen {
                        return Err(late("accountingInfo"));
                    }
                    if self.header.accounting_info.is_some() {
                        return Err(dup("at most one accountingInfo"));
                    }
                    self.header.accounting_info = Some(BerType::decode_ber(&el, "accountingInfo")?);
                }
                NETWORK_INFO => {
                    if events_seen {
                        return Err(late("networkInfo"));
                    }
                    if self.header.network_info.is_some() {
                        return Err(dup("at most one networkInfo"));
                    }
                    self.header.network_info = Some(BerType::decode_ber(&el, "networkInfo")?);
                }
                MESSAGE_DESCRIPTION_INFO => {
                    if events_seen {
                        return Err(late("messageDescriptionInfo"));
                    }
                    if !self.header.message_description_info.is_empty() {
                        return Err(dup("at most one messageDescriptionInfo"));
                    }
                    self.header.message_description_info =
                        decode_list(&el, "messageDescriptionInfo", MESSAGE_DESCRIPTION_INFORMATION)?;
                }
                AUDIT_CONTROL_INFO => {
                    if self.audit.is_some() {
                        return Err(dup("at most one auditControlInfo"));
                    }
                    self.audit = Some(BerType::decode_ber(&el, "auditControlInfo")?);
                    self.audit_offset = Some(offset);
                }
                CALL_EVENT_DETAILS => {
                    return Err(Error::UnexpectedElement {
                        offset,
                        expected: "a single callEventDetails list",
                        found: describe(&el),
                    });
                }
                // TD.57: groups after the extension marker are skipped.
                _ => {}
            }
        }
        self.input.consume(total);
        Ok(())
    }

    fn next_event(&mut self) -> Result<Option<EventItem>, Error> {
        let Some(list) = self.list else {
            return Ok(None);
        };
        if level_done(&mut self.input, list, "callEventDetails")? {
            self.state = State::Trailer;
            return Ok(None);
        }
        let offset = self.input.offset();
        let index = self.next_index;
        if u64::from(index) >= CALL_EVENTS_PER_FILE_MAX {
            return Err(Error::TooLarge {
                offset,
                context: "callEventDetails (events)",
                size: u64::from(index) + 1,
                max: CALL_EVENTS_PER_FILE_MAX,
            });
        }
        let within_list = |total: usize| match list.end {
            Some(end) if offset + total as u64 > end => Err(Error::Malformed {
                offset,
                context: "callEventDetails",
                reason: "a call event extends beyond the end of the call event list",
            }),
            _ => Ok(()),
        };
        // The common case, a short header and the whole event already buffered (what
        // `Input::element` checks first), parses the event's header once and decodes it
        // where it lies; anything else goes the general way.
        let fast = crate::ber::fast_element(self.input.window(), 0, offset)
            .filter(|&(_, total)| total <= CALL_EVENT_BYTES_MAX);
        let (total, decoded) = match fast {
            Some((el, total)) => {
                within_list(total)?;
                (total, CallEvent::decode(&el))
            }
            None => {
                let total = self.input.element(CALL_EVENT_BYTES_MAX, "call event")?;
                within_list(total)?;
                let decoded = self
                    .input
                    .view(total, "call event")
                    .and_then(|el| CallEvent::decode(&el));
                (total, decoded)
            }
        };
        self.next_index += 1;
        self.last = Some((offset, total));
        self.input.consume(total);
        match decoded {
            Ok(event) => Ok(Some(EventItem {
                index,
                offset,
                len: total,
                event,
            })),
            Err(e) => Err(Error::Record {
                record_index: index,
                offset,
                source: Box::new(e),
            }),
        }
    }

    /// Reads what follows the call events (skipping any not yet read), checks the batch and
    /// the file end, and returns the audit group.
    pub fn finish(mut self) -> Result<BatchTrailer, Error> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        while self.state == State::Events {
            match self.next_event() {
                Ok(Some(_)) | Err(Error::Record { .. }) => {}
                Ok(None) => break,
                Err(e) => return Err(e),
            }
        }
        if self.state == State::Trailer {
            loop {
                if level_done(&mut self.input, self.batch, "transferBatch")? {
                    break;
                }
                let h = self.input.header("transferBatch group")?;
                self.read_group(h)?;
            }
        }
        expect_end(&mut self.input, "transferBatch")?;
        Ok(BatchTrailer {
            audit_control_info: self.audit,
            event_count: self.next_index,
            file_bytes: self.input.offset(),
            audit_offset: self.audit_offset,
        })
    }
}

impl<R: Read> Iterator for TapStream<R> {
    type Item = Result<EventItem, Error>;

    /// The next call event. A [`Error::Record`] concerns one event and the iteration goes on;
    /// any other error ends it (and is returned again by [`TapStream::finish`]).
    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Events || self.failed.is_some() {
            return None;
        }
        match self.next_event() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => None,
            Err(e @ Error::Record { .. }) => Some(Err(e)),
            Err(e) => {
                self.state = State::Done;
                self.failed = Some(e.clone());
                Some(Err(e))
            }
        }
    }
}

//! Bad TAP bytes: every framing problem is an error naming its byte offset; problems inside
//! one call event stay confined to it.

mod common;

use carrier_adapters::Error;
use carrier_adapters::ber::{Octets, Tag, Writer};
use carrier_adapters::tap::ingest::ingest;
use carrier_adapters::tap::validate::ValidationContext;
use carrier_adapters::tap::{CallEvent, DataInterChange, Opened, decode, encode, open};

fn batch_bytes() -> Vec<u8> {
    common::clean_tap()
}

#[test]
fn every_truncation_is_an_error_with_an_offset() {
    let b = batch_bytes();
    for cut in (0..b.len()).step_by(7).chain([b.len() - 1]) {
        let e = decode(&b[..cut]).expect_err("a cut file must not decode");
        let off = e.offset().expect("offset");
        assert!(off <= cut as u64, "cut {cut}: offset {off} beyond the data: {e}");
        assert!(
            matches!(e, Error::Truncated { .. }),
            "cut {cut}: expected truncation, got {e}"
        );
    }
    // Same with indefinite lengths.
    let ind = common::to_indefinite(&b);
    for cut in (1..ind.len()).step_by(11) {
        assert!(
            matches!(decode(&ind[..cut]), Err(Error::Truncated { .. })),
            "cut {cut}"
        );
    }
}

#[test]
fn trailing_garbage_names_where_it_starts() {
    let mut b = batch_bytes();
    let n = b.len() as u64;
    b.extend_from_slice(b"JUNK");
    match decode(&b) {
        Err(Error::TrailingBytes { offset, count, .. }) => {
            assert_eq!(offset, n);
            assert_eq!(count, 4);
        }
        other => panic!("{other:?}"),
    }
    let mut ind = common::to_indefinite(&batch_bytes());
    ind.push(0);
    assert!(matches!(decode(&ind), Err(Error::TrailingBytes { .. })));
}

#[test]
fn reader_input_and_slice_input_agree() {
    let b = batch_bytes();
    struct Dribble<'a>(&'a [u8]);
    impl std::io::Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            // Three bytes at a time: elements straddle every read boundary.
            let n = buf.len().min(3).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let Ok(Opened::TransferBatch(s)) = open(Dribble(&b)) else {
        panic!()
    };
    let from_reader: Vec<_> = s.map(|e| e.unwrap().event).collect();
    let DataInterChange::TransferBatch(tb) = decode(&b).unwrap() else {
        panic!()
    };
    assert_eq!(from_reader, tb.call_event_details);
}

#[test]
fn io_errors_are_reported_with_the_offset_reached() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let b = common::clean_tap();
            let n = buf.len().min(self.0).min(b.len());
            buf[..n].copy_from_slice(&b[..n]);
            self.0 = 0;
            Ok(n)
        }
    }
    let e = match open(Failing(100)) {
        Err(e) => e,
        Ok(Opened::TransferBatch(mut s)) => s.find_map(|r| r.err()).expect("an error"),
        Ok(Opened::Notification(_)) => panic!(),
    };
    assert!(matches!(e, Error::Io { offset: 100, .. }), "{e}");
    assert!(e.to_string().contains("disk on fire"));
}

#[test]
fn empty_and_foreign_inputs() {
    assert!(matches!(decode(&[]), Err(Error::Truncated { offset: 0, .. })));
    let e = decode(&[0x30, 0x00]).unwrap_err();
    assert!(
        e.to_string()
            .contains("transferBatch [APPLICATION 1] or notification"),
        "{e}"
    );
    let e = decode(&[0x61, 0x03, 0x5F, 0x81]).unwrap_err();
    assert!(matches!(e, Error::Truncated { .. }), "{e}");
}

fn wrap(tag: Tag, parts: &[&[u8]]) -> Vec<u8> {
    let mut w = Writer::new();
    let m = w.begin(tag);
    for p in parts {
        w.raw(p);
    }
    w.end(m);
    w.into_bytes()
}

/// The clean batch with its first event replaced by raw bytes.
fn with_first_event(raw: &[u8]) -> Vec<u8> {
    use carrier_adapters::ber::BerType;
    let DataInterChange::TransferBatch(tb) = decode(&batch_bytes()).unwrap() else {
        panic!()
    };
    let mut groups = Writer::new();
    tb.batch_control_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(4), &mut groups);
    tb.accounting_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(5), &mut groups);
    tb.network_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(6), &mut groups);
    let mut events = raw.to_vec();
    for e in &tb.call_event_details[1..] {
        events.extend_from_slice(&e.to_bytes());
    }
    let list = wrap(Tag::app(3), &[&events]);
    let mut audit = Writer::new();
    tb.audit_control_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(15), &mut audit);
    wrap(Tag::app(1), &[groups.as_bytes(), &list, audit.as_bytes()])
}

#[test]
fn an_undecodable_event_is_severe_and_the_rest_still_reads() {
    // A mobileOriginatedCall whose basicCallInformation is primitive: the event is framed
    // but its content is not valid.
    let bad = [0x69, 0x04, 0x5F, 0x81, 0x13, 0x00];
    let bytes = with_first_event(&bad);
    let got = ingest(&bytes, &ValidationContext::default()).unwrap();
    let d: Vec<_> = got
        .report
        .diagnostics
        .iter()
        .filter(|d| d.record_index == Some(0))
        .collect();
    assert_eq!(d.len(), 1, "{:#?}", got.report.diagnostics);
    assert_eq!(d[0].code, 10);
    assert!(d[0].message.contains("cannot be decoded"), "{}", d[0].message);
    assert_eq!(got.report.events, 25);
    assert_eq!(
        got.records.len(),
        24 * usize::from(got.report.verdict != carrier_adapters::diagnostic::Verdict::Fatal)
    );
    // The whole-file decoder refuses it, naming the event.
    match decode(&bytes) {
        Err(Error::Record { record_index: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_extension_elements_are_skipped() {
    let tb = common::clean_batch();
    let moc = common::first_of(&tb, "mobileOriginatedCall");
    let raw = moc.to_bytes();
    // Insert an unknown [APPLICATION 999] element (and a context-tagged one) inside the event.
    let (el, _) = carrier_adapters::ber::Element::parse(&raw, 0, "x").unwrap();
    let mut extra = Writer::new();
    extra.primitive(Tag::app(999), b"future item");
    extra.primitive(
        Tag {
            class: carrier_adapters::ber::Class::Context,
            number: 1,
        },
        b"x",
    );
    let ev = wrap(Tag::app(9), &[extra.as_bytes(), el.content]);
    let (el2, _) = carrier_adapters::ber::Element::parse(&ev, 0, "x").unwrap();
    assert_eq!(CallEvent::decode(&el2).unwrap(), moc);
    // An unknown call event type decodes as Unknown and is a severe finding.
    let unknown = [0x7F, 0x84, 0x00, 0x00];
    let got = ingest(&with_first_event(&unknown), &ValidationContext::default()).unwrap();
    assert!(got.report.events_by_type.contains_key("unknown"));
    assert!(
        got.report
            .diagnostics
            .iter()
            .any(|d| d.record_index == Some(0) && d.message.contains("not defined in TAP 3.12"))
    );
}

#[test]
fn oversized_events_are_refused_before_buffering_them() {
    // An event claiming 2 GiB.
    let huge = [0x69, 0x84, 0x80, 0x00, 0x00, 0x00];
    let mut b = batch_bytes()[..0].to_vec();
    b.extend_from_slice(&[0x61, 0x80, 0x63, 0x80]);
    b.extend_from_slice(&huge);
    match open(&b[..]) {
        Ok(Opened::TransferBatch(mut s)) => {
            let e = s.next().unwrap().unwrap_err();
            assert!(matches!(e, Error::TooLarge { offset: 4, .. }), "{e}");
        }
        _ => panic!(),
    }
}

#[test]
fn group_order_and_duplicates_are_checked() {
    let DataInterChange::TransferBatch(tb) = decode(&batch_bytes()).unwrap() else {
        panic!()
    };
    use carrier_adapters::ber::BerType;
    let mut w = Writer::new();
    let m = w.begin(Tag::app(1));
    tb.batch_control_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(4), &mut w);
    tb.batch_control_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(4), &mut w);
    w.end(m);
    let e = decode(w.as_bytes()).expect_err("duplicate group");
    assert!(e.to_string().contains("batchControlInfo"), "{e}");
    // networkInfo after the call events.
    let mut w = Writer::new();
    let m = w.begin(Tag::app(1));
    tb.batch_control_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(4), &mut w);
    let l = w.begin(Tag::app(3));
    tb.call_event_details[0].encode(&mut w);
    w.end(l);
    tb.network_info.clone().unwrap().encode_ber(Tag::app(6), &mut w);
    w.end(m);
    let e = decode(w.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("networkInfo after the call events"), "{e}");
    // An unknown group is skipped.
    let mut w = Writer::new();
    let m = w.begin(Tag::app(1));
    w.primitive(Tag::app(77), b"ext");
    tb.batch_control_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(4), &mut w);
    w.end(m);
    assert!(decode(w.as_bytes()).is_ok());
    // A declared length shorter than the groups inside.
    let mut b = encode(&DataInterChange::TransferBatch(tb));
    b[2] = b[2].wrapping_sub(1);
    assert!(decode(&b).is_err());
}

#[test]
fn long_and_binary_octet_strings_survive_unchanged() {
    let tb = common::clean_batch();
    let CallEvent::MobileOriginatedCall(mut m) = common::first_of(&tb, "mobileOriginatedCall") else {
        panic!()
    };
    // Longer than the inline capacity, and not text.
    let long = "Scenario 1007, record 1 of 1: a free text longer than twenty-two bytes";
    m.operator_spec_information = vec![Octets::from(long), Octets::from_slice(&[0, 0xFF, 0x80, 7])];
    let e = CallEvent::MobileOriginatedCall(m);
    let bytes = e.to_bytes();
    let (el, _) = carrier_adapters::ber::Element::parse(&bytes, 0, "x").unwrap();
    let back = CallEvent::decode(&el).unwrap();
    assert_eq!(back, e);
    let CallEvent::MobileOriginatedCall(b) = back else {
        panic!()
    };
    assert_eq!(b.operator_spec_information[0].to_text(), long);
    assert_eq!(b.operator_spec_information[1].as_slice(), &[0, 0xFF, 0x80, 7]);
}

/// A reader that produces a TAP file of `n` copies of one call event without ever holding
/// the file: indefinite-length batch and list, as a producer streaming to disk would write.
struct Synthetic {
    head: Vec<u8>,
    event: Vec<u8>,
    tail: Vec<u8>,
    n: u64,
    emitted: u64,
    pos: usize,
    stage: u8,
}

impl std::io::Read for Synthetic {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let src: &[u8] = match self.stage {
                0 => &self.head,
                1 if self.emitted < self.n => &self.event,
                1 => {
                    self.stage = 2;
                    self.pos = 0;
                    continue;
                }
                2 => &self.tail,
                _ => return Ok(0),
            };
            if self.pos == src.len() {
                self.pos = 0;
                match self.stage {
                    0 => self.stage = 1,
                    1 => self.emitted += 1,
                    _ => self.stage = 3,
                }
                continue;
            }
            let k = buf.len().min(src.len() - self.pos);
            buf[..k].copy_from_slice(&src[self.pos..self.pos + k]);
            self.pos += k;
            return Ok(k);
        }
    }
}

#[test]
fn memory_stays_bounded_however_long_the_file() {
    use carrier_adapters::ber::BerType;
    let tb = common::clean_batch();
    let mut head = vec![0x61, 0x80];
    let mut w = Writer::new();
    tb.batch_control_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(4), &mut w);
    tb.accounting_info
        .clone()
        .unwrap()
        .encode_ber(Tag::app(5), &mut w);
    tb.network_info.clone().unwrap().encode_ber(Tag::app(6), &mut w);
    head.extend_from_slice(w.as_bytes());
    head.extend_from_slice(&[0x63, 0x80]);
    let event = tb.call_event_details[0].to_bytes();
    let n = 50_000u64;
    let mut audit = tb.audit_control_info.clone().unwrap();
    audit.call_event_details_count = Some(n as i64);
    let mut tail = vec![0, 0];
    let mut aw = Writer::new();
    audit.encode_ber(Tag::app(15), &mut aw);
    tail.extend_from_slice(aw.as_bytes());
    tail.extend_from_slice(&[0, 0]);
    let total = head.len() as u64 + n * event.len() as u64 + tail.len() as u64;
    let input = Synthetic {
        head,
        event,
        tail,
        n,
        emitted: 0,
        pos: 0,
        stage: 0,
    };
    let Ok(Opened::TransferBatch(mut s)) = open(input) else {
        panic!()
    };
    let mut count = 0u64;
    let mut peak = 0usize;
    while let Some(e) = s.next() {
        e.unwrap();
        count += 1;
        peak = peak.max(s.buffered_bytes());
    }
    let t = s.finish().unwrap();
    assert_eq!(count, n);
    assert_eq!(t.file_bytes, total);
    assert_eq!(
        t.audit_control_info.unwrap().call_event_details_count,
        Some(n as i64)
    );
    assert!(
        peak <= 4 * carrier_adapters::limits::READ_CHUNK_BYTES,
        "{peak} bytes buffered for a {total}-byte file"
    );
}

//! Inputs the fuzz targets (`fuzz/`) found to break an invariant, kept as regression tests.
//! Each file under `testdata/fuzz-regressions/` is replayed through the same checks as its
//! fuzz target.

mod manifest;

fn case(name: &str) -> Vec<u8> {
    let path = manifest::dir().join("testdata/fuzz-regressions").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// RAP target: a decoded file re-encodes to a file that decodes to the same value. Found:
/// a CHOICE alternative in the PRIVATE class with the number of a known APPLICATION
/// alternative ([PRIVATE 218] where teleServiceCode is [APPLICATION 218]) was kept as an
/// unknown alternative by number only and came back as a teleServiceCode.
#[test]
fn rap_unknown_choice_alternative_keeps_its_class() {
    let data = case("rap-unknown-choice-class.bin");
    let f = carrier_adapters::rap::decode(&data).unwrap();
    let again = carrier_adapters::rap::decode(&carrier_adapters::rap::encode(&f)).unwrap();
    assert_eq!(again, f);
}

/// The same for a call event of a foreign class with a known number.
#[test]
fn unknown_call_event_keeps_its_class() {
    use carrier_adapters::ber::{Class, Element, Tag, Writer};
    use carrier_adapters::tap::CallEvent;
    let mut w = Writer::new();
    let m = w.begin(Tag {
        class: Class::Private,
        number: 9,
    });
    w.end(m);
    let (el, _) = Element::parse(w.as_bytes(), 0, "x").unwrap();
    let e = CallEvent::decode(&el).unwrap();
    assert!(matches!(e, CallEvent::Unknown(t) if t.class == Class::Private));
    let bytes = e.to_bytes();
    let (el2, _) = Element::parse(&bytes, 0, "x").unwrap();
    assert_eq!(CallEvent::decode(&el2).unwrap(), e);
}

/// RAP and NRTRDE targets: an indefinite-length element holding a definite-length child that
/// claims a length near 2^64 overflowed the "bytes needed" sum (a panic with overflow checks,
/// a wrong figure without). Now a truncation error naming the outer element.
#[test]
fn nested_huge_lengths_are_truncation_not_overflow() {
    for (name, decode) in [
        (
            "rap-nested-huge-length.bin",
            (|b: &[u8]| carrier_adapters::rap::decode(b).map(|_| ()))
                as fn(&[u8]) -> Result<(), carrier_adapters::Error>,
        ),
        ("nrtrde-nested-huge-length.bin", |b: &[u8]| {
            carrier_adapters::nrtrde::decode(b).map(|_| ())
        }),
    ] {
        let e = decode(&case(name)).unwrap_err();
        assert!(
            matches!(e, carrier_adapters::Error::Truncated { offset: 0, .. }),
            "{name}: {e}"
        );
    }
}

/// The same lengths at the TAP stream's own levels (transfer batch, call event list).
#[test]
fn tap_levels_with_huge_lengths_are_errors() {
    use carrier_adapters::Error;
    use carrier_adapters::tap::{Opened, decode, open};
    let huge = [0x88, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0];
    let mut batch = vec![0x61];
    batch.extend_from_slice(&huge);
    batch.extend_from_slice(&[0x64, 0x00]);
    assert!(
        matches!(decode(&batch), Err(Error::Truncated { .. })),
        "{:?}",
        decode(&batch)
    );
    let mut list = vec![0x61, 0x80, 0x63];
    list.extend_from_slice(&huge);
    list.extend_from_slice(&[0x69, 0x00]);
    let Ok(Opened::TransferBatch(mut s)) = open(&list[..]) else {
        panic!()
    };
    assert!(s.next().unwrap().is_ok(), "the one event present decodes");
    assert!(matches!(s.next(), Some(Err(Error::Truncated { .. }))));
    let mut group = vec![0x61, 0x0C, 0x64];
    group.extend_from_slice(&huge);
    assert!(decode(&group).is_err());
}

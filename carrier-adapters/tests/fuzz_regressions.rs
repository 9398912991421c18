//! Inputs the fuzz targets (`fuzz/`) found to break an invariant, kept as regression tests.
//! Each file under `testdata/fuzz-regressions/` is replayed through the same checks as its
//! fuzz target.

use std::path::PathBuf;

fn case(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/fuzz-regressions")
            .join(name),
    )
    .unwrap()
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

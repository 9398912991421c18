//! RAP: decode, audit check and re-encode must never panic; a decoded file re-encodes to a
//! file that decodes to the same value.
#![no_main]
use carrier_adapters::rap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = rap::decode(data) {
        if let rap::RapFile::ReturnBatch(b) = &f {
            let _ = rap::check(b);
        }
        let again = rap::decode(&rap::encode(&f)).expect("re-encoded RAP decodes");
        assert_eq!(again, f);
    }
});

//! NRTRDE: decode and mapping must never panic.
#![no_main]
use carrier_adapters::nrtrde;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = nrtrde::decode(data) {
        let r = nrtrde::report(&f);
        assert!(r.records.len() <= f.call_events.len());
    }
});

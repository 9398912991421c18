//! TAP: stream decode, TD.57 validation and mapping must never panic, whatever the bytes.
#![no_main]
use carrier_adapters::tap::ingest::ingest;
use carrier_adapters::tap::validate::ValidationContext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ingest(data, &ValidationContext::default()) {
        // Records never outnumber events.
        assert!(r.records.len() <= r.report.events as usize);
    }
    let _ = carrier_adapters::tap::decode(data).map(|d| carrier_adapters::tap::encode(&d));
});

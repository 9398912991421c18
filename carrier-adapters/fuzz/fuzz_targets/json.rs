//! TMF635 JSON: reading any bytes must never panic.
#![no_main]
use carrier_adapters::tmf635::{JsonOptions, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = JsonOptions {
        scale: carrier_adapters::Scale::new(3).unwrap(),
        currency: None,
    };
    let _ = read(data, &opts);
});

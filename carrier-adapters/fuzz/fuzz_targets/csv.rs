//! CSV: reading any bytes must never panic; every error names a line.
#![no_main]
use carrier_adapters::csv::CsvReader;
use libfuzzer_sys::fuzz_target;
use settlement_scale::scale3;

mod settlement_scale {
    pub fn scale3() -> carrier_adapters::Scale {
        carrier_adapters::Scale::new(3).unwrap()
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = CsvReader::new(data, scale3()) {
        for row in r.take(10_000) {
            if let Err(e) = row {
                assert!(matches!(e, carrier_adapters::Error::Csv { line, .. } if line >= 1));
            }
        }
    }
});

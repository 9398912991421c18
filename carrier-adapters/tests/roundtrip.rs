//! Property tests: decode(encode(x)) == x for TAP and RAP values over generated batches, in
//! both BER length forms.

mod common;

use carrier_adapters::rap::{self, RapFile, SevereInput};
use carrier_adapters::tap::generate::{Mutations, generate};
use carrier_adapters::tap::ingest::ingest;
use carrier_adapters::tap::validate::ValidationContext;
use carrier_adapters::tap::{DataInterChange, decode, encode};
use proptest::prelude::*;

fn mutations() -> impl Strategy<Value = Mutations> {
    (any::<bool>(), any::<bool>(), 0u32..3, 0u32..3).prop_map(|(a, b, c, d)| Mutations {
        bad_total_charge: a,
        bad_event_count: b,
        bad_time_stamps: c,
        duplicates: d,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn tap_round_trips(seed: u64, events in 6u32..60, places in 0u8..=6, test: bool, m in mutations()) {
        let mut cfg = common::cfg(events, seed);
        cfg.tap_decimal_places = places;
        cfg.test = test;
        cfg.mutations = m;
        let x = DataInterChange::TransferBatch(generate(&cfg).unwrap());
        let bytes = encode(&x);
        prop_assert_eq!(decode(&bytes).unwrap(), x.clone());
        // The same content with indefinite lengths decodes to the same value, and the
        // validation outcome does not depend on the length form.
        let indefinite = common::to_indefinite(&bytes);
        prop_assert_ne!(&indefinite, &bytes);
        prop_assert_eq!(decode(&indefinite).unwrap(), x);
        let a = ingest(&bytes, &ValidationContext::default()).unwrap();
        let b = ingest(&indefinite, &ValidationContext::default()).unwrap();
        prop_assert_eq!(a.records, b.records);
        prop_assert_eq!(a.report.diagnostics.len(), b.report.diagnostics.len());
    }

    #[test]
    fn rap_round_trips(seed: u64, events in 6u32..40, returned in 1usize..6) {
        let tb = generate(&common::cfg(events, seed)).unwrap();
        let severe: Vec<SevereInput> = tb
            .call_event_details
            .iter()
            .take(returned)
            .enumerate()
            .map(|(i, e)| SevereInput {
                file_sequence_number: 1,
                call_event: e.clone(),
                errors: vec![rap::ErrorDetail {
                    error_context: vec![rap::ErrorContext {
                        path_item_id: Some(i64::from(e.tag())),
                        item_occurrence: Some(i as i64 + 1),
                        item_level: Some(1),
                    }],
                    item_offset: None,
                    error_code: Some(100),
                }],
            })
            .collect();
        let rb = rap::build_return_batch(&common::rap_header(), vec![], severe).unwrap();
        let (verdict, d) = rap::check(&rb);
        prop_assert_eq!(verdict, carrier_adapters::diagnostic::Verdict::Ok, "{:?}", d);
        let f = RapFile::ReturnBatch(rb);
        let bytes = rap::encode(&f);
        prop_assert_eq!(rap::decode(&bytes).unwrap(), f.clone());
        prop_assert_eq!(rap::decode(&common::to_indefinite(&bytes)).unwrap(), f);
    }
}

//! Whatever a sender sends, a normalizer answers alerts or an error; it never panics.

mod support;

use aurora_domain::SourceType;
use aurora_testkit::json::{arbitrary_json, mutated};
use proptest::prelude::*;
use support::{examples_dir, normalize};

/// The own examples as JSON, with the source each is for.
fn examples() -> Vec<(SourceType, serde_json::Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source: SourceType = name.split('_').next().unwrap().parse().unwrap();
        out.push((
            source,
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
        ));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_never_panics_any_normalizer(body in arbitrary_json()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        for source in SourceType::ALL {
            let _ = normalize(*source, &bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_normalizer(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for source in SourceType::ALL {
            // Only JSON normalizes, and on Datadog's route a form body.
            prop_assert!(
                normalize(*source, &bytes).is_err()
                    || serde_json::from_slice::<serde_json::Value>(&bytes).is_ok()
                    || (*source == SourceType::Datadog && aurora_vendors::form_body_as_json(&bytes).is_some())
            );
        }
    }

    #[test]
    fn a_real_payload_with_one_thing_wrong_never_panics(
        (source, body) in proptest::sample::select(examples()).prop_flat_map(|(source, body)| (Just(source), mutated(body)))
    ) {
        let bytes = serde_json::to_vec(&body).unwrap();
        if let Ok(normalized) = normalize(source, &bytes) {
            for alert in normalized.alerts {
                prop_assert!(!alert.title.trim().is_empty());
                prop_assert!(alert.title.chars().count() <= 300);
            }
        }
    }
}

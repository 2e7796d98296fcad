//! Every payload on file, shared fixture or the repo's own example, normalizes, and its
//! normalized form is pinned by a snapshot.

mod support;

use aurora_domain::SourceType;
use support::{FIXTURE_FOLDERS, examples_dir, normalize};

#[test]
fn every_shared_fixture_normalizes_for_every_route_that_takes_it() {
    for (folder, sources) in FIXTURE_FOLDERS {
        let Some(fixtures) = aurora_testkit::fixtures_in(folder) else {
            return;
        };
        assert!(!fixtures.is_empty(), "{folder} has fixtures");
        for fixture in fixtures {
            for (i, source) in sources.iter().enumerate() {
                let normalized = normalize(*source, &fixture.body)
                    .unwrap_or_else(|err| panic!("{folder}/{} as {source}: {err}", fixture.name));
                for alert in &normalized.alerts {
                    assert_eq!(alert.source_type, *source);
                    assert!(!alert.title.trim().is_empty());
                }
                if i == 0 {
                    insta::assert_json_snapshot!(
                        format!("fixture__{folder}__{}", fixture.name),
                        normalized
                    );
                }
            }
        }
    }
}

#[test]
fn every_own_example_normalizes_and_every_vendor_has_one() {
    let mut covered = std::collections::BTreeSet::new();
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let vendor = name.split('_').next().unwrap();
        let source: SourceType = vendor.parse().unwrap_or_else(|err| panic!("{name}: {err}"));
        let body = support::example(&name);
        let normalized = normalize(source, &body).unwrap_or_else(|err| panic!("{name}: {err}"));
        insta::assert_json_snapshot!(format!("example__{name}"), normalized);
        covered.insert(source);
    }
    // CloudBees CI shares Jenkins' bodies and normalizer.
    covered.insert(SourceType::Cloudbees);
    let missing: Vec<_> = SourceType::ALL
        .iter()
        .filter(|s| !covered.contains(s))
        .collect();
    assert!(missing.is_empty(), "no example payload for {missing:?}");
}

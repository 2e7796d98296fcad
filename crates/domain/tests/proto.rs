//! The bus contract in `proto/` is generated from the Rust types; this test fails when they
//! drift. After an intended change, regenerate with `AURORA_UPDATE_PROTO=1 cargo test -p
//! aurora-domain --test proto` and review the diff.

use std::path::PathBuf;

use aurora_domain::{AlertBatch, IncidentChanged, IncidentCreated, IntegrationChanged};

fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

fn check(file: &str, schema: schemars::Schema) {
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = proto_dir().join(file);
    if std::env::var_os("AURORA_UPDATE_PROTO").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert!(
        committed == generated,
        "proto/{file} does not match the Rust type; regenerate with AURORA_UPDATE_PROTO=1 and review.\n--- generated ---\n{generated}"
    );
}

#[test]
fn alert_batch_schema_matches_proto() {
    check("alert_batch.schema.json", schemars::schema_for!(AlertBatch));
}

#[test]
fn incident_created_schema_matches_proto() {
    check(
        "incident_created.schema.json",
        schemars::schema_for!(IncidentCreated),
    );
}

#[test]
fn incident_changed_schema_matches_proto() {
    check(
        "incident_changed.schema.json",
        schemars::schema_for!(IncidentChanged),
    );
}

#[test]
fn integration_changed_schema_matches_proto() {
    check(
        "integration_changed.schema.json",
        schemars::schema_for!(IntegrationChanged),
    );
}

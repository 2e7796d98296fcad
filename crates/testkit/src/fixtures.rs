//! The shared webhook fixtures (`../shared/fixtures/webhooks`, or `AURORA_FIXTURES_DIR`).
//!
//! A user's clone has no `../shared/`; tests that need the fixtures then print a notice and
//! skip, while the repo's own example payloads still cover every vendor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One fixture: its raw body bytes (exact, for signatures) and headers, if it has any.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// File name, e.g. `unified_firing_two_alerts_docs.json`.
    pub name: String,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// From `<name>.headers.json`; empty when there is none.
    pub headers: BTreeMap<String, String>,
}

fn fixtures_root() -> Option<PathBuf> {
    let root = std::env::var_os("AURORA_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/webhooks")
        });
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "notice: webhook fixtures not found at {}; set AURORA_FIXTURES_DIR to run the fixture tests (skipping)",
            root.display()
        );
        None
    }
}

fn load(path: &Path) -> Fixture {
    let body = std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let headers_path = path.with_extension("headers.json");
    let headers = if headers_path.exists() {
        let text = std::fs::read(&headers_path).expect("headers file is readable");
        serde_json::from_slice(&text).expect("headers file is a JSON object of strings")
    } else {
        BTreeMap::new()
    };
    Fixture {
        name: path
            .file_name()
            .expect("a file")
            .to_string_lossy()
            .into_owned(),
        body,
        headers,
    }
}

/// Every body fixture of a vendor folder (not the `.headers.json` files), sorted by name;
/// `None` (after a printed notice) when the fixtures are not there.
pub fn fixtures_in(vendor: &str) -> Option<Vec<Fixture>> {
    let dir = fixtures_root()?.join(vendor);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.ends_with(".json") && !name.ends_with(".headers.json")
        })
        .collect();
    paths.sort();
    Some(paths.iter().map(|path| load(path)).collect())
}

/// One fixture by vendor folder and file name; `None` (after a notice) when absent.
pub fn fixture(vendor: &str, name: &str) -> Option<Fixture> {
    Some(load(&fixtures_root()?.join(vendor).join(name)))
}

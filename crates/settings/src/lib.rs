//! Aurora's configuration: built-in defaults, then a TOML file, then environment variables.
//!
//! The file is `$AURORA_CONFIG` when set, else `aurora.toml` in the working directory when it
//! exists. Environment variables are `AURORA__<SECTION>__<KEY>`, e.g.
//! `AURORA__DATABASE__URL`. Every setting, with its default:
//!
//! | setting | default | meaning |
//! | --- | --- | --- |
//! | `database.url` | `postgres://postgres@127.0.0.1:5432/aurora` | PostgreSQL |
//! | `database.pool_size` | `10` | connections per process |
//! | `database.statement_timeout_ms` | `10000` | server-side statement limit |
//! | `nats.url` | `nats://127.0.0.1:4222` | NATS with JetStream |
//! | `nats.prefix` | empty | prefix for stream and subject names (isolated test or tenant) |
//! | `ingress.bind` | `127.0.0.1:8080` | webhook listener |
//! | `ingress.public_url` | `http://127.0.0.1:8080` | base of webhook URLs printed for users |
//! | `ingress.body_limit_bytes` | `1048576` | larger bodies get 413 |
//! | `ingress.signature_tolerance_secs` | `300` | oldest signed timestamp accepted |
//! | `api.bind` | `127.0.0.1:8081` | incidents API listener |
//! | `correlator.bind` | `127.0.0.1:8082` | correlator health and readiness |
//! | `rca_worker.bind` | `127.0.0.1:8083` | RCA worker health and readiness |
//! | `telemetry.log_format` | `text` | `text` or `json` |
//! | `telemetry.log_filter` | `info` | `tracing` filter directives |
//! | `telemetry.otlp_endpoint` | unset | OTLP/HTTP endpoint for traces |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use config::{Config, Environment, File};
use secrecy::SecretString;
use serde::Deserialize;

/// Every setting of every service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// NATS.
    pub nats: NatsSettings,
    /// Webhook ingress.
    pub ingress: IngressSettings,
    /// Incidents API.
    pub api: ListenSettings,
    /// Correlator.
    pub correlator: ListenSettings,
    /// RCA worker.
    pub rca_worker: ListenSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
}

/// PostgreSQL settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Connection URL; may hold a password, so it is kept secret.
    pub url: SecretString,
    /// Connections per process.
    pub pool_size: usize,
    /// Server-side statement limit in milliseconds.
    pub statement_timeout_ms: u64,
}

/// NATS settings.
#[derive(Debug, Clone, Deserialize)]
pub struct NatsSettings {
    /// Server URL.
    pub url: String,
    /// Prefix for stream and subject names; empty in production.
    pub prefix: String,
}

/// Webhook ingress settings.
#[derive(Debug, Clone, Deserialize)]
pub struct IngressSettings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Base URL users' tools reach the ingress at, for printed webhook URLs.
    pub public_url: String,
    /// Largest accepted body.
    pub body_limit_bytes: usize,
    /// Oldest signature timestamp accepted, in seconds, either side of now.
    pub signature_tolerance_secs: u64,
}

/// A service that only needs a listen address.
#[derive(Debug, Clone, Deserialize)]
pub struct ListenSettings {
    /// Listen address (API, or health and readiness for workers).
    pub bind: SocketAddr,
}

/// Logging and tracing settings.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `text` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` overrides.
    pub log_filter: String,
    /// OTLP/HTTP endpoint for traces; none exports nothing.
    pub otlp_endpoint: Option<String>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings that could not be loaded; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(String);

const DEFAULTS: &str = r#"
[database]
url = "postgres://postgres@127.0.0.1:5432/aurora"
pool_size = 10
statement_timeout_ms = 10000

[nats]
url = "nats://127.0.0.1:4222"
prefix = ""

[ingress]
bind = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
body_limit_bytes = 1048576
signature_tolerance_secs = 300

[api]
bind = "127.0.0.1:8081"

[correlator]
bind = "127.0.0.1:8082"

[rca_worker]
bind = "127.0.0.1:8083"

[telemetry]
log_format = "text"
log_filter = "info"
"#;

impl Settings {
    /// Loads defaults, then the config file, then `AURORA__…` variables, and validates.
    pub fn load() -> Result<Self, SettingsError> {
        let file = std::env::var_os("AURORA_CONFIG").map(PathBuf::from);
        Self::load_from(file, None)
    }

    /// Loads from an explicit file and, when given, these variables instead of the process
    /// environment (for tests: the environment is process-wide).
    pub fn load_from(
        file: Option<PathBuf>,
        environment: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULTS, config::FileFormat::Toml));
        builder = match file {
            Some(path) => builder.add_source(File::from(path).required(true)),
            None => builder.add_source(File::with_name("aurora.toml").required(false)),
        };
        let settings: Settings = builder
            .add_source(
                Environment::with_prefix("AURORA")
                    .prefix_separator("__")
                    .separator("__")
                    .source(environment),
            )
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|err| SettingsError(err.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.database.pool_size == 0 {
            return Err(SettingsError(
                "database.pool_size must be at least 1".into(),
            ));
        }
        if self.ingress.body_limit_bytes == 0 {
            return Err(SettingsError(
                "ingress.body_limit_bytes must be at least 1".into(),
            ));
        }
        if !self.ingress.public_url.starts_with("http://")
            && !self.ingress.public_url.starts_with("https://")
        {
            return Err(SettingsError(format!(
                "ingress.public_url must start with http:// or https://, got `{}`",
                self.ingress.public_url
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults_load_and_environment_overrides_them() {
        let defaults = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(defaults.ingress.body_limit_bytes, 1_048_576);
        assert_eq!(defaults.nats.prefix, "");
        let custom = Settings::load_from(
            None,
            env(&[
                ("AURORA__INGRESS__BODY_LIMIT_BYTES", "2048"),
                ("AURORA__NATS__PREFIX", "staging"),
            ]),
        )
        .unwrap();
        assert_eq!(custom.ingress.body_limit_bytes, 2048);
        assert_eq!(custom.nats.prefix, "staging");
    }

    #[test]
    fn an_invalid_setting_is_named() {
        let err = Settings::load_from(
            None,
            env(&[("AURORA__INGRESS__PUBLIC_URL", "alerts.example.com")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ingress.public_url"), "{err}");
        let err = Settings::load_from(None, env(&[("AURORA__INGRESS__BIND", "not an address")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bind"), "{err}");
    }
}

//! The normalized alert: what every vendor's webhook becomes.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AlertStatus, DeploymentResult, Severity, SourceType};

/// The vendor's stable key for one problem: its firing and its resolved notification carry the
/// same fingerprint, two different problems different ones.
///
/// Never empty and at most [`Fingerprint::MAX_LEN`] bytes; a longer vendor key is hashed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(String);

/// A fingerprint that is empty or too long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fingerprint must be 1 to {max} bytes, got {len}", max = Fingerprint::MAX_LEN)]
pub struct FingerprintError {
    len: usize,
}

impl Fingerprint {
    /// The longest fingerprint kept as is.
    pub const MAX_LEN: usize = 255;

    /// Validates a vendor's key as a fingerprint.
    pub fn parse(value: impl Into<String>) -> Result<Self, FingerprintError> {
        let value = value.into();
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(FingerprintError { len: value.len() });
        }
        Ok(Self(value))
    }

    /// A fingerprint from parts that identify a problem when the vendor has no key of its own
    /// (a label set, a job and build number). The parts are hashed, so any length fits and the
    /// same parts always give the same fingerprint.
    pub fn from_parts<'a>(parts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            // Length-prefix each part so ("ab", "c") and ("a", "bc") differ.
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(hex::encode(&hasher.finalize()[..16]))
    }

    /// The fingerprint as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = FingerprintError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Fingerprint> for String {
    fn from(fingerprint: Fingerprint) -> Self {
        fingerprint.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One alert in Aurora's terms, whichever vendor sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NormalizedAlert {
    /// The vendor.
    pub source_type: SourceType,
    /// The vendor's stable key for this problem.
    pub fingerprint: Fingerprint,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// On Aurora's scale.
    pub severity: Severity,
    /// What a person reads first.
    pub title: String,
    /// The affected service, when the payload names one.
    pub service: Option<String>,
    /// The environment (production, staging …), when the payload names one.
    pub environment: Option<String>,
    /// When the problem began, per the vendor (or receipt time when it does not say).
    pub started_at: DateTime<Utc>,
    /// The vendor's labels or tags, as strings.
    pub labels: BTreeMap<String, String>,
    /// A link back to the alert in the vendor's UI.
    pub url: Option<String>,
    /// What the vendor says beyond the title (annotations, message body, details): often the
    /// sentence that names what is wrong. Absent from alerts stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The vendor's runbook link, when the alert carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
}

/// A finished build reported by a CI system, which correlation and analysis weigh as a likely
/// cause of what breaks after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentEvent {
    /// The CI system.
    pub source_type: SourceType,
    /// The deployed service (the job's name when the build names no service).
    pub service: String,
    /// Where it was deployed, when the build says.
    pub environment: Option<String>,
    /// How the build ended.
    pub result: DeploymentResult,
    /// The build number or name.
    pub build: Option<String>,
    /// A link to the build.
    pub url: Option<String>,
    /// The commit built.
    pub commit: Option<String>,
    /// The branch built.
    pub branch: Option<String>,
    /// When the build started, when the CI system says.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished (receipt time when the CI system does not say).
    pub finished_at: DateTime<Utc>,
}

/// What one webhook body normalizes to: any number of alerts (a group, or none for a test
/// notification) and, from CI systems, a deployment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Normalized {
    /// The alerts, in the order the body lists them.
    pub alerts: Vec<NormalizedAlert>,
    /// The deployment the body reports, if any.
    pub deployment: Option<DeploymentEvent>,
}

impl Normalized {
    /// True when the body carried nothing to act on (a test or ping notification).
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.deployment.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_fingerprint_cannot_exist() {
        assert!(Fingerprint::parse("").is_err());
        assert!(serde_json::from_str::<Fingerprint>("\"\"").is_err());
        assert!(Fingerprint::parse("x".repeat(256)).is_err());
    }

    #[test]
    fn fingerprints_from_parts_are_stable_and_distinct() {
        let a = Fingerprint::from_parts(["ab", "c"]);
        assert_eq!(a, Fingerprint::from_parts(["ab", "c"]));
        assert_ne!(a, Fingerprint::from_parts(["a", "bc"]));
        assert_eq!(a.as_str().len(), 32);
    }
}

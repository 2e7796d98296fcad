//! Vendor signatures, verified over the raw body bytes in constant time against any of the
//! integration's secrets (so a secret can be rotated without dropping alerts).

use std::time::Duration;

use aurora_vendors::{Headers, SignatureScheme};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::IngressError;

type HmacSha256 = Hmac<Sha256>;

/// Grafana's signature header (its default name).
const GRAFANA_SIGNATURE: &str = "X-Grafana-Alerting-Signature";
/// Grafana's timestamp header, sent when a timestamp header is configured.
const GRAFANA_TIMESTAMP: &str = "X-Grafana-Alerting-Timestamp";

/// PagerDuty's signature header.
const PAGERDUTY_SIGNATURE: &str = "X-PagerDuty-Signature";
/// Aurora's own signature header for the CI pipeline snippets.
const AURORA_SIGNATURE: &str = "X-Aurora-Signature";

/// What a signature is checked against.
pub(crate) struct SignatureCheck<'a> {
    /// The request's headers.
    pub headers: &'a Headers,
    /// The raw body.
    pub body: &'a [u8],
    /// The integration's secrets; any one verifies.
    pub secrets: &'a [String],
    /// Now, per the injectable clock.
    pub now: DateTime<Utc>,
    /// Oldest timestamp accepted, either side of now.
    pub tolerance: Duration,
}

impl SignatureCheck<'_> {
    /// Verifies the request under `scheme`.
    pub(crate) fn verify(&self, scheme: SignatureScheme) -> Result<(), IngressError> {
        match scheme {
            SignatureScheme::Grafana => self.verify_grafana(),
            SignatureScheme::Pagerduty => self.verify_pagerduty(),
            SignatureScheme::Aurora => self.verify_aurora(),
        }
    }

    fn header(&self, name: &str) -> Result<&str, IngressError> {
        self.headers
            .get(name)
            .ok_or_else(|| IngressError::Unauthorized(format!("missing {name} header")))
    }

    /// PagerDuty: `v1=<hex>`, several comma-separated while a secret rotates; any one of them
    /// under any secret passes.
    fn verify_pagerduty(&self) -> Result<(), IngressError> {
        let signatures: Vec<Vec<u8>> = self
            .header(PAGERDUTY_SIGNATURE)?
            .split(',')
            .filter_map(|part| part.trim().strip_prefix("v1="))
            .filter_map(|hex_text| hex::decode(hex_text).ok())
            .collect();
        if signatures.is_empty() {
            return Err(IngressError::Unauthorized(format!(
                "{PAGERDUTY_SIGNATURE} holds no v1=<hex> signature"
            )));
        }
        self.any_secret_matches(b"", &signatures)
    }

    /// Aurora's snippets: `sha256=<hex>` (the prefix may be left out).
    fn verify_aurora(&self) -> Result<(), IngressError> {
        let value = self.header(AURORA_SIGNATURE)?.trim();
        let signature =
            hex::decode(value.strip_prefix("sha256=").unwrap_or(value)).map_err(|_| {
                IngressError::Unauthorized(format!("{AURORA_SIGNATURE} is not sha256=<hex>"))
            })?;
        self.any_secret_matches(b"", &[signature])
    }

    /// Grafana: hex HMAC-SHA256 of the body, or of `timestamp:body` with a timestamp header
    /// (grafana/alerting `http/hmac.go`).
    fn verify_grafana(&self) -> Result<(), IngressError> {
        let signature = self.headers.get(GRAFANA_SIGNATURE).ok_or_else(|| {
            IngressError::Unauthorized(format!("missing {GRAFANA_SIGNATURE} header"))
        })?;
        let signature = hex::decode(signature.trim())
            .map_err(|_| IngressError::Unauthorized(format!("{GRAFANA_SIGNATURE} is not hex")))?;
        let timestamp = self.headers.get(GRAFANA_TIMESTAMP);
        if let Some(timestamp) = timestamp {
            self.check_fresh(timestamp)?;
        }
        let signed_prefix = timestamp.map(|ts| format!("{ts}:"));
        self.any_secret_matches(
            signed_prefix.as_deref().unwrap_or("").as_bytes(),
            &[signature],
        )
    }

    fn check_fresh(&self, timestamp: &str) -> Result<(), IngressError> {
        let seconds: i64 = timestamp.trim().parse().map_err(|_| {
            IngressError::Unauthorized(format!("{GRAFANA_TIMESTAMP} is not a Unix time"))
        })?;
        let age = (self.now.timestamp() - seconds).unsigned_abs();
        if age > self.tolerance.as_secs() {
            return Err(IngressError::Unauthorized(format!(
                "signature timestamp is {age} s from now, beyond the {} s tolerance",
                self.tolerance.as_secs()
            )));
        }
        Ok(())
    }

    /// Passes when HMAC(secret, prefix + body) equals one of `signatures` for any secret.
    fn any_secret_matches(
        &self,
        prefix: &[u8],
        signatures: &[Vec<u8>],
    ) -> Result<(), IngressError> {
        let matches = self.secrets.iter().any(|secret| {
            let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(prefix);
            mac.update(self.body);
            // verify_slice compares in constant time.
            signatures
                .iter()
                .any(|signature| mac.clone().verify_slice(signature).is_ok())
        });
        if matches {
            Ok(())
        } else {
            Err(IngressError::Unauthorized(
                "signature does not match".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, message: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    fn check<'a>(
        headers: &'a Headers,
        body: &'a [u8],
        secrets: &'a [String],
        now: i64,
    ) -> SignatureCheck<'a> {
        SignatureCheck {
            headers,
            body,
            secrets,
            now: DateTime::from_timestamp(now, 0).unwrap(),
            tolerance: Duration::from_secs(300),
        }
    }

    #[test]
    fn any_rotated_secret_verifies() {
        let body = br#"{"alerts":[]}"#;
        let headers = Headers::from_pairs([(GRAFANA_SIGNATURE, sign("new", body))]);
        let secrets = vec!["old".to_owned(), "new".to_owned()];
        assert!(
            check(&headers, body, &secrets, 0)
                .verify(SignatureScheme::Grafana)
                .is_ok()
        );
        let wrong = vec!["other".to_owned()];
        assert!(
            check(&headers, body, &wrong, 0)
                .verify(SignatureScheme::Grafana)
                .is_err()
        );
    }

    #[test]
    fn pagerduty_accepts_any_of_several_signatures() {
        let body = br#"{"event":{}}"#;
        let secrets = vec!["s".to_owned()];
        let value = format!("v1={},v1={}", "00".repeat(32), sign("s", body));
        let headers = Headers::from_pairs([(PAGERDUTY_SIGNATURE, value)]);
        assert!(
            check(&headers, body, &secrets, 0)
                .verify(SignatureScheme::Pagerduty)
                .is_ok()
        );
        let only_wrong =
            Headers::from_pairs([(PAGERDUTY_SIGNATURE, format!("v1={}", "00".repeat(32)))]);
        assert!(
            check(&only_wrong, body, &secrets, 0)
                .verify(SignatureScheme::Pagerduty)
                .is_err()
        );
        let garbage = Headers::from_pairs([(PAGERDUTY_SIGNATURE, "v0=zz".to_owned())]);
        let err = check(&garbage, body, &secrets, 0)
            .verify(SignatureScheme::Pagerduty)
            .unwrap_err();
        assert!(err.to_string().contains("no v1="), "{err}");
    }

    #[test]
    fn aurora_signature_with_or_without_its_prefix() {
        let body = b"{}";
        let secrets = vec!["s".to_owned()];
        for value in [format!("sha256={}", sign("s", body)), sign("s", body)] {
            let headers = Headers::from_pairs([(AURORA_SIGNATURE, value)]);
            assert!(
                check(&headers, body, &secrets, 0)
                    .verify(SignatureScheme::Aurora)
                    .is_ok()
            );
        }
        let missing = check(&Headers::default(), body, &secrets, 0).verify(SignatureScheme::Aurora);
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("missing X-Aurora-Signature")
        );
    }

    #[test]
    fn a_timestamped_signature_must_be_fresh_and_cover_the_timestamp() {
        let body = b"{}";
        let secrets = vec!["s".to_owned()];
        let headers = Headers::from_pairs([
            (GRAFANA_TIMESTAMP, "1000".to_owned()),
            (GRAFANA_SIGNATURE, sign("s", b"1000:{}")),
        ]);
        assert!(
            check(&headers, body, &secrets, 1100)
                .verify(SignatureScheme::Grafana)
                .is_ok()
        );
        let stale = check(&headers, body, &secrets, 2000).verify(SignatureScheme::Grafana);
        assert!(stale.unwrap_err().to_string().contains("tolerance"));
        // The same signature without its timestamp covers a different message.
        let stripped = Headers::from_pairs([(GRAFANA_SIGNATURE, sign("s", b"1000:{}"))]);
        assert!(
            check(&stripped, body, &secrets, 1100)
                .verify(SignatureScheme::Grafana)
                .is_err()
        );
    }
}

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
        }
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
            &signature,
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

    /// True when HMAC(secret, prefix + body) equals `signature` for any secret.
    fn any_secret_matches(&self, prefix: &[u8], signature: &[u8]) -> Result<(), IngressError> {
        let matches = self.secrets.iter().any(|secret| {
            let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(prefix);
            mac.update(self.body);
            // verify_slice compares in constant time.
            mac.verify_slice(signature).is_ok()
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

//! Vendor signatures, verified over the raw body bytes in constant time against any of the
//! integration's secrets (so a secret can be rotated without dropping alerts).
//!
//! A signature that covers no timestamp can be replayed for ever by whoever captured one
//! request. Aurora's own scheme therefore signs `timestamp.body` and requires the timestamp
//! unless the integration opted into the old, untimestamped form; Grafana's timestamp is
//! optional unless the integration requires it.

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
/// The Unix time Aurora's signature covers (`HMAC(secret, "<timestamp>.<body>")`).
const AURORA_TIMESTAMP: &str = "X-Aurora-Timestamp";

/// Whether a signature must cover a timestamp; the integration's choice, else the scheme's
/// default ([`TimestampPolicy::default_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampPolicy {
    /// A signature without a timestamp is refused.
    Required,
    /// A signature without a timestamp is accepted (one with a timestamp is still checked).
    Optional,
}

impl TimestampPolicy {
    /// Aurora's snippets always could send a timestamp, so it is required unless the
    /// integration opts out; Grafana sends one only when configured to.
    pub fn default_for(scheme: SignatureScheme) -> Self {
        match scheme {
            SignatureScheme::Aurora => Self::Required,
            SignatureScheme::Grafana | SignatureScheme::Pagerduty => Self::Optional,
        }
    }

    /// The integration's stored choice (`required` or `optional`), else the scheme's default.
    pub fn for_integration(stored: Option<&str>, scheme: SignatureScheme) -> Self {
        match stored {
            Some("required") => Self::Required,
            Some("optional") => Self::Optional,
            _ => Self::default_for(scheme),
        }
    }
}

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
    /// Whether the signature must cover a timestamp.
    pub timestamp: TimestampPolicy,
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

    /// Aurora's snippets: `sha256=<hex>` (the prefix may be left out) of `timestamp.body`
    /// with the timestamp in `X-Aurora-Timestamp`, or of the body alone where the integration
    /// accepts untimestamped signatures.
    fn verify_aurora(&self) -> Result<(), IngressError> {
        let value = self.header(AURORA_SIGNATURE)?.trim();
        let signature =
            hex::decode(value.strip_prefix("sha256=").unwrap_or(value)).map_err(|_| {
                IngressError::Unauthorized(format!("{AURORA_SIGNATURE} is not sha256=<hex>"))
            })?;
        let prefix = self.timestamp_prefix(AURORA_TIMESTAMP, '.')?;
        self.any_secret_matches(prefix.as_deref().unwrap_or("").as_bytes(), &[signature])
    }

    /// `<timestamp><separator>` when the request carries a fresh timestamp in `header`; none
    /// when it carries none and the policy allows that.
    fn timestamp_prefix(
        &self,
        header: &str,
        separator: char,
    ) -> Result<Option<String>, IngressError> {
        match (self.headers.get(header), self.timestamp) {
            (Some(timestamp), _) => {
                self.check_fresh(header, timestamp)?;
                Ok(Some(format!("{timestamp}{separator}")))
            }
            (None, TimestampPolicy::Optional) => Ok(None),
            (None, TimestampPolicy::Required) => Err(IngressError::Unauthorized(format!(
                "missing {header} header: this integration requires signatures over a timestamp"
            ))),
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
        let prefix = self.timestamp_prefix(GRAFANA_TIMESTAMP, ':')?;
        self.any_secret_matches(prefix.as_deref().unwrap_or("").as_bytes(), &[signature])
    }

    /// The timestamp in `header` is a Unix time within the tolerance of now. Checked
    /// arithmetic: a timestamp near `i64::MIN` is refused, not an overflow.
    fn check_fresh(&self, header: &str, timestamp: &str) -> Result<(), IngressError> {
        let seconds: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| IngressError::Unauthorized(format!("{header} is not a Unix time")))?;
        let tolerance = self.tolerance.as_secs();
        match self
            .now
            .timestamp()
            .checked_sub(seconds)
            .map(i64::unsigned_abs)
        {
            Some(age) if age <= tolerance => Ok(()),
            Some(age) => Err(IngressError::Unauthorized(format!(
                "signature timestamp is {age} s from now, beyond the {tolerance} s tolerance"
            ))),
            None => Err(IngressError::Unauthorized(format!(
                "{header} is out of range"
            ))),
        }
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

/// The delivery id of a request signed over a timestamp by Aurora's scheme (CI systems send
/// no id of their own): the timestamp and the body's SHA-256. The same signed request sent
/// again, a replay within the tolerance included, is the same delivery. `None` for other
/// schemes, whose vendors name their deliveries or may legitimately send a body twice.
pub(crate) fn signed_delivery_id(
    scheme: SignatureScheme,
    headers: &Headers,
    body: &[u8],
) -> Option<String> {
    use sha2::Digest;
    let timestamp = headers.get(AURORA_TIMESTAMP)?.trim();
    (scheme == SignatureScheme::Aurora).then(|| {
        format!(
            "signed-{timestamp}-{}",
            hex::encode(&Sha256::digest(body)[..16])
        )
    })
}

#[cfg(test)]
mod tests_support {
    use super::*;

    pub(super) fn sign(secret: &str, message: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    pub(super) fn checker<'a>(
        headers: &'a Headers,
        body: &'a [u8],
        secrets: &'a [String],
        now: i64,
        timestamp: TimestampPolicy,
    ) -> SignatureCheck<'a> {
        SignatureCheck {
            headers,
            body,
            secrets,
            now: DateTime::from_timestamp(now, 0).unwrap(),
            tolerance: Duration::from_secs(300),
            timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    fn check<'a>(
        headers: &'a Headers,
        body: &'a [u8],
        secrets: &'a [String],
        now: i64,
    ) -> SignatureCheck<'a> {
        checker(headers, body, secrets, now, TimestampPolicy::Optional)
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
        for value in [
            format!("sha256={}", sign("s", b"1000.{}")),
            sign("s", b"1000.{}"),
        ] {
            let headers = Headers::from_pairs([
                (AURORA_SIGNATURE, value),
                (AURORA_TIMESTAMP, "1000".to_owned()),
            ]);
            assert!(
                check(&headers, body, &secrets, 1000)
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

#[cfg(test)]
mod replay_tests {
    use super::tests_support::*;
    use super::*;

    #[test]
    fn an_aurora_signature_must_cover_a_fresh_timestamp_unless_the_integration_opts_out() {
        let body = br#"{"build":{"status":"FAILURE"}}"#;
        let secrets = vec!["s".to_owned()];
        let untimestamped = Headers::from_pairs([(AURORA_SIGNATURE, sign("s", body))]);
        let required = checker(&untimestamped, body, &secrets, 0, TimestampPolicy::Required);
        let err = required.verify(SignatureScheme::Aurora).unwrap_err();
        assert!(
            err.to_string().contains("missing X-Aurora-Timestamp"),
            "{err}"
        );
        let optional = checker(&untimestamped, body, &secrets, 0, TimestampPolicy::Optional);
        assert!(optional.verify(SignatureScheme::Aurora).is_ok());

        let mut message = b"5000.".to_vec();
        message.extend_from_slice(body);
        let timestamped = Headers::from_pairs([
            (AURORA_SIGNATURE, format!("sha256={}", sign("s", &message))),
            (AURORA_TIMESTAMP, "5000".to_owned()),
        ]);
        for (now, accepted) in [(5000, true), (5299, true), (5301, false), (4000, false)] {
            let check = checker(&timestamped, body, &secrets, now, TimestampPolicy::Required);
            assert_eq!(
                check.verify(SignatureScheme::Aurora).is_ok(),
                accepted,
                "at {now}"
            );
        }
        // A captured request replayed with a fresh timestamp no longer matches.
        let replayed = Headers::from_pairs([
            (AURORA_SIGNATURE, format!("sha256={}", sign("s", &message))),
            (AURORA_TIMESTAMP, "9000".to_owned()),
        ]);
        let check = checker(&replayed, body, &secrets, 9000, TimestampPolicy::Required);
        assert!(check.verify(SignatureScheme::Aurora).is_err());
    }

    #[test]
    fn a_signed_ci_request_sent_again_is_the_same_delivery() {
        let headers = Headers::from_pairs([(AURORA_TIMESTAMP, "5000".to_owned())]);
        let first = signed_delivery_id(SignatureScheme::Aurora, &headers, b"{}");
        assert_eq!(
            first,
            signed_delivery_id(SignatureScheme::Aurora, &headers, b"{}")
        );
        assert!(first.as_deref().unwrap().len() <= 128);
        assert_ne!(
            first,
            signed_delivery_id(SignatureScheme::Aurora, &headers, b"{ }")
        );
        assert_eq!(
            signed_delivery_id(SignatureScheme::Grafana, &headers, b"{}"),
            None
        );
        assert_eq!(
            signed_delivery_id(SignatureScheme::Aurora, &Headers::default(), b"{}"),
            None
        );
    }

    #[test]
    fn grafana_can_be_required_to_send_its_timestamp() {
        let body = b"{}";
        let secrets = vec!["s".to_owned()];
        let headers = Headers::from_pairs([(GRAFANA_SIGNATURE, sign("s", body))]);
        let check = checker(&headers, body, &secrets, 0, TimestampPolicy::Required);
        let err = check.verify(SignatureScheme::Grafana).unwrap_err();
        assert!(
            err.to_string().contains("X-Grafana-Alerting-Timestamp"),
            "{err}"
        );
        assert_eq!(
            TimestampPolicy::for_integration(None, SignatureScheme::Grafana),
            TimestampPolicy::Optional
        );
        assert_eq!(
            TimestampPolicy::for_integration(None, SignatureScheme::Aurora),
            TimestampPolicy::Required
        );
        assert_eq!(
            TimestampPolicy::for_integration(Some("required"), SignatureScheme::Grafana),
            TimestampPolicy::Required
        );
    }

    #[test]
    fn a_timestamp_at_the_ends_of_the_integer_range_is_refused_without_overflow() {
        let body = b"{}";
        let secrets = vec!["s".to_owned()];
        for extreme in [i64::MIN, i64::MAX] {
            let headers = Headers::from_pairs([
                (GRAFANA_TIMESTAMP, extreme.to_string()),
                (
                    GRAFANA_SIGNATURE,
                    sign("s", format!("{extreme}:{{}}").as_bytes()),
                ),
            ]);
            let check = checker(&headers, body, &secrets, 1000, TimestampPolicy::Optional);
            assert!(check.verify(SignatureScheme::Grafana).is_err(), "{extreme}");
        }
    }
}

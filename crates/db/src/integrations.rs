//! A user's connection to one monitoring tool: its webhook token and signing secrets.

use std::fmt;

use aurora_domain::SourceType;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::integrations;
use crate::secret_box::{SecretBox, SecretBoxError};
use crate::{QueryResult, time, tokens};

/// A live row of `integrations`.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = integrations)]
pub struct Integration {
    /// Its id, carried on every alert it lets in.
    pub id: Uuid,
    /// The owner.
    pub user_id: String,
    /// The only source whose route accepts this integration's token.
    pub source_type: String,
    /// Secrets the vendor signs with, sealed ([`SecretBox`]); any of them verifies (rotation).
    pub signing_secrets: Vec<String>,
    /// When it was revoked; a revoked integration lets nothing in.
    pub revoked_at: Option<chrono::NaiveDateTime>,
    /// `required` or `optional`: whether its signatures must cover a timestamp; `None` is the
    /// signature scheme's default.
    pub signature_timestamp: Option<String>,
}

impl fmt::Debug for Integration {
    // Secrets stay out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Integration")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("source_type", &self.source_type)
            .field(
                "signing_secrets",
                &format_args!("[{} redacted]", self.signing_secrets.len()),
            )
            .field("revoked_at", &self.revoked_at)
            .field("signature_timestamp", &self.signature_timestamp)
            .finish()
    }
}

impl Integration {
    /// The signing secrets in clear, for verifying a signature.
    pub fn open_secrets(&self, secret_box: &SecretBox) -> Result<Vec<String>, SecretBoxError> {
        self.signing_secrets
            .iter()
            .map(|sealed| secret_box.open(sealed))
            .collect()
    }
}

/// A new integration and the webhook token to show once.
#[derive(Debug)]
pub struct CreatedIntegration {
    /// The stored integration.
    pub integration: Integration,
    /// The token in clear; not stored anywhere.
    pub token: String,
}

/// Creates an integration for a user and source with a fresh webhook token; its signing
/// secrets are sealed with `secret_box` before they are stored.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    source: SourceType,
    signing_secrets: &[String],
    secret_box: Option<&SecretBox>,
) -> QueryResult<CreatedIntegration> {
    let sealed = seal_all(signing_secrets, secret_box)?;
    let token = tokens::mint("aur_whk_");
    let integration = diesel::insert_into(integrations::table)
        .values((
            integrations::user_id.eq(user_id),
            integrations::source_type.eq(source.as_str()),
            integrations::token_hash.eq(tokens::hash(&token)),
            integrations::signing_secrets.eq(sealed),
            integrations::created_at.eq(time::now()),
        ))
        .returning(Integration::as_returning())
        .get_result(conn)
        .await?;
    Ok(CreatedIntegration { integration, token })
}

/// The integration a webhook token belongs to, revoked or not: the caller decides, so it can
/// say why it refuses.
pub async fn find_by_token(
    conn: &mut AsyncPgConnection,
    token: &str,
) -> QueryResult<Option<Integration>> {
    integrations::table
        .filter(integrations::token_hash.eq(tokens::hash(token)))
        .select(Integration::as_select())
        .first(conn)
        .await
        .optional()
}

/// Signing secrets sealed for storage; none need no key.
fn seal_all(
    signing_secrets: &[String],
    secret_box: Option<&SecretBox>,
) -> QueryResult<Vec<String>> {
    match (signing_secrets, secret_box) {
        ([], _) => Ok(Vec::new()),
        (secrets, Some(secret_box)) => Ok(secrets
            .iter()
            .map(|secret| secret_box.seal(secret))
            .collect()),
        (_, None) => Err(diesel::result::Error::QueryBuilderError(
            "signing secrets need an encryption key (secrets.encryption_key)".into(),
        )),
    }
}

/// The live integration of a user and source.
#[diesel::dsl::auto_type(no_type_alias)]
fn live<'a>(user_id: &'a str, source: &'a str) -> _ {
    integrations::user_id
        .eq(user_id)
        .and(integrations::source_type.eq(source))
        .and(integrations::revoked_at.is_null())
}

/// The id of a user's live integration of a source, if there is one.
pub async fn live_id(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    source: SourceType,
) -> QueryResult<Option<Uuid>> {
    integrations::table
        .filter(live(user_id, source.as_str()))
        .select(integrations::id)
        .first(conn)
        .await
        .optional()
}

/// Revokes a user's live integration of a source; answers its id, or `None` when there was
/// none. Its token stops working once every ingress heard of it (announce it on the bus) and a
/// new integration can be created for the source.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    source: SourceType,
) -> QueryResult<Option<Uuid>> {
    diesel::update(integrations::table.filter(live(user_id, source.as_str())))
        .set(integrations::revoked_at.eq(time::now()))
        .returning(integrations::id)
        .get_result(conn)
        .await
        .optional()
}

/// Replaces the signing secrets of a user's live integration of a source (list the new and
/// the old one while the vendor switches); answers its id, or `None` when there is none.
pub async fn replace_signing_secrets(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    source: SourceType,
    signing_secrets: &[String],
    secret_box: Option<&SecretBox>,
) -> QueryResult<Option<Uuid>> {
    let sealed = seal_all(signing_secrets, secret_box)?;
    diesel::update(integrations::table.filter(live(user_id, source.as_str())))
        .set(integrations::signing_secrets.eq(sealed))
        .returning(integrations::id)
        .get_result(conn)
        .await
        .optional()
}

/// Sets whether the signatures of a user's live integration of a source must cover a
/// timestamp (`Some("required")`, `Some("optional")`, or `None` for the scheme's default);
/// answers its id, or `None` when there is none.
pub async fn set_signature_timestamp(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    source: SourceType,
    policy: Option<&str>,
) -> QueryResult<Option<Uuid>> {
    diesel::update(integrations::table.filter(live(user_id, source.as_str())))
        .set(integrations::signature_timestamp.eq(policy))
        .returning(integrations::id)
        .get_result(conn)
        .await
        .optional()
}

/// Why signing secrets could not be sealed again.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// The database failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A stored secret opens with none of the configured keys.
    #[error(
        "a signing secret of integration {0} opens with none of the configured keys (add the key that sealed it to secrets.previous_encryption_keys)"
    )]
    CannotOpen(Uuid),
}

/// Seals every stored signing secret (of live and revoked integrations) under the current key
/// of `secret_box`, in one transaction: all or nothing. Answers how many integrations changed.
pub async fn reseal_all(
    conn: &mut AsyncPgConnection,
    secret_box: &SecretBox,
) -> Result<usize, ResealError> {
    use diesel_async::AsyncConnection;
    conn.transaction(async |conn| {
        let rows: Vec<(Uuid, Vec<String>)> = integrations::table
            .filter(integrations::signing_secrets.ne(Vec::<String>::new()))
            .select((integrations::id, integrations::signing_secrets))
            .for_update()
            .load(conn)
            .await?;
        let mut changed = 0;
        for (id, sealed) in rows {
            if sealed.iter().all(|value| secret_box.is_current(value)) {
                continue;
            }
            let resealed = sealed
                .iter()
                .map(|value| {
                    secret_box
                        .open(value)
                        .map(|secret| secret_box.seal(&secret))
                        .map_err(|_| ResealError::CannotOpen(id))
                })
                .collect::<Result<Vec<_>, _>>()?;
            diesel::update(integrations::table.find(id))
                .set(integrations::signing_secrets.eq(resealed))
                .execute(conn)
                .await?;
            changed += 1;
        }
        Ok(changed)
    })
    .await
}

/// The token hashes of every live integration (an ingress knows them from the start).
pub async fn live_token_hashes(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Vec<u8>>> {
    integrations::table
        .filter(integrations::revoked_at.is_null())
        .select(integrations::token_hash)
        .load(conn)
        .await
}

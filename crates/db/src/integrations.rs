//! A user's connection to one monitoring tool: its webhook token and signing secrets.

use std::fmt;

use aurora_domain::SourceType;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::integrations;
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
    /// Secrets the vendor signs with; any of them verifies (rotation).
    pub signing_secrets: Vec<String>,
    /// When it was revoked; a revoked integration lets nothing in.
    pub revoked_at: Option<chrono::NaiveDateTime>,
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
            .finish()
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

/// Creates an integration for a user and source with a fresh webhook token.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    source: SourceType,
    signing_secrets: Vec<String>,
) -> QueryResult<CreatedIntegration> {
    let token = tokens::mint("aur_whk_");
    let integration = diesel::insert_into(integrations::table)
        .values((
            integrations::user_id.eq(user_id),
            integrations::source_type.eq(source.as_str()),
            integrations::token_hash.eq(tokens::hash(&token)),
            integrations::signing_secrets.eq(signing_secrets),
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

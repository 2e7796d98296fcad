//! People who own integrations and incidents, and their API tokens.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::schema::users;
use crate::{QueryResult, time, tokens};

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    /// Stable id, referenced as `user_id` everywhere.
    pub id: String,
    /// Unique name people type (`aurora integration create --user NAME`).
    pub name: String,
    /// SHA-256 of the API token.
    #[serde(skip)]
    pub api_token_hash: Vec<u8>,
    /// When the user was created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: chrono::NaiveDateTime,
}

/// A new user and the API token to show once.
#[derive(Debug)]
pub struct CreatedUser {
    /// The stored user.
    pub user: User,
    /// The token in clear; not stored anywhere.
    pub api_token: String,
}

/// Creates a user with a fresh API token.
pub async fn create(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<CreatedUser> {
    let api_token = tokens::mint("aur_api_");
    let user = diesel::insert_into(users::table)
        .values((
            users::id.eq(uuid::Uuid::new_v4().to_string()),
            users::name.eq(name),
            users::api_token_hash.eq(tokens::hash(&api_token)),
            users::created_at.eq(time::now()),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await?;
    Ok(CreatedUser { user, api_token })
}

/// The user a name belongs to.
pub async fn find_by_name(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::name.eq(name))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// The user an API token belongs to.
pub async fn find_by_api_token(
    conn: &mut AsyncPgConnection,
    token: &str,
) -> QueryResult<Option<User>> {
    users::table
        .filter(users::api_token_hash.eq(tokens::hash(token)))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Gives the user named `name` a fresh API token (shown once) in place of the old one, which
/// stops working at once; `None` when there is no such user.
pub async fn rotate_api_token(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<Option<String>> {
    let api_token = tokens::mint("aur_api_");
    let rotated = set_api_token_hash(conn, name, tokens::hash(&api_token)).await?;
    Ok(rotated.then_some(api_token))
}

/// Revokes the API token of the user named `name`: no token opens the API for it until
/// [`rotate_api_token`]. Answers whether the user exists.
pub async fn revoke_api_token(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<bool> {
    // The hash of a token nobody was shown: nothing presented can match it.
    let unknowable = tokens::hash(&tokens::mint("aur_api_"));
    set_api_token_hash(conn, name, unknowable).await
}

async fn set_api_token_hash(
    conn: &mut AsyncPgConnection,
    name: &str,
    hash: Vec<u8>,
) -> QueryResult<bool> {
    diesel::update(users::table.filter(users::name.eq(name)))
        .set(users::api_token_hash.eq(hash))
        .execute(conn)
        .await
        .map(|rows| rows == 1)
}

//! The connection pool every service shares.

use std::time::Duration;

use diesel::ConnectionError;
/// Runs SQL text (several statements, no results), for setup and tests.
pub use diesel_async::SimpleAsyncConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures::FutureExt;

/// A pool of PostgreSQL connections.
pub type DbPool = Pool<AsyncPgConnection>;
/// A connection checked out of the pool.
pub type PooledConnection = Object<AsyncPgConnection>;
/// Why a connection could not be had.
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;

/// How to connect.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: usize,
    /// Any statement running longer is cancelled by the server.
    pub statement_timeout: Duration,
    /// Shown in `pg_stat_activity`, so a DBA can tell which service holds a connection.
    pub application_name: String,
}

/// Builds a pool; connections open lazily, each with the session settings below.
pub fn build(url: &str, options: PoolOptions) -> Result<DbPool, String> {
    let max_size = options.max_size;
    let setup = session_setup(&options);
    let mut config = ManagerConfig::default();
    config.custom_setup = Box::new(move |url| {
        let setup = setup.clone();
        async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute(&setup)
                .await
                .map_err(|err| ConnectionError::BadConnection(err.to_string()))?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(max_size)
        .build()
        .map_err(|err| err.to_string())
}

/// Opens one connection with the same session settings, outside any pool (migrations, tests).
pub async fn connect(url: &str) -> Result<AsyncPgConnection, ConnectionError> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    conn.batch_execute("SET TIME ZONE 'UTC'")
        .await
        .map_err(|err| ConnectionError::BadConnection(err.to_string()))?;
    Ok(conn)
}

fn session_setup(options: &PoolOptions) -> String {
    // TIMESTAMP columns default to CURRENT_TIMESTAMP, which follows the session time zone.
    format!(
        "SET TIME ZONE 'UTC'; SET statement_timeout = {}; SET application_name = '{}'",
        options.statement_timeout.as_millis(),
        options.application_name.replace('\'', "")
    )
}

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

/// Longest an idle connection's check before checkout may take.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(1);

/// How to connect.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: usize,
    /// Any statement running longer is cancelled by the server.
    pub statement_timeout: Duration,
    /// Shown in `pg_stat_activity`, so a DBA can tell which service holds a connection.
    pub application_name: String,
    /// Longest a caller waits for a free connection, and for a new one to open (or an idle
    /// one to answer its check): past it the caller gets an error instead of hanging through a
    /// partition.
    pub timeout: Duration,
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
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(options.timeout))
        .create_timeout(Some(options.timeout))
        // Each idle connection is pinged before it is handed out, and one that does not answer
        // is dropped for the next: short, so a checkout does not add up several timeouts.
        .recycle_timeout(Some(options.timeout.min(RECYCLE_TIMEOUT)))
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

/// Whether the pool could not reach PostgreSQL at all (connection refused or reset, or no
/// connection opened in time), as opposed to PostgreSQL being slow or every connection busy.
pub fn is_unreachable(err: &PoolError) -> bool {
    use deadpool::managed::{PoolError as Failed, TimeoutType};
    use diesel_async::pooled_connection::PoolError as Backend;
    match err {
        Failed::Timeout(TimeoutType::Create) | Failed::Backend(Backend::ConnectionError(_)) => true,
        Failed::Backend(Backend::QueryError(query)) => lost_connection(query),
        _ => false,
    }
}

/// Whether a query failed because its connection was lost, not because of its answer (a
/// statement timeout, a constraint) or its speed.
pub fn lost_connection(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    // diesel-async reports a connection that broke mid-query (no SQLSTATE) as unable to send.
    matches!(
        err,
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        ) | Error::BrokenTransactionManager
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool::managed::{PoolError as Failed, TimeoutType};
    use diesel_async::pooled_connection::PoolError as Backend;

    #[test]
    fn only_failures_to_reach_postgres_count_as_unreachable() {
        let refused = Failed::Backend(Backend::ConnectionError(ConnectionError::BadConnection(
            "connection refused".into(),
        )));
        assert!(is_unreachable(&refused));
        assert!(is_unreachable(&Failed::Timeout(TimeoutType::Create)));
        // Every connection busy, or an answer that is slow: PostgreSQL is there.
        assert!(!is_unreachable(&Failed::Timeout(TimeoutType::Wait)));
        let cancelled = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("canceling statement due to statement timeout".to_owned()),
        );
        assert!(!lost_connection(&cancelled));
        assert!(!is_unreachable(&Failed::Backend(Backend::QueryError(
            cancelled
        ))));
        let closed = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection unexpectedly".to_owned()),
        );
        assert!(lost_connection(&closed));
    }
}

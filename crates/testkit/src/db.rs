//! A fresh, migrated database per test.

use std::time::Duration;

use aurora_db::pool::{self, PoolOptions};
use aurora_db::{AsyncPgConnection, DbPool};

use crate::{block_on_cleanup, unique_suffix};

/// A database created for one test and dropped when this value is dropped.
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
}

fn admin_url() -> String {
    std::env::var("AURORA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `admin_url` with its database name replaced.
fn with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

async fn execute(url: &str, sql: &str) {
    use aurora_db::pool::SimpleAsyncConnection;
    let mut conn = pool::connect(url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {url}: {err}"));
    conn.batch_execute(sql)
        .await
        .unwrap_or_else(|err| panic!("`{sql}` failed: {err}"));
}

impl TestDb {
    /// Creates and migrates a new database. Needs the multi-thread Tokio runtime
    /// (`#[tokio::test(flavor = "multi_thread")]`): the migration harness blocks in place.
    pub async fn new() -> Self {
        let admin_url = admin_url();
        let name = format!("aurora_test_{}", unique_suffix());
        execute(&admin_url, &format!("CREATE DATABASE {name}")).await;
        let url = with_database(&admin_url, &name);
        let db = Self {
            name,
            url,
            admin_url,
        };
        aurora_db::migrate::run_pending(db.connect().await)
            .expect("migrations apply to a fresh database");
        db
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One connection.
    pub async fn connect(&self) -> AsyncPgConnection {
        pool::connect(&self.url)
            .await
            .expect("the test database accepts connections")
    }

    /// A user named `name` with one bare incident (opened now by a Grafana alert, with none of
    /// the alert's rows): for tests of what hangs off incidents. Answers (user id, incident).
    pub async fn user_with_incident(&self, name: &str) -> (String, uuid::Uuid) {
        use diesel_async::RunQueryDsl;
        let mut conn = self.connect().await;
        let user = aurora_db::users::create(&mut conn, name)
            .await
            .expect("a new user")
            .user;
        let incident = uuid::Uuid::new_v4();
        diesel::sql_query(
            "INSERT INTO incidents (id, user_id, source_type, source_alert_id, started_at, created_at) \
             VALUES ($1, $2, 'grafana', 1, now(), now())",
        )
        .bind::<diesel::sql_types::Uuid, _>(incident)
        .bind::<diesel::sql_types::Text, _>(&user.id)
        .execute(&mut conn)
        .await
        .expect("an incident");
        (user.id, incident)
    }

    /// A pool like the services use.
    pub fn pool(&self) -> DbPool {
        pool::build(
            &self.url,
            PoolOptions {
                max_size: 4,
                statement_timeout: Duration::from_secs(10),
                application_name: "aurora-test".to_owned(),
                // Generous: a whole stack shares these four connections while other tests load
                // the machine; the timeout's own behaviour is tested with pools of its own.
                timeout: Duration::from_secs(30),
            },
        )
        .expect("a pool over a valid URL builds")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin_url = self.admin_url.clone();
        block_on_cleanup(async move { execute(&admin_url, &sql).await });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_is_replaced_and_options_kept() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5432/t1?sslmode=disable"
        );
    }
}

//! Test support: a fresh PostgreSQL database and fresh NATS stream names per test, both
//! removed afterwards, the shared webhook fixtures, and arbitrary JSON for property tests.
//!
//! Tests use the real servers. `AURORA_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) names a database to connect to for
//! creating and dropping test databases; `AURORA_TEST_NATS_URL` (default
//! `nats://127.0.0.1:4222`) the NATS server. Only what a test created is ever dropped.

mod bus;
mod db;
mod fixtures;
pub mod json;

pub use bus::TestBus;
pub use db::TestDb;
pub use fixtures::{Fixture, fixture, fixtures_in};

/// A short random name part, safe in database, stream and subject names.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Runs async cleanup from a `Drop`, which cannot await: on its own thread and runtime, so it
/// works whether or not the test's runtime is still alive.
fn block_on_cleanup<F: std::future::Future<Output = ()> + Send + 'static>(cleanup: F) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a cleanup runtime can always be built")
            .block_on(cleanup);
    })
    .join();
}

//! Migrations embedded in the binary, so `aurora migrate` and tests need no files at run time.

use diesel_async::{AsyncMigrationHarness, AsyncPgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations in the workspace's `migrations/` folder.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Applies every pending migration and answers how many ran.
///
/// Runs on a blocking thread inside the harness, so it needs the multi-thread Tokio runtime.
pub fn run_pending(
    conn: AsyncPgConnection,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness.run_pending_migrations(MIGRATIONS)?;
    Ok(applied.len())
}

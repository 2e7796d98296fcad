//! Dead letters kept in PostgreSQL (`aurora dead-letters list`, `… replay ID`).

use aurora_bus::{DeadLetter, DeadLetterSink};
use aurora_db::DbPool;
use aurora_db::dead_letters::{self, NewDeadLetter};

/// Keeps the bus's dead letters in the `dead_letters` table.
#[derive(Clone)]
pub struct DbDeadLetters {
    pool: DbPool,
}

impl DbDeadLetters {
    /// Over this pool.
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

impl DeadLetterSink for DbDeadLetters {
    async fn keep(&self, letter: DeadLetter<'_>) -> Result<(), String> {
        let mut conn = self.pool.get().await.map_err(|err| err.to_string())?;
        let new = NewDeadLetter {
            stream: letter.stream,
            subject: letter.subject,
            consumer: letter.consumer,
            reason: letter.reason,
            payload: letter.payload,
            deliveries: i32::try_from(letter.deliveries).unwrap_or(i32::MAX),
        };
        dead_letters::record(&mut conn, &new)
            .await
            .map(drop)
            .map_err(|err| err.to_string())
    }
}

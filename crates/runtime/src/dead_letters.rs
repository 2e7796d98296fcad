//! Dead letters kept in PostgreSQL (`aurora dead-letters list`, `… replay ID`).

use aurora_bus::{DeadLetter, DeadLetterSink};
use aurora_db::DbPool;
use aurora_db::dead_letters::{self, NewDeadLetter};
use prometheus::{IntCounterVec, Opts};

use crate::Connections;
use crate::metrics::register;

/// Keeps the bus's dead letters in the `dead_letters` table, counting them in
/// `aurora_dead_letters_total{consumer}`.
#[derive(Clone)]
pub struct DbDeadLetters {
    pool: DbPool,
    kept: IntCounterVec,
}

impl DbDeadLetters {
    /// Over the service's pool, counted in its registry.
    pub fn new(connections: &Connections) -> Self {
        let kept = IntCounterVec::new(
            Opts::new(
                "aurora_dead_letters_total",
                "Messages set aside as dead letters, by consumer",
            ),
            &["consumer"],
        )
        .expect("a valid counter");
        Self {
            pool: connections.pool.clone(),
            kept: register(&connections.metrics, kept),
        }
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
            .map_err(|err| err.to_string())?;
        self.kept.with_label_values(&[letter.consumer]).inc();
        Ok(())
    }
}

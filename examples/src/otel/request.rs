//! The request the example traces: what a handler writes, with nothing
//! about OpenTelemetry in it. Its statements get their spans, and the pool
//! its metrics, from the library.

use tidepool_async::Pool;
use tidepool_async::tokio_postgres::error::SqlState;

/// The example's table, created before the request.
pub const SCHEMA: &str = "
    DROP TABLE IF EXISTS otel_todos;
    CREATE TABLE otel_todos (id int PRIMARY KEY, title text NOT NULL, done bool NOT NULL DEFAULT false);
    INSERT INTO otel_todos (id, title) VALUES (1, 'read the trace');
";

/// What the request did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Todos not done, before the request added one.
    pub open: i64,
    /// Whether the second insert of the same id was refused as a
    /// duplicate (SQLSTATE 23505), as the request expects.
    pub duplicate_refused: bool,
}

/// Handles one request: a checkout, a query, an insert in a transaction,
/// and an insert the server refuses (a duplicate key), which the handler
/// expects and answers.
///
/// # Errors
///
/// The pool's or the server's error, other than the expected duplicate.
pub async fn handle(pool: &Pool) -> Result<Outcome, tidepool_async::Error> {
    let mut conn = pool.get().await?;
    let open: i64 = conn
        .query_one("SELECT count(*) FROM otel_todos WHERE NOT done", &[])
        .await?
        .get(0);

    let tx = conn.transaction().await?;
    tx.execute(
        "INSERT INTO otel_todos (id, title) VALUES ($1, $2)",
        &[&2, &"export the metrics"],
    )
    .await?;
    tx.commit().await?;

    let duplicate = conn
        .execute(
            "INSERT INTO otel_todos (id, title) VALUES ($1, $2)",
            &[&1, &"read the trace again"],
        )
        .await;
    let duplicate_refused = match duplicate {
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => true,
        Err(error) => return Err(error),
        Ok(_) => false,
    };
    Ok(Outcome {
        open,
        duplicate_refused,
    })
}

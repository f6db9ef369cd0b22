//! Pipelines: a batch of statements sent without waiting for each reply.

use std::fmt;

use futures_util::future::join_all;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use tracing::Instrument;

use crate::error::Error;
use crate::session::execute::Session;

/// A batch of statements run together: each is sent without waiting for
/// the replies to the ones before it, and the server runs them in order,
/// so a batch of cached statements costs one round trip instead of one per
/// statement. Start one with
/// [`Connection::pipeline`](crate::Connection::pipeline).
///
/// Outside a transaction each statement succeeds or fails on its own: one
/// that fails does not stop the others. Inside a transaction the pipeline
/// stops at the first error, as psycopg's does: the server runs nothing
/// after it (the transaction is aborted), and each later result is an
/// error ([`Error::is_pipeline_aborted`](crate::Error::is_pipeline_aborted))
/// that names the statement that failed.
#[must_use = "a pipeline does nothing until it is run"]
pub struct Pipeline<'a> {
    session: Session<'a>,
    steps: Vec<Step<'a>>,
}

struct Step<'a> {
    sql: &'a str,
    params: &'a [&'a (dyn ToSql + Sync)],
    rows: bool,
}

/// What one statement of a pipeline gave.
#[derive(Debug)]
#[non_exhaustive]
pub enum Piped {
    /// The rows of a [`Pipeline::query`].
    Rows(Vec<Row>),
    /// The rows changed by a [`Pipeline::execute`].
    Count(u64),
}

impl Piped {
    /// The rows, for a query.
    pub fn rows(&self) -> Option<&[Row]> {
        match self {
            Piped::Rows(rows) => Some(rows),
            Piped::Count(_) => None,
        }
    }

    /// The number of rows changed, for an execute.
    pub fn count(&self) -> Option<u64> {
        match self {
            Piped::Count(count) => Some(*count),
            Piped::Rows(_) => None,
        }
    }
}

impl<'a> Pipeline<'a> {
    pub(crate) fn new(session: Session<'a>) -> Self {
        Self {
            session,
            steps: Vec::new(),
        }
    }

    /// Adds a statement whose rows are wanted.
    pub fn query(mut self, sql: &'a str, params: &'a [&'a (dyn ToSql + Sync)]) -> Self {
        self.steps.push(Step {
            sql,
            params,
            rows: true,
        });
        self
    }

    /// Adds a statement whose count of changed rows is wanted.
    pub fn execute(mut self, sql: &'a str, params: &'a [&'a (dyn ToSql + Sync)]) -> Self {
        self.steps.push(Step {
            sql,
            params,
            rows: false,
        });
        self
    }

    /// Sends every statement and collects the results, in the order the
    /// statements were added: result `i` is statement `i`'s. Inside a
    /// transaction, the results after the first error are errors naming it
    /// (see [`Pipeline`]).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave statements running; the pool resets
    /// the connection before anyone else uses it.
    pub async fn run(self) -> Vec<Result<Piped, Error>> {
        let session = self.session;
        let span = tracing::debug_span!(
            target: crate::session::span::TARGET,
            "pipeline",
            otel.name = "PIPELINE",
            otel.kind = "client",
            db.system.name = "postgresql",
            db.namespace = tracing::field::Empty,
            db.operation.batch.size = self.steps.len(),
        );
        if !span.is_disabled() {
            span.record("db.namespace", session.tracker.peer.namespace.as_str());
        }
        let run = join_all(self.steps.into_iter().map(|step| async move {
            if step.rows {
                session.query(step.sql, step.params).await.map(Piped::Rows)
            } else {
                session
                    .execute(step.sql, step.params)
                    .await
                    .map(Piped::Count)
            }
        }));
        // Each statement has its own span, inside this one.
        let mut results = run.instrument(span).await;
        if session.begin.is_some()
            && let Some(failed) = results.iter().position(Result::is_err)
        {
            for result in &mut results[failed + 1..] {
                *result = Err(Error::pipeline_aborted(failed));
            }
        }
        results
    }
}

impl fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let statements: Vec<&str> = self.steps.iter().map(|step| step.sql).collect();
        f.debug_struct("Pipeline")
            .field("statements", &statements)
            .finish()
    }
}

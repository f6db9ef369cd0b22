//! Running one statement: through the statement cache, tracked, and
//! retried once when a schema change invalidated a cached plan.

use std::sync::{Mutex, MutexGuard};

use futures_util::TryStreamExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

use crate::error::Error;
use crate::rows::RowFactory;
use crate::session::begin::Begin;
use crate::session::cache::{Plan, StatementCache};
use crate::session::infer::Parameters;
use crate::session::tracker::Tracker;

/// What a statement is run for.
#[derive(Clone, Copy)]
enum Want {
    Rows,
    One,
    Opt,
    Count,
}

/// What it gave.
enum Got {
    Rows(Vec<Row>),
    One(Row),
    Opt(Option<Row>),
    Count(u64),
}

impl Got {
    /// The rows of a statement run for [`Want::Rows`].
    fn into_rows(self) -> Vec<Row> {
        match self {
            Got::Rows(rows) => rows,
            // Invariant: `run` answers in the form it was asked for.
            _ => unreachable!("run returns what was wanted"),
        }
    }
}

/// A client with the state of its connection: the tracker and the cache.
/// Transactions run on the same client, so they share both.
#[derive(Clone, Copy)]
pub(crate) struct Session<'a> {
    pub(crate) client: &'a Client,
    pub(crate) tracker: &'a Tracker,
    pub(crate) cache: &'a Mutex<StatementCache>,
    /// The `BEGIN` of the transaction the session runs in, sent with its
    /// first statement; `None` outside a transaction or once sent.
    pub(crate) begin: Option<&'a Begin>,
}

/// Locks a cache. Its updates are single assignments and map operations
/// that leave it consistent if a panic interrupts them, so a poisoned lock
/// is used as it is.
pub(crate) fn lock(cache: &Mutex<StatementCache>) -> MutexGuard<'_, StatementCache> {
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Session<'_> {
    /// Runs a statement and returns its rows.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        Ok(self.run(sql, params, Want::Rows).await?.into_rows())
    }

    /// Runs a statement that returns exactly one row.
    pub(crate) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        match self.run(sql, params, Want::One).await? {
            Got::One(row) => Ok(row),
            // Invariant: `run` answers in the form it was asked for.
            _ => unreachable!("run returns what was wanted"),
        }
    }

    /// Runs a statement that returns at most one row.
    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        match self.run(sql, params, Want::Opt).await? {
            Got::Opt(row) => Ok(row),
            // Invariant: `run` answers in the form it was asked for.
            _ => unreachable!("run returns what was wanted"),
        }
    }

    /// Runs a statement and builds its rows with `factory`.
    pub(crate) async fn query_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<F::Output>, Error> {
        let rows = self.run(sql, params, Want::Rows).await?.into_rows();
        factory.make_all(rows).map_err(Error::row)
    }

    /// Runs a statement that returns exactly one row, built by `factory`.
    pub(crate) async fn query_one_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<F::Output, Error> {
        let row = self.query_one(sql, params).await?;
        factory.make(row).map_err(Error::row)
    }

    /// Runs a statement that returns at most one row, built by `factory`.
    pub(crate) async fn query_opt_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<F::Output>, Error> {
        match self.query_opt(sql, params).await? {
            Some(row) => factory.make(row).map(Some).map_err(Error::row),
            None => Ok(None),
        }
    }

    /// Runs a statement and returns the number of rows it changed.
    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        match self.run(sql, params, Want::Count).await? {
            Got::Count(count) => Ok(count),
            // Invariant: `run` answers in the form it was asked for.
            _ => unreachable!("run returns what was wanted"),
        }
    }

    /// Runs a script through the simple protocol, forgetting the cache when
    /// the script drops prepared statements (`DISCARD ALL`, `DEALLOCATE`).
    pub(crate) async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.tracker.script(sql);
        let run = || async {
            match self.begin_script(sql)? {
                Some(script) => {
                    let result = self
                        .tracker
                        .run(|| self.client.batch_execute(&script))
                        .await;
                    self.after_begin(result)
                }
                None => self.tracker.run(|| self.client.batch_execute(sql)).await,
            }
        };
        let result = self.tracker.traced(sql, run).await;
        self.after_script(sql);
        result
    }

    /// As [`batch_execute`](Self::batch_execute), returning the rows as text.
    pub(crate) async fn simple_query(
        &self,
        sql: &str,
    ) -> Result<Vec<tokio_postgres::SimpleQueryMessage>, Error> {
        self.tracker.script(sql);
        let run = || async {
            match self.begin_script(sql)? {
                Some(script) => {
                    let result = self.tracker.run(|| self.client.simple_query(&script)).await;
                    // The answer to BEGIN is no message of its own.
                    self.after_begin(result)
                }
                None => self.tracker.run(|| self.client.simple_query(sql)).await,
            }
        };
        let result = self.tracker.traced(sql, run).await;
        self.after_script(sql);
        result
    }

    /// Runs a transaction command of the wrapper's own (`SAVEPOINT`), which
    /// the tracker need not see, behind the transaction's `BEGIN` if that
    /// is still to be sent.
    pub(crate) async fn control(&self, sql: &str) -> Result<(), Error> {
        match self.begin_script(sql)? {
            Some(script) => {
                let result = self
                    .tracker
                    .run(|| self.client.batch_execute(&script))
                    .await;
                self.after_begin(result)
            }
            None => self.tracker.run(|| self.client.batch_execute(sql)).await,
        }
    }

    /// `sql` behind the transaction's `BEGIN`, in one query string, if
    /// `BEGIN` is still to be sent: the server stops at its error.
    fn begin_script(&self, sql: &str) -> Result<Option<String>, Error> {
        Ok(match self.begin {
            Some(begin) => begin.take()?.map(|begin| format!("{begin}; {sql}")),
            None => None,
        })
    }

    /// After a script sent with `BEGIN`: if it failed, `BEGIN` may be what
    /// failed, and the transaction is taken for not open.
    fn after_begin<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err()
            && let Some(begin) = self.begin
        {
            begin.failed();
        }
        result
    }

    /// Sends the transaction's `BEGIN` on its own, if it was not sent yet,
    /// and waits for its answer: before an operation that cannot carry it
    /// (a COPY).
    pub(crate) async fn begin_now(&self) -> Result<(), Error> {
        let Some(begin) = self.begin else {
            return Ok(());
        };
        let Some(sql) = begin.take()? else {
            return Ok(());
        };
        let result = self.tracker.run(|| self.client.batch_execute(sql)).await;
        self.after_begin(result)
    }

    /// Runs the statement that `work` makes, a statement of the extended
    /// protocol, behind the transaction's `BEGIN`, `sql`: the two go out
    /// together, `BEGIN` first, and their answers come back in one round
    /// trip. A failed `BEGIN` is the statement's error, whatever became of
    /// the statement (see the `begin` module).
    async fn with_begin<T, F>(&self, sql: &str, work: impl FnOnce() -> F) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, Error>>,
    {
        // `join` polls its first future first, every time: BEGIN's request
        // is queued before the statement's.
        let (begun, result) =
            futures_util::future::join(self.tracker.run(|| self.client.batch_execute(sql)), work())
                .await;
        match begun {
            Ok(()) => result,
            Err(error) => self.after_begin(Err(error)),
        }
    }

    fn after_script(&self, sql: &str) {
        if crate::session::sql::script_drops_statements(sql) {
            lock(self.cache).clear();
        }
    }

    /// Runs `sql` for `want`, in its span.
    async fn run(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        want: Want,
    ) -> Result<Got, Error> {
        self.tracker
            .traced(sql, || self.run_untraced(sql, params, want))
            .await
    }

    /// Runs `sql` for `want`.
    async fn run_untraced(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        want: Want,
    ) -> Result<Got, Error> {
        self.tracker.statement(sql);
        let begin = match self.begin {
            Some(begin) => begin.take()?,
            None => None,
        };
        let first = match begin {
            None => self.attempt(sql, params, want).await,
            // Once per transaction: boxed, so that every other statement's
            // future is not made larger by it.
            Some(begin) => {
                Box::pin(self.with_begin(begin, || self.attempt(sql, params, want))).await
            }
        };
        match first {
            Err(error) if invalidates_cache(&error) => {
                // A schema change made a cached plan (or the cache itself)
                // stale: forget it, and retry once where that is safe.
                lock(self.cache).clear();
                if self.tracker.is_outside_transactions() {
                    self.attempt(sql, params, want).await
                } else {
                    Err(error)
                }
            }
            outcome => outcome,
        }
    }

    async fn attempt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        want: Want,
    ) -> Result<Got, Error> {
        let parameters = Parameters::new(params);
        let plan = lock(self.cache).plan(sql, parameters.oids());
        crate::session::span::record_plan(&plan);
        let statement = match plan {
            Plan::Cached(statement) => statement,
            Plan::Prepare => {
                lock(self.cache).count_prepare();
                let types = parameters.types().unwrap_or_default();
                let statement = self
                    .tracker
                    .run(|| self.client.prepare_typed(sql, &types))
                    .await?;
                lock(self.cache).insert(sql, statement.clone(), parameters.oids());
                statement
            }
            Plan::Once | Plan::Unnamed => {
                if let Some(typed) = parameters.typed() {
                    return self.unnamed(sql, &typed, want).await;
                }
                if matches!(plan, Plan::Unnamed) && lock(self.cache).settings().pgbouncer {
                    return Err(Error::config(
                        "the type of a parameter cannot be taken from its value (a type \
                         of your own), and behind a transaction pooler (pgbouncer) the \
                         statement cannot be prepared to ask the server for it; pass a \
                         value of a built-in type or a string",
                    ));
                }
                // A type of the user's own: the server says the types.
                lock(self.cache).count_prepare();
                self.tracker.run(|| self.client.prepare(sql)).await?
            }
        };
        self.prepared(&statement, &parameters, want).await
    }

    async fn prepared(
        &self,
        statement: &Statement,
        parameters: &Parameters<'_>,
        want: Want,
    ) -> Result<Got, Error> {
        let client = self.client;
        let tracker = self.tracker;
        // The values are bound from where they are, without a list of
        // their own, for the two most common forms.
        let bound = || parameters.bound.iter();
        Ok(match want {
            Want::Rows => Got::Rows(
                tracker
                    .run(|| async {
                        client
                            .query_raw(statement, bound())
                            .await?
                            .try_collect()
                            .await
                    })
                    .await?,
            ),
            Want::One => {
                let values = parameters.values();
                Got::One(tracker.run(|| client.query_one(statement, &values)).await?)
            }
            Want::Opt => {
                let values = parameters.values();
                Got::Opt(tracker.run(|| client.query_opt(statement, &values)).await?)
            }
            Want::Count => Got::Count(
                tracker
                    .run(|| client.execute_raw(statement, bound()))
                    .await?,
            ),
        })
    }

    /// Runs a statement unnamed, in one round trip (Parse, Bind, Describe,
    /// Execute and Sync sent together), with the parameter types taken
    /// from the values.
    async fn unnamed(
        &self,
        sql: &str,
        typed: &[(&(dyn ToSql + Sync), Type)],
        want: Want,
    ) -> Result<Got, Error> {
        let client = self.client;
        let tracker = self.tracker;
        Ok(match want {
            Want::Rows => Got::Rows(tracker.run(|| client.query_typed(sql, typed)).await?),
            Want::One => Got::One(tracker.run(|| client.query_typed_one(sql, typed)).await?),
            Want::Opt => Got::Opt(tracker.run(|| client.query_typed_opt(sql, typed)).await?),
            Want::Count => Got::Count(tracker.run(|| client.execute_typed(sql, typed)).await?),
        })
    }
}

/// Whether an error means that the cache no longer matches the server: a
/// cached plan whose result type changed (after `ALTER TABLE`, say), or a
/// prepared statement that is gone (after `DEALLOCATE` through the raw
/// client).
fn invalidates_cache(error: &Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        (db.code() == &SqlState::FEATURE_NOT_SUPPORTED
            && db
                .message()
                .contains("cached plan must not change result type"))
            || db.code() == &SqlState::INVALID_SQL_STATEMENT_NAME
    })
}

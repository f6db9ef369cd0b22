//! Behind PgBouncer in transaction mode: 16 client connections over 8
//! server connections, 64 tasks running `SELECT $1::int`. A pool that
//! prepares named statements meets errors there (a statement prepared on
//! one server connection and run on another); each system's errors are
//! counted, and its throughput counts only the iterations that succeeded.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Row as _;
use tidepool_testdb::{PgBouncer, PgServer};

use crate::drive::{BoxError, Measure, Plan, Step, tasks};
use crate::end_to_end::{Bb8, CONNECTIONS, Deadpool, SQL, Sqlx, Tidepool, bb8, deadpool, expect};
use crate::report::Row;
use crate::turns::{Pending, in_turn};

/// Tasks sharing each pool.
const TASKS: usize = 64;
/// PgBouncer's server connections.
const SERVERS: u32 = 8;
/// Failed attempts of one iteration before the system is given up on.
const ATTEMPTS: usize = 100;
/// How the error of a system given up on begins.
const GAVE_UP: &str = "gave up";

/// The workload's name in the table.
pub(crate) fn workload() -> String {
    format!("PgBouncer {TASKS} tasks / {CONNECTIONS} conns / {SERVERS} server conns")
}

/// Errors of each system, over every round of the run.
static ERRORS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Runs a step again until it succeeds, counting the failures.
struct Counted<S> {
    step: S,
    errors: AtomicU64,
}

impl<S: Step> Step for Counted<S> {
    async fn run(&self, task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.step.run(task, n).await {
                Ok(own) => return Ok(own),
                Err(error) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    last = Some(error);
                }
            }
        }
        let last = last.map_or_else(String::new, |error| error.to_string());
        Err(format!("{GAVE_UP}: {ATTEMPTS} attempts in a row failed; the last: {last}").into())
    }
}

/// Measures a system, adding its errors to [`ERRORS`].
async fn counted<S: Step>(
    system: &'static str,
    step: impl Future<Output = Result<S, BoxError>>,
    plan: Plan,
) -> Result<Measure, String> {
    let step = Arc::new(Counted {
        step: step.await.map_err(|e| e.to_string())?,
        errors: AtomicU64::new(0),
    });
    let measure = tasks(Arc::clone(&step), plan).await;
    *ERRORS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(system.to_owned())
        .or_default() += step.errors.load(Ordering::Relaxed);
    measure.map_err(|e| e.to_string())
}

/// Puts each system's error count, over every round, in its row. A peer
/// given up on after [`ATTEMPTS`] failures in a row has shown what the
/// workload is there to show, and its failure is marked as a finding.
pub(crate) fn with_errors(rows: Vec<Row>) -> Vec<Row> {
    let errors = std::mem::take(&mut *ERRORS.lock().unwrap_or_else(|p| p.into_inner()));
    rows.into_iter()
        .map(|mut row| {
            let count = errors.get(&row.system).copied().unwrap_or(0);
            row.failure_is_finding = !row.is_tidepool()
                && row
                    .outcome
                    .as_ref()
                    .is_err_and(|error| error.starts_with(GAVE_UP));
            row.with_figure("errors", count as f64)
        })
        .collect()
}

async fn tidepool(url: &str, pgbouncer: bool) -> Result<tidepool_async::Pool, BoxError> {
    let pool = tidepool_async::Pool::builder(url)
        .pgbouncer(pgbouncer)
        .min_size(CONNECTIONS)
        .max_size(CONNECTIONS)
        .build()?;
    pool.wait().await?;
    Ok(pool)
}

/// A deadpool-postgres pool with its 16 connections open, as the other
/// pools open theirs before they are measured: through PgBouncer each
/// connect costs a SCRAM login.
async fn deadpool_open(url: &str) -> Result<deadpool_postgres::Pool, BoxError> {
    let pool = deadpool(url)?;
    let mut held = Vec::with_capacity(CONNECTIONS);
    let opening: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await })
        })
        .collect();
    for conn in opening {
        held.push(conn.await??);
    }
    drop(held);
    Ok(pool)
}

/// deadpool-postgres with `prepare_cached`.
struct DeadpoolCached(deadpool_postgres::Pool);

impl Step for DeadpoolCached {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let client = self.0.get().await?;
        let statement = client.prepare_cached(SQL).await?;
        let rows = client.query(&statement, &[&n]).await?;
        expect(rows[0].get(0), n)
    }
}

async fn sqlx(url: &str, cache: bool) -> Result<sqlx::PgPool, BoxError> {
    let mut options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    if !cache {
        options = options.statement_cache_capacity(0);
    }
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(CONNECTIONS as u32)
        .min_connections(CONNECTIONS as u32)
        .test_before_acquire(false)
        .connect_with(options)
        .await?)
}

/// sqlx's `query()` without its statement cache (unnamed statements).
struct SqlxUncached(sqlx::PgPool);

impl Step for SqlxUncached {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let mut conn = self.0.acquire().await?;
        let rows = sqlx::query(SQL).bind(n).fetch_all(&mut *conn).await?;
        expect(rows[0].try_get(0)?, n)
    }
}

/// Every system through a PgBouncer of its own for the round, in front of
/// `server`.
pub(crate) async fn run(server: &PgServer, plan: Plan) -> Vec<Row> {
    let plan = Plan {
        tasks: TASKS,
        ..plan
    };
    let bouncer = match PgBouncer::builder()
        .default_pool_size(SERVERS)
        .setting("max_client_conn", "400")
        .start(server)
    {
        Ok(bouncer) => bouncer,
        Err(error) => {
            return vec![Row::new(
                workload(),
                "tidepool pgbouncer(true)",
                Err(format!("no PgBouncer: {error}")),
            )];
        }
    };
    let url = bouncer.url();
    let url = url.as_str();
    let systems: Vec<(&str, Pending<'_>)> = vec![
        (
            "tidepool pgbouncer(true)",
            Box::pin(counted(
                "tidepool pgbouncer(true)",
                async { tidepool(url, true).await.map(Tidepool) },
                plan,
            )),
        ),
        (
            "tidepool default settings",
            Box::pin(counted(
                "tidepool default settings",
                async { tidepool(url, false).await.map(Tidepool) },
                plan,
            )),
        ),
        (
            "deadpool-postgres query(&str)",
            Box::pin(counted(
                "deadpool-postgres query(&str)",
                async { deadpool_open(url).await.map(Deadpool) },
                plan,
            )),
        ),
        (
            "deadpool-postgres prepare_cached",
            Box::pin(counted(
                "deadpool-postgres prepare_cached",
                async { deadpool_open(url).await.map(DeadpoolCached) },
                plan,
            )),
        ),
        (
            "bb8-postgres query(&str)",
            Box::pin(counted(
                "bb8-postgres query(&str)",
                async { bb8(url).await.map(Bb8) },
                plan,
            )),
        ),
        (
            "sqlx PgPool, statement cache",
            Box::pin(counted(
                "sqlx PgPool, statement cache",
                async { sqlx(url, true).await.map(Sqlx) },
                plan,
            )),
        ),
        (
            "sqlx PgPool, no statement cache",
            Box::pin(counted(
                "sqlx PgPool, no statement cache",
                async { sqlx(url, false).await.map(SqlxUncached) },
                plan,
            )),
        ),
    ];
    in_turn(&workload(), systems, plan.reversed).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::Measure;

    fn row(system: &str, outcome: Result<Measure, String>) -> Row {
        Row::new(workload(), system, outcome)
    }

    #[test]
    fn only_a_peer_given_up_on_is_a_finding() {
        let gave_up = || Err(format!("{GAVE_UP}: {ATTEMPTS} attempts in a row failed"));
        let rows = with_errors(vec![
            row("tidepool pgbouncer(true)", gave_up()),
            row("peer that gave up", gave_up()),
            row(
                "peer that never started",
                Err("connection refused".to_owned()),
            ),
            row("peer that ran", Ok(Measure::empty())),
        ]);
        let broken: Vec<_> = rows.iter().map(Row::is_broken).collect();
        assert_eq!(broken, [true, false, true, false]);
        assert!(
            rows.iter()
                .all(|row| row.figure.is_some_and(|(name, _)| name == "errors"))
        );
    }
}

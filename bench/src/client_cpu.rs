//! Client CPU: the CPU time each system spends on the client's side per
//! statement, with the server's round trip taken out of the picture. One
//! connection carries 32 statements in flight at all times (tokio-postgres
//! pipelines the statements of futures polled together on one client),
//! each `SELECT $1::int`, so the client is never idle waiting for the
//! server. A row's figure is the process's CPU time in the measured time,
//! user and system, divided by the statements completed in it.

use std::time::Duration;

use tokio_postgres::{Client, NoTls, Statement};

use crate::drive::{BoxError, Measure, Plan, Step};
use crate::end_to_end::{self, SQL, connect, expect};
use crate::process_cpu;
use crate::report::{Compare, Row};
use crate::turns::{Pending, in_turn};

/// Statements in flight on the one connection: one per task.
const IN_FLIGHT: usize = 32;
/// The name of a row's figure.
const FIGURE: &str = "µs CPU/statement";

/// The workload's name in the table.
fn workload() -> String {
    format!("client CPU, {IN_FLIGHT} statements in flight on 1 conn")
}

/// Checks that `rows` begin with the row of `SELECT n`.
fn check(rows: &[tokio_postgres::Row], n: i32) -> Result<Option<Duration>, BoxError> {
    let row = rows
        .first()
        .ok_or_else(|| format!("SELECT {n} returned no row"))?;
    expect(row.try_get(0)?, n)
}

/// tidepool: one connection checked out of a pool of one for the whole
/// run, every task calling the plain `query(sql, params)` on it.
struct Tidepool {
    conn: tidepool_async::PooledConnection,
    /// The pool, open while its connection is out (dropped after it).
    _pool: tidepool_async::Pool,
}

impl Step for Tidepool {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let rows = self.conn.query(SQL, &[&n]).await?;
        check(&rows, n)
    }
}

async fn tidepool(url: &str) -> Result<Tidepool, BoxError> {
    let pool = tidepool_async::Pool::builder(url)
        .min_size(1)
        .max_size(1)
        .build()?;
    pool.wait().await?;
    let conn = pool.get().await?;
    Ok(Tidepool { conn, _pool: pool })
}

/// deadpool-postgres: one object checked out of a pool of one for the
/// whole run, every task calling `prepare_cached`, then `query` with the
/// statement.
struct DeadpoolCached {
    client: deadpool_postgres::Object,
    /// The pool, open while its object is out (dropped after it).
    _pool: deadpool_postgres::Pool,
}

impl Step for DeadpoolCached {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let statement = self.client.prepare_cached(SQL).await?;
        let rows = self.client.query(&statement, &[&n]).await?;
        check(&rows, n)
    }
}

async fn deadpool(url: &str) -> Result<DeadpoolCached, BoxError> {
    let manager = deadpool_postgres::Manager::new(url.parse()?, NoTls);
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(1)
        .build()?;
    let client = pool.get().await?;
    Ok(DeadpoolCached {
        client,
        _pool: pool,
    })
}

/// The floor: a client of its own, outside any pool, with the statement
/// prepared once.
struct Raw {
    client: Client,
    statement: Statement,
}

impl Step for Raw {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let rows = self.client.query(&self.statement, &[&n]).await?;
        check(&rows, n)
    }
}

async fn raw(url: &str) -> Result<Raw, BoxError> {
    let client = connect(url).await?;
    let statement = client.prepare(SQL).await?;
    Ok(Raw { client, statement })
}

/// Measures the system that `step` builds, once the process's CPU time is
/// known to be readable: without it the row says why instead.
async fn measure<S: Step>(
    step: impl Future<Output = Result<S, BoxError>>,
    plan: Plan,
) -> Result<Measure, String> {
    process_cpu::used()?;
    end_to_end::measure(step, plan).await
}

/// Every system, 32 statements in flight on one connection. The rows'
/// figures are put in by [`per_statement`] once the rounds are added up.
pub(crate) async fn run(url: &str, plan: Plan) -> Vec<Row> {
    let plan = Plan {
        tasks: IN_FLIGHT,
        ..plan
    };
    let systems: Vec<(&str, Pending<'_>)> = vec![
        ("tidepool query()", Box::pin(measure(tidepool(url), plan))),
        (
            "deadpool-postgres prepare_cached",
            Box::pin(measure(deadpool(url), plan)),
        ),
        (
            "tokio-postgres, prepared (floor)",
            Box::pin(measure(raw(url), plan)),
        ),
    ];
    in_turn(&workload(), systems, plan.reversed).await
}

/// Puts in each row its CPU time per statement over every round it has
/// (so it is computed from the rounds added up, never added up itself),
/// and compares the rows on it: lower is better. A row whose CPU time is
/// not known fails, saying so.
pub(crate) fn per_statement(rows: Vec<Row>) -> Vec<Row> {
    rows.into_iter()
        .map(|row| {
            let row = row.compared_on(Compare::Figure);
            let Ok(measure) = &row.outcome else {
                return row;
            };
            match cpu_per_statement(measure) {
                Ok(micros) => row.with_figure(FIGURE, micros),
                Err(error) => Row {
                    outcome: Err(error),
                    ..row
                },
            }
        })
        .collect()
}

/// The CPU time of `measure` per statement, in microseconds.
fn cpu_per_statement(measure: &Measure) -> Result<f64, String> {
    let cpu = measure
        .cpu
        .ok_or("the process's CPU time was not measured")?;
    if measure.ops == 0 {
        return Err("no statement completed in the measured time".to_owned());
    }
    Ok(cpu.as_secs_f64() * 1e6 / measure.ops as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turns::add_up;

    fn round(ops: u64, cpu: Option<Duration>) -> Vec<Row> {
        let mut measure = Measure::empty();
        measure.ops = ops;
        measure.elapsed = Duration::from_secs(1);
        measure.cpu = cpu;
        vec![Row::new(workload(), "tidepool query()", Ok(measure))]
    }

    #[test]
    fn the_figure_is_the_cpu_time_of_every_round_over_their_statements() {
        // 0.1 s over 10,000 statements, then 0.5 s over 10,000: 0.6 s
        // over 20,000, 30 µs each.
        let rows = per_statement(add_up(vec![
            round(10_000, Some(Duration::from_millis(100))),
            round(10_000, Some(Duration::from_millis(500))),
        ]));
        let (name, micros) = rows[0].figure.unwrap();
        assert_eq!(name, FIGURE);
        assert!((micros - 30.0).abs() < 1e-9, "{micros}");
        assert_eq!(rows[0].compare, Compare::Figure);
        // 0.3 s over 30,000, then 0.5 s over 10,000: 20 µs each, where the
        // mean of the rounds' own figures (10 and 50) would say 30.
        let rows = per_statement(add_up(vec![
            round(30_000, Some(Duration::from_millis(300))),
            round(10_000, Some(Duration::from_millis(500))),
        ]));
        let (_, micros) = rows[0].figure.unwrap();
        assert!((micros - 20.0).abs() < 1e-9, "{micros}");
    }

    #[test]
    fn a_row_without_its_cpu_time_fails() {
        let rows = per_statement(add_up(vec![
            round(10_000, Some(Duration::from_millis(100))),
            round(10_000, None),
        ]));
        assert!(rows[0].is_broken());
        assert!(
            rows[0]
                .outcome
                .as_ref()
                .unwrap_err()
                .contains("CPU time was not measured")
        );
        let rows = per_statement(round(0, Some(Duration::from_millis(100))));
        assert!(
            rows[0]
                .outcome
                .as_ref()
                .unwrap_err()
                .contains("no statement")
        );
    }
}

//! Checkout, `SELECT $1::int`, return, against a real server: tidepool's
//! async pool and its async peers, written as a new user would write them.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row as _;
use tokio_postgres::{Client, NoTls, Statement};

use crate::drive::{BoxError, Plan, Step, tasks};
use crate::report::Row;
use crate::turns::{Pending, in_turn};

/// The statement every system runs.
pub(crate) const SQL: &str = "SELECT $1::int";
/// The connections every pool has.
pub(crate) const CONNECTIONS: usize = 16;

/// Checks that a statement returned `n`.
pub(crate) fn expect(got: i32, n: i32) -> Result<Option<Duration>, BoxError> {
    if got == n {
        Ok(None)
    } else {
        Err(format!("SELECT {n} returned {got}").into())
    }
}

/// Checkout, `query(SQL, &[&n])`, return, for the pools whose `get()`
/// gives a connection with that call (the same text, other types).
macro_rules! plain_query {
    ($system:ty) => {
        impl Step for $system {
            async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
                let conn = self.0.get().await?;
                let rows = conn.query(SQL, &[&n]).await?;
                expect(rows[0].get(0), n)
            }
        }
    };
}

/// tidepool's async pool with the plain `query(sql, params)`.
pub(crate) struct Tidepool(pub(crate) tidepool_async::Pool);
plain_query!(Tidepool);

/// deadpool-postgres, calling `client.query(&str)`: a prepare and an
/// execute, two round trips.
pub(crate) struct Deadpool(pub(crate) deadpool_postgres::Pool);
plain_query!(Deadpool);

/// deadpool-postgres with its `prepare_cached`: one round trip.
struct DeadpoolCached(deadpool_postgres::Pool);

impl Step for DeadpoolCached {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let client = self.0.get().await?;
        let statement = client.prepare_cached(SQL).await?;
        let rows = client.query(&statement, &[&n]).await?;
        expect(rows[0].get(0), n)
    }
}

/// bb8-postgres: tokio-postgres's `query(&str)`, two round trips.
pub(crate) struct Bb8(pub(crate) bb8::Pool<bb8_postgres::PostgresConnectionManager<NoTls>>);
plain_query!(Bb8);

/// sqlx's `PgPool`, whose connections cache prepared statements.
pub(crate) struct Sqlx(pub(crate) sqlx::PgPool);

impl Step for Sqlx {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let mut conn = self.0.acquire().await?;
        let rows = sqlx::query(SQL).bind(n).fetch_all(&mut *conn).await?;
        expect(rows[0].try_get(0)?, n)
    }
}

/// The ceiling: one task per connection, a statement prepared once, no pool.
struct Raw(Vec<(Client, Statement)>);

impl Step for Raw {
    async fn run(&self, task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let (client, statement) = &self.0[task];
        let rows = client.query(statement, &[&n]).await?;
        expect(rows[0].get(0), n)
    }
}

pub(crate) async fn tidepool(url: &str) -> Result<tidepool_async::Pool, BoxError> {
    let pool = tidepool_async::Pool::builder(url)
        .min_size(CONNECTIONS)
        .max_size(CONNECTIONS)
        .build()?;
    pool.wait().await?;
    Ok(pool)
}

pub(crate) fn deadpool(url: &str) -> Result<deadpool_postgres::Pool, BoxError> {
    let manager = deadpool_postgres::Manager::new(url.parse()?, NoTls);
    Ok(deadpool_postgres::Pool::builder(manager)
        .max_size(CONNECTIONS)
        .build()?)
}

/// A bb8 pool; like r2d2, bb8 tests every connection with a query at each
/// checkout unless told not to: that round trip is turned off here, as
/// tidepool tests only connections idle longer than a second.
pub(crate) async fn bb8(
    url: &str,
) -> Result<bb8::Pool<bb8_postgres::PostgresConnectionManager<NoTls>>, BoxError> {
    let manager = bb8_postgres::PostgresConnectionManager::new(url.parse()?, NoTls);
    Ok(bb8::Pool::builder()
        .max_size(CONNECTIONS as u32)
        .min_idle(Some(CONNECTIONS as u32))
        .test_on_check_out(false)
        .build(manager)
        .await?)
}

pub(crate) async fn sqlx(url: &str) -> Result<sqlx::PgPool, BoxError> {
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(CONNECTIONS as u32)
        .min_connections(CONNECTIONS as u32)
        .test_before_acquire(false)
        .connect(url)
        .await?)
}

/// A connection of its own, outside any pool.
pub(crate) async fn connect(url: &str) -> Result<Client, BoxError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn raw(url: &str) -> Result<Raw, BoxError> {
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let client = connect(url).await?;
        let statement = client.prepare(SQL).await?;
        conns.push((client, statement));
    }
    Ok(Raw(conns))
}

/// Measures `step` once it is built; the error of either becomes the row's.
pub(crate) async fn measure<S: Step>(
    step: impl Future<Output = Result<S, BoxError>>,
    plan: Plan,
) -> Result<crate::drive::Measure, String> {
    let step = Arc::new(step.await.map_err(|e| e.to_string())?);
    tasks(step, plan).await.map_err(|e| e.to_string())
}

/// Every async system, `tasks` tasks over 16 connections.
pub(crate) async fn run(url: &str, tasks: usize, plan: Plan) -> Vec<Row> {
    let plan = Plan { tasks, ..plan };
    let raw_plan = Plan {
        tasks: CONNECTIONS,
        ..plan
    };
    let systems: Vec<(&str, Pending<'_>)> = vec![
        (
            "tidepool query()",
            Box::pin(measure(async { tidepool(url).await.map(Tidepool) }, plan)),
        ),
        (
            "deadpool-postgres prepare_cached",
            Box::pin(measure(async { deadpool(url).map(DeadpoolCached) }, plan)),
        ),
        (
            "deadpool-postgres query(&str)",
            Box::pin(measure(async { deadpool(url).map(Deadpool) }, plan)),
        ),
        (
            "bb8-postgres query(&str)",
            Box::pin(measure(async { bb8(url).await.map(Bb8) }, plan)),
        ),
        (
            "sqlx PgPool",
            Box::pin(measure(async { sqlx(url).await.map(Sqlx) }, plan)),
        ),
        (
            "tokio-postgres, 16 tasks on own conns, prepared (ceiling)",
            Box::pin(measure(raw(url), raw_plan)),
        ),
    ];
    let workload = format!("end-to-end {tasks} tasks / {CONNECTIONS} conns");
    in_turn(&workload, systems, plan.reversed).await
}

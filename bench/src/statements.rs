//! Statements that a statement cache cannot help: every text unique (an
//! ORM's or a report's dynamic SQL), and `BEGIN; SELECT $1; COMMIT`
//! through each pool's transaction API. 64 tasks over 16 connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Row as _;

use crate::drive::{BoxError, Plan, Step};
use crate::end_to_end::{CONNECTIONS, SQL, bb8, deadpool, expect, measure, sqlx, tidepool};
use crate::report::Row;
use crate::turns::{Pending, in_turn};

/// Tasks of both workloads.
const TASKS: usize = 64;

/// A statement text no iteration of any system ran before: `SELECT
/// $1::int + 0 * <k>`, `k` counted across the run.
fn unique_sql() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "SELECT $1::int + 0 * {}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

struct TidepoolUnique(tidepool_async::Pool);

impl Step for TidepoolUnique {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let conn = self.0.get().await?;
        let row = conn.query_one(&unique_sql(), &[&n]).await?;
        expect(row.get(0), n)
    }
}

struct DeadpoolUnique(deadpool_postgres::Pool);

impl Step for DeadpoolUnique {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let client = self.0.get().await?;
        let row = client.query_one(&unique_sql(), &[&n]).await?;
        expect(row.get(0), n)
    }
}

struct Bb8Unique(bb8::Pool<bb8_postgres::PostgresConnectionManager<tokio_postgres::NoTls>>);

impl Step for Bb8Unique {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let conn = self.0.get().await?;
        let row = conn.query_one(&unique_sql(), &[&n]).await?;
        expect(row.get(0), n)
    }
}

struct SqlxUnique(sqlx::PgPool);

impl Step for SqlxUnique {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let mut conn = self.0.acquire().await?;
        let sql = unique_sql();
        let row = sqlx::query(&sql).bind(n).fetch_one(&mut *conn).await?;
        expect(row.try_get(0)?, n)
    }
}

/// Every statement text unique.
pub(crate) async fn unique(url: &str, plan: Plan) -> Vec<Row> {
    let plan = Plan {
        tasks: TASKS,
        ..plan
    };
    let systems: Vec<(&str, Pending<'_>)> = vec![
        (
            "tidepool query()",
            Box::pin(measure(
                async { tidepool(url).await.map(TidepoolUnique) },
                plan,
            )),
        ),
        (
            "deadpool-postgres query(&str)",
            Box::pin(measure(async { deadpool(url).map(DeadpoolUnique) }, plan)),
        ),
        (
            "bb8-postgres query(&str)",
            Box::pin(measure(async { bb8(url).await.map(Bb8Unique) }, plan)),
        ),
        (
            "sqlx PgPool",
            Box::pin(measure(async { sqlx(url).await.map(SqlxUnique) }, plan)),
        ),
    ];
    let workload = format!("unique SQL {TASKS} tasks / {CONNECTIONS} conns");
    in_turn(&workload, systems, plan.reversed).await
}

struct TidepoolTransaction(tidepool_async::Pool);

impl Step for TidepoolTransaction {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let mut conn = self.0.get().await?;
        let tx = conn.transaction().await?;
        let row = tx.query_one(SQL, &[&n]).await?;
        tx.commit().await?;
        expect(row.get(0), n)
    }
}

struct DeadpoolTransaction(deadpool_postgres::Pool);

impl Step for DeadpoolTransaction {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let mut client = self.0.get().await?;
        let tx = client.transaction().await?;
        let statement = tx.prepare_cached(SQL).await?;
        let row = tx.query_one(&statement, &[&n]).await?;
        tx.commit().await?;
        expect(row.get(0), n)
    }
}

struct Bb8Transaction(bb8::Pool<bb8_postgres::PostgresConnectionManager<tokio_postgres::NoTls>>);

impl Step for Bb8Transaction {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let mut conn = self.0.get().await?;
        let tx = conn.transaction().await?;
        let row = tx.query_one(SQL, &[&n]).await?;
        tx.commit().await?;
        expect(row.get(0), n)
    }
}

struct SqlxTransaction(sqlx::PgPool);

impl Step for SqlxTransaction {
    async fn run(&self, _task: usize, n: i32) -> Result<Option<Duration>, BoxError> {
        let mut tx = self.0.begin().await?;
        let row = sqlx::query(SQL).bind(n).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        expect(row.try_get(0)?, n)
    }
}

/// `BEGIN; SELECT $1::int; COMMIT` through each pool's transaction API.
pub(crate) async fn transaction(url: &str, plan: Plan) -> Vec<Row> {
    let plan = Plan {
        tasks: TASKS,
        ..plan
    };
    let systems: Vec<(&str, Pending<'_>)> = vec![
        (
            "tidepool transaction()",
            Box::pin(measure(
                async { tidepool(url).await.map(TidepoolTransaction) },
                plan,
            )),
        ),
        (
            "deadpool-postgres transaction() + prepare_cached",
            Box::pin(measure(
                async { deadpool(url).map(DeadpoolTransaction) },
                plan,
            )),
        ),
        (
            "bb8-postgres transaction() + query(&str)",
            Box::pin(measure(async { bb8(url).await.map(Bb8Transaction) }, plan)),
        ),
        (
            "sqlx PgPool begin()",
            Box::pin(measure(
                async { sqlx(url).await.map(SqlxTransaction) },
                plan,
            )),
        ),
    ];
    let workload = format!("transaction {TASKS} tasks / {CONNECTIONS} conns");
    in_turn(&workload, systems, plan.reversed).await
}

//! The blocking pools: tidepool-sync against r2d2_postgres, threads looping
//! on checkout, `SELECT $1::int`, return: plain threads, and the
//! `spawn_blocking` threads of a tokio runtime (sync code called from async
//! code).

use std::sync::Arc;

use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::postgres::NoTls;

use crate::drive::{BlockingStep, BoxError, Plan, spawn_blocking, threads};
use crate::end_to_end::{CONNECTIONS, SQL, expect};
use crate::report::Row;

/// The threads of the workload.
pub(crate) const THREADS: usize = 64;

struct Tidepool(tidepool_sync::Pool);

impl BlockingStep for Tidepool {
    fn run(&self, n: i32) -> Result<(), BoxError> {
        let conn = self.0.get()?;
        let rows = conn.query(SQL, &[&n])?;
        expect(rows[0].get(0), n).map(drop)
    }
}

struct R2d2(r2d2::Pool<PostgresConnectionManager<NoTls>>);

impl BlockingStep for R2d2 {
    fn run(&self, n: i32) -> Result<(), BoxError> {
        let mut conn = self.0.get()?;
        let rows = conn.query(SQL, &[&n])?;
        expect(rows[0].get(0), n).map(drop)
    }
}

fn tidepool(url: &str) -> Result<Tidepool, BoxError> {
    let pool = tidepool_sync::Pool::builder(url)
        .min_size(CONNECTIONS)
        .max_size(CONNECTIONS)
        .build()?;
    pool.wait()?;
    Ok(Tidepool(pool))
}

/// r2d2 tests every connection with a query at each checkout unless told
/// not to; that round trip is turned off, as for bb8.
fn r2d2(url: &str) -> Result<R2d2, BoxError> {
    let manager = PostgresConnectionManager::new(url.parse()?, NoTls);
    let pool = r2d2::Pool::builder()
        .max_size(CONNECTIONS as u32)
        .min_idle(Some(CONNECTIONS as u32))
        .test_on_check_out(false)
        .build(manager)?;
    Ok(R2d2(pool))
}

/// Where the workload's threads come from.
#[derive(Clone, Copy)]
enum Threads {
    /// Threads of its own.
    Plain,
    /// `spawn_blocking` threads of a tokio runtime.
    SpawnBlocking,
}

fn measure<S: BlockingStep + Send + 'static>(
    step: Result<S, BoxError>,
    plan: Plan,
    on: Threads,
) -> Result<crate::drive::Measure, String> {
    let step = step.map_err(|e| e.to_string())?;
    match on {
        Threads::Plain => threads(&step, plan),
        Threads::SpawnBlocking => spawn_blocking(Arc::new(step), plan),
    }
    .map_err(|e| e.to_string())
}

/// Both blocking pools, 64 threads over 16 connections, on threads of
/// their own and on `spawn_blocking` threads. Must not run inside an async
/// runtime.
pub(crate) fn run(url: &str, plan: Plan) -> Vec<Row> {
    let plan = Plan {
        tasks: THREADS,
        ..plan
    };
    let mut rows = Vec::new();
    for (on, shape) in [
        (Threads::Plain, "threads"),
        (Threads::SpawnBlocking, "spawn_blocking threads"),
    ] {
        let workload = format!("blocking {THREADS} {shape} / {CONNECTIONS} conns");
        let measure_tidepool = || {
            Row::new(
                &workload,
                "tidepool-sync query()",
                measure(tidepool(url), plan, on),
            )
        };
        let measure_r2d2 = || {
            Row::new(
                &workload,
                "r2d2_postgres query(&str)",
                measure(r2d2(url), plan, on),
            )
        };
        // In turn, as the async workloads (see `crate::turns`).
        if plan.reversed {
            let r2d2 = measure_r2d2();
            rows.extend([measure_tidepool(), r2d2]);
        } else {
            rows.extend([measure_tidepool(), measure_r2d2()]);
        }
    }
    rows
}

//! A spike: 50 requests at once on a pool with 5 idle connections of at
//! most 50, whose connects take 150 ms, each request holding its
//! connection 5 ms (a short query). A pool that opens a connection per
//! waiting request opens 45; one that hands out whichever connection is
//! free first needs few more than 5 (HikariCP's figure).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::drive::{BoxError, Measure};
use crate::engine::{Checkout, Shape, bb8, deadpool, tidepool};
use crate::latency::Latencies;
use crate::report::{Compare, Row};

const REQUESTS: usize = 50;
const IDLE: usize = 5;
const HOLD: Duration = Duration::from_millis(5);

async fn burst<P: Checkout>(pool: P, delay: Duration) -> Result<(Measure, usize), BoxError> {
    let pool = Arc::new(pool);
    let before = pool.fake().connects();
    let started = Instant::now();
    let handles: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                let asked = Instant::now();
                let guard = pool.checkout().await?;
                tokio::time::sleep(HOLD).await;
                drop(guard);
                Ok::<_, BoxError>(asked.elapsed())
            })
        })
        .collect();
    let mut latencies = Latencies::default();
    for handle in handles {
        latencies.record(handle.await??);
    }
    let elapsed = started.elapsed();
    // Connects begun in the background are counted when they begin; a
    // connect's time later, any the burst set off has begun.
    tokio::time::sleep(delay).await;
    let opened = pool.fake().connects() - before;
    let measure = Measure {
        ops: REQUESTS as u64,
        elapsed,
        latencies,
        cpu: None,
    };
    Ok((measure, opened))
}

async fn row<P: Checkout>(
    workload: &str,
    system: &str,
    pool: impl Future<Output = Result<P, BoxError>>,
    delay: Duration,
) -> Row {
    let outcome = match pool.await {
        Ok(pool) => burst(pool, delay).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok((measure, opened)) => Row::new(workload, system, Ok(measure))
            .with_figure("connects", opened as f64)
            .compared_on(Compare::Figure)
            .without_throughput(),
        Err(error) => Row::new(workload, system, Err(error.to_string())),
    }
}

pub(crate) async fn run(delay: Duration) -> Vec<Row> {
    let shape = Shape {
        min: IDLE,
        max: REQUESTS,
        delay,
    };
    let workload = format!(
        "spike {REQUESTS} at once, {IDLE} idle / {REQUESTS} max, {} ms connects",
        delay.as_millis()
    );
    vec![
        row(&workload, "tidepool-core", tidepool(shape), delay).await,
        row(&workload, "deadpool managed", deadpool(shape), delay).await,
        row(&workload, "bb8", bb8(shape), delay).await,
    ]
}

//! The quickstart: one async pool shared by many tasks, then one blocking
//! pool shared by many threads, with the pool's statistics after each.
//!
//! ```text
//! cargo run -p tidepool-examples --bin quickstart
//! ```
//!
//! Uses `DATABASE_URL` when it is set; otherwise starts a private PostgreSQL
//! server for the length of the run.

use std::error::Error;
use std::time::{Duration, Instant};

use tidepool_async::Stats;

const TASKS: i32 = 200;
const THREADS: i32 = 32;
const MAX_SIZE: usize = 8;

fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let db = tidepool_examples::database_url()?;
    let url = db.url().to_owned();

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async_pool(&url))?;
    drop(runtime);

    blocking_pool(&url)?;
    println!("\nDone.");
    Ok(())
}

/// Many tasks share one async pool of at most `MAX_SIZE` connections.
async fn async_pool(url: &str) -> Result<(), tidepool_async::Error> {
    println!("\n== The async pool: {TASKS} tasks share at most {MAX_SIZE} connections ==");
    let pool = tidepool_async::Pool::builder(url)
        .name("quickstart-async")
        .min_size(4)
        .max_size(MAX_SIZE)
        .timeout(Duration::from_secs(10))
        .build()?;
    let started = Instant::now();
    pool.wait().await?;
    println!(
        "Pool ready: {} connections open after {:.0?}.",
        pool.stats().pool_size,
        started.elapsed()
    );

    {
        let mut conn = pool.get().await?;
        conn.batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS quickstart_scratch (id int);
             DROP TABLE IF EXISTS quickstart_orders;
             CREATE TABLE quickstart_orders (id int PRIMARY KEY, task int NOT NULL, amount int NOT NULL)",
        )
        .await?;
        // A transaction commits only when told to; this one is dropped, so
        // it rolls back and the connection goes back to the pool clean.
        let tx = conn.transaction().await?;
        tx.execute("INSERT INTO quickstart_orders VALUES (0, 0, 0)", &[])
            .await?;
        drop(tx);
    }

    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.get().await?;
            let tx = conn.transaction().await?;
            tx.execute(
                "INSERT INTO quickstart_orders VALUES ($1, $1, $2)",
                &[&(task + 1), &(task * 10)],
            )
            .await?;
            tx.query_one("SELECT pg_sleep(0.005)::text", &[]).await?;
            tx.commit().await
        }));
    }
    for task in tasks {
        task.await.expect("a task panicked")?;
    }
    let elapsed = started.elapsed();
    let conn = pool.get().await?;
    let row = conn
        .query_one(
            "SELECT count(*), coalesce(sum(amount), 0) FROM quickstart_orders",
            &[],
        )
        .await?;
    let (count, sum): (i64, i64) = (row.get(0), row.get(1));
    println!(
        "{TASKS} transactions committed in {elapsed:.0?}: {count} rows, amounts summing to {sum}."
    );
    drop(conn);
    print_stats(&pool.stats());
    pool.close();
    Ok(())
}

/// Many OS threads share one blocking pool.
fn blocking_pool(url: &str) -> Result<(), tidepool_sync::Error> {
    println!("\n== The blocking pool: {THREADS} threads share at most {MAX_SIZE} connections ==");
    let pool = tidepool_sync::Pool::builder(url)
        .name("quickstart-sync")
        .min_size(2)
        .max_size(MAX_SIZE)
        .timeout(Duration::from_secs(10))
        .build()?;
    pool.wait()?;
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let pool = pool.clone();
            std::thread::spawn(move || -> Result<i64, tidepool_sync::Error> {
                let mut total = 0;
                for _ in 0..10 {
                    let conn = pool.get()?;
                    let row = conn.query_one(
                        "SELECT count(*) FROM quickstart_orders WHERE task % $1::int = 0",
                        &[&(thread + 1)],
                    )?;
                    total += row.get::<_, i64>(0);
                }
                Ok(total)
            })
        })
        .collect();
    let mut rows_seen = 0;
    for thread in threads {
        rows_seen += thread.join().expect("a thread panicked")?;
    }
    println!(
        "{} queries from {THREADS} threads in {:.0?} ({rows_seen} rows counted).",
        THREADS * 10,
        started.elapsed()
    );
    print_stats(&pool.stats());
    pool.get()?.batch_execute("DROP TABLE quickstart_orders")?;
    Ok(())
}

fn print_stats(stats: &Stats) {
    println!("Pool statistics:");
    let rows = [
        ("pool_min", stats.pool_min as u64),
        ("pool_max", stats.pool_max as u64),
        ("pool_size", stats.pool_size as u64),
        ("pool_available", stats.pool_available as u64),
        ("requests_waiting", stats.requests_waiting as u64),
        ("requests_num", stats.requests_num),
        ("requests_queued", stats.requests_queued),
        ("requests_wait_ms", stats.requests_wait_ms),
        ("requests_errors", stats.requests_errors),
        ("usage_ms", stats.usage_ms),
        ("returns_bad", stats.returns_bad),
        ("connections_num", stats.connections_num),
        ("connections_ms", stats.connections_ms),
        ("connections_errors", stats.connections_errors),
        ("connections_lost", stats.connections_lost),
    ];
    for (name, value) in rows {
        println!("  {name:<20} {value:>8}");
    }
}

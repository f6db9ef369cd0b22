//! Faults behind a real PgBouncer in transaction mode, with the pool's
//! `pgbouncer` setting: a query timeout's cancel reaches the statement it
//! is meant for, the pool recovers from a PgBouncer restart under load,
//! and thousands of cancelled checkouts and statements leave no server
//! connection dirty.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::bouncer::bounced;
use common::{eventually, ok};
use futures_util::future::join_all;
use tidepool_async::{Error, Pool, Type};

/// Fails when an error is a lost prepared statement.
fn not_lost(error: &Error) {
    let code = error.code().map(|c| c.code().to_owned());
    assert!(
        !error.is_lost_prepared_statement()
            && code.as_deref() != Some("26000")
            && code.as_deref() != Some("42P05"),
        "a prepared statement was lost: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_timeout_cancels_its_own_statement_and_no_other() {
    // Two slow tasks never hold all three server connections, so the
    // quick statements rarely wait in PgBouncer's queue.
    let bounced = bounced(3);
    let limit = Duration::from_millis(300);
    let pool = ok(Pool::builder(&bounced.url())
        .pgbouncer(true)
        .min_size(8)
        .max_size(8)
        .query_timeout(Some(limit))
        .build());
    ok(pool.wait().await);
    // Slow statements share the two server connections with quick ones:
    // each cancel must reach the slow statement of its own client, never
    // the quick statement another client runs there meanwhile. (A statement
    // that times out while it waits in PgBouncer's queue cannot be
    // cancelled through PgBouncer 1.18, which ignores cancel requests for
    // waiting clients: the pool closes that connection, and PgBouncer the
    // server connection if the statement had reached one; its backend runs
    // the statement to its end, which the client's going does not stop:
    // hence sleeps of a few seconds, well inside the wait for the server to
    // be quiet below, never longer than that wait.)
    let slow = (0..2).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                let conn = ok(pool.get().await);
                let started = Instant::now();
                let error = conn.query("SELECT pg_sleep(5)", &[]).await.unwrap_err();
                assert!(error.is_query_timeout(), "{error}");
                assert!(started.elapsed() < limit * 2 + Duration::from_secs(1));
            }
        })
    });
    let quick = (0..8i32).map(|task| {
        let pool = pool.clone();
        tokio::spawn(async move {
            for i in 0..30i32 {
                let conn = ok(pool.get().await);
                match conn
                    .query_one("SELECT $1::int4", &[&(task * 100 + i)])
                    .await
                {
                    Ok(row) => assert_eq!(row.get::<_, i32>(0), task * 100 + i),
                    // Waiting behind a slow statement may outlast the
                    // limit too; a cancel meant for another is the bug.
                    Err(error) => {
                        not_lost(&error);
                        assert!(error.is_query_timeout(), "{error}");
                    }
                }
            }
        })
    });
    for task in join_all(slow.chain(quick)).await {
        task.unwrap();
    }
    common::eventually_within(
        "no pg_sleep runs on the server",
        Duration::from_secs(20),
        async || {
            bounced.server_psql(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' \
             AND state = 'active'",
            ) == "0"
        },
    )
    .await;
    drop(pool);
    bounced.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_recovers_from_a_pgbouncer_restart_under_load() {
    let bounced = Arc::new(bounced(2));
    let pool = ok(Pool::builder(&bounced.url())
        .pgbouncer(true)
        .min_size(4)
        .max_size(8)
        .timeout(Duration::from_secs(5))
        .build());
    ok(pool.wait().await);
    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let after = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8i32)
        .map(|task| {
            let (pool, stop, restarted, done, after) = (
                pool.clone(),
                Arc::clone(&stop),
                Arc::clone(&restarted),
                Arc::clone(&done),
                Arc::clone(&after),
            );
            tokio::spawn(async move {
                let mut failures = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let outcome = async {
                        let mut conn = pool.get().await?;
                        let tx = conn.transaction().await?;
                        let row = tx.query_one("SELECT $1::int4 + 1", &[&task]).await?;
                        tx.commit().await?;
                        Ok::<i32, Error>(row.get(0))
                    }
                    .await;
                    match outcome {
                        Ok(n) => {
                            assert_eq!(n, task + 1);
                            done.fetch_add(1, Ordering::Relaxed);
                            if restarted.load(Ordering::Relaxed) {
                                after.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(error) => {
                            not_lost(&error);
                            failures += 1;
                        }
                    }
                }
                failures
            })
        })
        .collect();
    eventually("the load is running", async || {
        done.load(Ordering::Relaxed) > 200
    })
    .await;
    let restart = Arc::clone(&bounced);
    tokio::task::spawn_blocking(move || restart.bouncer.restart())
        .await
        .unwrap()
        .unwrap();
    restarted.store(true, Ordering::Relaxed);
    common::eventually_within(
        "statements succeed again after the restart",
        Duration::from_secs(30),
        async || after.load(Ordering::Relaxed) > 200,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let failures: usize = join_all(tasks).await.into_iter().map(Result::unwrap).sum();
    // Some statements fail while PgBouncer is down; none of them for a
    // lost prepared statement (checked above), and not many.
    assert!(failures < 200, "{failures} failures");
    drop(pool);
    bounced.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_checkouts_and_statements_leave_no_server_connection_dirty() {
    const CANCELLED: usize = 2000;
    let bounced = bounced(2);
    let pool = ok(Pool::builder(&bounced.url())
        .pgbouncer(true)
        .min_size(8)
        .max_size(8)
        .build());
    ok(ok(pool.get().await)
        .batch_execute("CREATE TABLE touched (n int4 PRIMARY KEY)")
        .await);
    let counter = Arc::new(AtomicUsize::new(0));
    let tasks = (0..16).map(|_| {
        let pool = pool.clone();
        let counter = Arc::clone(&counter);
        tokio::spawn(async move {
            loop {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= CANCELLED {
                    break;
                }
                // Deadlines from 0 to 3 ms cut the work at every step: in
                // the queue, in a statement, inside a transaction holding a
                // row lock, in the middle of a COPY.
                let deadline = Duration::from_micros((i % 16) as u64 * 200);
                let n = i as i32;
                let work = async {
                    let mut conn = pool.get().await?;
                    match i % 4 {
                        0 => {
                            conn.query("SELECT pg_sleep(0.002), $1::int4", &[&n])
                                .await?;
                        }
                        1 => {
                            let tx = conn.transaction().await?;
                            tx.execute(
                                "INSERT INTO touched VALUES ($1) ON CONFLICT DO NOTHING",
                                &[&(n % 50)],
                            )
                            .await?;
                            tx.query("SELECT pg_sleep(0.002)", &[]).await?;
                            tx.commit().await?;
                        }
                        2 => {
                            let mut writer = conn
                                .copy_in_rows(
                                    "COPY touched (n) FROM STDIN (FORMAT binary)",
                                    &[Type::INT4],
                                )
                                .await?;
                            writer.write_row(&[&(10_000 + n)]).await?;
                            writer.finish().await?;
                        }
                        _ => {
                            let results = conn
                                .pipeline()
                                .query("SELECT pg_sleep(0.001)", &[])
                                .query("SELECT $1::int4", &[&n])
                                .run()
                                .await;
                            for result in results {
                                result?;
                            }
                        }
                    }
                    Ok::<(), Error>(())
                };
                if let Ok(Err(error)) = tokio::time::timeout(deadline, work).await {
                    not_lost(&error);
                }
            }
        })
    });
    for task in join_all(tasks).await {
        task.unwrap();
    }
    // The pool still works, and every server connection is clean.
    let conn = pool.get().await.unwrap_or_else(|error| {
        panic!(
            "{error}\n--- PgBouncer's log ---\n{}",
            bounced.bouncer.log_tail(40)
        )
    });
    assert_eq!(
        ok(conn.query_one("SELECT $1::int4", &[&5i32]).await).get::<_, i32>(0),
        5
    );
    drop(conn);
    drop(pool);
    bounced.assert_clean().await;
}

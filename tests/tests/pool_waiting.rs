//! Requests that wait for a connection of an exhausted pool: they time out
//! with a message that describes the pool, are turned away at once beyond
//! `max_waiting`, are served first come first served, and give up their
//! place when cancelled.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{database, eventually, ok, tagged_url};
use tidepool_async::Pool;

/// Waits until the pool counts `n` waiting requests.
async fn wait_for_waiters(pool: &Pool, n: usize) {
    eventually(&format!("{n} requests wait"), async || {
        pool.stats().requests_waiting == n
    })
    .await;
}

#[tokio::test]
async fn a_checkout_times_out_and_describes_the_exhausted_pool() {
    let db = database();
    let (_, url) = tagged_url(&db, "timeout");
    let pool = ok(Pool::builder(&url)
        .name("tmo")
        .min_size(2)
        .max_size(2)
        .timeout(Duration::from_millis(500))
        .build());
    ok(pool.wait_timeout(Duration::from_secs(10)).await);
    let held = (ok(pool.get().await), ok(pool.get().await));

    // The first waiter, then a second one queued behind it.
    let first = tokio::spawn({
        let pool = pool.clone();
        async move {
            let started = Instant::now();
            let result = pool.get().await;
            (started.elapsed(), result.map(drop))
        }
    });
    wait_for_waiters(&pool, 1).await;
    let second = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(drop) }
    });
    wait_for_waiters(&pool, 2).await;

    let (elapsed, result) = first.await.unwrap();
    let error = result.expect_err("all connections are held: the checkout must time out");
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        elapsed >= Duration::from_millis(500),
        "gave up after {elapsed:?}, before the 500 ms timeout"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "gave up after {elapsed:?}, long after the 500 ms timeout"
    );
    let message = error.to_string();
    common::assert_contains(
        &message,
        &[
            "pool \"tmo\"",
            "no connection became available within",
            "2 of 2 connections in use (2 open)",
            "1 other requests waiting",
            "raise max_size",
        ],
    );
    assert!(error.code().is_none(), "no server error is involved");

    let error = second
        .await
        .unwrap()
        .expect_err("the second waiter times out too");
    assert!(error.is_timeout(), "{error:?}");
    common::assert_contains(&error.to_string(), &["0 other requests waiting"]);

    let stats = pool.stats();
    assert_eq!(stats.requests_errors, 2, "{stats:?}");
    assert_eq!(stats.requests_queued, 2, "{stats:?}");
    assert_eq!(stats.requests_waiting, 0, "{stats:?}");

    // get_timeout overrides the pool's timeout for one checkout.
    let started = Instant::now();
    let error = pool
        .get_timeout(Duration::from_millis(100))
        .await
        .expect_err("still exhausted");
    let elapsed = started.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(1),
        "get_timeout(100 ms) gave up after {elapsed:?}"
    );

    // Once a connection comes back, checkouts succeed again.
    drop(held);
    drop(ok(pool.get().await));
}

#[tokio::test]
async fn beyond_max_waiting_a_checkout_is_turned_away_at_once() {
    let db = database();
    let (_, url) = tagged_url(&db, "maxwait");
    let pool = ok(Pool::builder(&url)
        .name("shed")
        .min_size(1)
        .max_size(1)
        .max_waiting(1)
        .timeout(Duration::from_secs(10))
        .build());
    let held = ok(pool.get().await);

    let queued = tokio::spawn({
        let pool = pool.clone();
        async move {
            let conn = pool.get().await?;
            conn.query_one("select 1", &[]).await.map(drop)
        }
    });
    wait_for_waiters(&pool, 1).await;

    let started = Instant::now();
    let error = pool
        .get()
        .await
        .expect_err("one request already waits and max_waiting is 1");
    let elapsed = started.elapsed();
    assert!(error.is_too_many_requests(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert!(
        elapsed < Duration::from_millis(100),
        "turning a request away took {elapsed:?}; it must not wait"
    );
    common::assert_contains(
        &error.to_string(),
        &[
            "pool \"shed\"",
            "too many requests",
            "1 already waiting",
            "max_waiting is 1",
        ],
    );
    assert_eq!(
        pool.stats().requests_waiting,
        1,
        "the queued request still waits"
    );

    drop(held);
    ok(queued.await.unwrap());
    assert_eq!(pool.stats().requests_errors, 1);
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    const WAITERS: usize = 8;

    let db = database();
    let (_, url) = tagged_url(&db, "fifo");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(20))
        .build());
    let held = ok(pool.get().await);

    let served = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for i in 0..WAITERS {
        let waiter_pool = pool.clone();
        let served = Arc::clone(&served);
        waiters.push(tokio::spawn(async move {
            let conn = waiter_pool.get().await?;
            served.lock().unwrap().push(i);
            conn.query_one("select 1", &[]).await.map(drop)
        }));
        // Queued before the next one arrives.
        wait_for_waiters(&pool, i + 1).await;
    }

    drop(held);
    for waiter in waiters {
        ok(waiter.await.unwrap());
    }
    assert_eq!(
        *served.lock().unwrap(),
        (0..WAITERS).collect::<Vec<_>>(),
        "waiters must be served first come, first served"
    );
}

#[tokio::test]
async fn a_cancelled_waiter_gives_up_its_place_and_loses_no_connection() {
    let db = database();
    let (_, url) = tagged_url(&db, "cancel");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build());
    let held = ok(pool.get().await);

    let cancelled = tokio::time::timeout(Duration::from_millis(100), pool.get()).await;
    assert!(cancelled.is_err(), "the checkout cannot have succeeded");
    assert_eq!(pool.stats().requests_waiting, 0);

    let next = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(drop) }
    });
    wait_for_waiters(&pool, 1).await;
    drop(held);
    ok(tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .expect("the connection went to the cancelled request")
        .unwrap());
    let stats = pool.stats();
    assert_eq!(stats.pool_size, 1, "{stats:?}");
    assert_eq!(stats.pool_available, 1, "{stats:?}");
}

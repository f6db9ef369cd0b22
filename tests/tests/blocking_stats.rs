//! The gauges and counters of a blocking pool on a real server, and
//! `pop_stats`, which hands out the counters and sets them back to zero,
//! as the async pool's (`pool_stats.rs`).

mod common;

use std::thread;
use std::time::Duration;

use common::{database, eventually_blocking, ok, tagged_url};
use tidepool_sync::Pool;

#[test]
fn stats_count_a_blocking_pools_work_and_pop_stats_zeroes_the_counters() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_stats");
    let pool = ok(Pool::builder(&url)
        .min_size(2)
        .max_size(2)
        .worker_threads(1)
        .timeout(Duration::from_secs(10))
        .build());
    ok(pool.wait());

    let stats = pool.stats();
    assert_eq!((stats.pool_min, stats.pool_max), (2, 2), "{stats:?}");
    assert_eq!(stats.pool_size, 2, "{stats:?}");
    assert_eq!(stats.pool_available, 2, "{stats:?}");
    assert!(stats.connections_num >= 2, "{stats:?}");
    assert_eq!(stats.connections_errors, 0, "{stats:?}");
    assert_eq!(stats.requests_num, 0, "{stats:?}");

    for _ in 0..3 {
        let conn = ok(pool.get());
        ok(conn.query_one("select 1", &[]));
    }
    let first = ok(pool.get());
    let second = ok(pool.get());
    // Held for at least 50 ms each, by the server's clock.
    ok(first.query("select pg_sleep(0.05)", &[]));
    ok(second.query("select pg_sleep(0.05)", &[]));
    let stats = pool.stats();
    assert_eq!(stats.pool_available, 0, "{stats:?}");
    assert_eq!(stats.pool_size, 2, "{stats:?}");

    // A checkout that times out.
    let error = pool
        .get_timeout(Duration::from_millis(100))
        .expect_err("a checkout of an exhausted pool succeeded");
    assert!(error.is_timeout(), "{error}");

    // A thread that waits for a connection, then gets one.
    let waiter = thread::spawn({
        let pool = pool.clone();
        move || pool.get().map(drop)
    });
    eventually_blocking("the request waits", || pool.stats().requests_waiting == 1);
    assert_eq!(pool.stats().requests_queued, 2);
    ok(first.query("select pg_sleep(0.05)", &[]));
    drop(first);
    ok(waiter.join().expect("the waiting thread panicked"));
    drop(second);

    let stats = pool.stats();
    assert_eq!(stats.requests_num, 7, "{stats:?}");
    assert_eq!(stats.requests_queued, 2, "{stats:?}");
    assert!(stats.requests_wait_ms >= 150, "{stats:?}");
    assert_eq!(stats.requests_errors, 1, "{stats:?}");
    assert_eq!(stats.requests_timeouts, 1, "{stats:?}");
    assert!(stats.usage_ms >= 100, "{stats:?}");
    assert_eq!(stats.returns_bad, 0, "{stats:?}");
    assert_eq!(stats.pool_available, 2, "{stats:?}");

    let popped = pool.pop_stats();
    assert_eq!(popped.requests_num, 7, "{popped:?}");
    assert_eq!(popped.requests_errors, 1, "{popped:?}");
    assert!(popped.connections_num >= 2, "{popped:?}");
    assert!(popped.usage_ms >= stats.usage_ms, "{popped:?}");

    let after = pool.stats();
    assert_eq!(after.requests_num, 0, "{after:?}");
    assert_eq!(after.requests_queued, 0, "{after:?}");
    assert_eq!(after.requests_wait_ms, 0, "{after:?}");
    assert_eq!(after.requests_errors, 0, "{after:?}");
    assert_eq!(after.requests_timeouts, 0, "{after:?}");
    assert_eq!(after.usage_ms, 0, "{after:?}");
    assert_eq!(after.connections_num, 0, "{after:?}");
    assert_eq!(after.connections_ms, 0, "{after:?}");
    // Gauges describe the pool now and are not reset.
    assert_eq!(after.pool_size, 2, "{after:?}");
    assert_eq!(after.pool_available, 2, "{after:?}");
    assert_eq!((after.pool_min, after.pool_max), (2, 2), "{after:?}");

    // Counting starts again from zero.
    drop(ok(pool.get()));
    assert_eq!(pool.stats().requests_num, 1);
}

//! Threads that wait for a connection of an exhausted blocking pool are
//! served first come, first served, as the async pool's tasks are
//! (`pool_waiting.rs`).

mod common;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{database, eventually_blocking, ok, tagged_url};
use tidepool_sync::Pool;

/// Waits until the pool counts `n` waiting requests.
fn wait_for_waiters(pool: &Pool, n: usize) {
    eventually_blocking(&format!("{n} requests wait"), || {
        pool.stats().requests_waiting == n
    });
}

#[test]
fn waiting_threads_are_served_in_arrival_order() {
    const WAITERS: usize = 8;

    let db = database();
    let (_, url) = tagged_url(&db, "sync_fifo");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .worker_threads(1)
        .timeout(Duration::from_secs(20))
        .build());
    ok(pool.wait());
    let held = ok(pool.get());

    let served = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for i in 0..WAITERS {
        let waiter_pool = pool.clone();
        let served = Arc::clone(&served);
        waiters.push(thread::spawn(move || {
            let conn = waiter_pool.get()?;
            // Recorded while holding the only connection: the next waiter
            // cannot be served before this one is done.
            served.lock().unwrap().push(i);
            conn.query_one("select 1", &[]).map(drop)
        }));
        // Queued before the next one arrives.
        wait_for_waiters(&pool, i + 1);
    }
    assert!(
        served.lock().unwrap().is_empty(),
        "a thread was served while the only connection was held"
    );

    drop(held);
    for waiter in waiters {
        ok(waiter.join().expect("a waiting thread panicked"));
    }
    assert_eq!(
        *served.lock().unwrap(),
        (0..WAITERS).collect::<Vec<_>>(),
        "waiting threads must be served first come, first served"
    );
    let stats = pool.stats();
    assert_eq!(stats.requests_queued, WAITERS as u64, "{stats:?}");
    assert_eq!(stats.requests_errors, 0, "{stats:?}");
    assert_eq!(stats.pool_size, 1, "{stats:?}");
}

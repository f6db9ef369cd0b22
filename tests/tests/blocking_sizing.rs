//! The blocking pool shrinks back to `min_size` once the connections a
//! burst opened have been idle for `max_idle`, counted on the server, as
//! the async pool does (`lifecycle_health.rs`).

mod common;

use std::time::{Duration, Instant};

use common::{database, eventually_blocking, ok, sessions_psql, tagged_url};
use tidepool_sync::Pool;

#[test]
fn idle_connections_above_min_size_close_after_max_idle() {
    const MAX_IDLE: Duration = Duration::from_millis(500);

    let db = database();
    let (app, url) = tagged_url(&db, "sync_max_idle");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(4)
        .worker_threads(1)
        .max_idle(Some(MAX_IDLE))
        .timeout(Duration::from_secs(10))
        .build());
    ok(pool.wait());

    // A burst grows the pool to 4.
    let held: Vec<_> = (0..4).map(|_| ok(pool.get())).collect();
    eventually_blocking("4 sessions of the pool are on the server", || {
        sessions_psql(&db, &app) == 4
    });
    let returned = Instant::now();
    drop(held);

    // Then idleness shrinks it back to min_size, after max_idle and not
    // before.
    eventually_blocking("the pool shrank to min_size on the server", || {
        sessions_psql(&db, &app) == 1
    });
    let shrunk_after = returned.elapsed();
    assert!(
        shrunk_after >= MAX_IDLE,
        "idle connections closed after {shrunk_after:?}, before max_idle {MAX_IDLE:?}"
    );
    let stats = pool.stats();
    assert_eq!(stats.connections_closed_idle, 3, "{stats:?}");

    // And no lower: the connection kept for min_size outlives max_idle.
    std::thread::sleep(2 * MAX_IDLE);
    assert_eq!(sessions_psql(&db, &app), 1);
    let stats = pool.stats();
    assert_eq!((stats.pool_size, stats.pool_available), (1, 1), "{stats:?}");
    assert_eq!(stats.connections_closed_idle, 3, "{stats:?}");
    ok(ok(pool.get()).query_one("select 1", &[]));
}

//! Pool sizing on a real server: `min_size` sessions are really opened, and
//! `max_size` is never exceeded on the server, even under a burst of 200
//! concurrent checkouts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Monitor, database, ok, sessions_psql, tagged_url};
use tidepool_async::Pool;
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_size_sessions_are_opened_on_the_server() {
    let db = database();
    let (app, url) = tagged_url(&db, "minsize");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url).min_size(3).max_size(10).build());

    ok(pool.wait().await);

    assert_eq!(
        monitor.sessions(&app).await,
        3,
        "after wait() the server must show exactly min_size sessions"
    );
    let stats = pool.stats();
    assert_eq!(stats.pool_size, 3, "{stats:?}");
    assert_eq!(stats.pool_available, 3, "{stats:?}");
    assert_eq!(stats.pool_min, 3, "{stats:?}");
    assert_eq!(stats.connections_num, 3, "{stats:?}");
    assert_eq!(stats.connections_errors, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_size_is_never_exceeded_under_200_concurrent_checkouts() {
    const MAX_SIZE: usize = 10;
    const TASKS: usize = 200;

    let db = database();
    let (app, url) = tagged_url(&db, "maxsize");
    let pool = ok(Pool::builder(&url)
        .min_size(2)
        .max_size(MAX_SIZE)
        .timeout(Duration::from_secs(30))
        .build());
    ok(pool.wait().await);

    // Samples the server-side count and the pool's size while the tasks run.
    let running = Arc::new(AtomicBool::new(true));
    let monitor = {
        let monitor = Monitor::connect(db.url()).await;
        let running = Arc::clone(&running);
        let pool = pool.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let (mut max_server, mut max_pool, mut samples) = (0, 0, 0);
            while running.load(Ordering::SeqCst) {
                max_server = max_server.max(monitor.sessions(&app).await);
                max_pool = max_pool.max(pool.stats().pool_size);
                samples += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (max_server, max_pool, samples)
        })
    };

    let max_seen_by_tasks = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for i in 0..TASKS {
        let pool = pool.clone();
        let max_seen = Arc::clone(&max_seen_by_tasks);
        tasks.spawn(async move {
            let conn = pool.get().await?;
            max_seen.fetch_max(pool.stats().pool_size, Ordering::SeqCst);
            conn.query("select pg_sleep(0.01)", &[]).await?;
            let row = conn.query_one("select $1::int4", &[&(i as i32)]).await?;
            assert_eq!(row.get::<_, i32>(0), i as i32);
            Ok::<_, tidepool_async::Error>(())
        });
    }
    let mut succeeded = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("a checkout task panicked") {
            Ok(()) => succeeded += 1,
            Err(e) => panic!("a checkout failed: {e}"),
        }
    }
    running.store(false, Ordering::SeqCst);
    let (max_server, max_pool, samples) = monitor.await.unwrap();

    assert_eq!(succeeded, TASKS);
    assert!(samples > 0, "the monitor took no sample");
    assert!(
        max_server <= MAX_SIZE,
        "the server saw {max_server} sessions of a pool with max_size {MAX_SIZE}"
    );
    assert!(
        max_server >= 2,
        "the monitor never saw the pool's sessions ({max_server}); it is not measuring"
    );
    assert!(max_pool <= MAX_SIZE, "stats().pool_size reached {max_pool}");
    let max_seen = max_seen_by_tasks.load(Ordering::SeqCst);
    assert!(max_seen <= MAX_SIZE, "stats().pool_size reached {max_seen}");
    let stats = pool.stats();
    assert!(stats.pool_size <= MAX_SIZE, "{stats:?}");
    assert_eq!(stats.requests_num, TASKS as u64, "{stats:?}");
    assert_eq!(stats.requests_errors, 0, "{stats:?}");
    eprintln!("max sessions seen on the server: {max_server} in {samples} samples");
    let remaining = sessions_psql(&db, &app);
    assert!(remaining <= MAX_SIZE, "{remaining} sessions remain");
}

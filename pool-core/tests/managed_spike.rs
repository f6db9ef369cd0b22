//! A spike of short requests (HikariCP's "spike demand" scenario) is served
//! by the connections already open and returned, not by opening one
//! connection per request.

mod common;

use std::time::Duration;

use common::{FakeManager, settle};
use tidepool_core::Pool;

#[tokio::test(start_paused = true)]
async fn a_spike_of_short_requests_does_not_flood_the_pool() {
    let manager = FakeManager::with_delay(Duration::from_millis(150));
    let pool = Pool::builder(manager.clone())
        .min_size(5)
        .max_size(50)
        .build()
        .unwrap();
    assert_eq!(pool.config().max_connecting, 2);
    pool.wait().await.unwrap();
    assert_eq!(manager.connects_started(), 5);

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
                drop(conn);
                Ok::<_, tidepool_core::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // Let any connect still running finish.
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;

    let stats = pool.stats();
    assert!(
        stats.pool_size <= 7,
        "the spike grew the pool to {} connections",
        stats.pool_size
    );
    assert!(manager.connects_started() <= 7);
    assert!(manager.live() <= 7);
    assert_eq!(stats.requests_num, 50);
    assert_eq!(stats.requests_errors, 0);
}

//! `connect_timeout`: a connect that hangs is abandoned and counted as a
//! failed connect, with an error that says so.

mod common;

use std::time::Duration;

use common::{FakeManager, settle};
use tidepool_core::Pool;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

// The test ends before the first retry (about 0.25 s after the failure), so it
// does not meet the backoff's std-clock spin (see managed_backoff.rs).
#[tokio::test(start_paused = true)]
async fn a_hanging_connect_is_abandoned_after_connect_timeout() {
    let manager = FakeManager::with_delay(Duration::from_secs(3600));
    let pool = Pool::builder(manager.clone())
        .min_size(1)
        .max_size(1)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .unwrap();
    tokio::time::sleep(CONNECT_TIMEOUT - Duration::from_millis(50)).await;
    assert_eq!(manager.connecting_now(), 1);
    assert_eq!(pool.stats().connections_errors, 0);
    assert_eq!(pool.stats().pool_size, 1, "a connect in progress counts");

    tokio::time::sleep(Duration::from_millis(100)).await;
    settle().await;
    assert_eq!(manager.connecting_now(), 0, "the connect was not abandoned");
    assert_eq!(manager.connects_started(), 1);
    let stats = pool.stats();
    assert_eq!(stats.connections_num, 1);
    assert_eq!(stats.connections_errors, 1);
    assert_eq!(stats.pool_size, 0);

    let error = pool
        .wait_timeout(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    let cause = error
        .cause()
        .expect("the connect timeout as cause")
        .to_string();
    assert!(
        cause.contains("connecting took longer than connect_timeout (500 ms)"),
        "{cause}"
    );
}

//! `Stats::in_use` counts the connections checked out now, whichever way
//! they come back (returned, detached, dropped with a closed pool).

mod common;

use common::FakeManager;
use tidepool_core::{Pool, Pooled};

#[tokio::test(start_paused = true)]
async fn in_use_follows_checkouts_returns_and_detaches() {
    let pool = Pool::builder(FakeManager::new())
        .min_size(2)
        .max_size(3)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    assert_eq!(pool.stats().in_use, 0);
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let stats = pool.stats();
    assert_eq!(stats.in_use, 2, "{stats:?}");
    assert_eq!(stats.pool_available, 0, "{stats:?}");
    drop(a);
    assert_eq!(pool.stats().in_use, 1);
    let _conn = Pooled::detach(b);
    assert_eq!(
        pool.stats().in_use,
        0,
        "a detached connection is not in use"
    );
    let c = pool.get().await.unwrap();
    assert_eq!(pool.stats().in_use, 1);
    pool.close();
    drop(c);
    assert_eq!(pool.stats().in_use, 0, "returned to a closed pool");
}

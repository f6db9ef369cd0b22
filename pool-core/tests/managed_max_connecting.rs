//! `max_connecting`: however high the demand, at most `max_connecting`
//! connects run at once.

mod common;

use std::time::Duration;

use common::FakeManager;
use tidepool_core::Pool;

async fn burst(max_connecting: usize) -> FakeManager {
    let manager = FakeManager::with_delay(Duration::from_secs(1));
    let pool = Pool::builder(manager.clone())
        .min_size(0)
        .max_size(50)
        .max_connecting(max_connecting)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
                drop(conn);
                Ok::<_, tidepool_core::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    manager
}

#[tokio::test(start_paused = true)]
async fn at_most_max_connecting_connects_run_at_once() {
    let manager = burst(2).await;
    assert!(
        manager.connecting_max() <= 2,
        "{} connects ran at once",
        manager.connecting_max()
    );
    // The demand did push the bound.
    assert_eq!(manager.connecting_max(), 2);
    assert!(manager.connects_started() >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_larger_max_connecting_opens_more_at_once() {
    let manager = burst(5).await;
    assert_eq!(manager.connecting_max(), 5);
}

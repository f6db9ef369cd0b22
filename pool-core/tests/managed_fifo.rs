//! Fairness: waiting requests are served first come, first served.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{FakeManager, wait_for_waiters};

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    let pool = common::ready_pool(FakeManager::new(), 1, 1, Duration::from_secs(60)).await;
    let held = pool.get().await.unwrap();

    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let pool_ = pool.clone();
        let served = Arc::clone(&served);
        tasks.push(tokio::spawn(async move {
            let conn = pool_.get().await.unwrap();
            served.lock().unwrap().push(i);
            tokio::time::sleep(Duration::from_millis(1)).await;
            drop(conn);
        }));
        // Waiter i is in the queue before waiter i + 1 arrives.
        wait_for_waiters(&pool, i + 1).await;
    }

    drop(held);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*served.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_does_not_overtake_the_queue() {
    let pool = common::ready_pool(FakeManager::new(), 1, 1, Duration::from_secs(60)).await;
    let held = pool.get().await.unwrap();
    let queued = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|c| c.id) })
    };
    wait_for_waiters(&pool, 1).await;
    // The connection comes back while a request waits: it goes to that
    // request, not to one that arrives right after.
    drop(held);
    let newcomer = tokio::time::timeout(Duration::ZERO, pool.get()).await;
    assert!(newcomer.is_err(), "a newcomer overtook the queue");
    assert_eq!(queued.await.unwrap().unwrap(), 0);
}

//! A pool that lost every connection (a restart, a failover) retries its
//! connects quickly while requests wait, in the first second of the outage,
//! one attempt at a time, so the requests are served as soon as the server
//! is back; then the backoff alone spaces the attempts, up to its cap. A
//! pool that never connected, a pool nobody waits on and an error that
//! retrying cannot fix keep the backoff (see `managed_backoff.rs`).

mod common;

use std::time::Duration;

use common::{FakeManager, settle, timed};
use tidepool_core::Pool;
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A pool with `min_size` connections open.
async fn pool(manager: &FakeManager, min_size: usize) -> Pool<FakeManager> {
    common::ready_pool(manager.clone(), min_size, 4, TIMEOUT).await
}

/// The server goes away: connects fail, and every open connection is
/// broken (the pool finds out at its next checkout).
fn server_down(manager: &FakeManager, permanently: bool) {
    if permanently {
        manager.set_fail_permanently(true);
    } else {
        manager.set_fail_connects(true);
    }
    for id in manager.live_ids() {
        manager
            .broken_flag(id)
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// When the connect attempts began in `[from, to)`, after `from`, but for
/// the first round (the connects begun at once when the pool found its
/// connections broken, before any had failed).
fn retries(manager: &FakeManager, from: Instant, to: Instant) -> Vec<Duration> {
    manager
        .connect_times()
        .into_iter()
        .filter(|at| *at > from && *at < to)
        .map(|at| at - from)
        .collect()
}

/// Connect attempts begun in `[from, to)`.
fn attempts_between(manager: &FakeManager, from: Instant, to: Instant) -> usize {
    manager
        .connect_times()
        .into_iter()
        .filter(|at| *at >= from && *at < to)
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_waiting_request_is_served_within_milliseconds_of_the_server_coming_back() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 2).await;
    server_down(&manager, false);
    let t0 = Instant::now();
    let request = {
        let pool = pool.clone();
        tokio::spawn(async move { timed(pool.get()).await })
    };
    // Down for 102 ms: the backoff alone would retry at about 0.25 s.
    tokio::time::sleep(Duration::from_millis(102)).await;
    manager.set_fail_connects(false);
    let back = Instant::now();
    let (conn, _) = request.await.unwrap();
    let conn = conn.expect("served once the server is back");
    let served_after = Instant::now() - back;
    // Quick retries are 5 ms apart: the one after 100 ms comes at 105 ms.
    assert!(
        served_after <= Duration::from_millis(5),
        "served {served_after:?} after the server came back"
    );
    drop(conn);
    // Quick retries, one at a time, 5 ms apart in the first quarter second
    // of the outage, instead of one at 0.25 s.
    let quick = retries(&manager, t0, back);
    let ms: Vec<u128> = quick.iter().map(Duration::as_millis).collect();
    let expected: Vec<u128> = (1..=20).map(|n| n * 5).collect();
    assert_eq!(ms, expected, "retries at {quick:?}");
}

#[tokio::test(start_paused = true)]
async fn quick_retries_stop_after_a_second_and_the_backoff_holds_its_cap() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 1).await;
    server_down(&manager, false);
    let t0 = Instant::now();
    // Requests keep waiting all along.
    let _waiting: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get_timeout(Duration::from_secs(120)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(100)).await;
    let s = Duration::from_secs;
    let quick = attempts_between(&manager, t0, t0 + s(1));
    // The first round, then every 5 ms to 0.25 s and every 25 ms to the
    // end of the first second: about eighty attempts, not a storm.
    assert!(
        (78..=84).contains(&quick),
        "{quick} attempts in the first second"
    );
    // Then the backoff alone: doubling, at most 1.1 times each, then every
    // 10 s +-10 %.
    let backoff = attempts_between(&manager, t0 + s(1), t0 + s(20));
    assert!(
        (4..=7).contains(&backoff),
        "{backoff} attempts from 1 s to 20 s"
    );
    let capped = attempts_between(&manager, t0 + s(20), t0 + s(100));
    assert!(
        (7..=9).contains(&capped),
        "{capped} attempts from 20 s to 100 s"
    );
    assert_eq!(manager.connects_succeeded(), 1, "only the first connection");
}

#[tokio::test(start_paused = true)]
async fn with_no_request_waiting_the_backoff_alone_spaces_the_retries() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 1).await;
    server_down(&manager, false);
    // A checkout finds the connection broken and gives up at once.
    let error = pool
        .get_timeout(Duration::from_millis(1))
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // min_size reconnects after about 0.25 s and 0.75 s.
    let later = retries(&manager, t0, Instant::now());
    assert_eq!(later.len(), 2, "retries at {later:?}");
    assert!(later[0] >= Duration::from_millis(200), "{later:?}");
}

#[tokio::test(start_paused = true)]
async fn an_error_that_retrying_cannot_fix_is_not_retried_sooner() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 1).await;
    server_down(&manager, true);
    let t0 = Instant::now();
    // Requests keep coming; each fails at once with the error.
    while Instant::now() < t0 + Duration::from_secs(1) {
        let error = pool.get().await.unwrap_err();
        assert!(error.is_connect(), "{error}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    settle().await;
    // The first round when the connection was found broken, then about
    // 0.25 s and 0.75 s later.
    let later = retries(&manager, t0, t0 + Duration::from_secs(1));
    assert_eq!(later.len(), 2, "retries at {later:?}");
    assert!(later[0] >= Duration::from_millis(200), "{later:?}");
}

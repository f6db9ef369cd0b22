//! `reconnect_timeout`: when connects keep failing, the pool reports it once
//! per run of failures (the `reconnect_failed` callback) after
//! `reconnect_timeout`, keeps retrying at most 10 s apart, and recovers by
//! itself when the server returns.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CONNECT_ERROR, FakeManager, timed};
use tidepool_core::{Pool, Pooled};
use tokio::time::Instant;

const RECONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// The backoff's cap, 10 s, with its 10 % jitter either way.
const LONGEST_DELAY: Duration = Duration::from_secs(11);
const SHORTEST_CAPPED_DELAY: Duration = Duration::from_secs(9);

/// One call of the callback: when, and how many connects had been tried.
type Calls = Arc<Mutex<Vec<(Instant, usize)>>>;

fn failing_pool() -> (Pool<FakeManager>, FakeManager, Calls) {
    let manager = FakeManager::new();
    manager.set_fail_connects(true);
    let calls: Calls = Arc::default();
    let pool = Pool::builder(manager.clone())
        .name("flaky")
        .min_size(1)
        .max_size(1)
        .reconnect_timeout(RECONNECT_TIMEOUT)
        .reconnect_failed({
            let calls = Arc::clone(&calls);
            move |pool: &Pool<FakeManager>| {
                assert_eq!(pool.name(), "flaky");
                let attempts = pool.manager().connects_started();
                calls.lock().unwrap().push((Instant::now(), attempts));
            }
        })
        .build()
        .unwrap();
    (pool, manager, calls)
}

fn calls(calls: &Calls) -> Vec<(Instant, usize)> {
    calls.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn reconnect_failed_is_called_once_after_reconnect_timeout_and_retries_go_on() {
    let (pool, manager, reported) = failing_pool();
    let t0 = Instant::now();

    tokio::time::sleep_until(t0 + RECONNECT_TIMEOUT - Duration::from_millis(1)).await;
    assert!(
        calls(&reported).is_empty(),
        "reported before reconnect_timeout"
    );
    // Attempts at about 0, 0.25, 0.75, 1.75, 3.75, 7.75, 15.75, 25.75,
    // 35.75, 45.75, 55.75 s, each delay within 10 % either way.
    let attempts = manager.connects_started();
    assert!((10..=12).contains(&attempts), "{attempts} attempts in 60 s");

    // Reported at the first failure after 60 s: no later than one longest
    // delay after it.
    tokio::time::sleep_until(t0 + RECONNECT_TIMEOUT + LONGEST_DELAY + Duration::from_secs(1)).await;
    let calls_now = calls(&reported);
    assert_eq!(calls_now.len(), 1, "{calls_now:?}");
    let (reported_at, attempts_then) = calls_now[0];
    let after = reported_at - t0;
    assert!(
        after >= RECONNECT_TIMEOUT && after <= RECONNECT_TIMEOUT + LONGEST_DELAY,
        "reported after {after:?}"
    );
    // The failure that was reported was the last attempt then.
    assert_eq!(manager.connect_times()[attempts_then - 1], reported_at);

    // Retries go on, capped at 10 s (+-10%) apart: 10 to 13 in 120 s.
    tokio::time::sleep_until(reported_at + Duration::from_secs(120)).await;
    let times = manager.connect_times();
    let later = times.len() - attempts_then;
    assert!((10..=13).contains(&later), "{later} attempts in 120 s");
    for pair in times[attempts_then - 1..].windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            (SHORTEST_CAPPED_DELAY..=LONGEST_DELAY).contains(&gap),
            "{gap:?} between two attempts after the report"
        );
    }
    assert_eq!(calls(&reported).len(), 1, "reported twice in one run");

    // The server comes back: the next attempt succeeds.
    manager.set_fail_connects(false);
    pool.wait_timeout(LONGEST_DELAY).await.unwrap();
    assert_eq!(pool.stats().pool_size, 1);
    assert_eq!(calls(&reported).len(), 1);

    // A new run of failures is reported again, after its own timeout.
    manager.set_fail_connects(true);
    let conn = pool.get().await.unwrap();
    let t1 = Instant::now();
    drop(Pooled::detach(conn));
    tokio::time::sleep_until(t1 + RECONNECT_TIMEOUT - Duration::from_millis(1)).await;
    assert_eq!(calls(&reported).len(), 1, "the new run was reported early");
    tokio::time::sleep_until(t1 + RECONNECT_TIMEOUT + LONGEST_DELAY + Duration::from_secs(1)).await;
    let calls_now = calls(&reported);
    assert_eq!(calls_now.len(), 2, "the new run was not reported");
    assert!(calls_now[1].0 - t1 >= RECONNECT_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_checkout_during_the_outage_times_out_with_the_connect_error() {
    let (pool, manager, reported) = failing_pool();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let limit = Duration::from_secs(5);
    let (result, took) = timed(pool.get_timeout(limit)).await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(
        took >= limit && took < limit + Duration::from_millis(50),
        "{took:?}"
    );
    assert!(error.to_string().contains(CONNECT_ERROR), "{error}");
    assert_eq!(
        error.cause().map(|c| c.to_string()).as_deref(),
        Some(CONNECT_ERROR)
    );
    // Also after the outage was reported.
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(calls(&reported).len(), 1);
    let error = pool.get_timeout(limit).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(error.to_string().contains(CONNECT_ERROR), "{error}");
    assert!(manager.connects_failed() >= 10);
}

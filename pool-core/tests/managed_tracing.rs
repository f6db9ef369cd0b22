//! Tracing: a span per checkout and per connect, and the warnings for slow
//! checkouts, a full queue and connections held too long, rate-limited
//! where overload could flood the log.

mod common;

use std::time::Duration;

use common::observe::Traces;
use common::{CONNECT_ERROR, FakeManager, TARGET, settle, wait_for_waiters, wait_until};
use tidepool_core::Pool;
use tracing::Level;

fn pool_of_one(manager: &FakeManager) -> tidepool_core::Builder<FakeManager> {
    Pool::builder(manager.clone())
        .name("traced")
        .min_size(1)
        .max_size(1)
}

#[tokio::test(start_paused = true)]
async fn each_checkout_has_a_span_with_its_wait_and_outcome() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new())
        .max_waiting(1)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    wait_for_waiters(&pool, 1).await;
    assert!(pool.get().await.unwrap_err().is_too_many_requests());
    assert!(waiter.await.unwrap().unwrap_err().is_timeout());
    drop(held);
    pool.close();
    assert!(pool.get().await.unwrap_err().is_closed());

    let spans = traces.spans("checkout");
    let outcomes: Vec<_> = spans.iter().map(|s| s.field("outcome")).collect();
    assert_eq!(
        outcomes,
        ["ok", "rejected", "timeout", "closed"],
        "{}",
        traces.dump()
    );
    for span in &spans {
        assert_eq!(span.level, Level::DEBUG);
        assert_eq!(span.field("pool"), "traced", "{span}");
    }
    let waits: Vec<_> = spans.iter().map(|s| s.field("wait_ms")).collect();
    assert_eq!(waits, ["0.0", "0.0", "500.0", "0.0"]);
}

#[tokio::test(start_paused = true)]
async fn each_connect_has_a_span_with_its_server_duration_and_error() {
    let (traces, _guard) = Traces::capture();
    let manager = FakeManager::with_delay(Duration::from_millis(40));
    manager.set_fail_connects(true);
    let pool = pool_of_one(&manager).build().unwrap();
    wait_until("a connect fails", Duration::from_secs(1), || {
        manager.connects_failed() == 1
    })
    .await;
    manager.set_fail_connects(false);
    pool.wait().await.unwrap();

    let spans = traces.spans("connect");
    assert_eq!(spans.len(), 2, "{}", traces.dump());
    for span in &spans {
        assert_eq!(span.field("pool"), "traced", "{span}");
        assert_eq!(span.field("server"), TARGET, "{span}");
        assert_eq!(span.field("elapsed_ms"), "40.0", "{span}");
    }
    assert!(
        spans[0].field("error").contains(CONNECT_ERROR),
        "{}",
        spans[0]
    );
    assert!(!spans[1].fields.contains_key("error"), "{}", spans[1]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_checkout_warns_with_where_it_was_called_at_most_once_a_second() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    assert_eq!(
        pool.config().slow_checkout_warning,
        Some(Duration::from_secs(1))
    );
    pool.wait().await.unwrap();
    // Fast checkouts do not warn.
    for _ in 0..3 {
        drop(pool.get().await.unwrap());
    }

    // Two requests wait 2 s and are served at the same moment: one warning.
    let held = pool.get().await.unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(drop) })
        })
        .collect();
    wait_for_waiters(&pool, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(held);
    for waiter in waiters {
        waiter.await.unwrap().unwrap();
    }
    let warnings = traces.events_with(Level::WARN, "slow_checkout_warning");
    assert_eq!(warnings.len(), 1, "{}", traces.dump());
    let warning = &warnings[0];
    assert_eq!(warning.field("pool"), "traced");
    assert!(warning.field("caller").contains(file!()), "{warning}");
    assert!(warning.message().contains("waited 2 s"), "{warning}");
    assert!(warning.message().contains(file!()), "{warning}");
    assert_eq!(warning.field("slow_checkouts"), "1", "{warning}");

    // A second later, the next slow checkout warns, counting the one that
    // did not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    wait_for_waiters(&pool, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(held);
    waiter.await.unwrap().unwrap();
    let warnings = traces.events_with(Level::WARN, "slow_checkout_warning");
    assert_eq!(warnings.len(), 2, "{}", traces.dump());
    assert_eq!(warnings[1].field("slow_checkouts"), "2", "{}", warnings[1]);
    assert!(
        warnings[1].message().contains("waited 1.500 s"),
        "{}",
        warnings[1]
    );
}

#[tokio::test(start_paused = true)]
async fn slow_checkouts_do_not_warn_when_the_warning_is_off() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new())
        .slow_checkout_warning(None)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    wait_for_waiters(&pool, 1).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(held);
    waiter.await.unwrap().unwrap();
    assert!(
        traces.events_with(Level::WARN, "").is_empty(),
        "{}",
        traces.dump()
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_warns_at_most_once_a_second_with_the_count() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new())
        .max_waiting(1)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    wait_for_waiters(&pool, 1).await;

    for _ in 0..10 {
        assert!(pool.get().await.unwrap_err().is_too_many_requests());
    }
    let warnings = traces.events_with(Level::WARN, "the queue is full");
    assert_eq!(warnings.len(), 1, "{}", traces.dump());
    assert_eq!(warnings[0].field("pool"), "traced");
    assert_eq!(warnings[0].field("rejected"), "1");
    assert_eq!(warnings[0].field("max_waiting"), "1");

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pool.get().await.unwrap_err().is_too_many_requests());
    let warnings = traces.events_with(Level::WARN, "the queue is full");
    assert_eq!(warnings.len(), 2, "{}", traces.dump());
    assert_eq!(warnings[1].field("rejected"), "10", "{}", warnings[1]);
    assert!(
        warnings[1]
            .message()
            .contains("turned away since the last warning: 10"),
        "{}",
        warnings[1]
    );
    assert_eq!(pool.stats().requests_rejected, 11);

    drop(held);
    waiter.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_connection_held_too_long_warns_while_held_naming_where_it_was_checked_out() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new())
        .leak_detection_threshold(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let line = line!() + 1;
    let conn = pool.get().await.unwrap();
    let location = format!("{}:{line}:", file!());

    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(traces.events_with(Level::WARN, "").is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let warnings = traces.events_with(Level::WARN, "leak_detection_threshold");
    assert_eq!(warnings.len(), 1, "{}", traces.dump());
    let warning = &warnings[0];
    assert_eq!(warning.field("pool"), "traced");
    assert!(
        warning.field("checked_out_at").starts_with(&location),
        "{warning} does not name {location}"
    );
    assert!(warning.message().contains(&location), "{warning}");
    assert!(warning.message().contains("held for 5 s"), "{warning}");
    assert_eq!(warning.field("held_ms"), "5000.0");

    // Still held: it warns once only. Returned: the return is noted.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        traces
            .events_with(Level::WARN, "leak_detection_threshold")
            .len(),
        1
    );
    drop(conn);
    let notes = traces.events_with(Level::INFO, "possibly leaked came back after 66 s");
    assert_eq!(notes.len(), 1, "{}", traces.dump());
}

#[tokio::test(start_paused = true)]
async fn a_connection_returned_in_time_does_not_warn() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new())
        .leak_detection_threshold(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    for _ in 0..3 {
        let conn = pool.get_timeout(Duration::from_secs(1)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        drop(conn);
    }
    // Detached: no longer the pool's business.
    let conn = pool.get().await.unwrap();
    let _detached = tidepool_core::Pooled::detach(conn);
    tokio::time::sleep(Duration::from_secs(60)).await;
    settle().await;
    assert!(
        traces.events_with(Level::WARN, "").is_empty(),
        "{}",
        traces.dump()
    );
}

#[tokio::test(start_paused = true)]
async fn get_timeout_names_its_caller_too() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new())
        .leak_detection_threshold(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let line = line!() + 1;
    let conn = pool.get_timeout(Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let warnings = traces.events_with(Level::WARN, "leak_detection_threshold");
    assert_eq!(warnings.len(), 1, "{}", traces.dump());
    let location = format!("{}:{line}:", file!());
    assert!(
        warnings[0].field("checked_out_at").starts_with(&location),
        "{}",
        warnings[0]
    );
    drop(conn);
}

#[tokio::test(start_paused = true)]
async fn leak_detection_is_off_by_default() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new()).build().unwrap();
    assert_eq!(pool.config().leak_detection_threshold, None);
    pool.wait().await.unwrap();
    let conn = pool.get().await.unwrap();
    tokio::time::sleep(Duration::from_secs(60 * 60)).await;
    drop(conn);
    assert!(
        traces.events_with(Level::WARN, "").is_empty(),
        "{}",
        traces.dump()
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_detached_after_the_leak_warning_is_not_said_to_come_back() {
    let (traces, _guard) = Traces::capture();
    let pool = pool_of_one(&FakeManager::new())
        .leak_detection_threshold(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let conn = pool.get().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _detached = tidepool_core::Pooled::detach(conn);
    settle().await;
    assert_eq!(
        traces
            .events_with(Level::WARN, "leak_detection_threshold")
            .len(),
        1,
        "{}",
        traces.dump()
    );
    assert!(
        traces.events_with(Level::INFO, "came back").is_empty(),
        "{}",
        traces.dump()
    );
}

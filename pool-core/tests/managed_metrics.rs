//! Metrics: the numbers move with the pool's work, each series is labelled
//! with the pool's name (and closes with their reason), and the gauges come
//! back to zero when the pool closes.

mod common;

use std::time::Duration;

use common::observe::Metrics;
use common::{CheckOutcome, FakeManager, ResetOutcome, settle, wait_for_waiters, wait_until};
use tidepool_core::metrics::{
    CLOSE_REASONS, CONNECTIONS, CONNECTIONS_ACQUIRE, CONNECTIONS_ACQUIRED, CONNECTIONS_CLOSED,
    CONNECTIONS_CREATE_ERRORS, CONNECTIONS_CREATED, CONNECTIONS_CREATION, CONNECTIONS_IDLE,
    CONNECTIONS_IN_USE, CONNECTIONS_MAX, CONNECTIONS_MIN, CONNECTIONS_PENDING,
    CONNECTIONS_REJECTED, CONNECTIONS_TIMEOUT, CONNECTIONS_USAGE,
};
use tidepool_core::{Builder, HealthCheck, Pool, Stats};

/// The six gauges of `pool`: size, idle, in use, pending, min, max.
fn gauges(metrics: &Metrics, pool: &str) -> [f64; 6] {
    [
        CONNECTIONS,
        CONNECTIONS_IDLE,
        CONNECTIONS_IN_USE,
        CONNECTIONS_PENDING,
        CONNECTIONS_MIN,
        CONNECTIONS_MAX,
    ]
    .map(|name| metrics.of(pool, name))
}

/// Closes of `pool` counted for `reason`.
fn closed(metrics: &Metrics, pool: &str, reason: &str) -> f64 {
    metrics
        .value(CONNECTIONS_CLOSED, &[("pool", pool), ("reason", reason)])
        .unwrap_or_else(|| panic!("no close counter for {reason}"))
}

fn build(metrics: &Metrics, builder: Builder<FakeManager>) -> Pool<FakeManager> {
    metrics.build(|| builder.build().unwrap())
}

#[tokio::test(start_paused = true)]
async fn checkouts_timeouts_and_rejections_are_counted_and_timed() {
    let metrics = Metrics::new();
    let pool = build(
        &metrics,
        Pool::builder(FakeManager::new())
            .name("orders")
            .min_size(1)
            .max_size(1)
            .max_waiting(1)
            .timeout(Duration::from_millis(500)),
    );
    pool.wait().await.unwrap();
    assert_eq!(gauges(&metrics, "orders"), [1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
    assert_eq!(metrics.of("orders", CONNECTIONS_CREATED), 1.0);

    let held = pool.get().await.unwrap();
    assert_eq!(metrics.of("orders", CONNECTIONS_ACQUIRED), 1.0);
    assert_eq!(gauges(&metrics, "orders"), [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
    assert_eq!(metrics.samples("orders", CONNECTIONS_ACQUIRE), [0.0]);

    // One request waits, the next is turned away, the first times out.
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    wait_for_waiters(&pool, 1).await;
    assert_eq!(metrics.of("orders", CONNECTIONS_PENDING), 1.0);
    let error = pool.get().await.unwrap_err();
    assert!(error.is_too_many_requests(), "{error}");
    assert_eq!(metrics.of("orders", CONNECTIONS_REJECTED), 1.0);
    assert!(waiter.await.unwrap().unwrap_err().is_timeout());
    assert_eq!(metrics.of("orders", CONNECTIONS_TIMEOUT), 1.0);
    assert_eq!(metrics.of("orders", CONNECTIONS_PENDING), 0.0);
    assert_eq!(metrics.of("orders", CONNECTIONS_ACQUIRED), 1.0);
    // The timeout is timed, the rejection is not.
    assert_eq!(metrics.samples("orders", CONNECTIONS_ACQUIRE), [0.0, 0.5]);

    tokio::time::sleep(Duration::from_millis(250)).await;
    drop(held);
    let usage = metrics.samples("orders", CONNECTIONS_USAGE);
    assert_eq!(usage, [0.75], "held from 0 s to 0.75 s");
    assert_eq!(gauges(&metrics, "orders"), [1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);

    // The stats count the same, the failures apart and in total.
    let stats = pool.stats();
    assert_eq!(stats.requests_timeouts, 1, "{stats:?}");
    assert_eq!(stats.requests_rejected, 1, "{stats:?}");
    assert_eq!(stats.requests_errors, 2, "{stats:?}");
    // pop_stats does not touch the metrics.
    pool.pop_stats();
    assert_eq!(metrics.of("orders", CONNECTIONS_TIMEOUT), 1.0);
}

#[tokio::test(start_paused = true)]
async fn connects_and_connect_errors_are_counted_and_timed() {
    let metrics = Metrics::new();
    let manager = FakeManager::with_delay(Duration::from_millis(100));
    manager.set_fail_connects(true);
    let pool = build(
        &metrics,
        Pool::builder(manager.clone())
            .name("flaky")
            .min_size(1)
            .max_size(1),
    );
    wait_until("a connect fails", Duration::from_secs(1), || {
        manager.connects_failed() == 1
    })
    .await;
    settle().await;
    assert_eq!(metrics.of("flaky", CONNECTIONS_CREATE_ERRORS), 1.0);
    assert_eq!(metrics.of("flaky", CONNECTIONS_CREATED), 0.0);
    assert_eq!(metrics.samples("flaky", CONNECTIONS_CREATION), [0.1]);
    assert_eq!(metrics.of("flaky", CONNECTIONS), 0.0);

    manager.set_fail_connects(false);
    pool.wait().await.unwrap();
    assert_eq!(metrics.of("flaky", CONNECTIONS_CREATE_ERRORS), 1.0);
    assert_eq!(metrics.of("flaky", CONNECTIONS_CREATED), 1.0);
    assert_eq!(metrics.samples("flaky", CONNECTIONS_CREATION), [0.1, 0.1]);
    assert_eq!(metrics.of("flaky", CONNECTIONS), 1.0);
    assert_eq!(metrics.of("flaky", CONNECTIONS_IDLE), 1.0);
}

/// Each way a connection closes, counted under its reason in the metrics
/// and in the stats.
#[tokio::test(start_paused = true)]
async fn closes_are_counted_by_reason() {
    type Field = fn(&Stats) -> u64;
    let cases: [(&str, Field); 7] = [
        ("lifetime", |s| s.connections_closed_lifetime),
        ("idle", |s| s.connections_closed_idle),
        ("broken", |s| s.connections_closed_broken),
        ("check_failed", |s| s.connections_closed_check_failed),
        ("reset_failed", |s| s.connections_closed_reset_failed),
        ("drained", |s| s.connections_closed_drained),
        ("shrunk", |s| s.connections_closed_shrunk),
    ];
    assert_eq!(cases.map(|(reason, _)| reason), CLOSE_REASONS);
    for (reason, field) in cases {
        let metrics = Metrics::new();
        let manager = FakeManager::new();
        let pool = build(
            &metrics,
            Pool::builder(manager.clone())
                .name(reason)
                .min_size(1)
                .max_size(2)
                .max_lifetime(Some(Duration::from_secs(100)))
                .max_idle(Some(Duration::from_secs(10)))
                .health_check(HealthCheck::Never),
        );
        pool.wait().await.unwrap();
        let expected: u64 = match reason {
            "lifetime" => {
                tokio::time::sleep(Duration::from_secs(101)).await;
                1
            }
            "idle" => {
                // A second connection above min_size, idle for too long.
                let first = pool.get().await.unwrap();
                let second = pool.get().await.unwrap();
                drop((first, second));
                tokio::time::sleep(Duration::from_secs(15)).await;
                1
            }
            "broken" => {
                // One returned broken, one found broken while idle.
                let conn = pool.get().await.unwrap();
                conn.broken.store(true, std::sync::atomic::Ordering::SeqCst);
                drop(conn);
                pool.wait().await.unwrap();
                settle().await;
                let id = manager.live_ids()[0];
                manager
                    .broken_flag(id)
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                drop(pool.get().await.unwrap());
                2
            }
            "check_failed" => {
                manager.set_check_outcome(CheckOutcome::Error);
                assert_eq!(pool.check().await, 1);
                1
            }
            "reset_failed" => {
                manager.set_reset_outcome(ResetOutcome::Error);
                let mut conn = pool.get().await.unwrap();
                conn.needs_reset = true;
                drop(conn);
                settle().await;
                assert_eq!(pool.stats().returns_reset, 1);
                1
            }
            "drained" => {
                pool.drain();
                1
            }
            "shrunk" => {
                let first = pool.get().await.unwrap();
                let second = pool.get().await.unwrap();
                pool.resize(0, 1).unwrap();
                // The first one back closes; then the pool fits.
                drop((first, second));
                1
            }
            _ => unreachable!(),
        };
        settle().await;
        let stats = pool.stats();
        assert_eq!(field(&stats), expected, "{reason}: {stats:?}");
        assert_eq!(
            closed(&metrics, reason, reason),
            expected as f64,
            "{reason}: {stats:?}"
        );
        for other in CLOSE_REASONS.iter().filter(|r| **r != reason) {
            assert_eq!(closed(&metrics, reason, other), 0.0, "{reason}: {other}");
        }
        // The psycopg_pool counters keep their meaning.
        match reason {
            "broken" => {
                assert_eq!((stats.connections_lost, stats.returns_bad), (1, 1));
            }
            "check_failed" => assert_eq!(stats.connections_lost, 1),
            "reset_failed" => assert_eq!(stats.returns_bad, 1),
            _ => assert_eq!((stats.connections_lost, stats.returns_bad), (0, 0)),
        }
        // pop_stats zeroes the counters.
        assert_eq!(field(&pool.pop_stats()), expected);
        assert_eq!(field(&pool.stats()), 0, "{reason}");
    }
}

#[tokio::test(start_paused = true)]
async fn gauges_follow_the_pool_and_fall_to_zero_when_it_closes() {
    let metrics = Metrics::new();
    let manager = FakeManager::new();
    let pool = build(
        &metrics,
        Pool::builder(manager.clone())
            .name("gauges")
            .min_size(2)
            .max_size(4)
            .max_connecting(4)
            .timeout(Duration::from_secs(5)),
    );
    pool.wait().await.unwrap();
    settle().await;
    assert_eq!(gauges(&metrics, "gauges"), [2.0, 2.0, 0.0, 0.0, 2.0, 4.0]);

    // Four in use: the pool grows on demand.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.get().await.unwrap());
    }
    assert_eq!(gauges(&metrics, "gauges"), [4.0, 0.0, 4.0, 0.0, 2.0, 4.0]);

    // Two wait.
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(drop) })
        })
        .collect();
    wait_for_waiters(&pool, 2).await;
    assert_eq!(gauges(&metrics, "gauges"), [4.0, 0.0, 4.0, 2.0, 2.0, 4.0]);
    held.pop();
    held.pop();
    for waiter in waiters {
        waiter.await.unwrap().unwrap();
    }
    settle().await;
    assert_eq!(gauges(&metrics, "gauges"), [4.0, 2.0, 2.0, 0.0, 2.0, 4.0]);

    // A detached connection leaves the pool (still above min_size).
    let detached = tidepool_core::Pooled::detach(held.pop().unwrap());
    settle().await;
    assert_eq!(gauges(&metrics, "gauges"), [3.0, 2.0, 1.0, 0.0, 2.0, 4.0]);
    drop(detached);

    // Shrinking closes idle connections now, the one in use on return.
    pool.resize(1, 2).unwrap();
    settle().await;
    assert_eq!(gauges(&metrics, "gauges"), [2.0, 1.0, 1.0, 0.0, 1.0, 2.0]);
    held.clear();
    settle().await;
    assert_eq!(gauges(&metrics, "gauges"), [2.0, 2.0, 0.0, 0.0, 1.0, 2.0]);
    let stats = pool.stats();
    assert_eq!(stats.pool_available, 2, "{stats:?}");

    // Closing: a connection still in use keeps its count until it is back.
    let last = pool.get().await.unwrap();
    pool.close();
    settle().await;
    assert_eq!(gauges(&metrics, "gauges"), [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    drop(last);
    settle().await;
    assert_eq!(gauges(&metrics, "gauges"), [0.0; 6]);
    assert_eq!(manager.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn every_series_carries_the_pool_name_and_nothing_else() {
    let metrics = Metrics::new();
    let pool = build(
        &metrics,
        Pool::builder(FakeManager::new())
            .name("labels")
            .min_size(1)
            .max_size(1),
    );
    pool.wait().await.unwrap();
    drop(pool.get().await.unwrap());
    let series = metrics.series();
    assert_eq!(series.len(), 14 + CLOSE_REASONS.len(), "{series:#?}");
    for one in &series {
        let labels = &one[one.find('{').unwrap()..];
        if one.starts_with(&format!("{CONNECTIONS_CLOSED}{{")) {
            assert!(labels.starts_with("{pool=labels,reason="), "{one}");
        } else {
            assert_eq!(labels, "{pool=labels}", "{one}");
        }
        assert!(one.starts_with("tidepool_connections"), "{one}");
    }
}

/// Two pools with their own names report apart, even built with one
/// recorder.
#[tokio::test(start_paused = true)]
async fn pools_report_under_their_own_names() {
    let metrics = Metrics::new();
    let a = build(
        &metrics,
        Pool::builder(FakeManager::new())
            .name("a")
            .min_size(1)
            .max_size(1),
    );
    let b = build(
        &metrics,
        Pool::builder(FakeManager::new())
            .name("b")
            .min_size(2)
            .max_size(3),
    );
    a.wait().await.unwrap();
    b.wait().await.unwrap();
    let _held = a.get().await.unwrap();
    assert_eq!(gauges(&metrics, "a"), [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
    assert_eq!(gauges(&metrics, "b"), [2.0, 2.0, 0.0, 0.0, 2.0, 3.0]);
    assert_eq!(metrics.of("a", CONNECTIONS_ACQUIRED), 1.0);
    assert_eq!(metrics.of("b", CONNECTIONS_ACQUIRED), 0.0);
}

/// A pool built with no recorder installed works, and its metrics go
/// nowhere.
#[tokio::test(start_paused = true)]
async fn without_a_recorder_the_metrics_go_nowhere() {
    let metrics = Metrics::new();
    let pool = Pool::builder(FakeManager::new())
        .name("quiet")
        .min_size(1)
        .max_size(1)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    drop(pool.get().await.unwrap());
    assert!(metrics.series().is_empty());
}

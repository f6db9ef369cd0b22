//! The reset policy and the callbacks: `reset_sql` clears session state,
//! `configure` runs once per connection, `check` replaces the health check,
//! `reset` runs after each return, and a failing callback closes the
//! connection and is counted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Monitor, assert_contains, database, eventually, ok, tagged_url};
use tidepool_async::{HealthCheck, Pool};

fn one_connection(url: &str) -> tidepool_async::PoolBuilder {
    Pool::builder(url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
}

async fn pid(pool: &Pool) -> i32 {
    let conn = ok(pool.get().await);
    ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_all_clears_settings_temporary_tables_and_advisory_locks() {
    let db = database();
    let (_, url) = tagged_url(&db, "reset_discard");
    let pool = ok(one_connection(&url).reset_sql("DISCARD ALL").build());
    let monitor = Monitor::connect(db.url()).await;
    let lock_key = 7_000_000 + i64::from(std::process::id() % 1_000_000);

    let first_pid = {
        let conn = ok(pool.get().await);
        ok(conn
            .batch_execute(&format!(
                "SET application_name TO 'changed'; SET statement_timeout TO '1234s'; \
                 CREATE TEMP TABLE scratch (id int); SELECT pg_advisory_lock({lock_key})"
            ))
            .await);
        ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get::<_, i32>(0)
    };

    let conn = ok(pool.get().await);
    let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    assert_eq!(pid, first_pid, "the connection was replaced, not reset");
    let timeout: String = ok(conn.query_one("SHOW statement_timeout", &[]).await).get(0);
    assert_eq!(timeout, "0", "the SET survived the reset");
    let temp: Option<String> = ok(conn
        .query_one("SELECT to_regclass('pg_temp.scratch')::text", &[])
        .await)
    .get(0);
    assert_eq!(temp, None, "the temporary table survived the reset");
    let locks: i64 = ok(monitor
        .client()
        .query_one(
            "select count(*) from pg_locks where locktype = 'advisory' and pid = $1",
            &[&pid],
        )
        .await)
    .get(0);
    assert_eq!(locks, 0, "the advisory lock survived the reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_reset_policy_session_settings_persist() {
    // The default policy only rolls back: it costs nothing on a clean return,
    // and leaves settings to the application (documented behaviour).
    let db = database();
    let (_, url) = tagged_url(&db, "reset_none");
    let pool = ok(one_connection(&url).build());
    {
        let conn = ok(pool.get().await);
        ok(conn.batch_execute("SET statement_timeout TO '1234s'").await);
    }
    let conn = ok(pool.get().await);
    let timeout: String = ok(conn.query_one("SHOW statement_timeout", &[]).await).get(0);
    assert_eq!(timeout, "1234s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_runs_once_per_connection() {
    let db = database();
    let (_, url) = tagged_url(&db, "configure");
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let pool = ok(Pool::builder(&url)
        .min_size(2)
        .max_size(2)
        .configure(move |conn| {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { conn.batch_execute("SET statement_timeout TO '4321s'").await })
        })
        .build());
    ok(pool.wait().await);
    for _ in 0..10 {
        let conn = ok(pool.get().await);
        let timeout: String = ok(conn.query_one("SHOW statement_timeout", &[]).await).get(0);
        assert_eq!(timeout, "4321s", "a connection was not configured");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "configure ran other than once per connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_configure_is_counted_and_explained() {
    let db = database();
    let (_, url) = tagged_url(&db, "configure_fails");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .configure(|conn| {
            Box::pin(async move { conn.batch_execute("SELECT no_such_function()").await })
        })
        .build());
    let error = pool
        .get_timeout(Duration::from_millis(700))
        .await
        .expect_err("a connection whose configure failed was handed out");
    assert!(error.is_timeout(), "{error}");
    assert_contains(
        &error.to_string(),
        &["configure callback failed", "no_such_function"],
    );
    let stats = pool.stats();
    assert!(stats.connections_errors >= 1, "{stats:?}");
    assert_eq!(stats.pool_size, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_callback_runs_after_each_return_and_its_failure_closes_the_connection() {
    let db = database();
    let (_, url) = tagged_url(&db, "reset_callback");
    let resets = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&resets);
    let pool = ok(one_connection(&url)
        .reset(move |conn| {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if call == 2 {
                    conn.batch_execute("SELECT 1/0").await
                } else {
                    conn.batch_execute("RESET statement_timeout").await
                }
            })
        })
        .build());
    let first = pid(&pool).await; // reset 0
    assert_eq!(pid(&pool).await, first); // reset 1
    eventually("two resets ran", async || {
        resets.load(Ordering::SeqCst) >= 2
    })
    .await;
    let third = pid(&pool).await; // reset 2 fails: the connection closes
    assert_eq!(third, first);
    eventually("the failed reset was counted", async || {
        pool.stats().returns_bad == 1
    })
    .await;
    let fourth = pid(&pool).await;
    assert_ne!(
        fourth, first,
        "a connection whose reset failed was handed out again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_callback_replaces_the_health_check() {
    let db = database();
    let (_, url) = tagged_url(&db, "check_callback");
    let checks = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&checks);
    let pool = ok(one_connection(&url)
        .health_check(HealthCheck::Always)
        .check(move |conn| {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if call == 1 {
                    conn.batch_execute("SELECT 1/0").await
                } else {
                    conn.batch_execute("SELECT 1").await
                }
            })
        })
        .build());
    let first = pid(&pool).await; // check 0 passes
    let second = pid(&pool).await; // check 1 fails: a new connection serves
    assert_ne!(
        first, second,
        "a connection that failed its check was handed out"
    );
    assert_eq!(
        checks.load(Ordering::SeqCst),
        3,
        "check 2 ran on the new connection"
    );
    assert_eq!(pool.stats().connections_lost, 1);
}

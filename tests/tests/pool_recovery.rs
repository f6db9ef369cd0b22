//! Recovery when the server goes away: connections broken by a restart are
//! discarded and replaced, and checkouts fail while the server is down and
//! succeed again once it is back. Each test has a server of its own.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Monitor, ok, with_application_name};
use tidepool_async::Pool;
use tidepool_testdb::{PgServer, private_server};

fn server() -> Arc<PgServer> {
    Arc::new(private_server().unwrap_or_else(|e| panic!("{e}")))
}

/// Runs a blocking server control call off the runtime's threads.
async fn control(
    server: &Arc<PgServer>,
    call: fn(&PgServer) -> Result<(), tidepool_testdb::HarnessError>,
) {
    let server = Arc::clone(server);
    tokio::task::spawn_blocking(move || call(&server))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_broken_by_a_restart_are_replaced() {
    let server = server();
    let pool = ok(
        Pool::builder(&with_application_name(&server.url(), "tp_restart"))
            .min_size(2)
            .max_size(4)
            .timeout(Duration::from_secs(15))
            .build(),
    );
    ok(pool.wait().await);
    let held = ok(pool.get().await);
    let old_pid: i32 = ok(held.query_one("select pg_backend_pid()", &[]).await).get(0);

    control(&server, PgServer::restart).await;

    // The held connection died with its server session.
    assert!(held.query_one("select 1", &[]).await.is_err());
    assert!(held.is_closed());
    drop(held);

    // The next checkouts get new, working sessions.
    let started = Instant::now();
    let first = ok(pool.get().await);
    let second = ok(pool.get().await);
    for conn in [&first, &second] {
        let pid: i32 = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
        assert_ne!(pid, old_pid);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    drop((first, second));

    let stats = pool.stats();
    assert!(
        stats.connections_lost + stats.returns_bad >= 2,
        "both broken connections must be counted as discarded: {stats:?}"
    );
    assert!(stats.connections_num >= 4, "{stats:?}");

    // At least min_size sessions are open on the restarted server, as many
    // as the pool counts (a checkout that found a broken connection may
    // have opened one more than min_size).
    let monitor = Monitor::connect(&server.url()).await;
    common::eventually(
        "the pool's sessions are on the restarted server",
        async || {
            let on_server = monitor.sessions("tp_restart").await;
            on_server >= 2 && on_server == pool.stats().pool_size
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkouts_fail_while_the_server_is_down_and_succeed_once_it_is_back() {
    let server = server();
    let pool = ok(Pool::builder(&server.url())
        .min_size(1)
        .max_size(2)
        .timeout(Duration::from_secs(20))
        .build());
    ok(pool.wait().await);

    control(&server, PgServer::stop).await;
    let error = pool
        .get_timeout(Duration::from_secs(1))
        .await
        .expect_err("the server is down");
    assert!(error.is_timeout(), "{error:?}");
    common::assert_contains(
        &error.to_string(),
        &[&format!("could not connect to 127.0.0.1:{}", server.port())],
    );

    control(&server, PgServer::start_again).await;
    // The pool retries with a backoff of a few seconds at this point; the
    // checkout waits for it.
    let conn = ok(pool.get().await);
    let one: i32 = ok(conn.query_one("select 1", &[]).await).get(0);
    assert_eq!(one, 1);
    let stats = pool.stats();
    assert!(stats.connections_errors >= 1, "{stats:?}");
    assert!(
        stats.connections_lost + stats.returns_bad >= 1,
        "the connection broken by the stop must be counted: {stats:?}"
    );
}

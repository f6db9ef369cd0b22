//! A stalled and a cut network between the pool and the server, through the
//! harness's TCP relay: pool -> relay -> private server.
//!
//! While the relay is frozen, every call ends within its own limit: a query
//! in progress with a query timeout, a checkout with a checkout timeout
//! (the idle connections fail their health checks, the new connects run
//! into connect_timeout). After the thaw, and after a cut, the pool
//! recovers by itself.
//!
//! TCP keepalives (`keepalives_idle=...` in the connection string) are not
//! set, on purpose: they would not help here. Keepalive probes, like the
//! acknowledgements `tcp_user_timeout` waits for, are answered by the
//! kernel of the next hop, and a stalled middlebox (this relay, a proxy, a
//! load balancer) keeps answering them while nothing gets through. Only the
//! pool's own limits bound the calls, which is what these tests show.
//! Keepalives help when the peer's host vanishes from the network, which a
//! relay cannot simulate.
//!
//! Needs a private server (skipped with `DATABASE_URL`).

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Monitor, eventually, ok, unique, with_application_name};
use tidepool_async::{Error, HealthCheck, Pool};
use tidepool_testdb::{PgServer, Relay};

const QUERY_TIMEOUT: Duration = Duration::from_millis(1000);
const CHECKOUT_TIMEOUT: Duration = Duration::from_millis(1500);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// What a call may take beyond its limit on a busy machine.
const MARGIN: Duration = Duration::from_millis(750);
/// A call still running after this long hangs: the test fails.
const HANG: Duration = Duration::from_secs(20);

struct Setup {
    /// Kept alive for the test; dropped last.
    _server: Arc<PgServer>,
    relay: Relay,
    app: String,
    pool: Pool,
    /// A connection straight to the server, around the relay.
    monitor: Monitor,
}

/// A private server, a relay in front of it, and a pool through the relay
/// with small limits; `None` when `DATABASE_URL` is set.
async fn setup(tag: &str, min_size: usize) -> Option<Setup> {
    if std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some() {
        eprintln!("skipped: this test puts a relay in front of a private server of its own");
        return None;
    }
    let server = Arc::new(tidepool_testdb::private_server().unwrap_or_else(|e| panic!("{e}")));
    let target: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let relay = Relay::start(target).unwrap_or_else(|e| panic!("{e}"));
    let app = unique(tag);
    let url = with_application_name(
        &format!("postgresql://postgres@127.0.0.1:{}/postgres", relay.port()),
        &app,
    );
    let pool = ok(Pool::builder(&url)
        .min_size(min_size)
        .max_size(3)
        .query_timeout(Some(QUERY_TIMEOUT))
        .timeout(CHECKOUT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .health_check(HealthCheck::Always)
        .health_check_timeout(HEALTH_CHECK_TIMEOUT)
        .reset_timeout(Duration::from_secs(1))
        .build());
    ok(pool.wait_timeout(Duration::from_secs(10)).await);
    let monitor = Monitor::connect(&server.url()).await;
    monitor.wait_sessions(&app, min_size).await;
    Some(Setup {
        _server: server,
        relay,
        app,
        pool,
        monitor,
    })
}

/// Runs `call` and measures it; fails the test if it hangs.
async fn timed<T>(what: &str, call: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    match tokio::time::timeout(HANG, call).await {
        Ok(value) => (value, started.elapsed()),
        Err(_) => panic!("{what} hung: still running after {HANG:?}"),
    }
}

/// Whether an error says that the connection to the server is gone:
/// closed, or an I/O error on its socket.
fn is_connection_gone(error: &Error) -> bool {
    error.as_postgres().is_some_and(|e| {
        e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
    })
}

/// Checks out and runs a query until both succeed; returns how long it took.
async fn time_to_recover(pool: &Pool) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(conn) = pool.get().await
            && conn.query_one("select 1", &[]).await.is_ok()
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the pool did not recover within 30 s: {:?}",
            pool.stats()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_network_fails_calls_within_their_limits_and_the_pool_recovers() {
    let Some(s) = setup("stall", 2).await else {
        return;
    };
    let held = ok(s.pool.get().await);
    let pid: i32 = ok(held.query_one("select pg_backend_pid()", &[]).await).get(0);

    // A query in progress when the network stalls: it runs on the server,
    // its answer is held by the relay.
    let query = tokio::spawn(async move {
        let (result, elapsed) = timed(
            "a query during the stall",
            held.query_one("select pg_sleep(0.2)", &[]),
        )
        .await;
        (held, result.map(drop), elapsed)
    });
    eventually("the query runs on the server", async || {
        s.monitor.backend_state(pid).await.as_deref() == Some("active")
    })
    .await;
    s.relay.freeze();
    let frozen_at = Instant::now();

    // New checkouts: the idle connection fails its health check, new
    // connects through the silent relay run into connect_timeout, and the
    // checkouts end at their timeout.
    let checkouts: Vec<_> = (0..3)
        .map(|_| {
            let pool = s.pool.clone();
            tokio::spawn(async move {
                let (result, elapsed) = timed("a checkout during the stall", pool.get()).await;
                (result.map(drop), elapsed)
            })
        })
        .collect();
    for checkout in checkouts {
        let (result, elapsed) = checkout.await.unwrap();
        let error = result.expect_err("a checkout succeeded through a frozen network");
        assert!(error.is_timeout(), "{error}");
        assert!(
            elapsed <= CHECKOUT_TIMEOUT + MARGIN,
            "a checkout took {elapsed:?} (timeout {CHECKOUT_TIMEOUT:?}): {error}"
        );
        eprintln!("checkout during the stall failed after {elapsed:?}: {error}");
    }

    let (held, result, elapsed) = query.await.unwrap();
    let error = result.expect_err("the query succeeded through a frozen network");
    assert!(error.is_query_timeout(), "{error}");
    // The limit, then the cancel request, which gets no answer either and
    // is given as long again.
    assert!(
        elapsed <= QUERY_TIMEOUT * 2 + MARGIN,
        "the query took {elapsed:?} (query_timeout {QUERY_TIMEOUT:?}): {error}"
    );
    eprintln!("the query in progress failed after {elapsed:?}: {error}");
    drop(held);

    // The connects that ran into connect_timeout are counted.
    eventually("connects through the frozen relay timed out", async || {
        s.pool.stats().connections_errors >= 1
    })
    .await;
    let error = s
        .pool
        .wait_timeout(Duration::from_millis(10))
        .await
        .expect_err("no connection opens through a frozen network");
    common::assert_contains(
        &error.to_string(),
        &["connecting took longer than connect_timeout (1 s)"],
    );
    let stats = s.pool.stats();
    eprintln!(
        "during the stall ({:?}): {stats:?}, relay accepted {}",
        frozen_at.elapsed(),
        s.relay.accepted()
    );
    assert!(stats.connections_lost >= 1, "the health check: {stats:?}");
    assert!(stats.requests_errors >= 3, "{stats:?}");
    // The connection whose query timed out was not trusted again.
    eventually("the stalled connection in use was discarded", async || {
        s.pool.stats().returns_bad >= 1
    })
    .await;

    s.relay.thaw();
    let recovery = timed("the recovery", time_to_recover(&s.pool)).await.0;
    eprintln!(
        "recovered {recovery:?} after the thaw: {:?}",
        s.pool.stats()
    );
    assert!(
        recovery < Duration::from_secs(12),
        "recovery took {recovery:?}: longer than the longest backoff"
    );
    // Nothing stale is left on the server: the pool's sessions there are
    // the pool's size, and idle.
    ok(s.pool.wait().await);
    eventually(
        "the server has exactly the pool's sessions, the stalled one gone",
        async || {
            let size = s.pool.stats().pool_size;
            s.monitor.sessions(&s.app).await == size
                && s.pool.stats().pool_available == size
                && !pid_alive(&s.monitor, pid).await
        },
    )
    .await;
}

async fn pid_alive(monitor: &Monitor, pid: i32) -> bool {
    monitor.backend_state(pid).await.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_fails_queries_at_once_and_the_pool_replaces_the_connections() {
    let Some(s) = setup("cut", 2).await else {
        return;
    };
    let held = ok(s.pool.get().await);
    let old_pid: i32 = ok(held.query_one("select pg_backend_pid()", &[]).await).get(0);
    let accepted = s.relay.accepted();

    s.relay.cut();
    let cut_at = Instant::now();
    let (result, elapsed) = timed("a query after the cut", held.query_one("select 1", &[])).await;
    let error = result.expect_err("a query succeeded on a cut connection");
    assert!(is_connection_gone(&error), "{error:?}");
    assert!(!error.is_query_timeout(), "{error}");
    assert!(
        elapsed < QUERY_TIMEOUT / 2,
        "the query took {elapsed:?} to fail"
    );
    eprintln!("a query after the cut failed after {elapsed:?}: {error}");
    assert!(held.is_closed());
    drop(held);

    // The next checkouts get new connections through the relay.
    let (conn, waited) = timed("a checkout after the cut", s.pool.get()).await;
    let conn = ok(conn);
    let pid: i32 = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
    assert_ne!(pid, old_pid);
    eprintln!(
        "first new connection {waited:?} after the query failed, {:?} after the cut",
        cut_at.elapsed()
    );
    drop(conn);
    ok(s.pool.wait().await);
    assert!(s.relay.accepted() >= accepted + 2);
    let stats = s.pool.stats();
    assert_eq!(stats.returns_bad, 1, "the cut connection in use: {stats:?}");
    assert_eq!(
        stats.connections_lost, 1,
        "the cut idle connection: {stats:?}"
    );
    // The server saw the cut too: only the new sessions are left.
    eventually(
        "the server has exactly the pool's sessions, the cut ones gone",
        async || {
            s.monitor.sessions(&s.app).await == s.pool.stats().pool_size
                && !pid_alive(&s.monitor, old_pid).await
        },
    )
    .await;

    // A server that goes away for good: connections cut, new ones refused.
    s.relay.refuse(true);
    s.relay.cut();
    let (result, elapsed) = timed("a checkout while refused", s.pool.get()).await;
    let error = result
        .map(drop)
        .expect_err("a checkout succeeded while the relay refused connections");
    assert!(error.is_timeout(), "{error}");
    assert!(elapsed <= CHECKOUT_TIMEOUT + MARGIN, "{elapsed:?}: {error}");
    eprintln!("a checkout while refused failed after {elapsed:?}: {error}");
    s.relay.refuse(false);
    let recovery = timed("the recovery", time_to_recover(&s.pool)).await.0;
    eprintln!(
        "recovered {recovery:?} after connections were accepted again: {:?}",
        s.pool.stats()
    );
    assert!(recovery < Duration::from_secs(12), "{recovery:?}");
}

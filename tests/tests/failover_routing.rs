//! Where a pool's connections go among a primary and its standbys:
//! `target_session_attrs` (read-write, read-only, primary, standby,
//! prefer-standby), `load_balance_hosts=random`, a promoted standby let go
//! of, and statements cancelled on the host the connection reached. Needs
//! private servers (skipped with `DATABASE_URL`).

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::observe::Traces;
use common::{assert_contains, blocking, eventually, eventually_blocking, multi_host_dsn, ok};
use tidepool_async::{HealthCheck, Pool};
use tidepool_testdb::PgServer;

fn skipped() -> bool {
    let external = std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some();
    if external {
        eprintln!("skipped: this test runs a primary and standbys of its own");
    }
    external
}

/// A primary and a streaming standby.
fn pair() -> (Arc<PgServer>, Arc<PgServer>) {
    let primary = ok(PgServer::start());
    let standby = ok(primary.start_standby());
    (Arc::new(primary), Arc::new(standby))
}

/// A port on 127.0.0.1 where nothing listens (connects are refused).
fn refusing_port() -> u16 {
    let listener = ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)));
    ok(listener.local_addr()).port()
}

/// Checks out `count` connections at once (so the pool opens that many)
/// and returns the port of the server each one reached.
async fn ports_of(pool: &Pool, count: usize) -> Vec<u16> {
    let mut held = Vec::new();
    for _ in 0..count {
        held.push(ok(pool.get().await));
    }
    let mut ports = Vec::new();
    for conn in &held {
        let row = ok(conn.query_one("select inet_server_port()", &[]).await);
        let port = u16::try_from(row.get::<_, i32>(0)).unwrap();
        assert!(
            conn.server().ends_with(&format!(":{port}")),
            "the connection says it reached {} but runs on port {port}",
            conn.server()
        );
        ports.push(port);
    }
    ports
}

fn pool(dsn: &str, max_size: usize) -> Pool {
    ok(Pool::builder(dsn)
        .min_size(0)
        .max_size(max_size)
        .timeout(Duration::from_secs(2))
        .build())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_target_lands_on_its_kind_of_server() {
    if skipped() {
        return;
    }
    let (primary, standby) = pair();
    let (p, s) = (primary.port(), standby.port());
    for (attrs, first, second, expected) in [
        ("read-only", &primary, &standby, s),
        ("standby", &primary, &standby, s),
        ("read-write", &standby, &primary, p),
        ("primary", &standby, &primary, p),
        ("any", &standby, &primary, s),
        ("prefer-standby", &primary, &standby, s),
    ] {
        let dsn = multi_host_dsn(&[first, second], &format!("target_session_attrs={attrs}"));
        let ports = ports_of(&pool(&dsn, 4), 4).await;
        assert_eq!(ports, [expected; 4], "target_session_attrs={attrs}");
    }

    // A primary whose sessions are read-only by default is no read-write
    // server (libpq's rule), though it is a primary.
    ok(primary.psql("alter system set default_transaction_read_only = on"));
    ok(primary.psql("select pg_reload_conf()"));
    let dsn = multi_host_dsn(&[&primary], "target_session_attrs=primary");
    eventually("the reload took effect", async || {
        let conn = ok(pool(&dsn, 1).get().await);
        let row = ok(conn
            .query_one("show default_transaction_read_only", &[])
            .await);
        row.get::<_, String>(0) == "on"
    })
    .await;
    assert_eq!(ports_of(&pool(&dsn, 1), 1).await, [p]);

    // No host fits: the checkout fails, naming every host and why.
    let refused = refusing_port();
    let dsn = format!(
        "{} target_session_attrs=read-write",
        multi_host_dsn(&[&primary, &standby], "")
    )
    .replace(&format!("port={p},{s}"), &format!("port={p},{s},{refused}"))
    .replace(
        "host=127.0.0.1,127.0.0.1",
        "host=127.0.0.1,127.0.0.1,127.0.0.1",
    );
    let failing = ok(Pool::builder(&dsn)
        .min_size(0)
        .timeout(Duration::from_secs(2))
        .build());
    let error = failing
        .get()
        .await
        .expect_err("a checkout found a read-write server");
    assert!(error.is_timeout(), "{error}");
    assert_contains(
        &error.to_string(),
        &[
            "target_session_attrs=read-write",
            &format!("127.0.0.1:{p}: the server is a primary whose sessions are read-only"),
            &format!("127.0.0.1:{s}: the server is a standby"),
            &format!("127.0.0.1:{refused}: "),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_pool_lets_go_of_a_promoted_server() {
    if skipped() {
        return;
    }
    let (primary, standby) = pair();
    let dsn = multi_host_dsn(&[&standby], "target_session_attrs=standby");
    // Checked at every checkout: the role query finds the promotion.
    let checked = ok(Pool::builder(&dsn)
        .min_size(2)
        .max_size(2)
        .health_check(HealthCheck::Always)
        .timeout(Duration::from_secs(2))
        .build());
    ok(checked.wait().await);
    // Never checked: the server's own report closes it when it returns.
    let unchecked = ok(Pool::builder(&dsn)
        .min_size(0)
        .max_size(1)
        .health_check(HealthCheck::Never)
        .build());
    let held = ok(unchecked.get().await);
    assert_eq!(unchecked.stats().pool_size, 1);

    blocking(move || primary.stop()).await;
    let promoted = Arc::clone(&standby);
    blocking(move || promoted.promote()).await;

    let error = checked
        .get()
        .await
        .expect_err("a standby pool handed out a promoted server");
    assert_contains(
        &error.to_string(),
        &[
            "target_session_attrs=standby",
            &format!("127.0.0.1:{}: the server is a primary", standby.port()),
        ],
    );

    // The next statement brings the server's report of the promotion.
    ok(held.execute("select 1", &[]).await);
    drop(held);
    eventually("the promoted server's connection was closed", async || {
        unchecked.stats().pool_size == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fitting_host_waits_reports_reconnect_failed_and_heals_on_promotion() {
    if skipped() {
        return;
    }
    let (primary, standby) = pair();
    let reports = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reports);
    let dsn = multi_host_dsn(&[&standby], "target_session_attrs=read-write");
    let pool = ok(Pool::builder(&dsn)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(2))
        .reconnect_timeout(Duration::from_secs(1))
        .reconnect_failed(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build());
    // Not a permanent error: the checkout waits out its timeout.
    let started = std::time::Instant::now();
    let error = pool
        .get()
        .await
        .expect_err("a standby served a read-write pool");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(1900), "{error}");
    eventually("reconnect_failed was called", async || {
        reports.load(Ordering::SeqCst) >= 1
    })
    .await;

    blocking(move || primary.stop()).await;
    let promoted = Arc::clone(&standby);
    blocking(move || promoted.promote()).await;
    eventually("the pool connected to the promoted standby", async || {
        pool.get().await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_standby_reads_from_the_standby_then_falls_back_to_the_primary() {
    if skipped() {
        return;
    }
    let (primary, standby) = pair();
    let dsn = multi_host_dsn(&[&primary, &standby], "target_session_attrs=prefer-standby");
    let pool = pool(&dsn, 2);
    assert_eq!(ports_of(&pool, 2).await, [standby.port(); 2]);

    let stopped = Arc::clone(&standby);
    blocking(move || stopped.stop()).await;
    eventually("reads went to the primary", async || {
        matches!(pool.get().await, Ok(conn) if conn.server().ends_with(&format!(":{}", primary.port())))
    })
    .await;
    let conn = ok(pool.get().await);
    let row = ok(conn.query_one("select pg_is_in_recovery()", &[]).await);
    assert!(!row.get::<_, bool>(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balance_hosts_random_spreads_connections_over_two_standbys() {
    if skipped() {
        return;
    }
    let (primary, first) = pair();
    let second = ok(primary.start_standby());
    let servers = [&*primary, &*first, &second];

    // In order: every connection goes to the first standby.
    let dsn = multi_host_dsn(&servers, "target_session_attrs=standby");
    assert_eq!(ports_of(&pool(&dsn, 10), 10).await, [first.port(); 10]);

    let dsn = multi_host_dsn(
        &servers,
        "target_session_attrs=standby load_balance_hosts=random",
    );
    let ports = ports_of(&pool(&dsn, 100), 100).await;
    let mut counts: HashMap<u16, usize> = HashMap::new();
    for port in ports {
        *counts.entry(port).or_default() += 1;
    }
    assert_eq!(counts.get(&primary.port()), None, "{counts:?}");
    for standby in [&*first, &second] {
        let got = counts.get(&standby.port()).copied().unwrap_or(0);
        assert!(
            got >= 25,
            "the standby on {} got {got} of 100: {counts:?}",
            standby.port()
        );
    }
}

/// Statements running under `app` on `server`, according to the server.
fn running(server: &PgServer, app: &str) -> usize {
    ok(server.psql(&format!(
        "select count(*) from pg_stat_activity where application_name = '{app}' \
         and state = 'active' and query like '%pg_sleep%'"
    )))
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_timeout_is_cancelled_on_the_host_the_connection_reached() {
    if skipped() {
        return;
    }
    let server = ok(tidepool_testdb::shared_server());
    let refused = refusing_port();
    let app = common::unique("cancel_host");
    let dsn = format!(
        "host=127.0.0.1,127.0.0.1 port={refused},{} user=postgres dbname=postgres \
         application_name={app}",
        server.port()
    );
    let pool = ok(Pool::builder(&dsn)
        .min_size(0)
        .max_size(1)
        .query_timeout(Some(Duration::from_millis(300)))
        .build());
    let conn = ok(pool.get().await);
    assert_eq!(conn.server(), format!("127.0.0.1:{}", server.port()));
    let error = conn
        .execute("select pg_sleep(60)", &[])
        .await
        .expect_err("pg_sleep(60) outlived the query timeout");
    assert!(error.is_query_timeout(), "{error}");
    let watched = Arc::clone(&server);
    let app_name = app.clone();
    eventually("the server cancelled pg_sleep", async || {
        let (server, app) = (Arc::clone(&watched), app_name.clone());
        blocking(move || Ok(running(&server, &app))).await == 0
    })
    .await;
}

#[tokio::test]
async fn the_connect_span_names_the_host_reached() {
    if skipped() {
        return;
    }
    let server = ok(tidepool_testdb::shared_server());
    let refused = refusing_port();
    let dsn = format!(
        "host=127.0.0.1,127.0.0.1 port={refused},{} user=postgres dbname=postgres",
        server.port()
    );
    let (traces, _guard) = Traces::capture();
    let pool = ok(Pool::builder(&dsn).min_size(0).max_size(1).build());
    drop(ok(pool.get().await));
    let spans = traces.spans("connect");
    assert_eq!(spans.len(), 1, "{}", traces.dump());
    assert_eq!(
        spans[0].field("server"),
        format!("127.0.0.1:{}", server.port()),
        "{}",
        traces.dump()
    );
}

#[test]
fn the_blocking_pool_reads_from_the_standby_and_cancels_there() {
    if skipped() {
        return;
    }
    let (primary, standby) = pair();
    let app = common::unique("blocking_standby");
    let dsn = multi_host_dsn(
        &[&primary, &standby],
        &format!("target_session_attrs=read-only application_name={app}"),
    );
    let pool = ok(tidepool_sync::Pool::builder(&dsn)
        .min_size(0)
        .max_size(1)
        .query_timeout(Some(Duration::from_millis(300)))
        .build());
    let conn = ok(pool.get());
    assert_eq!(conn.server(), format!("127.0.0.1:{}", standby.port()));
    let row = ok(conn.query_one("select pg_is_in_recovery()", &[]));
    assert!(row.get::<_, bool>(0));
    let error = conn
        .execute("select pg_sleep(60)", &[])
        .expect_err("pg_sleep(60) outlived the query timeout");
    assert!(error.is_query_timeout(), "{error}");
    eventually_blocking("the standby cancelled pg_sleep", || {
        running(&standby, &app) == 0
    });
}

#[test]
fn an_unknown_target_session_attrs_names_the_accepted_values() {
    let error = Pool::builder("host=db user=app target_session_attrs=master")
        .build()
        .expect_err("an unknown target_session_attrs was accepted");
    assert!(error.is_config(), "{error}");
    assert_contains(
        &error.to_string(),
        &[
            "target_session_attrs",
            "'master'",
            "any, read-write, read-only, primary, standby, prefer-standby",
        ],
    );
}

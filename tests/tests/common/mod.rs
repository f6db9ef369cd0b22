//! Helpers shared by the pool's integration tests: the database, unique
//! names, counting a pool's sessions on the server, scratch tables, and
//! waiting for conditions with a deadline; and for the TLS tests, test
//! certificates ([`certs`]) and servers with TLS ([`tls`]); for the
//! PgBouncer tests, a server behind a PgBouncer ([`bouncer`]).
//!
//! Every test file uses a part of this module only.
#![allow(dead_code)]

pub(crate) mod bouncer;
pub(crate) mod certs;
pub(crate) mod libpq_files;
// One capture helper for the engine's tests and these: the engine's copy.
#[path = "../../../pool-core/tests/common/observe.rs"]
pub(crate) mod observe;
pub(crate) mod tls;

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tidepool_async::tokio_postgres::{self, NoTls};
use tidepool_testdb::TestDatabase;
pub(crate) use tidepool_testdb::with_application_name;

/// How long a condition that should hold soon may take before the test
/// fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);
/// How often a condition is checked while waiting for it.
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// The database of the test: `DATABASE_URL` or the shared private server.
pub(crate) fn database() -> TestDatabase {
    tidepool_testdb::test_database().unwrap_or_else(|e| panic!("no test database: {e}"))
}

/// A name no other test (of any test binary) uses: for application names
/// and tables. Lower case, so it needs no quoting in SQL.
pub(crate) fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "tp_{tag}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    assert!(name.len() < 64, "{name} is longer than a PostgreSQL name");
    name
}

/// A fresh application name for a pool and the URL that carries it.
pub(crate) fn tagged_url(db: &TestDatabase, tag: &str) -> (String, String) {
    let app = unique(tag);
    let url = with_application_name(db.url(), &app);
    (app, url)
}

/// Runs `sql` through `psql`, outside any pool, and returns its output.
pub(crate) fn psql(db: &TestDatabase, sql: &str) -> String {
    db.psql(sql).unwrap_or_else(|e| panic!("{e}"))
}

/// Sessions on the server whose `application_name` is `app`, counted
/// through `psql`.
pub(crate) fn sessions_psql(db: &TestDatabase, app: &str) -> usize {
    let out = psql(
        db,
        &format!("select count(*) from pg_stat_activity where application_name = '{app}'"),
    );
    out.parse()
        .unwrap_or_else(|e| panic!("count of sessions {out:?}: {e}"))
}

/// A connection of its own, outside any pool, that watches the server.
pub(crate) struct Monitor {
    client: tokio_postgres::Client,
}

impl Monitor {
    /// Connects to `url` (under the application name `tp_monitor`).
    pub(crate) async fn connect(url: &str) -> Self {
        let url = with_application_name(url, "tp_monitor");
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("the monitor could not connect: {e}"));
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Self { client }
    }

    /// Sessions on the server whose `application_name` is `app`.
    pub(crate) async fn sessions(&self, app: &str) -> usize {
        let row = self
            .client
            .query_one(
                "select count(*) from pg_stat_activity where application_name = $1",
                &[&app],
            )
            .await
            .unwrap_or_else(|e| panic!("the monitor's query failed: {e}"));
        usize::try_from(row.get::<_, i64>(0)).expect("a count is not negative")
    }

    /// The state (`idle`, `active`, `idle in transaction`, ...) of backend
    /// `pid`, or `None` if it is gone.
    pub(crate) async fn backend_state(&self, pid: i32) -> Option<String> {
        self.client
            .query_opt("select state from pg_stat_activity where pid = $1", &[&pid])
            .await
            .unwrap_or_else(|e| panic!("the monitor's query failed: {e}"))
            .and_then(|row| row.get(0))
    }

    /// The monitor's own client, for queries of a test's own.
    pub(crate) fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    /// Waits until exactly `expected` sessions carry `app`.
    pub(crate) async fn wait_sessions(&self, app: &str, expected: usize) {
        let mut last = usize::MAX;
        eventually(
            &format!("{expected} sessions of {app} are on the server"),
            async || {
                last = self.sessions(app).await;
                last == expected
            },
        )
        .await;
        assert_eq!(last, expected);
    }
}

/// Checks `condition` every [`POLL`] until it holds; panics, naming `what`,
/// after [`DEADLINE`].
pub(crate) async fn eventually(what: &str, condition: impl AsyncFnMut() -> bool) {
    eventually_within(what, DEADLINE, condition).await;
}

/// Like [`eventually`], with a deadline of its own.
pub(crate) async fn eventually_within(
    what: &str,
    limit: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Like [`eventually`], for threads outside an async runtime.
pub(crate) fn eventually_blocking(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if condition() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting until {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// A table `(v text)` of the test's own, to see what a connection's
/// transactions left behind. Dropped (best effort) at the end.
pub(crate) struct Table {
    db: TestDatabase,
    /// The table's name.
    pub(crate) name: String,
}

impl Table {
    /// Creates a new, empty table.
    pub(crate) fn create(db: &TestDatabase, tag: &str) -> Self {
        let name = unique(tag);
        psql(db, &format!("create table {name} (v text not null)"));
        Self {
            db: db.clone(),
            name,
        }
    }

    /// The committed values, sorted, as other sessions see them.
    pub(crate) fn committed(&self) -> Vec<String> {
        let out = psql(&self.db, &format!("select v from {} order by v", self.name));
        out.lines().map(str::to_owned).collect()
    }

    /// `insert into <table> values ($1)`.
    pub(crate) fn insert_sql(&self) -> String {
        format!("insert into {} values ($1)", self.name)
    }

    /// `insert into <table> values ('<value>')`, for the simple protocol.
    pub(crate) fn insert_literal(&self, value: &str) -> String {
        format!("insert into {} values ('{value}')", self.name)
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // A lock timeout, so that a session a failed test left inside a
        // transaction on this table cannot hang the test.
        let _ = self.db.psql(&format!(
            "set lock_timeout = '2s'; drop table if exists {}",
            self.name
        ));
    }
}

/// Asserts that `text` contains every one of `parts`.
#[track_caller]
pub(crate) fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from {text:?}");
    }
}

/// Unwraps `result`, panicking with the error's `Display` (the pool's
/// messages are written to be read).
#[track_caller]
pub(crate) fn ok<T, E: std::fmt::Display + Debug>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("unexpected error: {e}\n{e:?}"),
    }
}

/// Drives a future until it has been pending `pendings` times, then drops
/// it at that await point; `Some` if it finished first.
pub(crate) struct DropAfter<F: std::future::Future> {
    inner: std::pin::Pin<Box<F>>,
    pendings: u64,
}

impl<F: std::future::Future> std::future::Future for DropAfter<F> {
    type Output = Option<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        match self.inner.as_mut().poll(cx) {
            Poll::Ready(value) => Poll::Ready(Some(value)),
            Poll::Pending if self.pendings == 0 => Poll::Ready(None),
            Poll::Pending => {
                self.pendings -= 1;
                Poll::Pending
            }
        }
    }
}

/// Runs `future` until it has been pending `pendings` times, then drops it.
pub(crate) fn drop_after<F: std::future::Future>(future: F, pendings: u64) -> DropAfter<F> {
    DropAfter {
        inner: Box::pin(future),
        pendings,
    }
}

/// A port of 127.0.0.1 that refuses connections for as long as the returned
/// socket lives: bound, so that no other test or process can take it, but
/// not listening. (A port merely found free may be taken by the time the
/// test connects, by a server another test starts.)
pub(crate) fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind((std::net::Ipv4Addr::LOCALHOST, 0).into())
        .expect("a port of 127.0.0.1");
    let port = socket.local_addr().expect("a bound socket").port();
    (socket, port)
}

/// A key=value connection string over `servers` (in that order) as
/// `postgres`, with `extra` keys such as `target_session_attrs=read-write`.
pub(crate) fn multi_host_dsn(servers: &[&tidepool_testdb::PgServer], extra: &str) -> String {
    let hosts: Vec<&str> = servers.iter().map(|server| server.host()).collect();
    let ports: Vec<String> = servers
        .iter()
        .map(|server| server.port().to_string())
        .collect();
    format!(
        "host={} port={} user=postgres dbname=postgres connect_timeout=2 {extra}",
        hosts.join(","),
        ports.join(",")
    )
}

/// Runs a harness call (which blocks) off the async runtime's threads.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, tidepool_testdb::HarnessError> + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(call)
        .await
        .expect("a harness call panicked")
        .unwrap_or_else(|e| panic!("{e}"))
}

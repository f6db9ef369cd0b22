//! Tests of the harness's PgBouncer.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::panic;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use tidepool_testdb::{HarnessError, PgBouncer, PgServer, psql_url};

/// Upper bound for conditions that should hold (almost) immediately.
const DEADLINE: Duration = Duration::from_secs(15);

fn accepts_tcp(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pgbouncer_forwards_to_the_server_in_transaction_mode() {
    let server = PgServer::start().unwrap();
    let bouncer = PgBouncer::start(&server).unwrap();
    assert_ne!(bouncer.port(), 5432);
    assert_ne!(bouncer.port(), 6432);
    assert_ne!(bouncer.port(), server.port());
    assert_eq!(bouncer.host(), "127.0.0.1");
    assert!(bouncer.is_running());
    assert!(
        bouncer
            .socket_dir()
            .join(format!(".s.PGSQL.{}", bouncer.port()))
            .exists()
    );

    // The session behind it is the server's, as the login role.
    assert_eq!(
        psql_url(
            &bouncer.url(),
            "select current_user || ' ' || current_setting('port')"
        )
        .unwrap(),
        format!("{} {}", bouncer.user(), server.port())
    );
    let config = bouncer.admin("SHOW CONFIG").unwrap();
    assert!(
        config
            .lines()
            .any(|line| line.starts_with("pool_mode|transaction|")),
        "{config}"
    );
    assert!(
        config
            .lines()
            .any(|line| line.starts_with("default_pool_size|2|")),
        "{config}"
    );
    let pools = bouncer.show("POOLS").unwrap();
    let pool = pools
        .iter()
        .find(|row| row["user"] == bouncer.user())
        .unwrap_or_else(|| panic!("{pools:?}"));
    assert_eq!(pool["database"], "postgres");
    assert_eq!(pool["pool_mode"], "transaction");
}

#[test]
fn pgbouncer_checks_the_password() {
    let server = PgServer::start().unwrap();
    let bouncer = PgBouncer::start(&server).unwrap();
    let wrong = format!(
        "postgresql://{}:wrong@127.0.0.1:{}/postgres",
        bouncer.user(),
        bouncer.port()
    );
    let error = psql_url(&wrong, "select 1").unwrap_err().to_string();
    assert!(error.contains("SASL authentication failed"), "{error}");
    assert!(!error.contains(bouncer.password()), "{error}");
    // Neither the password nor the admin's appears in Debug output.
    let debug = format!("{bouncer:?}");
    assert!(!debug.contains(bouncer.password()), "{debug}");
    assert!(!debug.contains("tidepool_admin:"), "{debug}");
}

#[test]
fn server_connections_are_shared_between_clients_transactions() {
    let server = PgServer::start().unwrap();
    let bouncer = PgBouncer::builder()
        .default_pool_size(1)
        .start(&server)
        .unwrap();
    // Two clients one after the other get the same single server session.
    let first = psql_url(&bouncer.url(), "select pg_backend_pid()").unwrap();
    let second = psql_url(&bouncer.url(), "select pg_backend_pid()").unwrap();
    assert_eq!(first, second);
    let servers = bouncer.servers().unwrap();
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(servers[0]["remote_pid"], first);
}

#[test]
fn restart_keeps_the_port_and_serves_again() {
    let server = PgServer::start().unwrap();
    let bouncer = PgBouncer::start(&server).unwrap();
    let port = bouncer.port();
    let pid = bouncer.pid().unwrap();
    bouncer.restart().unwrap();
    assert_eq!(bouncer.port(), port);
    assert_ne!(bouncer.pid().unwrap(), pid);
    assert_eq!(psql_url(&bouncer.url(), "select 1").unwrap(), "1");

    bouncer.stop().unwrap();
    assert!(!bouncer.is_running());
    assert!(eventually(|| !accepts_tcp(port)));
    assert!(psql_url(&bouncer.url(), "select 1").is_err());
    bouncer.start_again().unwrap();
    assert_eq!(psql_url(&bouncer.url(), "select 1").unwrap(), "1");
}

#[test]
fn drop_stops_pgbouncer_and_removes_its_directory_also_when_panicking() {
    let server = PgServer::start().unwrap();
    let bouncer = PgBouncer::start(&server).unwrap();
    let (port, pid, dir) = (bouncer.port(), bouncer.pid().unwrap(), log_dir(&bouncer));
    drop(bouncer);
    // Gone, or a zombie waiting for a parent that does not reap it.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(state.is_empty() || state.contains(") Z"), "{state}");
    assert!(!accepts_tcp(port));
    assert!(!dir.exists());

    let bouncer = PgBouncer::start(&server).unwrap();
    let (port, dir) = (bouncer.port(), log_dir(&bouncer));
    let outcome = panic::catch_unwind(panic::AssertUnwindSafe(move || {
        let _held = bouncer;
        panic!("a test failed while holding a PgBouncer");
    }));
    assert!(outcome.is_err());
    assert!(eventually(|| !accepts_tcp(port)));
    assert!(!dir.exists());
}

#[test]
fn invalid_settings_are_refused_before_starting() {
    let server = PgServer::start().unwrap();
    let error = PgBouncer::builder()
        .pool_mode("sometimes")
        .start(&server)
        .unwrap_err();
    assert!(
        matches!(error, HarnessError::InvalidInput { .. }),
        "{error}"
    );
    let error = PgBouncer::builder()
        .setting("listen_port", "1\nadmin_users = x")
        .start(&server)
        .unwrap_err();
    assert!(
        matches!(error, HarnessError::InvalidInput { .. }),
        "{error}"
    );
    let error = PgBouncer::builder()
        .setting("no_such_setting", "1")
        .start(&server)
        .unwrap_err()
        .to_string();
    assert!(error.contains("no_such_setting"), "{error}");
}

fn log_dir(bouncer: &PgBouncer) -> PathBuf {
    bouncer.log_file().parent().unwrap().to_path_buf()
}

//! Tests of the private-PostgreSQL harness itself.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::panic;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tidepool_testdb::{
    DATABASE_URL_ENV, HarnessError, PgServer, private_server, psql_url, test_database,
};

/// Upper bound for conditions that should hold (almost) immediately.
const DEADLINE: Duration = Duration::from_secs(15);

fn accepts_tcp(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

/// Polls `condition` until it holds or [`DEADLINE`] passes.
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
fn server_starts_and_answers_queries() {
    let server = private_server().unwrap();
    assert_eq!(server.psql("select 1").unwrap(), "1");
    assert_ne!(server.port(), 5432);
    assert_eq!(server.host(), "127.0.0.1");
    assert!(server.is_running());
    assert!(accepts_tcp(server.port()));

    let socket = server
        .socket_dir()
        .join(format!(".s.PGSQL.{}", server.port()));
    assert!(socket.exists(), "{} is missing", socket.display());
    assert!(server.socket_dir().starts_with(std::env::temp_dir()));
    assert!(server.data_dir().join("PG_VERSION").is_file());

    let port = server.port();
    assert_eq!(
        server.url(),
        format!("postgresql://postgres@127.0.0.1:{port}/postgres")
    );
    assert_eq!(
        server.key_value_dsn(),
        format!("host=127.0.0.1 port={port} user=postgres dbname=postgres")
    );
    // Every connection form reaches this server; over the socket the
    // client address is NULL, over TCP it is 127.0.0.1.
    assert_eq!(
        psql_url(&server.url(), "select inet_client_addr()").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        psql_url(&server.key_value_dsn(), "select current_setting('port')").unwrap(),
        port.to_string()
    );
    assert_eq!(
        psql_url(
            &server.socket_dsn(),
            "select coalesce(host(inet_client_addr()), 'unix socket')"
        )
        .unwrap(),
        "unix socket"
    );
    assert!(
        server
            .log_tail(50)
            .contains("database system is ready to accept connections"),
        "{}",
        server.log_tail(50)
    );
}

#[test]
fn builder_settings_hba_lines_and_files_are_applied() {
    let server = PgServer::builder()
        .setting("max_connections", "123")
        .setting("work_mem", "7MB")
        .setting("work_mem", "9MB") // the later one wins
        .setting("tidepool.marker", "it's quoted")
        .hba_line("host all trusted_role 127.0.0.1/32 trust")
        .file("extra/hello.txt", b"hello from the harness".to_vec(), 0o640)
        .start()
        .unwrap();
    assert_eq!(server.psql("show max_connections").unwrap(), "123");
    assert_eq!(server.psql("show work_mem").unwrap(), "9MB");
    assert_eq!(server.psql("show tidepool.marker").unwrap(), "it's quoted");
    // Defaults that the caller did not override are still there.
    assert_eq!(server.psql("show fsync").unwrap(), "off");

    // The file is in the data directory, owned by the server, with its mode.
    let file = server.data_dir().join("extra/hello.txt");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!(
        meta.uid(),
        std::fs::metadata(server.data_dir()).unwrap().uid()
    );
    assert_eq!(
        server
            .psql("select pg_read_file('extra/hello.txt')")
            .unwrap(),
        "hello from the harness"
    );

    // The extra pg_hba.conf line precedes the scram-sha-256 default, so this
    // role gets in without its password.
    server
        .psql("create role trusted_role login password 'secret'")
        .unwrap();
    let url = server.url_for("trusted_role", None, "postgres");
    assert_eq!(
        psql_url(&url, "select current_user").unwrap(),
        "trusted_role"
    );
}

#[test]
fn invalid_builder_input_is_rejected_before_starting() {
    let err = PgServer::builder()
        .file("../escape", b"x".to_vec(), 0o600)
        .start()
        .unwrap_err();
    assert!(matches!(err, HarnessError::InvalidInput { .. }), "{err}");
    let err = PgServer::builder()
        .setting("fsync = on\nport", "1")
        .start()
        .unwrap_err();
    assert!(matches!(err, HarnessError::InvalidInput { .. }), "{err}");
}

#[test]
fn a_server_that_cannot_start_reports_its_log() {
    let err = PgServer::builder()
        .setting("shared_buffers", "not a size")
        .start()
        .unwrap_err();
    assert!(matches!(err, HarnessError::ServerStart { .. }), "{err}");
    let message = err.to_string();
    // The server's own complaint, taken from the log, is in the message.
    assert!(
        message.contains("invalid value for parameter \"shared_buffers\""),
        "{message}"
    );
}

#[test]
fn roles_other_than_postgres_need_their_password() {
    let server = private_server().unwrap();
    server.psql("create role r login password 'p'").unwrap();

    let wrong = server.url_for("r", Some("wrong"), "postgres");
    match psql_url(&wrong, "select 1") {
        Err(HarnessError::Psql { stderr, target, .. }) => {
            assert!(
                stderr.contains("password authentication failed"),
                "{stderr}"
            );
            assert!(!target.contains("wrong"), "password leaked: {target}");
        }
        other => panic!("a wrong password must be refused, got {other:?}"),
    }
    let missing = server.url_for("r", None, "postgres");
    assert!(psql_url(&missing, "select 1").is_err());

    let right = server.url_for("r", Some("p"), "postgres");
    assert_eq!(psql_url(&right, "select current_user").unwrap(), "r");

    // User names and passwords with URL metacharacters are encoded.
    server
        .psql(r#"create role "odd user" login password 'p@ss:w/rd %?#'"#)
        .unwrap();
    let odd = server.url_for("odd user", Some("p@ss:w/rd %?#"), "postgres");
    assert_eq!(psql_url(&odd, "select current_user").unwrap(), "odd user");
}

#[test]
fn psql_errors_carry_the_server_message() {
    let server = private_server().unwrap();
    let err = server.psql("select * from no_such_table").unwrap_err();
    match &err {
        HarnessError::Psql { stderr, .. } => {
            assert!(stderr.contains("no_such_table"), "{stderr}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("no_such_table"), "{err}");
    // A multi-statement string is sent as one query, i.e. one implicit
    // transaction: a failure anywhere rolls all of it back.
    assert!(
        server
            .psql("create table t(); select * from missing; create table u();")
            .is_err()
    );
    assert_eq!(
        server
            .psql("select count(*) from pg_tables where tablename in ('t', 'u')")
            .unwrap(),
        "0"
    );
}

#[test]
fn stop_start_again_and_restart_keep_cluster_and_port() {
    let server = Arc::new(private_server().unwrap());
    let port = server.port();
    server.psql("create table survives(x int)").unwrap();

    // Control through another Arc handle, as a shared server would be.
    let controller = Arc::clone(&server);
    controller.stop().unwrap();
    assert!(!server.is_running());
    assert!(eventually(|| !accepts_tcp(port)), "port {port} still open");
    assert!(server.psql("select 1").is_err());
    assert!(server.stop().is_err(), "stopping twice must fail");

    controller.start_again().unwrap();
    assert!(server.is_running());
    assert_eq!(server.port(), port);
    assert!(accepts_tcp(port));
    assert_eq!(
        server
            .psql("select count(*) from pg_tables where tablename = 'survives'")
            .unwrap(),
        "1"
    );
    assert!(
        server.start_again().is_err(),
        "starting a running server must fail"
    );

    let before = server.psql("select pg_postmaster_start_time()").unwrap();
    let pid_before = server.postmaster_pid().unwrap();
    server.restart().unwrap();
    let after = server.psql("select pg_postmaster_start_time()").unwrap();
    assert_ne!(before, after);
    assert_ne!(server.postmaster_pid().unwrap(), pid_before);
    assert_eq!(server.port(), port);
    assert_eq!(server.psql("select 1").unwrap(), "1");
}

#[test]
fn restart_starts_a_stopped_server() {
    let server = private_server().unwrap();
    server.stop().unwrap();
    server.restart().unwrap();
    assert!(server.is_running());
    assert_eq!(server.psql("select 1").unwrap(), "1");
}

#[test]
fn drop_stops_the_server_and_removes_its_directory() {
    let server = private_server().unwrap();
    let port = server.port();
    let base_dir = server.base_dir().to_path_buf();
    let data_dir = server.data_dir().to_path_buf();
    assert!(data_dir.starts_with(&base_dir));
    assert!(accepts_tcp(port));
    drop(server);
    assert!(eventually(|| !accepts_tcp(port)), "port {port} still open");
    assert!(!base_dir.exists(), "{} was not removed", base_dir.display());
}

#[test]
fn drop_while_panicking_stops_the_server_and_removes_its_directory() {
    let mut seen: Option<(u16, PathBuf)> = None;
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        let server = private_server().unwrap();
        assert!(accepts_tcp(server.port()));
        seen = Some((server.port(), server.base_dir().to_path_buf()));
        panic!("deliberate panic while owning a server");
    }));
    assert!(result.is_err());
    let (port, base_dir) = seen.expect("the server was started");
    assert!(eventually(|| !accepts_tcp(port)), "port {port} still open");
    assert!(!base_dir.exists(), "{} was not removed", base_dir.display());
}

#[test]
fn a_stopped_server_is_cleaned_up_on_drop() {
    let server = private_server().unwrap();
    let base_dir = server.base_dir().to_path_buf();
    server.stop().unwrap();
    drop(server);
    assert!(!base_dir.exists(), "{} was not removed", base_dir.display());
}

#[test]
fn two_servers_are_independent() {
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| private_server().unwrap());
        let b = s.spawn(|| private_server().unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());
    assert_ne!(a.socket_dir(), b.socket_dir());
    a.psql("create table only_in_a()").unwrap();
    let count = "select count(*) from pg_tables where tablename = 'only_in_a'";
    assert_eq!(a.psql(count).unwrap(), "1");
    assert_eq!(b.psql(count).unwrap(), "0");
    // Stopping one leaves the other running.
    a.stop().unwrap();
    assert_eq!(b.psql("select 1").unwrap(), "1");
}

// This must stay the only test in this file that uses the shared server:
// it checks that the server stops once the last handle is gone.
#[test]
fn shared_test_database_is_reused_while_held_and_stopped_after() {
    if let Ok(url) = std::env::var(DATABASE_URL_ENV)
        && !url.is_empty()
    {
        let db = test_database().unwrap();
        assert_eq!(db.url(), url);
        assert!(db.server().is_none());
        assert!(db.is_external());
        assert_eq!(db.psql("select 1").unwrap(), "1");
        return;
    }
    let first = test_database().unwrap();
    let second = thread::spawn(|| test_database().unwrap()).join().unwrap();
    let (a, b) = (first.server().unwrap(), second.server().unwrap());
    assert!(Arc::ptr_eq(a, b));
    assert_eq!(a.port(), b.port());
    assert_eq!(first.url(), second.url());
    assert_eq!(first.psql("select 1").unwrap(), "1");

    let port = a.port();
    let base_dir = a.base_dir().to_path_buf();
    drop(first);
    assert!(accepts_tcp(port), "still held by `second`");
    drop(second);
    assert!(eventually(|| !accepts_tcp(port)), "port {port} still open");
    assert!(!base_dir.exists(), "{} was not removed", base_dir.display());

    // The next user gets a fresh server.
    let third = test_database().unwrap();
    assert_ne!(third.server().unwrap().base_dir(), base_dir.as_path());
    assert_eq!(third.psql("select 1").unwrap(), "1");
}

#[test]
fn missing_binaries_error_is_one_clear_sentence() {
    let message = HarnessError::BinariesNotFound.to_string();
    assert!(message.contains("initdb, pg_ctl, postgres"), "{message}");
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}
